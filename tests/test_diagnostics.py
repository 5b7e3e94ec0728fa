"""Per-item records, the heads' effect on the substitute, and the noise substitute (issue 19)."""
import pytest
import torch

from umelib.datasets.core import MultiModalData, Split
from umelib.errors import UmeError
from umelib.evaluate import predict
from umelib.experiments.diagnostics import group_ids, head_effects, items_record, pack, unpack
from umelib.experiments.suite import prepare, run_suite
from umelib.models.fusion import LateFusion
from umelib.training.augment import Noise, substitute_like


def test_pack_round_trips_any_length():
    for n in (1, 7, 8, 9, 1001):
        v = torch.rand(n) > 0.5
        assert (unpack(pack(v), n) == v.numpy()).all()


def test_items_record_groups_items_by_content():
    y = torch.tensor([0, 1, 1, 2])
    rec = items_record({"complete": torch.tensor([0, 1, 0, 2])}, y, ["a", "b", "a", "c"])
    assert list(unpack(rec["correct"]["complete"], 4)) == [True, True, False, True]
    assert list(group_ids(rec)) == [0, 1, 0, 2]
    assert group_ids(items_record({}, y, None)) is None


def test_groups_are_stored_compressed_and_the_older_plain_form_still_reads():
    import base64

    import numpy as np

    groups = [str(i // 2) for i in range(754)]  # emoji: two designs per code point
    rec = items_record({}, torch.zeros(754, dtype=torch.long), groups)
    assert rec["groups"].startswith("z:") and len(rec["groups"]) < len(groups) * 4 // 3  # < a fifth of int32 base64
    assert list(group_ids(rec)) == [i // 2 for i in range(754)]
    plain = base64.b64encode(np.arange(5, dtype=np.int32).tobytes()).decode()  # files written before compression
    assert list(group_ids({"groups": plain})) == [0, 1, 2, 3, 4]


def _two_modal(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = {"a": torch.randn(n, 4, generator=g) + y[:, None], "b": torch.randn(n, 2, generator=g)}
    return Split(x, y, torch.ones(n, 2, dtype=torch.bool))


def test_a_silent_head_flips_nothing_and_a_loud_one_flips_predictions():
    test = _two_modal()
    model = LateFusion.build({"a": (4,), "b": (2,)}, 3, {"a": "identity", "b": "identity"})
    with torch.no_grad():
        model.heads["b"].weight.zero_()
        model.heads["b"].bias.zero_()  # b's head says nothing, on real inputs or on the substitute
    eff = head_effects(model, test)
    assert eff["b"]["flipped"] == 0 and eff["b"]["harmed"] == 0 and eff["b"]["helped"] == 0
    with torch.no_grad():
        model.heads["b"].bias.copy_(torch.tensor([50.0, 0.0, 0.0]))  # on the zero substitute it shouts class 0
    eff = head_effects(model, test)
    rest = model.heads["a"](test.x["a"]).argmax(1)
    assert eff["b"]["flipped"] == pytest.approx(100 * float((rest != 0).float().mean()), abs=1e-2)
    assert eff["b"]["harmed"] + eff["b"]["helped"] <= eff["b"]["flipped"] + 1e-6


def test_items_of_a_suite_agree_with_its_metrics_and_fused_models_get_heads():
    res = run_suite("synthetic", "smoke", [0], ["unimodal", "naive", "missing-detection", "ume-mma"], drop_ps=[])
    rated = run_suite("synthetic", "smoke", [1], ["naive"], drop_ps=[], missing_rates=[0.5, 1.0])
    assert sorted(r["missing_rate"] for r in rated) == [0.5, 1.0]
    for r in res + rated:
        it = r["items"]
        for s, bits in it["correct"].items():
            assert 100 * unpack(bits, it["n"]).mean() == pytest.approx(r["metrics"][s], abs=0.05), (r["method"], s)
        if r["method"] != "unimodal":
            assert set(r["heads"]) == {"x", "z"}
    half = next(r for r in rated if r["missing_rate"] == 0.5)
    assert half["items"]["correct"]["miss:x"] != next(r for r in rated if r["missing_rate"] == 1.0)["items"]["correct"]["miss:x"]
    md = next(r for r in res if r["method"] == "missing-detection")
    # a head that says "missing" is left out of the fusion, so it can flip little
    assert md["heads"]["x"]["flipped"] <= next(r for r in res if r["method"] == "naive")["heads"]["x"]["flipped"] + 5


def test_noise_is_drawn_per_sample_with_the_given_moments():
    torch.manual_seed(0)
    sub = substitute_like(torch.zeros(20000, 3), Noise(torch.tensor([1.0, -2.0, 0.0]), torch.tensor([0.5, 2.0, 1.0])))
    assert not torch.equal(sub[0], sub[1])
    assert torch.allclose(sub.mean(0), torch.tensor([1.0, -2.0, 0.0]), atol=0.05)
    assert torch.allclose(sub.std(0), torch.tensor([0.5, 2.0, 1.0]), atol=0.05)
    ints = substitute_like(torch.zeros(1000, 2, dtype=torch.uint8), Noise(torch.tensor([250.0, 3.0]), torch.tensor([20.0, 1.0])))
    assert ints.dtype == torch.uint8 and int(ints.max()) <= 255


def test_a_noise_substitute_is_set_from_the_training_split_and_seeded_at_test():
    data, cfg = prepare("synthetic", "smoke", 0, settings={"substitute": {"x": "noise"}})
    fill = data.train.fill["x"]
    assert isinstance(fill, Noise) and data.info["substitute"]["x"] == "noise"
    assert torch.allclose(fill.mean, data.train.x["x"].float().mean(0), atol=1e-4)
    model = LateFusion.build(data.input_shapes(), data.num_classes, {"x": "mlp", "z": "mlp"})
    miss = torch.zeros(len(data.test), 2, dtype=torch.bool)
    miss[:, 0] = True
    a, b = predict(model, data.test, miss, seed=3), predict(model, data.test, miss, seed=3)
    c = predict(model, data.test, miss, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_raw_text_has_no_noise_substitute():
    n = 4
    split = Split({"t": torch.zeros(n, 8, dtype=torch.uint8), "v": torch.randn(n, 2)}, torch.zeros(n, dtype=torch.long),
                  torch.ones(n, 2, dtype=torch.bool))
    data = MultiModalData("toy", split, split, 2, split)
    assert isinstance(data.with_noise(["v"]).test.fill["v"], Noise)  # a vector modality takes noise
    with pytest.raises(UmeError, match="raw text"):
        data.with_noise(["t"])
    with pytest.raises(UmeError, match="does not have"):
        data.with_noise(["w"])


def _rec(method, seed, heads=None, rate=1.0, label="pre-trained", **metrics):
    return {"method": method, "seed": seed, "missing_rate": rate, "text_encoder": label, "metrics": metrics,
            "modalities": ["image", "text"], **({"heads": heads} if heads else {})}


def test_head_differences_read_phase_2_lowering_the_harm():
    from umelib.paper import mechanism

    recs = [_rec(m, s, {"text": {"flipped": f, "harmed": h + 0.1 * s, "helped": 1.0, "spread_ratio": 0.5}})
            for s in range(4) for m, f, h in (("phase1-fused", 30.0, 12.0), ("ume-mma", 10.0, 3.0))]
    diffs = mechanism.head_differences(recs)
    assert diffs.loc["text", "phase 2 lowered it"] == "holds"
    assert "lower after phase 2" in mechanism.head_summary(diffs)
    table = mechanism.head_table(recs)
    assert table.loc[("text", "UME-MMA (after phase 2)"), "right → wrong (%)"].startswith("3.15")


def test_detection_table_says_which_side_is_above_per_substitute():
    from umelib.paper import vl

    recs = [_rec(m, s, rate=e, label=lab, **{"miss:text": v + e * (1 if lab == "noise" else -1) * 10 + 0.3 * s})
            for s in range(5) for e in (0.0, 1.0) for lab in ("pre-trained", "noise")
            for m, v in (("ume-mma", 70.0), ("missing-detection", 72.0 if lab == "pre-trained" else 60.0))]
    t = vl.detection_table(recs)
    assert set(t.loc["blank text", "reading"]) == {"missing detection above"}
    assert set(t.loc["noise (training mean and std)", "reading"]) == {"UME-MMA above"}
    assert "missing detection above at 2 of 2 rates" in vl.detection_summary(t)


def test_observed_gaps_pair_complete_and_missing_by_seed():
    from umelib.paper.complementary import gap_frame, observed_gaps

    recs = [_rec("ume-mma", s, **{"complete": 80.0 + s, "miss:image": 70.0 + s, "miss:text": 50.0 + 2 * s}) for s in range(3)]
    gaps = {g["modality"]: g for g in observed_gaps({"emoji": recs})}
    assert gaps["image"]["gap"] == pytest.approx(10.0) and gaps["image"]["gap_lo"] == pytest.approx(10.0)
    assert gaps["text"]["gap"] == pytest.approx(29.0) and gaps["text"]["gap_lo"] < 29.0
    frame = gap_frame([{"dataset": "emoji", "modality": m, "gamma_hat": g, "se": 0.01} for m, g in (("image", 0.1), ("text", 0.9))],
                      list(gaps.values()))
    assert list(frame["gap"]) == [pytest.approx(10.0), pytest.approx(29.0)]
    assert list(frame["gamma_seeds"]) == [1, 1] and list(frame["se"]) == [pytest.approx(0.01), pytest.approx(0.01)]
    seeds = [{"dataset": "emoji", "modality": "image", "gamma_hat": v, "se": 0.03} for v in (0.1, 0.2, 0.3)]
    many = gap_frame(seeds, list(gaps.values())).loc[("emoji", "image")]  # spread 0.01 / 3 + bootstrap 0.03²
    assert many["gamma_seeds"] == 3 and many["gamma_hat"] == pytest.approx(0.2)
    assert many["se"] == pytest.approx((0.01 / 3 + 0.03 ** 2) ** 0.5)


def test_gap_discordant_names_pairs_ordered_differently_and_whether_they_are_told_apart():
    import pandas as pd
    from umelib.paper.complementary import discordant_text, gap_discordant

    frame = pd.DataFrame({"dataset": ["a", "a", "b"], "modality": ["x", "z", "t"], "gamma_hat": [1.0, 0.5, 0.45],
                          "se": [0.02, 0.02, 0.05], "gap": [30.0, 13.0, 14.5], "gap_lo": [29.0, 12.5, 10.0],
                          "gap_hi": [31.0, 13.5, 19.0]}).set_index(["dataset", "modality"])
    pairs = gap_discordant(frame)
    assert [(p["a"], p["b"]) for p in pairs] == [("a: z", "b: t")]
    assert pairs[0]["gamma_apart"] is False and pairs[0]["gap_apart"] is False
    assert "told apart: neither" in discordant_text(pairs) and "0 told apart on both sides" in discordant_text(pairs)
    frame.loc[("b", "t"), ["gamma_hat", "se", "gap_lo", "gap_hi"]] = [0.1, 0.01, 14.0, 15.0]
    both = gap_discordant(frame)
    assert both[0]["gamma_apart"] and both[0]["gap_apart"] and "1 told apart on both sides" in discordant_text(both)
    assert discordant_text(gap_discordant(frame.drop(("b", "t")))) == "every pair of points is ordered alike by Γ̂ and by the gap"


def test_gamma_rows_resume_from_the_cache(tmp_path, monkeypatch):
    from umelib.paper import complementary

    calls = []
    real = complementary.expected_gamma
    monkeypatch.setattr(complementary, "expected_gamma", lambda *a, **k: calls.append(1) or real(*a, **k))
    tiny = {"synthetic": (("synthetic", "smoke", {"phase1.epochs": 1, "n_train": 200, "n_val": 40}), None)}
    first = complementary.gamma_rows(1, "cpu", tiny, cache_dir=tmp_path)
    assert len(calls) == 1 and [r["modality"] for r in first] == ["x", "z"] and {r["seed"] for r in first} == {1}
    again = complementary.gamma_rows(1, "cpu", tiny, cache_dir=tmp_path)
    assert len(calls) == 1 and again == first  # read back, not retrained
    complementary.gamma_rows(2, "cpu", tiny, cache_dir=tmp_path)
    assert len(calls) == 2  # another seed is another entry


def test_table3_claims_add_the_test_items_where_the_runs_kept_them():
    from umelib.paper.vl import table3_claims

    y = torch.zeros(40, dtype=torch.long)
    g = torch.Generator().manual_seed(0)

    def rec(method, phase2, frac, seed, acc, items=True):
        pred = (torch.rand(40, generator=g) > acc).long()  # 0 = right
        r = {"method": method, "phase2": phase2, "train_text": frac, "seed": seed, "num_classes": 5,
             "metrics": {"complete": 100 * float((pred == 0).float().mean()), "miss:image": 60.0, "miss:text": 60.0}}
        if items:
            r["items"] = items_record({"complete": pred}, y, None)
        return r

    def run(items):
        return [rec(m, v, f, s, a + 0.01 * s, items) for s in range(3) for f in (0.1, 1.0)
                for m, v, a in (("unimodal", "augmented", 0.6), ("naive", "augmented", 0.6),
                                ("ume-mma", "augmented", 0.7), ("ume-mma", "complete only", 0.65))]

    with_items, seeds_only = (table3_claims(run(k)).attrs["records"] for k in (True, False))
    assert {c["uncertainty"] for r in with_items for c in r["comparisons"]} == {"seeds + test items"}
    assert {c["uncertainty"] for r in seeds_only for c in r["comparisons"]} == {"seeds"}


def test_a_suite_keeps_encoder_probes_only_when_asked_and_naive_fusion_its_start():
    res = run_suite("synthetic", "smoke", [0], ["naive", "phase1-fused", "ume-mma"], drop_ps=[],
                    settings={"probes": True})
    chance = 100 / res[0]["num_classes"]
    for r in res:
        assert set(r["probes"]) == {"x", "z"}, r["method"]
        for m, p in r["probes"].items():  # every synthetic modality carries signal: trained encoders beat chance
            assert chance + 5 < p["probe"] <= 100 and 0 <= p["head"] <= 100, (r["method"], m, p)
        assert ("probes_init" in r) == (r["method"] == "naive")
    naive = next(r for r in res if r["method"] == "naive")
    assert set(naive["probes_init"]) == {"x", "z"}
    plain = run_suite("synthetic", "smoke", [0], ["naive"], drop_ps=[])
    assert "probes" not in plain[0] and "probes_init" not in plain[0]


def test_excess_errors_average_the_knobs_per_seed_and_read_the_interval():
    from umelib.paper.complementary import excess_errors

    rows = [{"family": "gaussian", "seed": s, "knob": k, "Pe_miss_z": 0.29, "ume_miss_z": 0.29 + 0.002 * (-1) ** s,
             "naive_miss_z": 0.33 + 0.01 * k + 0.001 * s} for s in range(5) for k in (1, 2)]
    got = {g["difference"]: g for g in excess_errors(rows)}
    assert got["naive − Bayes"]["seeds"] == 5 and got["naive − Bayes"]["points"] == pytest.approx(5.7)  # 4 + 1.5 + 0.2
    assert got["naive − Bayes"]["reading"] == "above 0" and got["naive − UME-MMA"]["reading"] == "above 0"
    assert got["UME-MMA − Bayes"]["reading"] == "not told apart"  # ±0.2 points around 0
    one = excess_errors([dict(r) for r in rows if r["seed"] == 0])
    assert {g["reading"] for g in one} == {"no interval"}
