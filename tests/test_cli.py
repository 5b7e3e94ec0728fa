"""The CLI end to end, and every bad input as one clear line on stderr with exit code 2."""
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from typing import NamedTuple

import numpy as np
import pytest


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def cli(*args, cwd=None) -> Result:
    """``python -m umelib ARGS`` in this process: ``umelib.cli.main``, which ``python -m umelib`` exits with, with
    its exit code, stdout and stderr (an exception it lets through fails the test with its traceback); no Python
    and torch started per call. test_list runs the real module in a subprocess."""
    from umelib.cli import main

    out, err, env, here = io.StringIO(), io.StringIO(), dict(os.environ), os.getcwd()
    try:
        os.environ["UME_PROFILE"] = "smoke"
        if cwd:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:  # argparse: --help, or a usage error
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        os.chdir(here)
        os.environ.clear()  # run sets UME_RESULTS / UME_CACHE from its options
        os.environ.update(env)
    return Result(code, out.getvalue(), err.getvalue())


def cli_process(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "umelib", *args], capture_output=True, text=True, cwd=cwd,
                          env={"UME_PROFILE": "smoke", "PATH": "/usr/bin:/bin"}, timeout=300)


def three_modal(n=300, seed=0, **changes):
    rng = np.random.default_rng(seed)
    arr = {}
    for s, k in (("train", n), ("test", n // 2)):
        y = rng.integers(0, 3, k)
        arr[f"{s}/y"] = y
        arr[f"{s}/vec"] = (rng.normal(size=(k, 6)) + y[:, None]).astype(np.float32)
        arr[f"{s}/img"] = (rng.normal(size=(k, 12, 12)) + y[:, None, None]).astype(np.float32)
        arr[f"{s}/aux"] = (rng.normal(size=(k, 4)) - y[:, None]).astype(np.float32)
    arr.update(changes)
    return {k: v for k, v in arr.items() if v is not None}


def save(tmp_path, arrays, name="d.npz"):
    p = tmp_path / name
    np.savez(p, **arrays)
    return str(p)


def test_list():
    r = cli_process("list")  # the entry point itself, as a user starts it
    assert r.returncode == 0
    for word in ("synthetic", "ume-mma", "missing-detection", "lenet", "resnet18"):
        assert word in r.stdout


def test_three_modality_npz_end_to_end(tmp_path):
    path = save(tmp_path, three_modal())
    out = tmp_path / "r.json"
    r = cli("run", "--dataset", path, "--method", "ume-mma", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert set(res["metrics"]) == {"complete", "miss:vec", "miss:img", "miss:aux", "avg"}
    assert res["metrics"]["complete"] > 60  # 3 easy classes
    assert "complete" in r.stdout and "miss:img" in r.stdout
    # the image modality got the CNN by shape
    assert res["provenance"]["config"]["encoders"] == {}
    # a rerun never overwrites silently
    again = cli("run", "--dataset", path, "--out", str(out), "--quiet")
    assert again.returncode == 2 and "exists" in again.stderr


def test_multilabel_npz_reports_f1(tmp_path):
    arr = three_modal()
    for s in ("train", "test"):
        y = arr[f"{s}/y"]
        arr[f"{s}/y"] = np.stack([y == 0, y >= 1, y == 2], 1).astype(np.int64)
    arr["task"] = np.array("multilabel")
    out = tmp_path / "r.json"
    r = cli("run", "--dataset", save(tmp_path, arr), "--method", "naive", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["metric"] == "f1_macro" and "f1_micro" in res["all_metrics"]["complete"]


def test_encoder_override(tmp_path):
    path = save(tmp_path, three_modal())
    r = cli("run", "--dataset", path, "--method", "naive", "--encoder", "img=mlp", "--quiet")
    assert r.returncode == 0, r.stderr


BAD = [
    ("missing key", dict(**{"test/y": None}), "no array 'test/y'"),
    ("missing modality in a split", dict(**{"test/aux": None}), "no array 'test/aux'"),
    ("length mismatch", dict(**{"train/vec": np.zeros((5, 6), np.float32)}), "has 5 samples but 'train/y' has 300"),
    ("NaN", dict(**{"train/img": np.full((300, 12, 12), np.nan, np.float32)}), "NaN/inf"),
    ("label out of range", dict(**{"train/y": -np.ones(300, np.int64)}), "labels must lie in 0..C-1"),
    ("label above num_classes", dict(num_classes=np.array(2)), "out of range for 2 classes"),
    ("one modality", dict(**{"train/img": None, "train/aux": None, "test/img": None, "test/aux": None}), "at least 2"),
    ("shape mismatch across splits", dict(**{"test/img": np.zeros((150, 10, 10), np.float32)}), "sample shape"),
    ("empty split", {"test/y": np.zeros(0, np.int64), "test/vec": np.zeros((0, 6), np.float32),
                     "test/img": np.zeros((0, 12, 12), np.float32), "test/aux": np.zeros((0, 4), np.float32)},
     "split 'test' is empty"),
    ("test label unseen in training", {"test/y": np.full(150, 3)}, "'test/y' holds label(s) [3] that never occur in 'train/y'"),
    ("val label unseen in training", {"val/y": np.full(20, 4), "val/vec": np.zeros((20, 6), np.float32),
                                      "val/img": np.zeros((20, 12, 12), np.float32), "val/aux": np.zeros((20, 4), np.float32)},
     "'val/y' holds label(s) [4]"),
    ("reserved modality name", {"train/label": np.zeros((300, 2), np.float32), "test/label": np.zeros((150, 2), np.float32)},
     "names a modality 'label', a reserved key"),
]


@pytest.mark.parametrize("name,changes,message", BAD, ids=[b[0] for b in BAD])
def test_bad_npz(tmp_path, name, changes, message):
    r = cli("run", "--dataset", save(tmp_path, three_modal(**changes)), "--quiet")
    assert r.returncode == 2
    assert message in r.stderr and r.stderr.startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (("--dataset", "nope"), "unknown dataset 'nope'"),
    (("--dataset", "synthetic", "--method", "magic"), "unknown method 'magic'"),
    (("--dataset", "synthetic", "--encoder", "x=transformer9000"), "unknown encoder 'transformer9000'"),
    (("--dataset", "synthetic", "--encoder", "x"), "modality=name"),
    (("--dataset", "synthetic", "--encoder", "video=lenet"), "modalities ['video'] that the data does not have"),
    (("--dataset", "synthetic", "--profile", "huge"), "unknown profile 'huge'"),
    (("--dataset", "/no/such/file.npz"), "file not found"),
    (("--dataset", "synthetic", "--drop-p", "0.8"), "sum to <= 1"),
    (("--dataset", "synthetic", "--missing-rate", "2"), "--missing-rate must lie in [0, 1]"),
    (("--dataset", "synthetic", "--eta", "0.5"), "--eta and --etas were renamed"),
    (("--dataset", "synthetic", "--data-opt", "frames=all"), "dataset 'synthetic' has no option frames"),
    (("--dataset", "synthetic", "--data-opt", "frames"), "--data-opt takes KEY=VALUE"),
], ids=["dataset", "method", "encoder", "encoder-syntax", "encoder-modality", "profile", "missing-file", "drop-p", "missing-rate", "old-eta",
        "data-opt", "data-opt-syntax"])
def test_bad_names(args, message):
    r = cli("run", *args, "--quiet")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_unreadable_file(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_bytes(b"this is not a zip archive")
    r = cli("run", "--dataset", str(p), "--quiet")
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr


def test_list_prints_the_registry():
    r = cli("list")
    assert "data_scripts/build_avmnist.py --variant small" in r.stdout  # how to get it
    assert "encoders image=lenet, audio=lenet" in r.stdout and "data per seed" in r.stdout


def test_run_help_shows_the_overrides():
    r = cli("run", "--help")
    assert r.returncode == 0
    for flag in ("--epochs", "--lr", "--phase2-lr", "--batch-size", "--config", "--set", "--print-config"):
        assert flag in r.stdout


def test_overrides_land_in_provenance(tmp_path):
    path = save(tmp_path, three_modal(n=120))
    out = tmp_path / "r.json"
    r = cli("run", "--dataset", path, "--method", "naive", "--epochs", "3", "--lr", "0.05", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    prov = json.loads(out.read_text())["provenance"]
    assert prov["config"]["phase1"]["epochs"] == 3 and prov["config"]["phase2"]["epochs"] == 3
    assert prov["config"]["phase1"]["lr"] == 0.05
    assert prov["overrides"] == {"phase1.epochs": 3, "phase2.epochs": 3, "phase1.lr": 0.05}


def test_config_file_then_flags_then_set(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("phase1:\n  epochs: 2\n  optimizer: adamw\nphase2.lr: 0.001\ndrop_p: 0.2\n")
    r = cli("run", "--dataset", "synthetic", "--config", str(cfg), "--batch-size", "32", "--set", "phase1.epochs=7",
            "--set", "phase2.lr={x: 1e-3, z: 2e-3}", "--print-config")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)["config"]
    assert c["phase1"]["epochs"] == 7 and c["phase1"]["optimizer"] == "adamw"  # --set wins over the file
    assert c["phase1"]["batch_size"] == c["phase2"]["batch_size"] == 32
    assert c["phase2"]["lr"] == {"x": 1e-3, "z": 2e-3} and c["drop_p"] == 0.2
    assert c["phase2"]["epochs"] == 4  # the smoke profile's, untouched
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"phase2": {"epochs": 5}, "n_train": 100}))
    c = json.loads(cli("run", "--dataset", "synthetic", "--config", str(js), "--print-config").stdout)["config"]
    assert c["phase2"]["epochs"] == 5 and c["n_train"] == 100


@pytest.mark.parametrize("args,message", [
    (("--set", "nope=1"), "unknown config key 'nope'"),
    (("--set", "phase1.nope=1"), "unknown config key 'phase1.nope'"),
    (("--set", "phase1.epochs=abc"), "'phase1.epochs' takes a number"),
    (("--set", "phase1.epochs=2.5"), "takes a whole number"),
    (("--set", "phase2.optimizer=rmsprop"), "must be one of sgd, adamw"),
    (("--set", "drop_p=1.5"), "'drop_p' must lie in [0, 1)"),
    (("--set", "phase1.lr=-1"), "'phase1.lr' must be > 0"),
    (("--set", "epochs"), "--set takes key=value"),
    (("--epochs", "0"), "'phase1.epochs' must be >= 1"),
    (("--config", "/no/such.yaml"), "config file /no/such.yaml not found"),
    (("--set", "phase2.lr={audio: 1e-3, x: 1e-2}"), "phase2.lr named for modalities ['audio'] that the data does not have"),
    (("--set", "drop_p={video: 0.1}"), "drop_p named for modalities ['video']"),
], ids=["key", "phase-key", "number", "whole", "choice", "drop-p", "lr", "syntax", "epochs", "config-missing",
        "lr-modality", "drop-p-modality"])
def test_bad_overrides(args, message):
    r = cli("run", "--dataset", "synthetic", *args, "--quiet")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_bad_config_file(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("phase1: [unclosed\n")
    r = cli("run", "--dataset", "synthetic", "--config", str(bad))
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr
    lst = tmp_path / "l.json"
    lst.write_text("[1, 2]")
    r = cli("run", "--dataset", "synthetic", "--config", str(lst))
    assert r.returncode == 2 and "must hold a mapping" in r.stderr
