"""Claim verdicts follow the numbers and their uncertainty: holds / fails / inconclusive, none near chance."""
import math

import pytest
import torch

from umelib.verdicts import Diff

from conftest import fake_result, seeds_of
from umelib.paper import claims


_r, _seeds = fake_result, seeds_of


def test_interval_is_a_paired_t_interval():
    d = claims.Diff.of({0: 1.0, 1: 2.0, 2: 3.0})
    half = 4.302652729749464 * 1.0 / math.sqrt(3)  # Student t, 2 degrees of freedom, 97.5%
    assert d.mean == 2.0 and abs(d.std - 1.0) < 1e-12 and abs(d.lo - (2 - half)) < 1e-9 and abs(d.hi - (2 + half)) < 1e-9
    assert d.above(0.0) == "inconclusive" and d.above(-1.0) == "holds" and d.above(5.0) == "fails"
    assert claims.Diff.of({0: 1.0}).above(0.0) == "inconclusive"  # one seed: no interval, no verdict
    paired = claims.Diff.of({0: 10.0, 1: 20.0, 2: 30.0}, {0: 9.0, 1: 19.1, 2: 28.9})  # big spread, steady gap
    assert paired.above(0.0) == "holds"


def test_table1_verdicts_follow_the_numbers():
    base = (_seeds("unimodal", v=30, a=60) + _seeds("naive", v=20, a=50, c=70)
            + _seeds("missing-detection", v=29, a=61, c=68))
    t = claims.table1(base + _seeds("ume-mma", v=31, a=61.5, c=75))
    assert list(t["verdict"]) == ["holds", "holds", "holds", "holds"]
    assert "97.41 vs " in t["paper"].iloc[0] and "Missing Detection 96.73" in t["paper"].iloc[0]
    t = claims.table1(base + _seeds("ume-mma", v=36, a=40, c=60))  # Avg below; Miss-V +6; Miss-A -20
    # Miss-V 6 points ABOVE the audio-only model is within 2 points under the non-inferiority reading (it beats it)
    assert list(t["verdict"]) == ["fails", "holds", "fails", "holds"]
    assert "+6.00" in t[claims.DIFF].iloc[1] and "beats audio-only model: yes" in t[claims.DIFF].iloc[1]
    noisy = _seeds("ume-mma", jitter=(0.0, 3.0, -3.0), v=31, a=61.5, c=75)  # Miss-V +1 +/- 3: spans 2
    assert claims.table1(base + noisy)["verdict"].iloc[1] == "inconclusive"


def test_no_verdicts_near_chance_and_uni_modal_needed():
    res = (_seeds("unimodal", v=12, a=60) + _seeds("naive", v=20, a=50, c=70) + _seeds("ume-mma", v=31, a=61.5, c=75))
    t = claims.table1(res)
    assert set(t["verdict"]) == {claims.PIPELINE} and "within 5 points of chance" in t.attrs["note"]
    with pytest.raises(ValueError, match="unimodal"):
        claims.table1([r for r in res if r["method"] != "unimodal"])


def test_table4_and_sweep_verdicts():
    uni = _seeds("unimodal", v=30, a=60)
    res = uni + (_seeds("only-aug", v=30, a=60) + _seeds("only-pretrain", v=10, a=62) + _seeds("ume-mma-frozen", v=33, a=60)
                 + _seeds("frozen-heads", v=20, a=61) + _seeds("ume-mma", v=34, a=61))
    assert list(claims.table4(res)["verdict"]) == ["holds", "holds", "holds", "holds"]
    res = [r for r in res if r["method"] != "ume-mma-frozen"] + _seeds("ume-mma-frozen", v=28, a=60)  # costs 3.5
    assert list(claims.table4(res)["verdict"]) == ["holds", "holds", "fails", "holds"]
    sw = uni + [_r("ume-mma@p", seed=s, v=30 + 5 * (p == 0.3) + s, a=60, p=p) for s in (0, 1, 2) for p in (0.0, 0.3, 0.5)]
    t = claims.sweep(sw)
    assert t["verdict"].iloc[0] == "holds" and "vs p=0:" in t[claims.DIFF].iloc[0] and "vs p=0.5:" in t[claims.DIFF].iloc[0]
    assert "best p = 0.3 (AVE" in t["paper"].iloc[0]
    sw = uni + [_r("ume-mma@p", seed=s, v=30 + 10 * p, a=60, p=p) for s in (0, 1, 2) for p in (0.0, 0.3, 0.5)]
    assert claims.sweep(sw)["verdict"].iloc[0] == "fails"  # the largest p is best in every seed
    flat = uni + [_r("ume-mma@p", seed=s, v=30 + (s - 1) * (p == 0.3) * 4, a=60, p=p) for s in (0, 1, 2) for p in (0.0, 0.3, 0.5)]
    assert claims.sweep(flat)["verdict"].iloc[0] == "inconclusive"


