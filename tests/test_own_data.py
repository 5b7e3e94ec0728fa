"""Own data: .npz from arrays, CSV and folders; per-modality substitutes; choosing p on validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import umelib
from umelib import UmeError
from umelib.config import apply_settings, get_config
from umelib.datasets.builders.own import from_arrays, from_csv, from_image_folders, split_assignment
from umelib.evaluate import predict
from umelib.methods import setup_method
from umelib.texts import decode_texts


def _arrays(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    return {"a": rng.normal(size=(n, 5)) + y[:, None], "b": rng.normal(size=(n, 3))}, y


def test_from_arrays_splits_stratified_and_round_trips(tmp_path):
    xs, y = _arrays()
    names = np.array(["cat", "dog", "emu", "fox"])[y]
    import pandas as pd

    texts = pd.Series([f"text {i}" for i in range(len(y))])  # a list, an array or a pandas column of str
    d = from_arrays({**xs, "t": texts}, names, tmp_path / "d.npz", seed=1)
    assert d.info["class_names"] == ["cat", "dog", "emu", "fox"] and d.num_classes == 4
    assert (len(d.train), len(d.val), len(d.test)) == pytest.approx((140, 20, 40), abs=4)
    for c in range(4):  # stratified: each class keeps its share of the test split
        share = float((d.test.y == c).float().mean())
        assert share == pytest.approx(float((y == c).mean()), abs=0.05)
    back = umelib.load_npz(tmp_path / "d.npz")
    assert torch.equal(back.train.x["a"], d.train.x["a"])
    assert decode_texts(d.test.x["t"])[0].startswith("text ")
    all_a = np.concatenate([s.x["a"].numpy() for _, s in d.splits()])
    assert sorted(all_a[:, 0].tolist()) == pytest.approx(sorted(xs["a"][:, 0].astype(np.float32).tolist()))


def test_from_arrays_refuses_bad_input_and_leaves_no_file(tmp_path):
    xs, y = _arrays()
    out = tmp_path / "d.npz"
    with pytest.raises(UmeError, match="at least 2"):
        from_arrays({"a": xs["a"]}, y, out)
    assert not list(tmp_path.iterdir())  # the failed check left nothing behind
    with pytest.raises(UmeError, match="one row per sample"):
        from_arrays({"a": xs["a"][:10], "b": xs["b"]}, y, out)
    with pytest.raises(UmeError, match="summing to 1"):
        from_arrays(xs, y, out, split=(0.5, 0.1, 0.1))
    from_arrays(xs, y, out)
    with pytest.raises(UmeError, match="overwrite=True"):
        from_arrays(xs, y, out)


def test_split_per_sample_and_each_class_keeps_training_samples():
    y = np.array([0, 0, 1, 2, 2, 2])
    s = split_assignment(y, (0.4, 0.2, 0.4), seed=0)
    assert set(y[s == "train"]) == {0, 1, 2}
    given = ["train", "test", "train", "val", "train", "test"]
    assert list(split_assignment(y, given)) == given
    with pytest.raises(UmeError, match="unknown"):
        split_assignment(y, ["train", "tst", "train", "val", "train", "test"])


CSV = """age,income,review,label,part
30,1.5,great product,pos,train
41,,bad,neg,train
,,fine,pos,train
25,0.7,,neg,train
52,2.5,awful,neg,test
33,1.1,lovely,pos,test
"""


def test_from_csv_columns_text_and_empty_cells(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(CSV.replace("41,,bad", "41,0.9,bad"))
    d = from_csv(p, {"tab": ["age", "income"], "text": "review"}, "label", tmp_path / "t.npz", split="part")
    assert d.info["class_names"] == ["neg", "pos"] and len(d.train) == 4 and len(d.test) == 2
    assert d.train.x["tab"].shape == (4, 2) and d.train.x["text"].dtype == torch.uint8
    # row 3 has no tabular input, row 4 no text: both are marked missing, their rows hold the substitute
    assert d.train.present.tolist() == [[True, True], [True, True], [False, True], [True, False]]
    assert decode_texts(d.train.x["text"])[3] == "" and d.train.x["tab"][2].abs().sum() == 0


def test_from_csv_errors_name_the_fix(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(CSV)
    with pytest.raises(UmeError, match="partly empty .* impute"):
        from_csv(p, {"tab": ["age", "income"], "text": "review"}, "label", tmp_path / "t.npz", split="part")
    with pytest.raises(UmeError, match="column 'price' is not in t.csv"):
        from_csv(p, {"tab": ["age", "price"], "text": "review"}, "label", tmp_path / "t.npz")
    with pytest.raises(UmeError, match="CSV file not found"):
        from_csv(tmp_path / "nope.csv", {"a": "age"}, "label", tmp_path / "t.npz")


def test_from_csv_multilabel(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["x1,x2,genres"] + [f"{rng.normal():.3f},{rng.normal():.3f},{g}"
                               for g in ["comedy|drama", "drama", "action", "comedy"] * 10]
    p = tmp_path / "m.csv"
    p.write_text("\n".join(rows) + "\n")
    d = from_csv(p, {"a": "x1", "b": "x2"}, "genres", tmp_path / "m.npz", label_sep="|")
    assert d.task == "multilabel" and d.num_classes == 3 and d.info["class_names"] == ["action", "comedy", "drama"]
    y = torch.cat([s.y for _, s in d.splits()])
    assert y.shape == (40, 3) and int(y.sum()) == 50  # 10 samples carry two labels


def _image_tree(root, n_per_class=6, size=20):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        for m in ("photo", "caption"):
            (root / m / c).mkdir(parents=True)
        for i in range(n_per_class):
            img = np.clip(np.array(colour) + rng.integers(-20, 20, (size, size + 4, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / "photo" / c / f"s{i}.png")
            if i != 0:  # sample 0 of each class has no caption
                (root / "caption" / c / f"s{i}.txt").write_text(f"a {c} thing number {i}\n")


def test_from_image_folders_matches_samples_and_marks_missing(tmp_path):
    _image_tree(tmp_path / "imgs")
    d = from_image_folders(tmp_path / "imgs", tmp_path / "i.npz", size=8, split=(0.5, 0.0, 0.5))
    assert d.modalities == ["caption", "photo"] and d.info["class_names"] == ["blue", "red"]
    assert d.train.x["photo"].dtype == torch.uint8 and d.train.x["photo"].shape[1:] == (3, 8, 8)
    pres = torch.cat([s.present for _, s in d.splits()])
    assert pres.shape == (12, 2) and int((~pres[:, 0]).sum()) == 2 and bool(pres[:, 1].all())
    red = d.train.x["photo"][d.train.y == 1].float().mean((0, 2, 3))
    assert red[0] > 150 and red[2] < 60  # the red class is red, channels first


def test_from_image_folders_errors(tmp_path):
    _image_tree(tmp_path / "imgs")
    (tmp_path / "imgs" / "caption" / "red" / "s1.csv").write_text("x")
    with pytest.raises(UmeError, match="mixes or holds unknown file kinds"):
        from_image_folders(tmp_path / "imgs", tmp_path / "i.npz")
    (tmp_path / "one" / "photo" / "red").mkdir(parents=True)
    with pytest.raises(UmeError, match="at least 2"):
        from_image_folders(tmp_path / "one", tmp_path / "i.npz")


def test_substitute_setting_is_checked():
    cfg = apply_settings(get_config("smoke"), {"substitute": {"x": "mean", "z": "-1"}})
    assert cfg.substitute == {"x": "mean", "z": -1.0}
    assert apply_settings(get_config("smoke"), {"substitute": {"x": "noise"}}).substitute == {"x": "noise"}
    with pytest.raises(UmeError, match="takes a number, \"mean\" .* or \"noise\""):
        apply_settings(get_config("smoke"), {"substitute": {"x": "median"}})
    with pytest.raises(UmeError, match="modalities \\['w'\\]"):
        umelib.prepare("synthetic", "smoke", settings={"substitute": {"w": 1}})


def test_substitute_reaches_augmentation_protocol_and_standardization(tmp_path):
    xs, y = _arrays(300)
    xs["a"] = np.abs(xs["a"]) + 3.0  # 0 lies far outside this modality: a constant -1 is unmistakable
    from_arrays(xs, y, tmp_path / "s.npz")
    data, cfg = umelib.prepare(str(tmp_path / "s.npz"), "smoke", settings={"substitute": {"a": -1, "b": "mean"}})
    raw = umelib.load_npz(tmp_path / "s.npz").with_validation(0.1).train.x["a"].double()
    expect = ((-1 - raw.mean(0)) / raw.std(0)).float()  # standardized like every input of 'a'
    for _, s in data.splits():
        assert torch.allclose(s.fill["a"], expect, atol=1e-4)
        assert s.fill["b"].abs().max() < 1e-5  # the training mean is 0 after standardization
    model = setup_method("naive", data, cfg)[0]
    # the protocol: miss:a feeds the substitute, not zeros
    miss = torch.zeros(len(data.test), 2, dtype=torch.bool)
    miss[:, 0] = True
    got = predict(model, data.test, miss)
    b = data.test.batch(slice(None))
    b["a"] = expect.expand_as(b["a"])
    model.eval()
    with torch.no_grad():
        assert torch.allclose(got, model(b).float(), atol=1e-5)
        b["a"] = torch.zeros_like(b["a"])
        assert not torch.allclose(got, model(b).float(), atol=1e-3)  # zeros would give other logits
    uni = umelib.pretrain(data, cfg, umelib.Trainer(seed=0))
    _, _, aug, _ = setup_method("ume-mma", data, cfg, uni)
    assert torch.allclose(aug.substitutes["a"], expect, atol=1e-4)


def test_substitute_refuses_text_and_out_of_range(tmp_path):
    xs, y = _arrays(60)
    d = from_arrays({"t": [f"w{i}" for i in range(60)], "img": np.zeros((60, 1, 4, 4), np.uint8)}, y,
                    tmp_path / "u.npz")
    with pytest.raises(UmeError, match="blank text"):
        d.with_substitutes({"t": "mean"})
    with pytest.raises(UmeError, match="does not fit"):
        d.with_substitutes({"img": -1})
    assert int(d.with_substitutes({"img": 128}).test.fill["img"].flatten()[0]) == 128


def test_choose_drop_p_selects_on_validation_and_returns_only_the_chosen(tmp_path, monkeypatch):
    from umelib.experiments import selection

    val = {0.1: 60.0, 0.3: 70.0, 0.5: 65.0}

    def fake(dataset, profile, seeds, methods, drop_ps, **kw):
        return [{"method": f"ume-mma@p={p:g}", "sweep": {"drop_p": p}, "metrics": {"avg": 100 - p},
                 "provenance": {"selected_epoch": {"ume-mma": {"val": val[p] + s}}}} for s in seeds for p in drop_ps]

    monkeypatch.setattr(selection, "run_suite", fake)
    out = selection.choose_drop_p("x", (0.5, 0.1, 0.3), seeds=(0, 1))
    assert out["drop_p"] == 0.3 and out["validation"][0.3] == pytest.approx(70.5)
    assert [r["sweep"]["drop_p"] for r in out["results"]] == [0.3, 0.3]
    val[0.5] = 80.0
    assert selection.choose_drop_p("x", (0.1, 0.3, 0.5))["drop_p"] == 0.5


def test_choose_drop_p_runs_end_to_end(tmp_path):
    from umelib.experiments.selection import choose_drop_p

    xs, y = _arrays(300)
    from_arrays(xs, y, tmp_path / "p.npz")
    out = choose_drop_p(str(tmp_path / "p.npz"), (0.1, 0.4), "smoke", settings={"phase1.epochs": 2, "phase2.epochs": 1})
    assert set(out["validation"]) == {0.1, 0.4} and out["drop_p"] in (0.1, 0.4)
    assert out["validation"][out["drop_p"]] == max(out["validation"].values())
    assert len(out["results"]) == 1 and 0 <= out["results"][0]["metrics"]["avg"] <= 100


def test_expected_gamma_sees_which_modality_carries_the_label(tmp_path):
    from umelib.paper.complementary import expected_gamma

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 900)
    xs = {"signal": rng.normal(size=(900, 4)) + 2.0 * np.eye(3, 4)[y], "noise": rng.normal(size=(900, 4))}
    from_arrays(xs, y, tmp_path / "g.npz", split=(0.6, 0.3, 0.1))
    data, cfg = umelib.prepare(str(tmp_path / "g.npz"), "smoke")
    test_before = data.test.x["signal"].clone()
    rows = {r["modality"]: r for r in expected_gamma(data, cfg, umelib.Trainer(seed=0))}
    assert rows["signal"]["gamma_hat"] > 0.3 > abs(rows["noise"]["gamma_hat"])  # only 'signal' knows the label
    assert rows["noise"]["gamma_hat"] < rows["signal"]["gamma_hat"] - 3 * rows["signal"]["se"]
    assert torch.equal(data.test.x["signal"], test_before)
    ml = from_arrays(xs, np.eye(3, dtype=int)[y], tmp_path / "m.npz")
    with pytest.raises(UmeError, match="multilabel"):
        expected_gamma(ml, cfg, umelib.Trainer(seed=0))


def test_cli_takes_a_substitute_and_refuses_a_bad_one(tmp_path, capsys):
    from umelib.cli import main

    xs, y = _arrays(120)
    from_arrays(xs, y, tmp_path / "c.npz")
    assert main(["run", "--dataset", str(tmp_path / "c.npz"), "--set", 'substitute={"a": "mean", "b": -2}',
                 "--print-config"]) == 0
    assert '"substitute": {' in capsys.readouterr().out.replace("\n", "").replace("  ", "")
    assert main(["run", "--dataset", str(tmp_path / "c.npz"), "--set", "substitute={a: median}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "a number, \"mean\"" in err[0]
