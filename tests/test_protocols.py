"""Named missing-modality protocols: masks that are reproducible byte for byte, differ by seed, hold the stated rate,
and evaluate any model, including one written in plain PyTorch."""
import numpy as np
import pytest
import torch
from torch import nn

from umelib.errors import UmeError
from umelib.protocols import PROTOCOLS, load_masks, make_masks, masks_sha256, save_masks, subset_settings

SIZES = {"train": 1000, "val": 101, "test": 333}


def test_masks_are_reproducible_differ_by_seed_and_hold_the_rate(tmp_path):
    a = make_masks(SIZES, ["image", "text"], "abc", "train-test", 0.7, "text", seed=0)
    b = make_masks(SIZES, ["image", "text"], "abc", "train-test", 0.7, "text", seed=0)
    c = make_masks(SIZES, ["image", "text"], "abc", "train-test", 0.7, "text", seed=1)
    assert masks_sha256(a) == masks_sha256(b) != masks_sha256(c)
    assert all(np.array_equal(a[s], b[s]) for s in SIZES)
    for s, n in SIZES.items():
        assert abs(int((~a[s][:, 1]).sum()) - 0.7 * n) <= 1 and a[s][:, 0].all()  # the rate, within one sample
    both = make_masks(SIZES, ["image", "text"], "abc", "test-only", 0.5, "both", seed=0)
    assert both["train"].all() and both["val"].all() and both["test"].any(1).all()  # never both missing
    assert abs(int((~both["test"]).sum()) - 0.5 * 333) <= 1
    only = make_masks(SIZES, ["image", "text"], "abc", "train-only", 0.9, "text", seed=0)
    assert only["test"].all() and abs(int((~only["train"][:, 1]).sum()) - 900) <= 1
    other_data = make_masks(SIZES, ["image", "text"], "abd", "train-test", 0.7, "text", seed=0)
    assert masks_sha256(other_data) != masks_sha256(a)  # keyed by the data's checksum too
    path = tmp_path / "m.npz"
    digest = save_masks(path, a, {"protocol": "train-test", "rate": 0.7})
    back, meta = load_masks(path)
    assert masks_sha256(back) == digest == meta["sha256"] and meta["rate"] == "0.7"
    with pytest.raises(UmeError, match="unknown protocol"):
        make_masks(SIZES, ["image", "text"], "abc", "sometimes", 0.5, "text", 0)
    with pytest.raises(UmeError, match="rate must lie in"):
        make_masks(SIZES, ["image", "text"], "abc", "test-only", 1.5, "text", 0)


def test_any_subset_on_three_modalities_and_a_plain_pytorch_model():
    import umelib
    from umelib.evaluate import evaluate_protocol

    assert list(subset_settings(["a", "b"])) == ["complete", "present:a", "present:b"]
    names = subset_settings(["a", "b", "c"])
    assert list(names) == ["complete", "present:a+b", "present:a+c", "present:b+c", "present:a", "present:b",
                           "present:c"]
    data = umelib.load_dataset("synthetic-3m").subsample(200, 300)

    class Plain(nn.Module):  # written without umelib: a linear layer per modality, logits summed
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = nn.ModuleDict({m: nn.Linear(data.test.x[m].shape[1], 10) for m in ("a", "b", "c")})

        def forward(self, batch):
            return sum(self.lin[m](batch[m]) for m in ("a", "b", "c"))

    out = evaluate_protocol(Plain(), data.test, protocol="any-subset", n_boot=200)
    assert list(out) == list(names)
    for m in out.values():
        assert m["accuracy_lo"] <= m["accuracy"] <= m["accuracy_hi"] and m["accuracy_hi"] - m["accuracy_lo"] < 20
    fn = lambda batch: Plain()(batch)  # a plain callable works too
    assert evaluate_protocol(fn, data.test, protocol="any-subset", n_boot=50)["complete"]["accuracy"] == \
        out["complete"]["accuracy"]
    present = torch.from_numpy(make_masks({"test": 300}, ["a", "b", "c"], data.sha256(), "test-only", 0.5, "c", 0)["test"])
    res = evaluate_protocol(Plain(), data.test, protocol="test-only", present=present, n_boot=50)
    assert set(res) == {"complete", "masked"}
    with pytest.raises(UmeError, match="needs the test presence masks"):
        evaluate_protocol(Plain(), data.test, protocol="test-only")
    assert set(PROTOCOLS) == {"test-only", "train-test", "train-only", "any-subset"}


