"""The plain-PyTorch UME-MMA (umelib.paper.scratch) against umelib, and the mechanism measurements."""
import pytest
import torch

from umelib import LateFusion, UmeError, make_gaussian
from umelib.datasets.core import MultiModalData, Split
from umelib.paper import mechanism, scratch


@pytest.fixture(scope="module")
def comparison():
    return mechanism.agreement(mechanism.scratch_comparison("synthetic", "smoke", [0, 1, 2]))


@pytest.mark.slow  # two implementations trained in the smoke profile
def test_naive_matches_umelib(comparison):
    # same seeds -> same initialisation and batch order: the two implementations agree to float rounding
    assert (comparison.loc["naive", "max |difference|"] < 0.1).all(), comparison


@pytest.mark.slow  # two implementations trained in the smoke profile
def test_ume_mma_matches_umelib_within_seed_noise(comparison):
    # the augmentation draws differ, so only the mean over seeds agrees: measured |mean diff| <= 0.5 points
    # (5 seeds, smoke), seed spread 0.3-0.7 points
    ume = comparison.loc["ume-mma"]
    assert (ume["difference"].abs() < 1.0).all(), ume
    assert (ume["max |difference|"] < 2.5).all(), ume


@pytest.mark.slow  # two implementations trained in the smoke profile
def test_comparison_detects_a_missing_augmentation():
    # the same comparison with the plain-PyTorch augmentation switched off must not pass as agreement
    frame = mechanism.scratch_comparison("synthetic", "smoke", [0], drop_p=0.0)
    diff = mechanism.agreement(frame).loc["ume-mma", "difference"]
    assert diff.abs().max() > 1.0, diff


def test_drop_replaces_at_most_one_modality_with_rate_p():
    xs = {"a": torch.ones(20000, 3), "b": torch.ones(20000, 2)}
    out = scratch.drop(xs, 0.3, torch.Generator().manual_seed(0))
    gone = torch.stack([(out[m] == 0).all(1) for m in xs], 1)
    assert not gone.all(1).any()
    assert torch.allclose(gone.float().mean(0), torch.tensor([0.3, 0.3]), atol=0.015)
    assert ((out["a"] == 0).all(1) | (out["a"] == 1).all(1)).all()  # whole samples, not single features
    assert torch.equal(scratch.drop(xs, 0.0, torch.Generator())["a"], xs["a"])


def test_protocol_zeroes_the_missing_modality():
    model = scratch.LateFusion({"a": 2, "b": 2}, 2)
    xs, y = {"a": torch.randn(50, 2), "b": torch.randn(50, 2)}, torch.randint(0, 2, (50,))
    out = scratch.protocol(model, xs, y)
    assert set(out) == {"complete", "miss:a", "miss:b", "avg"}
    assert out["avg"] == pytest.approx((out["complete"] + out["miss:a"] + out["miss:b"]) / 3)
    assert out["miss:a"] == scratch.accuracy(model, {"a": torch.zeros(50, 2), "b": xs["b"]}, y)


def test_scratch_comparison_rejects_image_inputs():
    n = 40
    split = Split({"img": torch.zeros(n, 1, 4, 4), "v": torch.zeros(n, 3)}, torch.zeros(n, dtype=torch.long),
                  torch.ones(n, 2, dtype=torch.bool))
    data = MultiModalData("imgs", split, split, 2, split)
    with pytest.raises(UmeError, match="vector inputs"):
        mechanism.scratch_comparison(data, "smoke", [0])


def test_substitute_logits_measure_a_loud_substitute_head(tiny):
    torch.manual_seed(0)
    quiet = LateFusion.build(tiny.input_shapes(), tiny.num_classes)
    loud = LateFusion.build(tiny.input_shapes(), tiny.num_classes)
    loud.load_state_dict(quiet.state_dict())
    with torch.no_grad():  # x's head says class 3 loudly whatever its input: on the substitute too
        loud.heads["x"].bias.copy_(100.0 * torch.nn.functional.one_hot(torch.tensor(3), tiny.num_classes))
    logits, effect = mechanism.substitute_logits({"quiet": quiet, "loud": loud}, tiny)
    sums = logits.groupby(["model", "zeroed"])["logit"].sum()
    assert sums.abs().max() < 1e-3  # centred over classes
    assert effect.loc[("loud", "x"), "substitute spread"] > 90
    assert effect.loc[("loud", "x"), "predictions changed (%)"] > 95
    assert effect.loc[("quiet", "x"), "predictions changed (%)"] < effect.loc[("loud", "x"), "predictions changed (%)"]


