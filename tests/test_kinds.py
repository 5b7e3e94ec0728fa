"""Modality kinds: recorded in the .npz, read back or inferred; default encoders by kind; the import-data
command; short reprs; plain progress lines off a terminal; bad input refused in one line."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import umelib
from umelib import UmeError, from_arrays, from_csv, from_image_folders, load_npz
from umelib.cli import main
from umelib.config import get_config
from umelib.datasets.kinds import infer_kind
from umelib.experiments.suite import default_encoders
from umelib.models.encoders import default_encoder_name, minilm_installed
from umelib.training.progress import Progress


def _own(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return {"image": rng.integers(0, 255, (n, 3, 16, 16), dtype=np.uint8),
            "text": [f"a note about class {c}" for c in y], "sensor": rng.normal(size=(n, 4))}, y


def test_kinds_round_trip_and_override(tmp_path, capsys):
    xs, y = _own()
    d = from_arrays(xs, y, tmp_path / "d.npz", kinds={"sensor": "vector"})
    assert d.kinds == {"image": "image", "text": "text", "sensor": "vector"}
    with np.load(tmp_path / "d.npz", allow_pickle=False) as z:
        assert str(z["kind/text"]) == "text" and str(z["kind/image"]) == "image"
    back = load_npz(tmp_path / "d.npz")
    assert back.kinds == d.kinds and "note:" not in capsys.readouterr().err  # recorded: no notice
    umelib.save_npz(back, tmp_path / "e.npz")
    assert load_npz(tmp_path / "e.npz").kinds == d.kinds
    spec = from_arrays({"a": np.ones((30, 2, 8, 8)), "b": np.ones((30, 3))}, np.arange(30) % 2, tmp_path / "s.npz",
                       kinds={"a": "spectrogram"})
    assert spec.kinds == {"a": "spectrogram", "b": "vector"}


def test_file_without_kinds_is_inferred_with_one_notice(tmp_path, capsys):
    xs, y = _own()
    d = from_arrays(xs, y, tmp_path / "d.npz")
    old = {k: v for k, v in np.load(tmp_path / "d.npz", allow_pickle=False).items() if not k.startswith("kind/")}
    np.savez(tmp_path / "old.npz", **old)
    capsys.readouterr()
    assert load_npz(tmp_path / "old.npz").kinds == d.kinds
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note: old.npz records no kind") and "text=text" in err[0]
    load_npz(tmp_path / "old.npz")
    assert capsys.readouterr().err == ""  # once per file


@pytest.mark.parametrize("name,x,kind", [
    ("text", np.frombuffer(b"hi there\0\0cat\0\0\0\0\0\0\0", dtype=np.uint8).reshape(2, 10), "text"),
    ("pixels", np.tile(np.arange(0, 256, 4, dtype=np.uint8), (3, 1)), "vector"),  # zeros inside: not text
    ("img", np.zeros((2, 3, 8, 8)), "image"), ("mel", np.zeros((2, 40, 50)), "spectrogram"),
    ("audio", np.zeros((2, 11025), np.float32), "audio"), ("clip", np.zeros((2, 4, 3, 8, 8)), "video"),
    ("v", np.zeros((2, 7)), "vector")])
def test_infer_kind(name, x, kind):
    assert infer_kind(name, x) == kind


def test_default_encoders_by_kind(tmp_path):
    text = "frozen:minilm" if minilm_installed() else "bag"
    assert default_encoder_name((40,), "text") == text
    assert default_encoder_name((3, 32, 32), "image") == "lenet"
    assert default_encoder_name((3, 224, 224), "image") == "resnet18"
    assert default_encoder_name((1, 112, 112), "spectrogram") == "lenet"
    assert default_encoder_name((11025,), "audio") == "audionet"
    assert default_encoder_name((3, 3, 32, 32), "video") == "frames:lenet"
    assert default_encoder_name((10,), "vector") == "mlp"
    assert default_encoder_name((10,)) == "mlp" and default_encoder_name((8, 8)) == "lenet"  # no kind: by shape
    xs, y = _own()
    d = from_arrays(xs, y, tmp_path / "d.npz")
    cfg = get_config("full", "d")
    assert default_encoders(d, cfg) == {"image": "lenet", "text": text, "sensor": "mlp"}
    cfg.encoders = {"text": "bag"}
    assert default_encoders(d, cfg) == {"image": "lenet", "sensor": "mlp"}  # a named encoder wins
    _, prepared = umelib.prepare(d, "smoke", settings={"encoders": {"text": "bag"}})
    assert prepared.encoders == {"text": "bag"}


def test_prepare_records_chosen_encoders_and_print_config(tmp_path, capsys):
    xs, y = _own()
    from_arrays(xs, y, tmp_path / "d.npz", kinds={"sensor": "vector"})
    assert main(["run", "--dataset", str(tmp_path / "d.npz"), "--print-config", "--encoder", "text=bag"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["encoders"]["text"] == {"encoder": "bag", "kind": "text", "by": "given"}
    assert out["encoders"]["image"] == {"encoder": "lenet", "kind": "image", "by": "default for its kind"}
    data, _ = umelib.prepare(str(tmp_path / "d.npz"), "smoke", settings={"encoders": {"text": "bag"}})
    assert data.info["encoders"] == {"image": "lenet", "text": "bag", "sensor": "mlp"}


def test_import_data_cli_from_csv_and_folders(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    rows = ["a,b,note,label,split"] + [f"{i % 2 + 0.1 * i},{i % 3},word{i % 2} here,{'xy'[i % 2]},"
                                        f"{'test' if i % 4 == 0 else 'train'}" for i in range(40)]
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "d.npz"
    assert main(["import-data", "--csv", str(csv), "--label", "label", "--modality", "v=a,b", "--modality",
                 "note=note", "--split-column", "split", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: MultiModalData('d'") and "note: text" in said
    d = load_npz(out)
    assert d.kinds == {"v": "vector", "note": "text"} and len(d.test) == 10 and d.val is None
    assert main(["import-data", "--csv", str(csv), "--label", "nope", "--modality", "v=a,b", "--modality",
                 "note=note", "--out", str(tmp_path / "e.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: label column 'nope' is not in d.csv (columns: a, b, note, label, split)"]
    from PIL import Image

    for i in range(12):
        for m in ("photo", "caption"):
            (tmp_path / "f" / m / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((20, 20, 3), 40 * (i % 2), np.uint8)).save(tmp_path / "f" / "photo" / "ab"[i % 2] / f"{i}.png")
        (tmp_path / "f" / "caption" / "ab"[i % 2] / f"{i}.txt").write_text(f"caption {i % 2}")
    assert main(["import-data", "--folders", str(tmp_path / "f"), "--size", "8", "--out", str(tmp_path / "f.npz")]) == 0
    assert load_npz(tmp_path / "f.npz").kinds == {"caption": "text", "photo": "image"}


def test_repr_is_short(tmp_path):
    xs, y = _own(n=3000)
    d = from_arrays(xs, y, tmp_path / "d.npz")
    for r in (repr(d), repr(d.train), str(d)):
        assert len(r) < 400 and "tensor" not in r
    assert "image: image (3, 16, 16) uint8 100% present" in repr(d) and "train/val/test" in repr(d)


def test_trainer_off_terminal_writes_plain_lines(tiny, tiny_cfg, capsys):
    umelib.run(tiny, "unimodal", "smoke", settings={"phase1.epochs": 3}, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and 1 <= len(err.splitlines()) <= 2 * 3  # two modalities, 3 epochs each
    assert all(": epoch " in ln for ln in err.splitlines())
    umelib.run(tiny, "unimodal", "smoke", settings={"phase1.epochs": 3, "phase1.lr": 0.01}, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_off_terminal_is_a_line_per_epoch_at_most(monkeypatch):
    from umelib.training import progress

    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.0)
    buf = io.StringIO()  # not a terminal
    p = Progress(100, "phase 1 [a]", 5, stream=buf)
    for k in range(5):
        for _ in range(20):
            p.update()
        p.epoch(k + 1, loss=0.5, val=80.0)
    p.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 5 and "\r" not in buf.getvalue() and lines[-1] == "phase 1 [a]: epoch 5/5 loss 0.500 val 80.00"
    quiet = io.StringIO()
    q = Progress(100, "x", 5, enabled=False, stream=quiet)
    q.epoch(1, loss=1.0)
    q.close()
    assert quiet.getvalue() == ""
    monkeypatch.setattr(progress, "LINE_EVERY_S", 3600.0)  # rate-limited: the first epoch and the last one
    buf = io.StringIO()
    p = Progress(100, "ume-mma", 50, stream=buf)
    for k in range(50):
        p.epoch(k + 1, loss=0.1)
    p.close()
    assert [ln.split(":")[1].split()[1] for ln in buf.getvalue().splitlines()] == ["1/50", "50/50"]


def test_bad_input_one_line(tmp_path, capsys):
    xs, y = _own()
    with pytest.raises(UmeError, match="modality 'text' .* is of kind text but holds float32"):
        from_arrays({"text": np.ones((60, 3)), "b": xs["sensor"]}, y, tmp_path / "a.npz")
    from_arrays({"text": np.ones((60, 3)), "b": xs["sensor"]}, y, tmp_path / "a.npz", kinds={"text": "vector"})
    with pytest.raises(UmeError, match="kinds given for modality 'nope'"):
        from_arrays(xs, y, tmp_path / "b.npz", kinds={"nope": "text"})
    with pytest.raises(UmeError, match="kind 'words' of modality 'text' unknown"):
        from_arrays(xs, y, tmp_path / "b.npz", kinds={"text": "words"})
    np.savez(tmp_path / "p.npz", **{"train/a": np.array(["x", None], dtype=object), "train/y": np.zeros(2)})
    assert main(["run", "--dataset", str(tmp_path / "p.npz"), "--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: array 'train/a' of ") and "holds Python objects (pickled)" in err[0]
    d = from_arrays(xs, y, tmp_path / "k.npz")  # a kind entry for a modality the file does not have
    z = dict(np.load(tmp_path / "k.npz", allow_pickle=False).items())
    np.savez(tmp_path / "k2.npz", **z, **{"kind/ghost": np.array("text")})
    with pytest.raises(UmeError, match="kinds given for modality 'ghost' that k2.npz does not have"):
        load_npz(tmp_path / "k2.npz")
    assert d.kinds["text"] == "text"
    root = tmp_path / "f"
    from PIL import Image

    for i in range(8):
        for m in ("photo", "caption"):
            (root / m / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        (root / "caption" / "ab"[i % 2] / f"{i}.txt").write_text(f"caption {i % 2}")
        path = root / "photo" / "ab"[i % 2] / f"{i}.png"
        if i in (3, 6):
            path.write_bytes(b"not a png")
        else:
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    with pytest.raises(UmeError, match=r"2 image file\(s\) under .* cannot be read \(photo/a/6.png, photo/b/3.png\)"):
        from_image_folders(root, tmp_path / "f.npz", size=8)
    capsys.readouterr()
    d = from_image_folders(root, tmp_path / "f.npz", size=8, skip_unreadable=True)
    assert "note: skipped 2 unreadable image file(s)" in capsys.readouterr().err
    assert int((~d.train.present).sum() + (~d.test.present).sum() + (0 if d.val is None else (~d.val.present).sum())) == 2
