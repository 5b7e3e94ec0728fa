"""The rules a claim of the paper is tested by, on paired differences over seeds.

- ``superiority`` ("X beats Y"): holds when the interval of X − Y lies above 0, fails when it lies below.
- ``all-pairs`` ("X beats every Y", intersection–union): holds only when the interval against EACH comparator lies
  above the threshold; fails when any lies below it; else inconclusive. Every comparison is kept and shown.
- ``non-inferiority`` ("X is within d points of Y"): holds when the lower bound of X − Y is above −d, fails when the
  upper bound is below −d. X beating Y is reported beside it as a diagnostic, never as a failure.
- ``exact``: a computed identity or bound (Theorem 3.2 on known distributions): no interval.

Intervals are Student t intervals over seeds (paired by seed). Where the runs kept which test items each model got
right (``items``, :mod:`umelib.experiments.diagnostics`), the test set's own sampling variation is added: the
variance of the mean paired difference over test items, clustered by the items' groups (the delta-method value of
a grouped bootstrap over test items), joins the seed variance, ``se = sqrt(s^2 / n + v_items)``, with n − 1 degrees
of freedom. Within a family (one table), Holm's step-down
procedure sets each claim's level: ordered by p-value, the k-th of m is tested at α / (m − k + 1), and once one is
undecided every later one is undecided too. Every record carries the level it was tested at."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

ALPHA = 0.05
PIPELINE = "pipeline check only"


def t_quantile(q: float, df: int) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(q, df))


def t_sf(x: float, df: int) -> float:
    """P(T > x) for Student's t with ``df`` degrees of freedom."""
    from scipy import stats

    return float(stats.t.sf(x, df))


def item_variance(a: Mapping[int, "np.ndarray"], b: Mapping[int, "np.ndarray"] | None = None,
                  groups: "np.ndarray | None" = None) -> float:
    """The variance (in points², scores in [0, 1] per item) of the mean over seeds and test items of ``a − b``
    that comes from which test items were drawn: items resampled in whole ``groups`` (None: each item alone),
    seeds paired. Cluster-robust: ``G / (G − 1) · Σ_g S_g² / N²``, S_g the group's summed centred difference."""
    import numpy as np

    seeds = sorted(set(a) & set(b)) if b is not None else sorted(a)
    if not seeds:
        return 0.0
    d = np.mean([100.0 * (a[s] - (b[s] if b is not None else 0.0)) for s in seeds], axis=0)  # per item
    n = len(d)
    g = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    k = int(g.max()) + 1
    if k < 2:
        return 0.0
    sums = np.bincount(g, weights=d - d.mean(), minlength=k)
    return float(k / (k - 1) * np.sum(sums ** 2) / n ** 2)


@dataclass
class Diff:
    """A paired difference over seeds: mean, std, count and its two-sided 95% interval (None below 2 seeds);
    ``item_var`` adds the test items' sampling variance (0: the seeds' variation only)."""

    mean: float
    std: float
    n: int
    lo: float | None
    hi: float | None
    item_var: float = 0.0

    @classmethod
    def of(cls, a: Mapping[int, float], b: Mapping[int, float] | None = None, item_var: float = 0.0) -> "Diff":
        seeds = sorted(set(a) & set(b)) if b is not None else sorted(a)
        d = [a[s] - (b[s] if b is not None else 0.0) for s in seeds]
        n = len(d)
        mean = sum(d) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
        out = cls(mean, std, n, None, None, float(item_var))
        out.lo, out.hi = out.interval(ALPHA)
        return out

    def with_items(self, item_var: float) -> "Diff":
        """This difference with the test items' variance added."""
        out = Diff(self.mean, self.std, self.n, None, None, float(item_var))
        out.lo, out.hi = out.interval(ALPHA)
        return out

    @property
    def se(self) -> float:
        """Standard error of the mean difference: seeds, plus test items where recorded."""
        return math.sqrt(self.std ** 2 / self.n + self.item_var) if self.n else 0.0

    def interval(self, alpha: float) -> tuple[float | None, float | None]:
        """The two-sided ``1 - alpha`` interval; ``(None, None)`` below 2 seeds."""
        if self.n < 2:
            return None, None
        half = t_quantile(1 - alpha / 2, self.n - 1) * self.se
        return self.mean - half, self.mean + half

    def p_value(self, threshold: float = 0.0) -> float:
        """Two-sided p-value of 'the mean difference equals ``threshold``' (1 below 2 seeds)."""
        if self.n < 2:
            return 1.0
        if self.se == 0:
            return 0.0 if self.mean != threshold else 1.0
        t = abs(self.mean - threshold) / self.se
        return min(1.0, 2 * t_sf(t, self.n - 1))

    def text(self, alpha: float = ALPHA) -> str:
        lo, hi = self.interval(alpha)
        if lo is None:
            return f"{self.mean:+.2f} ({self.n} seed{'s' if self.n != 1 else ''}: no interval)"
        return f"{self.mean:+.2f} [{lo:+.2f}, {hi:+.2f}] ({self.n} seeds)"

    def reading(self) -> str:
        """Where the 95% interval lies, for a difference that is no claim: "above 0", "below 0", "not told apart"
        or "no interval" (one seed)."""
        if self.lo is None:
            return "no interval"
        return "above 0" if self.lo > 0 else "below 0" if self.hi < 0 else "not told apart"

    def above(self, threshold: float, alpha: float = ALPHA) -> str:
        """Verdict on 'the difference exceeds ``threshold``' at level ``alpha``."""
        lo, hi = self.interval(alpha)
        if lo is None:
            return "inconclusive"
        return "holds" if lo > threshold else "fails" if hi < threshold else "inconclusive"


