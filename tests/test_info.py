import numpy as np
import pytest

from umelib.theory import info
from umelib.theory.theorem import check


def direct_cond_mi(p):
    """I(Z;Y|X) for a table over (x, z, y) by the definition sum p log p(x,z,y)p(x) / (p(x,z)p(x,y))."""
    px, pxz, pxy = p.sum((1, 2)), p.sum(2), p.sum(1)
    tot = 0.0
    for i, j, k in np.ndindex(p.shape):
        if p[i, j, k] > 0:
            tot += p[i, j, k] * np.log(p[i, j, k] * px[i] / (pxz[i, j] * pxy[i, k]))
    return tot


def test_exact_functions_match_definitions():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = info.random_joint(rng, rng.integers(1, 5, 3) + 1, rng.choice([0.1, 1.0]))
        h_y = -sum(v * np.log(v) for v in p.sum((0, 1)) if v > 0)
        assert info.entropy(p, 2) == pytest.approx(h_y, abs=1e-9)
        assert info.mutual_information(p, 1, 2, 0) == pytest.approx(direct_cond_mi(p), abs=1e-9)
        pxy = p.sum(1)
        direct_mi = sum(v * np.log(v / (pxy.sum(1)[i] * pxy.sum(0)[k])) for (i, k), v in np.ndenumerate(pxy) if v > 0)
        assert info.mutual_information(p, 0, 2) == pytest.approx(direct_mi, abs=1e-9)
        # chain rule: H(Y|X) = H(Y|X,Z) + I(Z;Y|X)
        assert info.entropy(p, 2, 0) == pytest.approx(info.entropy(p, 2, (0, 1)) + info.complementary_information(p, 2, 0, 1), abs=1e-9)
        assert info.interaction_information(p, 0, 1, 2) == pytest.approx(
            info.mutual_information(p, 0, 1) - info.mutual_information(p, 0, 1, 2), abs=1e-12)
        be = 1 - sum(p[i, j].max() for i in range(p.shape[0]) for j in range(p.shape[1]))
        assert info.bayes_error(p, 2, (0, 1)) == pytest.approx(be, abs=1e-12)


def test_xor_and_copy():
    p = np.zeros((2, 2, 2))
    for a in range(2):
        for b in range(2):
            p[a, b, a ^ b] = 0.25
    assert info.mutual_information(p, 0, 2) == pytest.approx(0, abs=1e-12)
    assert info.complementary_information(p, 2, 0, 1) == pytest.approx(np.log(2))
    assert info.interaction_information(p, 0, 1, 2) == pytest.approx(-np.log(2))  # pure synergy
    assert info.bayes_error(p, 2, 0) == pytest.approx(0.5) and info.bayes_error(p, 2, (0, 1)) == pytest.approx(0)


def test_mmse_matches_direct():
    rng = np.random.default_rng(1)
    p = info.random_joint(rng, (3, 2, 4), 1.0)
    v = np.array([-1, -0.2, 0.5, 1.0])
    direct = 0.0
    for i in range(3):
        w = p[i].sum(0)
        m = (w * v).sum() / w.sum()
        direct += (w * (v - m) ** 2).sum()
    assert info.mmse(p, 2, v, 0) == pytest.approx(direct, abs=1e-12)


def test_joint_from_samples_and_miller_madow_bias():
    rng = np.random.default_rng(2)
    p = info.random_joint(rng, (6, 6, 4), 1.0)
    true = info.mutual_information(p, 1, 2, 0)
    plug, mm = [], []
    for r in range(30):
        idx = rng.choice(p.size, 2000, p=p.ravel())
        cols = np.unravel_index(idx, p.shape)
        c = info.joint_from_samples(*cols, sizes=p.shape, counts=True)
        assert c.sum() == 2000
        plug.append(info.mutual_information_from_counts(c, 1, 2, 0, miller_madow=False))
        mm.append(info.mutual_information_from_counts(c, 1, 2, 0))
    assert abs(np.mean(mm) - true) < abs(np.mean(plug) - true)  # the correction removes most of the bias
    assert np.mean(plug) > true  # plug-in conditional MI is biased upwards


def test_bootstrap_interval_brackets_estimate():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, 3000)
    y = (x + (rng.random(3000) < 0.3)) % 4
    r = info.estimate(x, y, quantity="mi", a=0, b=1)
    assert r["low"] < r["estimate"] < r["high"] and r["n"] == 3000
    true = np.log(4) - (-(0.7 * np.log(0.7) + 0.3 * np.log(0.3)))  # I(X;Y) = H(Y) - H(Y|X)
    assert r["low"] < true < r["high"]


def test_theorem_check_finds_the_counterexample_to_3():
    res = check(n_random=300, seed=1)
    ineq = res["inequalities"]
    for k, st in ineq.items():
        if k.startswith("(3) as printed"):
            assert st["violations"] > 0 and st["counterexample"] is not None
            assert any("binary Y" in c for c in st["edge_case_violations"])
        else:
            assert st["violations"] == 0, k
    assert 1.9 < res["max_gap_over_gamma"] <= 2.0 + 1e-9
