"""Information toolkit in nats: exact quantities of joint probability tables, plug-in estimates from
samples (Miller–Madow correction, bootstrap intervals), Bayes errors, and the bounds of Theorem 3.2.

A joint table ``p`` has one axis per variable; variables are named by axis index (int or tuple).
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

Axes = int | Sequence[int]

LOG2 = float(np.log(2.0))


def _axes(a: Axes) -> tuple[int, ...]:
    return (a,) if isinstance(a, (int, np.integer)) else tuple(int(i) for i in a)


def marginal(p: np.ndarray, keep: Axes) -> np.ndarray:
    """The marginal table of the axes ``keep`` (in increasing axis order)."""
    keep = _axes(keep)
    drop = tuple(i for i in range(p.ndim) if i not in keep)
    return p.sum(axis=drop) if drop else p


def _h(q: np.ndarray) -> float:
    q = q[q > 0]
    return float(-(q * np.log(q)).sum())


def entropy(p: np.ndarray, of: Axes, given: Axes = ()) -> float:
    """H(of | given) = H(of, given) - H(given), in nats."""
    of, given = _axes(of), _axes(given)
    both = tuple(sorted(set(of) | set(given)))
    return _h(marginal(p, both)) - (_h(marginal(p, given)) if given else 0.0)


def mutual_information(p: np.ndarray, a: Axes, b: Axes, given: Axes = ()) -> float:
    """I(a; b | given) = H(a|given) + H(b|given) - H(a, b|given), in nats."""
    a, b = _axes(a), _axes(b)
    return entropy(p, a, given) + entropy(p, b, given) - entropy(p, a + b, given)


def interaction_information(p: np.ndarray, a: Axes, b: Axes, c: Axes) -> float:
    """I(a; b; c) = I(a; b) - I(a; b | c) (McGill's sign: positive = redundancy, negative = synergy)."""
    return mutual_information(p, a, b) - mutual_information(p, a, b, c)


def complementary_information(p: np.ndarray, y: int, x: int, z: int) -> float:
    """Gamma_Z = I(Z; Y | X): what Z knows about Y that X does not (Definition 3.1)."""
    return mutual_information(p, z, y, x)


def joint_from_samples(*columns: np.ndarray, sizes: Sequence[int] | None = None, counts: bool = False) -> np.ndarray:
    """The empirical joint table of integer-coded samples (one column per variable), by one ``bincount``."""
    cols = [np.asarray(c, dtype=np.int64).ravel() for c in columns]
    if sizes is None:
        sizes = [int(c.max()) + 1 if c.size else 1 for c in cols]
    for c, k in zip(cols, sizes):
        if c.size and (c.min() < 0 or c.max() >= k):
            raise ValueError(f"sample values must lie in 0..{k - 1}")
    flat = np.ravel_multi_index(cols, sizes)
    table = np.bincount(flat, minlength=int(np.prod(sizes))).reshape(sizes).astype(np.float64)
    return table if counts else table / max(len(cols[0]), 1)


# ------------------------------------------------------------------ plug-in estimation from counts

def _h_counts(c: np.ndarray, n: float, miller_madow: bool) -> float:
    """Plug-in entropy of a count table (+ (K-1)/(2n), K = occupied cells, with Miller–Madow)."""
    q = c[c > 0] / n
    h = float(-(q * np.log(q)).sum())
    return h + (q.size - 1) / (2 * n) if miller_madow else h


def entropy_from_counts(c: np.ndarray, of: Axes, given: Axes = (), miller_madow: bool = True) -> float:
    """Estimate H(of | given) from a joint count table; each joint entropy gets its own correction."""
    of, given = _axes(of), _axes(given)
    n = float(c.sum())
    both = tuple(sorted(set(of) | set(given)))
    h = _h_counts(marginal(c, both), n, miller_madow)
    return h - (_h_counts(marginal(c, given), n, miller_madow) if given else 0.0)


def mutual_information_from_counts(c: np.ndarray, a: Axes, b: Axes, given: Axes = (),
                                   miller_madow: bool = True) -> float:
    """Estimate I(a; b | given) from a joint count table."""
    a, b = _axes(a), _axes(b)
    f = lambda of: entropy_from_counts(c, of, given, miller_madow)
    return f(a) + f(b) - f(a + b)


def bootstrap_ci(counts: np.ndarray, estimator: Callable[[np.ndarray], float], n_boot: int = 200,
                 level: float = 0.95, seed: int = 0, method: str = "basic") -> tuple[float, float, float]:
    """(estimate, low, high) by resampling the count table multinomially. ``method="basic"`` reflects the
    bootstrap quantiles around the estimate (2*est - q_hi, 2*est - q_lo), which also undoes the extra bias
    that resampling adds; ``"percentile"`` uses the quantiles as they are."""
    rng = np.random.default_rng(seed)
    n = int(counts.sum())
    tables = rng.multinomial(n, (counts / n).ravel(), size=n_boot).reshape(n_boot, *counts.shape)
    stats = np.array([estimator(t.astype(np.float64)) for t in tables])
    a = (1 - level) / 2
    e, lo, hi = float(estimator(counts)), float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a))
    if method == "basic":
        return e, 2 * e - hi, 2 * e - lo
    if method == "percentile":
        return e, lo, hi
    raise ValueError("method must be 'basic' or 'percentile'")


