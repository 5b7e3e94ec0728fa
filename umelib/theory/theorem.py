"""Theorem 3.2 checked by computation: every inequality of (1), (2), (3), each side separately, on random
joint distributions and designed edge cases. ``python -m umelib.theory.theorem --out results/theory/theorem_3_2.json``.

Inequality (3) as printed, ``Pe_r_miss - Pe_r <= Gamma_Z / 2``, is false (a counterexample is found);
the corrected bound ``<= 2 Gamma_Z`` (nats) is proved in the theory chapter and checked here too.
"""
from __future__ import annotations

import argparse
import time
from typing import Iterator

import numpy as np

from .info import random_joint, theorem_3_2

# name -> (left side key, right side key) of "left <= right"
INEQUALITIES = {
    "(1) lower: (H(Y|X,Z) - log 2)/log|Y| <= Pe": ("lower_1", "Pe"),
    "(1) upper: Pe <= 1 - exp(-H(Y|X,Z))": ("Pe", "upper_1"),
    "(2) lower: (H(Y|X,Z) + Gamma_Z - log 2)/log|Y| <= Pe_miss": ("lower_2", "Pe_miss"),
    "(2) upper: Pe_miss <= 1 - exp(-H(Y|X,Z) - Gamma_Z)": ("Pe_miss", "upper_2"),
    "(3) as printed: Pe_r_miss - Pe_r <= Gamma_Z / 2": ("gap_r", "bound_3_paper"),
    "(3) corrected: Pe_r_miss - Pe_r <= 2 Gamma_Z": ("gap_r", "bound_3_corrected"),
}
TOL = 1e-12


def edge_cases(delta: float = 0.2) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Designed cases (name, joint table over (x, z, y), y values in [-1, 1])."""
    pm = np.array([-1.0, 1.0])
    p = np.zeros((4, 4, 4)); p[np.arange(4), np.arange(4), np.arange(4)] = 1 / 4
    yield "deterministic, redundant copy: Y = X = Z", p, np.linspace(-1, 1, 4)
    yield "uniform: everything independent", np.full((3, 3, 3), 1 / 27), np.linspace(-1, 1, 3)
    p = np.zeros((2, 2, 2))
    for a in range(2):
        for b in range(2):
            p[a, b, a ^ b] = 1 / 4
    yield "XOR: Y = X xor Z (no information alone)", p, pm
    p = np.zeros((2, 2, 2)); p[:, :, :] = 0
    for a in range(2):
        for b in range(2):
            p[a, b, a] = 1 / 4
    yield "Z useless: Y = X, Z independent", p, pm
    p = np.zeros((1, 2, 2))
    for b in range(2):
        p[0, b] = 0.5 * np.array([0.5 - (delta if b else -delta) / 2, 0.5 + (delta if b else -delta) / 2])
    yield f"binary Y in {{-1, 1}}, X constant, P(Y=1|Z) = (1 +- {delta})/2", p, pm
    p = np.zeros((1, 2, 2))
    for b in range(2):
        p[0, b] = 0.5 * np.array([0.5 - (0.01 if b else -0.01) / 2, 0.5 + (0.01 if b else -0.01) / 2])
    yield "binary Y in {-1, 1}, X constant, P(Y=1|Z) = (1 +- 0.01)/2 (ratio -> 2)", p, pm
    p = np.zeros((1, 2, 2)); p[0, 0, 0] = p[0, 1, 1] = 0.5
    yield "binary Y in {-1, 1} = function of Z, X constant", p, pm


def random_cases(n: int, seed: int = 0) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Random joints: alphabets |X|, |Z| in 1..6, |Y| in 2..8, Dirichlet concentrations 0.05..5; Y's values
    random in [-1, 1] (half the time exactly the endpoints +-1 for binary Y)."""
    rng = np.random.default_rng(seed)
    alphas = np.array([0.05, 0.1, 0.3, 1.0, 3.0, 5.0])
    for i in range(n):
        sx, sz, sy = rng.integers(1, 7), rng.integers(1, 7), rng.integers(2, 9)
        a = float(rng.choice(alphas))
        vals = np.sort(rng.uniform(-1, 1, sy))
        if sy == 2 and rng.random() < 0.5:
            vals = np.array([-1.0, 1.0])
        yield f"random #{i} sizes=({sx},{sz},{sy}) alpha={a}", random_joint(rng, (sx, sz, sy), a), vals


def check(n_random: int = 10_000, seed: int = 0) -> dict:
    """Per inequality: trials, violations, smallest slack (right - left), and the worst counterexample."""
    t0 = time.perf_counter()
    stats = {k: {"trials": 0, "violations": 0, "min_slack": np.inf, "counterexample": None,
                 "edge_case_violations": []} for k in INEQUALITIES}
    max_ratio = 0.0
    for kind, cases in (("edge", edge_cases()), ("random", random_cases(n_random, seed))):
        for name, p, vals in cases:
            s = theorem_3_2(p, values=vals)
            if s["gamma_Z"] > 1e-9:
                max_ratio = max(max_ratio, s["gap_r"] / s["gamma_Z"])
            for k, (lhs, rhs) in INEQUALITIES.items():
                st = stats[k]
                slack = s[rhs] - s[lhs]
                st["trials"] += 1
                if slack < -TOL:
                    st["violations"] += 1
                    if kind == "edge":
                        st["edge_case_violations"].append(name)
                if slack < st["min_slack"]:
                    st["min_slack"] = float(slack)
                    if slack < -TOL:
                        st["counterexample"] = {"case": name, "sizes_xzy": list(p.shape), "p_xzy": p.tolist(),
                                                "y_values": vals.tolist(), "left": s[lhs], "right": s[rhs],
                                                **{k2: s[k2] for k2 in ("H_Y|XZ", "gamma_Z")}}
    return {"theorem": "3.2", "units": "nats", "n_random": n_random, "n_edge": sum(1 for _ in edge_cases()),
            "seed": seed, "tolerance": TOL, "inequalities": stats,
            "max_gap_over_gamma": max_ratio, "seconds": round(time.perf_counter() - t0, 2)}


def main(argv: list[str] | None = None) -> int:
    from ..files import save_json
    from ..provenance import provenance

    ap = argparse.ArgumentParser(description="check Theorem 3.2 by computation")
    ap.add_argument("--n", type=int, default=10_000, help="random joint distributions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    res = check(a.n, a.seed)
    res["provenance"] = provenance(vars(a), "cpu", res["seconds"])
    for k, st in res["inequalities"].items():
        print(f"{k:62s} trials {st['trials']:6d}  violations {st['violations']:6d}  min slack {st['min_slack']:+.3e}")
    print(f"largest (Pe_r_miss - Pe_r) / Gamma_Z seen: {res['max_gap_over_gamma']:.4f}")
    if a.out:
        save_json(res, a.out, overwrite=a.overwrite)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