def test_probe_reads_what_the_features_hold(tiny):
    torch.manual_seed(0)
    model = LateFusion.build(tiny.input_shapes(), tiny.num_classes, {"x": "identity", "z": "identity"})
    acc = mechanism.probe_accuracy(model, "x", tiny)  # raw Gaussian inputs: linearly separable to a good degree
    assert acc > 100 / tiny.num_classes + 30
    blind = make_gaussian(n_train=600, n_val=100, n_test=400, seed=0)
    blind.train.x["x"].zero_()
    blind.test.x["x"].zero_()
    assert mechanism.probe_accuracy(model, "x", blind) < 100 / tiny.num_classes + 8  # no signal, about chance


def test_probe_run_rows(tiny, tiny_cfg):
    rows = mechanism.probe_run(tiny, "smoke", [0], phase1=tiny_cfg.phase1, phase2=tiny_cfg.phase2, n_train=None,
                               n_test=None)
    table = mechanism.probe_table(rows)
    assert len(rows) == 6 and {r["encoder"] for r in rows} == {"random init", "naive (end to end)", "uni-modal (phase 1)"}
    for r in rows:
        assert 0 <= r["probe (%)"] <= 100 and "git" in r["provenance"]
        assert r["probe (%)"] <= r["Bayes, this modality alone (%)"] + 8  # 400 test samples: a few points of noise
    uni = {r["modality"]: r for r in rows if r["encoder"] == "uni-modal (phase 1)"}
    assert uni["x"]["probe (%)"] > 100 / tiny.num_classes + 20
    assert table["seeds"].eq(1).all()


def _suite_rec(method, seed, text, image=60.0, init=None):
    rec = {"method": method, "seed": seed, "missing_rate": 1.0, "profile": "full", "provenance": {"git": "x"},
           "probes": {"text": {"probe": text, "head": text - 1}, "image": {"probe": image, "head": image - 2}}}
    if init is not None:
        rec["probes_init"] = {"text": {"probe": init, "head": 10.0}, "image": {"probe": 20.0, "head": 10.0}}
    return rec


def test_suite_probes_are_read_once_per_model_and_their_gaps_follow_the_intervals():
    recs = []
    for s in range(5):
        recs += [_suite_rec("naive", s, 80.0 + 0.3 * s, init=70.0), _suite_rec("naive", s, 80.0 + 0.3 * s, init=70.0),
                 _suite_rec("phase1-fused", s, 84.0 + 0.2 * s, image=60.0 + (-1) ** s),
                 _suite_rec("ume-mma", s, 84.0 + 0.2 * s + 0.5 * (-1) ** s), _suite_rec("unimodal", s, 99.0)]
    rows = mechanism.suite_probe_rows(recs, "emoji")  # the second naive record (another missing rate) is skipped
    assert len(rows) == 5 * 4 * 2
    init = [r for r in rows if r["encoder"] == "before training"]
    assert len(init) == 10 and all(r["head alone (%)"] is None for r in init)
    gaps = {(g["modality"], g["gap"]): g for g in mechanism.probe_gaps(rows)}
    up = gaps[("text", "probe: phase 1 − naive")]
    assert up["seeds"] == 5 and up["reading"] == "above 0" and up["lo"] > 0 and up["diff"] == pytest.approx(3.8)  # 4 − 0.1 × mean seed
    assert gaps[("image", "probe: phase 1 − naive")]["reading"] == "not told apart"  # ±1 around 0
    assert gaps[("text", "probe: phase 2 − phase 1")]["reading"] == "not told apart"
    assert gaps[("text", "head alone: phase 1 − naive")]["reading"] == "above 0"
    assert {g["reading"] for g in mechanism.probe_gaps(rows, check_only={"emoji"})} == {"pipeline check only"}
    text = mechanism.gaps_text(mechanism.probe_gaps(rows))
    assert "probe: phase 1 − naive, text: +3.80 [" in text and "above 0" in text
    assert mechanism.gaps_text([]) == "no probes kept"