def test_sweep_chooses_the_inner_p_on_validation():
    uni = _seeds("unimodal", v=30, a=60)

    def run(s, p, test_v, val):
        r = _r("ume-mma@p", seed=s, v=test_v, a=60, p=p)
        r["provenance"] = {"selected_epoch": {"ume-mma": {"epoch": 3, "val": val}}}
        return r

    # on test p=0.3 looks best, on validation p=0.1 does: the claim is judged for the validation choice
    sw = uni + [run(s, p, {0.0: 30, 0.1: 33, 0.3: 36, 0.5: 31}[p] + s, {0.0: 50, 0.1: 58, 0.3: 55, 0.5: 52}[p])
                for s in (0, 1, 2) for p in (0.0, 0.1, 0.3, 0.5)]
    t = claims.sweep(sw)
    assert "p = 0.1 chosen on validation" in t.index[0] and "vs p=0:" in t[claims.DIFF].iloc[0]
    assert t["verdict"].iloc[0] == "holds"


def _avg_seeds(method, avgs):
    """Seeds whose only metric that matters is avg (for the all-pairs rule)."""
    return [_r(method, s, v=a, a=a, c=a) for s, a in enumerate(avgs)]


def test_beats_every_baseline_is_tested_against_each_one():
    """Intersection-union: clear wins over two baselines and one comparison that spans 0 make it inconclusive; every
    comparison is recorded, none chosen by its test mean."""
    uni = _seeds("unimodal", v=30, a=60)
    ume = _avg_seeds("ume-mma", [70.0, 71.0, 69.0])
    res = uni + ume + _avg_seeds("naive", [60.0, 61.0, 59.2]) + _avg_seeds("multitask", [61.0, 62.0, 60.1])
    tied = _avg_seeds("missing-detection", [71.5, 69.0, 69.8])  # -1.5, +2.0, -0.8: spans 0
    t = claims.table1(res + tied)
    rec = claims.records(t)[0]
    assert rec["test"] == "all-pairs" and [c["vs"] for c in rec["comparisons"]] == ["naive", "multitask", "missing-detection"]
    spans = [c for c in rec["comparisons"] if c["lo"] < 0 < c["hi"]]
    assert [c["vs"] for c in spans] == ["missing-detection"]
    assert rec["verdict"] == t["verdict"].iloc[0] == "inconclusive"
    clear = _avg_seeds("missing-detection", [65.0, 66.0, 64.1])
    assert claims.table1(res + clear)["verdict"].iloc[0] == "holds"
    below = _avg_seeds("missing-detection", [75.0, 76.0, 74.2])  # one baseline above UME-MMA in every seed
    assert claims.table1(res + below)["verdict"].iloc[0] == "fails"


def test_within_is_non_inferiority():
    from umelib.verdicts import Diff, non_inferiority

    def verdict(diffs):
        c = non_inferiority("within 2", "", "", "uni", Diff.of(dict(enumerate(diffs))), 2.0)
        return c.decide(0.05), c.diagnostics["beats uni"]

    assert verdict([3.5, 4.0, 3.9]) == ("holds", "yes")  # far above: non-inferior, and it beats the model
    assert verdict([-0.5, -0.8, -0.6]) == ("holds", "no")  # a little below, surely above -2
    assert verdict([-4.0, -3.5, -3.8]) == ("fails", "no")  # surely below -2
    assert verdict([-2.0, 0.5, -4.0])[0] == "inconclusive"


def test_holm_sets_the_level_within_a_family():
    from umelib.verdicts import Diff, holm, superiority

    strong = superiority("a", "", "", "x", Diff.of({0: 5.0, 1: 5.1, 2: 4.9}))
    weak = superiority("b", "", "", "x", Diff.of({0: 1.0, 1: 2.6, 2: 0.2, 3: 1.6, 4: 0.9}))  # p about 0.03
    assert 0.025 < weak.p_value() < 0.05 and weak.decide(0.05) == "holds"
    holm([strong, weak])
    assert strong.level == 0.025 and strong.verdict == "holds"  # the smaller p is tested first, at 0.05 / 2
    assert weak.level == 0.05 and weak.verdict == "holds"  # then the other at 0.05 / 1
    third = superiority("c", "", "", "x", Diff.of({0: 1.0, 1: 2.6, 2: 0.2, 3: 1.6, 4: 0.9}))
    holm([strong, weak, third])  # two p of about 0.03 among three: the first is tested at 0.05 / 2 and stops the rest
    assert weak.verdict == "inconclusive" and third.verdict == "inconclusive" and strong.level == 0.05 / 3


