"""Claim verdicts follow the numbers and their uncertainty: holds / fails / inconclusive, none near chance."""
import math

import pytest

from conftest import fake_result, seeds_of
from umelib.paper import claims


_r, _seeds = fake_result, seeds_of


def test_interval_is_a_paired_t_interval():
    d = claims.Diff.of({0: 1.0, 1: 2.0, 2: 3.0})
    half = 4.303 * 1.0 / math.sqrt(3)
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
    assert "97.41 vs 96.73 (Missing Detection)" in t["paper"].iloc[0]
    t = claims.table1(base + _seeds("ume-mma", v=36, a=40, c=60))  # Avg below; Miss-V +6; Miss-A -20
    assert list(t["verdict"]) == ["fails", "fails", "fails", "holds"]
    assert "+6.00" in t["difference [95% CI]"].iloc[1]
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
    assert t["verdict"].iloc[0] == "holds" and "p=0.3 minus p=0" in t["difference [95% CI]"].iloc[0]
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
    assert "p=0.1 minus p=0" in t["difference [95% CI]"].iloc[0] and "chosen on validation" in t.index[0]
    assert t["verdict"].iloc[0] == "holds"