@dataclass
class Claim:
    """One claim tested on our runs. ``comparisons``: comparator -> the paired difference (claimed side minus
    comparator); the claim is that each lies above ``threshold`` (0, or −d for non-inferiority)."""

    claim: str
    ours: str
    paper: str
    test: str  # superiority | all-pairs | non-inferiority | exact | none
    comparisons: dict[str, Diff] = field(default_factory=dict)
    threshold: float = 0.0
    note: str = ""  # why there is no test (e.g. too few drop probabilities)
    diagnostics: dict[str, str] = field(default_factory=dict)
    verdict: str = "inconclusive"
    level: float = ALPHA

    def p_value(self) -> float:
        """The claim's p-value: the largest over its comparisons (intersection–union); 1 without a test."""
        if not self.comparisons or self.test in ("none", "exact"):
            return 1.0
        return max(d.p_value(self.threshold) for d in self.comparisons.values())

    def decide(self, alpha: float) -> str:
        """The verdict at level ``alpha`` under the claim's rule."""
        if not self.comparisons:
            return "inconclusive"
        each = [d.above(self.threshold, alpha) for d in self.comparisons.values()]
        return "holds" if all(v == "holds" for v in each) else "fails" if "fails" in each else "inconclusive"

    def difference_text(self) -> str:
        if self.note:
            return self.note
        parts = [(f"vs {vs}: " if len(self.comparisons) > 1 else "") + d.text(self.level)
                 for vs, d in self.comparisons.items()]
        text = "; ".join(parts)
        if self.test == "non-inferiority":
            text += f" (margin {-self.threshold:g})"
        return text + "".join(f"; {k}: {v}" for k, v in self.diagnostics.items())

    def record(self) -> dict:
        """The claim as a JSON record (see ``python -m umelib claims``)."""
        comps = []
        for vs, d in self.comparisons.items():
            lo, hi = d.interval(self.level)
            comps.append({"vs": vs, "diff": _r(d.mean), "lo": _r(lo), "hi": _r(hi), "n_seeds": d.n,
                          "uncertainty": "seeds + test items" if d.item_var > 0 else "seeds"})
        rec = {"claim": self.claim, "test": self.test, "threshold": self.threshold, "ours": self.ours,
               "paper": self.paper, "n_seeds": min((c["n_seeds"] for c in comps), default=0), "comparisons": comps,
               "verdict": self.verdict, "level": _r(self.level, 6)}
        if len(comps) == 1:
            rec.update(diff=comps[0]["diff"], lo=comps[0]["lo"], hi=comps[0]["hi"])
        if self.diagnostics:
            rec["diagnostics"] = dict(self.diagnostics)
        if self.note:
            rec["note"] = self.note
        return rec


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def superiority(claim: str, ours: str, paper: str, vs: str, d: Diff) -> Claim:
    return Claim(claim, ours, paper, "superiority", {vs: d})


def all_pairs(claim: str, ours: str, paper: str, diffs: Mapping[str, Diff], threshold: float = 0.0) -> Claim:
    return Claim(claim, ours, paper, "all-pairs", dict(diffs), threshold)


def non_inferiority(claim: str, ours: str, paper: str, vs: str, d: Diff, margin: float) -> Claim:
    """'Within ``margin`` points of ``vs``' as non-inferiority; beating ``vs`` is a diagnostic."""
    beats = d.above(0.0)
    diag = {f"beats {vs}": {"holds": "yes", "fails": "no", "inconclusive": "undecided"}[beats]}
    return Claim(claim, ours, paper, "non-inferiority", {vs: d}, -margin, diagnostics=diag)


def holm(claims: list[Claim], alpha: float = ALPHA) -> list[Claim]:
    """Holm's step-down over one family: sets each claim's ``level`` and ``verdict`` (in place) and returns them."""
    tested = sorted((c for c in claims if c.test not in ("none", "exact") and c.comparisons), key=Claim.p_value)
    m, stopped = len(tested), False
    for k, c in enumerate(tested):
        c.level = alpha / (m - k)
        c.verdict = "inconclusive" if stopped else c.decide(c.level)
        stopped = stopped or c.verdict == "inconclusive"
    for c in claims:
        if c.test == "none" or not c.comparisons:
            c.verdict, c.level = "inconclusive", alpha
    return claims