def estimate(*columns: np.ndarray, quantity: str = "mi", a: Axes = 0, b: Axes = 1, given: Axes = (),
             sizes: Sequence[int] | None = None, miller_madow: bool = True, n_boot: int = 200,
             level: float = 0.95, seed: int = 0, method: str = "basic") -> dict[str, float]:
    """Plug-in estimate with a bootstrap interval from samples: ``quantity`` 'mi' (I(a;b|given)) or
    'entropy' (H(a|given)). Returns {"estimate", "low", "high", "n"}."""
    c = joint_from_samples(*columns, sizes=sizes, counts=True)
    if quantity == "mi":
        est = lambda t: mutual_information_from_counts(t, a, b, given, miller_madow)
    elif quantity == "entropy":
        est = lambda t: entropy_from_counts(t, a, given, miller_madow)
    else:
        raise ValueError("quantity must be 'mi' or 'entropy'")
    e, lo, hi = bootstrap_ci(c, est, n_boot, level, seed, method)
    return {"estimate": e, "low": lo, "high": hi, "n": int(c.sum())}


# ------------------------------------------------------------------ Bayes errors and Theorem 3.2

def bayes_error(p: np.ndarray, target: int, observed: Axes = ()) -> float:
    """Classification Bayes error of predicting ``target`` from ``observed``: 1 - sum_obs max_y p(y, obs)."""
    obs = _axes(observed)
    q = marginal(p, tuple(sorted(set(obs) | {target})))
    t = sorted(set(obs) | {target}).index(target)
    return float(1.0 - q.max(axis=t).sum())