def test_a_run_follows_a_protocol_and_records_its_masks(tmp_path):
    """run(..., protocol=...): the training and validation splits miss what the masks say, fused models are also
    scored on the masked test set, every record carries the protocol and the masks' sha256 (per seed); a masks file
    gives the same masks as drawing them for that seed, and one drawn for other splits is refused."""
    from umelib.experiments.masking import ProtocolSpec, apply_protocol
    from umelib.experiments.suite import prepare, run

    spec = ProtocolSpec("train-test", 0.6, "z")
    res = run("synthetic", ["unimodal", "naive", "ume-mma"], "smoke", seeds=[0, 1], protocol=spec,
              settings={"phase1.epochs": 2, "phase2.epochs": 2, "n_train": 400, "n_test": 400})
    fused = [r for r in res if r["method"] != "unimodal"]
    assert all("masked" in r["metrics"] and r["protocol"]["name"] == "train-test" for r in fused)
    sha = {r["seed"]: r["protocol"]["masks_sha256"] for r in res}
    assert len(set(sha.values())) == 2 and all(r["protocol"]["masks_sha256"] == sha[r["seed"]] for r in res)
    miss = fused[0]["protocol"]["missing"]
    n = fused[0]["provenance"]["n_train"]
    assert abs(miss["train"]["z"] - 0.6 * n) <= 1 and miss["train"]["x"] == 0 and miss["test"]["z"] > 0
    for r in fused:  # the masked test set lies between complete and z missing everywhere
        m = r["metrics"]
        assert min(m["complete"], m["miss:z"]) - 5 <= m["masked"] <= max(m["complete"], m["miss:z"]) + 5

    data, _ = prepare("synthetic", "smoke", 0, settings={"n_train": 400, "n_test": 400})
    drawn, applied = apply_protocol(data, spec, 0)
    assert int((~drawn.train.present[:, 1]).sum()) == miss["train"]["z"] and drawn.test.present.all()
    sizes = {s: len(sp) for s, sp in data.splits()}
    path = tmp_path / "m.npz"
    save_masks(path, make_masks(sizes, data.modalities, data.info["sha256"], "train-test", 0.6, "z", 0),
               {"protocol": "train-test", "rate": 0.6, "modality": "z", "seed": 0, "data_sha256": data.info["sha256"],
                "modalities": ",".join(data.modalities)})
    _, from_file = apply_protocol(data, ProtocolSpec.from_file(str(path)), 5)
    assert from_file.record["masks_sha256"] == applied.record["masks_sha256"] == sha[0]
    small, _ = prepare("synthetic", "smoke", 0, settings={"n_train": 100})
    with pytest.raises(UmeError, match="use --profile full, or --protocol"):
        apply_protocol(small, ProtocolSpec.from_file(str(path)), 0)
    with pytest.raises(UmeError, match="rate must lie in"):
        ProtocolSpec("test-only", 1.2)


def test_cli_run_with_a_protocol_and_its_bad_inputs(capsys):
    from umelib.cli import main

    assert main(["run", "--dataset", "synthetic-3m", "--protocol", "any-subset", "--epochs", "1", "--set", "n_train=300", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "present:a+b" in out and "present:c" in out and "protocol any-subset" in out
    for bad, msg in ((["--rate", "0.3"], "add --protocol NAME"), (["--protocol", "train-test"], "needs --rate"),
                     (["--protocol", "sometimes", "--rate", "0.1"], "unknown protocol"),
                     (["--protocol", "test-only", "--rate", "0.1", "--masks", "m.npz"], "not both")):
        assert main(["run", "--dataset", "synthetic", "--quiet", *bad]) == 2
        assert msg in capsys.readouterr().err


def test_protocol_tables_test_every_baseline_and_say_no_more_than_the_intervals():
    from umelib.paper import protocoltables as pt

    def rec(method, seed, mod, masked, part="train-test", **extra):
        return {"method": method, "seed": seed, "part": part, "metric": "accuracy",
                "protocol": {"name": "train-test", "rate": 0.7, "modality": mod},
                "metrics": {"complete": masked + 10, "masked": masked}, **extra}

    recs = []
    for s in range(5):
        recs += [rec("ume-mma", s, "text", 60 + s % 2), rec("naive", s, "text", 50 + s % 3),
                 rec("multitask", s, "text", 60.4 + [1, -1, 0.5, -0.5, 0][s]), rec("missing-detection", s, "text", 70 + s % 2)]
    d = pt.train_test_differences(recs)
    assert list(d["UME-MMA above it"]) == ["holds", "inconclusive", "fails"]  # one row per baseline, none chosen
    said = pt.summary(recs)["train_test"]
    assert said == "text missing: UME-MMA above naive; below missing detection; not told apart from multi-task."
    assert pt.train_test_table(recs).loc["UME-MMA", "text"].startswith("60.4 ± ")
    beyond = [{"method": "ume-mma@p=0.1", "sweep": {"drop_p": p}, "seed": s, "part": "beyond", "missing_rate": r,
               "metric": "accuracy", "metrics": {"miss:text": 80 - 30 * r * (1 - p) + s % 2}}
              for p in (0.1, 0.5) for s in range(3) for r in (0.0, 1.0)]
    assert pt.drop_ps(beyond) == [0.1, 0.5]
    b = pt.summary(beyond)["beyond"]
    assert "at 0% missing" in b and "no interval" not in b and b.count("not told apart") == 1
    assert b.endswith("the higher rate above.")  # at 100% missing the p = 0.5 runs lose 9 points less
