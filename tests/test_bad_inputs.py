"""Bad inputs and faults: every case one ``error:`` line and exit code 2 (or a warning where stated), no traceback,
nothing of the user's lost; and a ``reproduce`` killed mid-run that, rerun, writes what an uninterrupted run writes."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from umelib.cli import main

ROOT = Path(__file__).resolve().parents[1]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "data_scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def arrays(n: int = 60, **changes) -> dict[str, np.ndarray]:
    """A tiny two-modality .npz's arrays (3 classes), with ``changes`` (None drops an array)."""
    rng = np.random.default_rng(0)
    arr = {}
    for s, k in (("train", n), ("test", n // 2)):
        y = rng.integers(0, 3, k)
        arr[f"{s}/y"] = y
        arr[f"{s}/a"] = (rng.normal(size=(k, 4)) + y[:, None]).astype(np.float32)
        arr[f"{s}/b"] = (rng.normal(size=(k, 3)) - y[:, None]).astype(np.float32)
    arr.update(changes)
    return {k: v for k, v in arr.items() if v is not None}


def npz(tmp: Path, **changes) -> str:
    p = tmp / "d.npz"
    np.savez(p, **arrays(**changes))
    return str(p)


def multilabel(tmp: Path) -> str:
    a = arrays()
    a["train/y"] = (np.arange(60)[:, None] % np.array([2, 3, 5]) == 0).astype(np.int64)
    a["test/y"] = (np.arange(30)[:, None] % np.array([2, 3, 5, 7]) == 0).astype(np.int64)
    a["task"] = np.array("multilabel")
    np.savez(tmp / "d.npz", **a)
    return str(tmp / "d.npz")


def pickled(tmp: Path) -> str:
    a = arrays()
    a["train/b"] = np.array([{"x": 1}] * 60, dtype=object)
    np.savez(tmp / "d.npz", **a)
    return str(tmp / "d.npz")


def ave_root(tmp: Path, train: str, annotations: str | None = None, videos: tuple[str, ...] = ()) -> Path:
    """An AVE release without decodable videos (every case is refused before decoding)."""
    root = tmp / "AVE_Dataset"
    (root / "AVE").mkdir(parents=True)
    for v in videos:
        (root / "AVE" / f"{v}.mp4").write_bytes(b"")
    (root / "trainSet.txt").write_text(train)
    for name in ("valSet.txt", "testSet.txt"):
        (root / name).write_text("Bark&va0&good&0&10\n")
    if annotations is not None:
        (root / "Annotations.txt").write_text(annotations)
    return root


def user_folder(tmp: Path) -> Path:
    """A user's folder, the data-loss case of the sweep: a video, a manifest and a labels file of theirs."""
    d = tmp / "mine"
    (d / "clips" / "holiday").mkdir(parents=True)
    (d / "clips" / "holiday" / "beach.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 my holiday" * 50)
    (d / "manifest.json").write_text('{"mine": true}\n')
    (d / "train").mkdir()
    np.save(d / "train" / "labels.npy", np.arange(5))
    return d


def a_file(tmp: Path) -> Path:
    (tmp / "f.txt").write_text("keep")
    return tmp / "f.txt"


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _existing(path: Path) -> list[str]:
    """Write a results file a reproduce run must not replace silently; no argv of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"results": []}\n')
    return []


RUN = ["run", "--quiet", "--profile", "smoke", "--set", "phase1.epochs=1", "--set", "phase2.epochs=1"]

# name -> (setup(tmp) -> argv (a data script's name first: that script), the message's text)
CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "labels far above the distinct labels": (
        lambda t: [*RUN, "--dataset", npz(t, **{"train/y": np.array([0, 1, 10**9] * 20)})],
        "holds the label 1000000000 but only 3 distinct labels"),
    "labels of 1e7": (lambda t: [*RUN, "--dataset", npz(t, **{"train/y": np.array([0, 1, 10**7] * 20)})],
                      "np.unique(y, return_inverse=True)"),
    "device cuda without a GPU": (lambda t: [*RUN, "--dataset", str(t / "not-read.npz"), "--device", "cuda"],
                                  "no CUDA GPU is visible"),
    "device foo": (lambda t: [*RUN, "--dataset", str(t / "not-read.npz"), "--device", "foo"], "unknown device 'foo'"),
    "epochs 1e400": (lambda t: [*RUN, "--dataset", "synthetic", "--set", "phase1.epochs=1e400"],
                     "'phase1.epochs' takes a finite number"),
    "epochs NaN": (lambda t: [*RUN, "--dataset", "synthetic", "--set", "phase1.epochs=NaN"],
                   "'phase1.epochs' takes a finite number"),
    "momentum nan": (lambda t: [*RUN, "--dataset", "synthetic", "--set", "phase1.momentum=nan"],
                     "'phase1.momentum' takes a finite number"),
    "negative seed": (lambda t: [*RUN, "--dataset", "synthetic", "--seed", "-2000000"], "--seed must lie in 0..4294967295"),
    "seed 2**70": (lambda t: [*RUN, "--dataset", "synthetic", "--seed", str(2**70)], "--seed must lie in 0..4294967295"),
    "num_classes a string": (lambda t: [*RUN, "--dataset", npz(t, num_classes=np.array("3"))],
                             "'num_classes' must be one whole number"),
    "1-D modality": (lambda t: [*RUN, "--dataset", npz(t, **{"train/a": np.zeros(60, np.float32),
                                                             "test/a": np.zeros(30, np.float32)})],
                     "array 'train/a' has shape (60,), one number per sample"),
    "modality of shape (N, 0)": (lambda t: [*RUN, "--dataset", npz(t, **{"train/a": np.zeros((60, 0), np.float32),
                                                                         "test/a": np.zeros((30, 0), np.float32)})],
                                 "its samples hold no values"),
    "test array without training counterpart": (lambda t: [*RUN, "--dataset", npz(t, **{"test/c": np.zeros((30, 2))})],
                                                "has an array 'test/c' but no 'train/c'"),
    "multi-label widths differ": (lambda t: [*RUN, "--dataset", multilabel(t)], "different widths"),
    "pickled objects": (lambda t: [*RUN, "--dataset", pickled(t)], "holds Python objects (pickled)"),
    "hf: a local path": (lambda t: [*RUN, "--dataset", "synthetic", "--encoder", "text=hf:/a/path"],
                         "'hf:/a/path': no folder /a/path"),
    "--out under a file": (lambda t: [*RUN, "--dataset", "synthetic", "--out", str(a_file(t) / "r.json")],
                           "which is a file"),
    "--out a folder": (lambda t: [*RUN, "--dataset", "synthetic", "--overwrite", "--out", str(t)], "is a folder"),
    "reproduce over existing results": (
        lambda t: [*_existing(t / "results" / "five_minutes_smoke.json"), "reproduce", "five_minutes", "--profile",
                   "smoke", "--quiet"], "five_minutes_smoke.json exists (committed results or an earlier run); pass --overwrite"),
    "prepare_ave --out a file": (
        lambda t: ["prepare_ave", "--root", str(ave_root(t, "Bark&tr0&good&0&10\n")), "--out", str(a_file(t))],
        "is a file; give a folder"),
    "prepare_ave --out a user's folder": (
        lambda t: ["prepare_ave", "--root", str(ave_root(t, "Bark&tr0&good&0&10\n")), "--out", str(user_folder(t))],
        "already holds files this script did not write (clips, manifest.json, train)"),
    "prepare_ks --out a user's folder": (
        lambda t: ["prepare_ks", "--root", str(t / "kinetics"), "--out", str(user_folder(t))],
        "already holds files this script did not write"),
    "AVE list with many malformed rows": (
        lambda t: ["prepare_ave", "--root", str(ave_root(t, "Bark&tr0&good&0&10\n" + "garbage line\n" * 12)),
                   "--out", str(t / "out")], "has 12 rows that do not parse as Category&VideoID&... (the first, line 2"),
    "AVE list with swapped fields": (
        lambda t: ["prepare_ave", "--root", str(ave_root(t, "tr0&Bark&good&0&10\n", videos=("tr0",))),
                   "--out", str(t / "out")], "the fields are swapped"),
    "AVE list with an unknown class": (
        lambda t: ["prepare_ave", "--root", str(ave_root(t, "Barkk&tr0&good&0&10\n", "Bark&tr0&good&0&10\n")),
                   "--out", str(t / "out")], "names the category 'Barkk' that Annotations.txt does not list"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_error_line(case, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same answer on a GPU machine
    monkeypatch.setenv("UME_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("UME_CACHE", str(tmp_path / "cache"))
    argv = CASES[case][0](tmp_path)
    before = snapshot(tmp_path)
    rc = script(argv[0]).main(argv[1:]) if argv[0].startswith("prepare_") else main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert CASES[case][1] in lines[0], lines[0]
    assert snapshot(tmp_path) == before  # nothing written, nothing replaced, nothing deleted


def test_reproduce_replaces_existing_results_only_with_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UME_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("UME_CACHE", str(tmp_path / "cache"))
    old = tmp_path / "results" / "gamma_gap_smoke.json"
    _existing(old)
    assert main(["reproduce", "gamma_gap", "--profile", "smoke", "--quiet", "--device", "cpu"]) == 2
    assert json.loads(old.read_text()) == {"results": []}
    assert main(["reproduce", "gamma_gap", "--profile", "smoke", "--quiet", "--device", "cpu", "--overwrite"]) == 0
    assert [r["modality"] for r in json.loads(old.read_text())["results"]] == ["x", "z"]


def test_one_class_warns_and_runs(tmp_path, capsys):
    with pytest.warns(UserWarning, match="single class"):
        rc = main([*RUN, "--dataset", npz(tmp_path, **{"train/y": np.zeros(60, np.int64),
                                                       "test/y": np.zeros(30, np.int64)})])
    assert rc == 0, capsys.readouterr().err


def test_ave_list_with_a_few_malformed_rows_warns_and_shows_the_first(tmp_path, capsys):
    f = tmp_path / "trainSet.txt"
    f.write_text("Category&VideoID&Quality&StartTime&EndTime\nBark&a&good&0&10\njust-one-field\nBark&b&good&0&10\n")
    rows, bad = script("prepare_ave").read_list(f)
    assert rows == [("Bark", "a"), ("Bark", "b")] and bad == 1
    err = capsys.readouterr().err
    assert "1 row(s) that do not parse" in err and "line 3: 'just-one-field'" in err


def test_prepare_resumes_only_its_own_folder(tmp_path):
    from umelib.datasets.builders import video
    from umelib.errors import UmeError

    out = tmp_path / "out"
    out.mkdir()
    (out / video.MARKER).write_text(json.dumps({"prepared_by": "umelib.datasets.builders.video", "dataset": "ave"}))
    (out / video.SHARDS).mkdir()
    assert video.check_out_dir(out, "ave") == out  # an interrupted run of its own resumes
    with pytest.raises(UmeError, match="a prepared 'ave'"):
        video.check_out_dir(out, "kinetics-sounds")
    assert video.check_out_dir(user_folder(tmp_path), "ave", force=True)  # --force: the user's choice


def test_damaged_feature_cache_is_recomputed_and_replaced(tmp_path):
    from umelib.datasets.synthetic import make_gaussian
    from umelib.training.features import featurize

    data = make_gaussian(n_train=40, n_val=10, n_test=20, seed=0)
    m = data.modalities[0]
    enc = torch.nn.Linear(data.train.x[m].shape[1], 3)
    ref = featurize(data, {m: enc}, tmp_path)
    files = sorted(tmp_path.glob("features-*.pt"))
    good = files[0].read_bytes()
    files[0].write_bytes(good[: len(good) // 2])  # truncated, as by a full disk or a killed copy
    with pytest.warns(UserWarning, match="damaged"):
        again = featurize(data, {m: enc}, tmp_path)
    assert torch.equal(again.train.x[m], ref.train.x[m]) and files[0].read_bytes() == good
    assert not list(tmp_path.glob("*.tmp"))


def test_import_umelib_does_not_import_torch():
    code = "import sys, umelib; assert 'torch' not in sys.modules; assert umelib.get_config('full', 'avmnist').phase1.optimizer == 'sgd'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "umelib", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "torch" not in r.stderr


@pytest.mark.parametrize("delay", [0.3, 1.5, 4.0])
def test_ctrl_c_at_any_moment_is_one_line(delay):
    # SIGINT back to its default in the child: a shell's background job (or CI runner) may start us with it ignored,
    # which Python would inherit and keep
    p = subprocess.Popen([sys.executable, "-m", "umelib", "run", "--dataset", "synthetic", "--quiet"],
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert "Traceback" not in err and p.returncode in (130, -signal.SIGINT), err
    assert p.returncode != 130 or err.strip().splitlines()[-1] == "interrupted"


# `python -m umelib reproduce five_minutes --profile smoke`, its smoke settings made tiny (seconds, not a minute)
# and a line "fit" on stdout as each training starts (where the test kills it)
TINY_REPRODUCE = """
import sys
from umelib.config import DATASET_OVERRIDES, PhaseConfig
from umelib.cli import main
from umelib.training import multirun, trainer

for cls in (trainer.Trainer, multirun.MultiTrainer):
    def fit(self, *a, _fit=cls.fit, **kw):
        print("fit", flush=True)
        return _fit(self, *a, **kw)
    cls.fit = fit
DATASET_OVERRIDES["synthetic", "smoke"] = {"n_train": 400, "n_test": 400, "n_val": 100,
                                           "phase1": PhaseConfig(2, 128, 5e-2), "phase2": PhaseConfig(2, 128, 1e-2)}
raise SystemExit(main(["reproduce", "five_minutes", "--profile", "smoke", "--quiet", "--device", "cpu"]))
"""


def _reproduce(results: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "UME_RESULTS": str(results), "UME_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", TINY_REPRODUCE], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _results(results: Path) -> dict:
    """The result files, without what differs between any two runs (timings, times, hosts)."""
    volatile = {"wall_s", "created", "time", "host", "hostname", "seconds", "s_per_epoch", "epoch_s", "cache"}

    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in volatile and not k.endswith("_s")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return {p.name: strip(json.loads(p.read_text())) for p in sorted(results.glob("*.json"))}


def test_reproduce_killed_mid_run_then_rerun_writes_what_an_uninterrupted_run_writes(tmp_path):
    whole = _reproduce(tmp_path / "r1", tmp_path / "c1")
    assert whole.wait(timeout=600) == 0, whole.stderr.read()
    p = _reproduce(tmp_path / "r2", tmp_path / "c2")
    fits = 0
    while fits < 2 and p.stdout.readline().startswith("fit"):  # killed as the second training starts
        fits += 1
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    assert fits == 2 and not (tmp_path / "r2" / "five_minutes_smoke.json").exists()
    p = _reproduce(tmp_path / "r2", tmp_path / "c2")
    assert p.wait(timeout=600) == 0, p.stderr.read()
    assert not [q for q in tmp_path.rglob("*") if q.name.endswith(".tmp")]  # no partial file left
    assert _results(tmp_path / "r2") == _results(tmp_path / "r1")