def test_claims_cli_writes_every_record_and_reruns_identically(tmp_path):
    from umelib.cli import main

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["claims", "--out", str(a)]) == 0 and main(["claims", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    import json

    recs = json.loads(a.read_text())["claims"]
    assert recs and all({"table", "claim", "run", "n_seeds", "test", "comparisons", "verdict", "family", "level"} <= set(r)
                        for r in recs)
    assert main(["claims", "--out", str(a)]) == 2  # never overwritten silently


def _readme_tables():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data_scripts" / "readme_tables.py"
    spec = importlib.util.spec_from_file_location("readme_tables", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_readme_tables_are_generated_from_the_results():
    mod = _readme_tables()
    assert mod.main(["--check"]) == 0, "README.md's generated tables are out of date: python data_scripts/readme_tables.py"


def test_the_readme_check_sees_a_changed_number(tmp_path):
    mod = _readme_tables()
    text = (mod.ROOT / "README.md").read_text()
    head, block = text.split("<!-- avmnist:start -->", 1)
    block, tail = block.split("<!-- avmnist:end -->", 1)
    row = next(line for line in block.splitlines() if line.startswith("| UME-MMA |"))
    changed = row.replace(row.split(" | ")[1], "99.99 ± 0.01")
    (tmp_path / "README.md").write_text(head + "<!-- avmnist:start -->" + block.replace(row, changed) +
                                        "<!-- avmnist:end -->" + tail)
    mod.ROOT = tmp_path
    assert changed != row and mod.main(["--check"]) == 1
    assert mod.main([]) == 0 and (tmp_path / "README.md").read_text() == text  # rewritten from the results


def test_item_variance_matches_a_grouped_bootstrap_and_widens_the_interval():
    import numpy as np
    from umelib.verdicts import item_variance

    rng = np.random.default_rng(0)
    n = 400
    a = {s: (rng.random(n) < 0.8).astype(float) for s in range(5)}
    b = {s: (rng.random(n) < 0.7).astype(float) for s in range(5)}
    v = item_variance(a, b)
    d = np.mean([100 * (a[s] - b[s]) for s in a], axis=0)
    boot = [d[rng.integers(0, n, n)].mean() for _ in range(4000)]
    assert v == pytest.approx(np.var(boot), rel=0.15)
    # items that come in identical pairs: resampling them in pairs doubles the variance
    a2, b2 = {s: np.repeat(x, 2) for s, x in a.items()}, {s: np.repeat(x, 2) for s, x in b.items()}
    groups = np.repeat(np.arange(n), 2)
    assert item_variance(a2, b2, groups) == pytest.approx(2 * item_variance(a2, b2), rel=0.05)
    seeds_only = Diff.of({s: 100 * a[s].mean() for s in a}, {s: 100 * b[s].mean() for s in b})
    both = seeds_only.with_items(v)
    assert both.mean == seeds_only.mean and both.hi - both.lo > seeds_only.hi - seeds_only.lo
    assert both.p_value() > seeds_only.p_value()


def test_claims_use_the_items_the_runs_kept():
    from umelib.experiments.diagnostics import items_record
    from umelib.paper.claims import item_scores, items_var, method_is

    y = torch.zeros(6, dtype=torch.long)
    recs = [dict(method=m, seed=s, items=items_record({"complete": torch.tensor(p)}, y, ["a", "a", "b", "b", "c", "c"]))
            for s in (0, 1) for m, p in (("x", [0, 0, 0, 0, 1, 1]), ("y", [1, 1, 0, 0, 0, 0]))]
    scores, groups = item_scores(recs, method_is("x"), ["complete"])
    assert list(scores[0]) == [1, 1, 1, 1, 0, 0] and list(groups) == [0, 0, 1, 1, 2, 2]
    assert items_var(recs, method_is("x"), method_is("y"), ["complete"]) > 0
    assert items_var(recs, method_is("x"), method_is("y"), ["miss:a"]) == 0  # not kept: seeds only


def test_a_record_says_whether_its_interval_includes_the_test_items():
    from umelib.verdicts import superiority

    a, b = {0: 80.0, 1: 81.0, 2: 82.5}, {0: 79.0, 1: 80.5, 2: 80.0}
    plain = superiority("c", "", "", "b", Diff.of(a, b)).record()
    items = superiority("c", "", "", "b", Diff.of(a, b, item_var=0.5)).record()
    assert plain["comparisons"][0]["uncertainty"] == "seeds"
    assert items["comparisons"][0]["uncertainty"] == "seeds + test items"
    assert items["hi"] - items["lo"] > plain["hi"] - plain["lo"]