def mmse(p: np.ndarray, target: int, values: np.ndarray, observed: Axes = ()) -> float:
    """Regression Bayes error E[(Y - E[Y|obs])^2] where the ``target`` axis takes real ``values``."""
    obs = _axes(observed)
    keep = tuple(sorted(set(obs) | {target}))
    q = np.moveaxis(marginal(p, keep), keep.index(target), -1)  # (..obs.., y)
    v = np.asarray(values, dtype=np.float64)
    mass = q.sum(-1)
    m1, m2 = (q * v).sum(-1), (q * v ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cond_var_mass = np.where(mass > 0, m2 - m1 ** 2 / np.where(mass > 0, mass, 1), 0.0)
    return float(cond_var_mass.sum())


def fano_lower(h: float, k: int) -> float:
    """(H - log 2) / log k: the lower bound on the Bayes error of a k-class target with conditional entropy H."""
    return (h - LOG2) / np.log(k)


def exp_upper(h: float) -> float:
    """1 - exp(-H): the upper bound on the Bayes error of a target with conditional entropy H."""
    return float(1.0 - np.exp(-h))


def theorem_3_2(p: np.ndarray, y: int = 2, x: int = 0, z: int = 1, values: np.ndarray | None = None) -> dict[str, float]:
    """Every side of Theorem 3.2 for the joint table ``p`` (axes x, z, y): the Bayes errors, H(Y|X,Z),
    Gamma_Z and the bounds; with ``values`` (Y's real values) also the regression sides of (3)."""
    k = p.shape[y]
    h = entropy(p, y, (x, z))
    g = complementary_information(p, y, x, z)
    out = {"H_Y|XZ": h, "gamma_Z": g, "Pe": bayes_error(p, y, (x, z)), "Pe_miss": bayes_error(p, y, x),
           "lower_1": fano_lower(h, k), "upper_1": exp_upper(h),
           "lower_2": fano_lower(h + g, k), "upper_2": exp_upper(h + g)}
    if values is not None:
        out["Pe_r"], out["Pe_r_miss"] = mmse(p, y, values, (x, z)), mmse(p, y, values, x)
        out["gap_r"] = out["Pe_r_miss"] - out["Pe_r"]
        out["bound_3_paper"] = g / 2
        out["bound_3_corrected"] = 2 * g
    return out


def random_joint(rng: np.random.Generator, sizes: Iterable[int], alpha: float) -> np.ndarray:
    """A joint table drawn from a symmetric Dirichlet(alpha) over all cells."""
    sizes = tuple(sizes)
    return rng.dirichlet(np.full(int(np.prod(sizes)), alpha)).reshape(sizes)


# ------------------------------------------------------------------ worked examples and studies (theory chapter)

def _table(f, sizes: tuple[int, int, int]) -> np.ndarray:
    """Joint over (x, z, y) from ``f(x, z, y) -> weight``, normalised."""
    p = np.zeros(sizes)
    for idx in np.ndindex(sizes):
        p[idx] = f(*idx)
    return p / p.sum()


def worked_examples() -> dict[str, np.ndarray]:
    """Small joints over (x, z, y) with known answers: redundant copy, XOR, partial overlap, weak + strong."""
    return {
        # Y a uniform bit; X and Z are both exact copies: everything is shared, Gamma = 0.
        "redundant copy": _table(lambda x, z, y: float(x == y and z == y), (2, 2, 2)),
        # Y = X xor Z: neither alone says anything, together everything; Gamma_Z = Gamma_X = log 2.
        "XOR": _table(lambda x, z, y: float(y == x ^ z), (2, 2, 2)),
        # Y = (Y1, Y2) two bits; X sees Y1 and Y2, Z sees Y2 only... X = (y1, y2) redundant on y2 with Z,
        # X unique on y1 -> Gamma_Z = 0, Gamma_X = log 2.
        "partial overlap (Z inside X)": _table(lambda x, z, y: float(x == y and z == y % 2), (4, 2, 4)),
        # Y = (Y1, Y2); X sees Y1, Z sees Y2: each holds one bit the other lacks -> Gamma_X = Gamma_Z = log 2.
        "disjoint halves": _table(lambda x, z, y: float(x == y // 2 and z == y % 2), (2, 2, 4)),
        # Y a uniform 4-ary label; strong X = Y with prob 0.9 (else uniform), weak Z = Y with prob 0.4.
        "strong X, weak Z": _table(lambda x, z, y: (0.9 * (x == y) + 0.025) * (0.4 * (z == y) + 0.15), (4, 4, 4)),
    }


def describe(p: np.ndarray, y: int = 2, x: int = 0, z: int = 1) -> dict[str, float]:
    """The quantities of Sec. 3.1-3.2 for a joint over (x, z, y), in nats and error rates."""
    return {"H(Y)": entropy(p, y), "I(X;Y)": mutual_information(p, x, y), "I(Z;Y)": mutual_information(p, z, y),
            "Gamma_X": complementary_information(p, y, z, x), "Gamma_Z": complementary_information(p, y, x, z),
            "I(X;Y;Z)": interaction_information(p, x, z, y), "H(Y|X,Z)": entropy(p, y, (x, z)),
            "Pe": bayes_error(p, y, (x, z)), "Pe miss Z": bayes_error(p, y, x), "Pe miss X": bayes_error(p, y, z)}


def remark1_crossing(h: float, k: int) -> float:
    """The Gamma_Z above which the lower bound with Z missing, (h + Gamma - log 2)/log k, exceeds the upper
    bound with every modality, 1 - exp(-h) (Remark 1): Gamma* = log k (1 - exp(-h)) + log 2 - h."""
    return float(np.log(k) * (1 - np.exp(-h)) + LOG2 - h)


def estimator_study(p: np.ndarray, ns: Sequence[int], reps: int = 100, n_boot: int = 200, seed: int = 0,
                    a: Axes = 1, b: Axes = 2, given: Axes = 0) -> list[dict]:
    """Plug-in vs Miller–Madow estimates of I(a; b | given) from ``n`` samples of ``p``, ``reps`` times per n:
    mean bias of each, and how often the 95% bootstrap intervals (basic, percentile) hold the exact value."""
    rng = np.random.default_rng(seed)
    true = mutual_information(p, a, b, given)
    rows = []
    for n in ns:
        plug, mm, cov_b, cov_p = [], [], 0, 0
        for r in range(reps):
            c = rng.multinomial(n, p.ravel()).reshape(p.shape).astype(np.float64)
            plug.append(mutual_information_from_counts(c, a, b, given, miller_madow=False))
            est = lambda t: mutual_information_from_counts(t, a, b, given)
            e, lo, hi = bootstrap_ci(c, est, n_boot, seed=r, method="percentile")
            mm.append(e)
            cov_p += lo <= true <= hi
            cov_b += 2 * e - hi <= true <= 2 * e - lo
        rows.append({"n": n, "exact": true, "bias plug-in": float(np.mean(plug) - true),
                     "bias Miller-Madow": float(np.mean(mm) - true), "sd Miller-Madow": float(np.std(mm)),
                     "coverage basic": cov_b / reps, "coverage percentile": cov_p / reps})
    return rows
