"""Every chapter of the book executes without an error, once: each executed notebook goes into the jupyter-cache
that `make book` renders from (book/_ext/umelib_book.py: myst-nb's ``execution_mode: cache``, keyed on the code
cells, in a folder keyed on the profile, the environment and the sources), so the book build after `make test`
executes no chapter again. Slow (a minute or so each on 2 cores): `make check` leaves them out."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("umelib_book", ROOT / "book" / "_ext" / "umelib_book.py")
book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book)

ENV = dict(os.environ)  # at collection, before any test runs: a chapter's kernel inherits exactly this
EXECUTE = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]


def toc_notebooks() -> list[Path]:
    """The chapters in _toc.yml that are notebooks, in the order Sphinx reads them (sorted by name)."""
    files: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    return sorted(ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file())


CHAPTERS = toc_notebooks()
# Chapters that share trained pieces (runs/cache) run on one xdist worker, one after another (make test: -n 2
# --dist loadgroup), so that the first trains each piece and the others read it.
GROUPS = {"avmnist": "avmnist", "emoji_missing_text": "emoji-fig3", "vl_encoders": "emoji-fig3"}


def group_of(path: Path) -> str | None:
    return next((g for prefix, g in GROUPS.items() if path.stem.startswith(prefix)), None)


def chapter_params() -> list:
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.xdist_group(group_of(p))] if group_of(p) else [])
            for p in CHAPTERS]


def test_the_book_is_executed_from_the_cache_this_test_fills():
    assert EXECUTE["execute_notebooks"] == "cache" and not EXECUTE.get("cache")  # the folder: chapter_cache()
    assert len(CHAPTERS) >= 10 and all(p.parent.name == "book" for p in CHAPTERS)


def test_the_cache_folder_follows_what_outputs_depend_on(tmp_path):
    (tmp_path / "umelib").mkdir()
    (tmp_path / "umelib" / "a.py").write_text("x = 1\n")
    env = {"UME_PROFILE": "smoke", "PYTHONHASHSEED": "0"}
    key = book.cache_key(tmp_path, env)
    assert key.startswith("smoke-") and book.cache_key(tmp_path, dict(env)) == key
    assert book.cache_key(tmp_path, {**env, "UME_PROFILE": "full"}).startswith("full-")
    assert book.cache_key(tmp_path, {**env, "UME_RESULTS": "/elsewhere"}) != key
    (tmp_path / "umelib" / "a.py").write_text("x = 2\n")
    assert book.cache_key(tmp_path, env) != key
    (tmp_path / "umelib" / "a.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("{}")
    assert book.cache_key(tmp_path, env) != key
    stale, other = tmp_path / "_build" / ".jupyter_cache" / key, tmp_path / "_build" / ".jupyter_cache" / "full-0123"
    stale.mkdir(parents=True)
    other.mkdir()
    now = book.chapter_cache(tmp_path, env, prune=True)
    assert now.name == book.cache_key(tmp_path, env) and not stale.exists() and other.exists()  # same profile only


@pytest.mark.slow
@pytest.mark.parametrize("path", chapter_params())
def test_chapter_executes(path, monkeypatch):
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    for k in set(os.environ) - set(ENV) - {"PYTEST_CURRENT_TEST"}:  # e.g. UME_RESULTS a CLI test set in this process
        monkeypatch.delenv(k)
    for k, v in ENV.items():
        if os.environ.get(k) != v and k != "PYTEST_CURRENT_TEST":
            monkeypatch.setenv(k, v)
    nb = nbformat.read(path, as_version=4)
    # as myst-nb executes it (myst_nb.core.execute.cache): in the chapter's folder, the book's timeout per cell
    res = single_nb_execution(nb, cwd=str(path.parent), timeout=EXECUTE["timeout"],
                              allow_errors=EXECUTE["allow_errors"], meta_override=True)
    assert res.err is None, f"{path.name} failed:\n{res.exc_string}"
    cache = get_cache(str(book.chapter_cache(ROOT, ENV, prune=True)))
    cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": res.time}),
                                check_validity=False, overwrite=True)
    assert cache.match_cache_notebook(nbformat.read(path, as_version=4)).uri == str(path)  # what the book looks up
