"""The paper's claims about its tables, checked on our results with their uncertainty.

Each row says what is claimed, our numbers (mean ± std over seeds), the paired difference the claim is about with
its 95% interval over seeds (Student t; the differences are paired by seed), the paper's numbers, and a verdict:
``holds`` (the whole interval is on the claim's side of its threshold), ``fails`` (the whole interval is on the
other side) or ``inconclusive`` (the interval spans the threshold, or fewer than 2 seeds). A run whose uni-modal
models sit within :data:`CHANCE_MARGIN` points of chance gets no verdicts at all: it is a pipeline check."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..experiments.results import validation_score
from . import reference as paper
from .display import book_pandas

TWO_POINTS = 2.0
CHANCE_MARGIN = 5.0
PIPELINE = "pipeline check only"
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}
MISSING = {"miss-v": "miss:image", "miss-a": "miss:audio"}


def t95(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom (conservative between table rows)."""
    if df > 30:
        return 1.96
    return _T95[max(k for k in _T95 if k <= df)]


@dataclass
class Diff:
    """A paired difference over seeds: mean, std, count and the 95% interval (None below 2 seeds)."""

    mean: float
    std: float
    n: int
    lo: float | None
    hi: float | None

    @classmethod
    def of(cls, a: Mapping[int, float], b: Mapping[int, float] | None = None) -> "Diff":
        seeds = sorted(set(a) & set(b)) if b is not None else sorted(a)
        d = [a[s] - (b[s] if b is not None else 0.0) for s in seeds]
        n = len(d)
        mean = sum(d) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
        half = t95(n - 1) * std / math.sqrt(n) if n > 1 else None
        return cls(mean, std, n, None if half is None else mean - half, None if half is None else mean + half)

    def text(self) -> str:
        if self.lo is None:
            return f"{self.mean:+.2f} ({self.n} seed{'s' if self.n != 1 else ''}: no interval)"
        return f"{self.mean:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}] ({self.n} seeds)"

    def above(self, threshold: float) -> str:
        """Verdict on 'the difference exceeds ``threshold``'."""
        if self.lo is None:
            return "inconclusive"
        return "holds" if self.lo > threshold else "fails" if self.hi < threshold else "inconclusive"

    def within(self, width: float) -> str:
        """Verdict on '|difference| <= ``width``'."""
        if self.lo is None:
            return "inconclusive"
        if -width <= self.lo and self.hi <= width:
            return "holds"
        return "fails" if self.lo > width or self.hi < -width else "inconclusive"


def per_seed(results: Iterable[Mapping], method: str, settings: Iterable[str]) -> dict[int, float]:
    """Seed -> mean of ``settings`` for ``method``."""
    settings = list(settings)
    return {r["seed"]: sum(r["metrics"][s] for s in settings) / len(settings)
            for r in results if r["method"] == method}


def mean_std(v: Mapping[int, float]) -> str:
    d = Diff.of(v)
    return f"{d.mean:.2f} ± {d.std:.2f}" if d.n > 1 else f"{d.mean:.2f}"


def chance_check(results: Iterable[Mapping]) -> str | None:
    """Why no verdict may be drawn on these results (uni-modal models within :data:`CHANCE_MARGIN` points of
    chance), or None when verdicts may be drawn. Needs the ``unimodal`` results among them."""
    uni = [r for r in results if r["method"] == "unimodal"]
    if not uni:
        raise ValueError("claims need the 'unimodal' results too: verdicts are withheld when a uni-modal model is "
                         "near chance")
    chance = 100.0 / uni[0].get("num_classes", 10)
    worst = min(v for r in uni for s, v in r["metrics"].items() if s.startswith("miss:") and v is not None)
    if worst < chance + CHANCE_MARGIN:
        return f"{PIPELINE}: a uni-modal model scores {worst:.1f}, within {CHANCE_MARGIN:g} points of chance ({chance:.0f})"
    return None


def _row(claim: str, ours: str, diff: Diff | str, theirs: str, verdict: str) -> dict:
    return {"claim": claim, "ours": ours, "difference [95% CI]": diff.text() if isinstance(diff, Diff) else diff,
            "paper": theirs, "verdict": verdict}


def _frame(rows: list[dict], why_not: str | None):
    pd = book_pandas()

    df = pd.DataFrame(rows).set_index("claim")
    if why_not:
        df["verdict"] = PIPELINE
        df.attrs["note"] = why_not
    return df


def table1(results: Iterable[Mapping], missing: Mapping[str, str] | None = None, dataset: str = "AV-MNIST"):
    """Table 1 claims (Sec. 4.2) on results holding ``unimodal``, the baselines and ``ume-mma``.

    ``missing`` maps the paper's column to our setting: ``{"miss-v": "miss:image", "miss-a": "miss:audio"}``."""
    results = list(results)
    why_not = chance_check(results)
    missing = dict(missing or MISSING)
    ref = paper.TABLE1[dataset]
    methods = list(dict.fromkeys(r["method"] for r in results))
    avg = {m: per_seed(results, m, ["avg"]) for m in methods if m != "unimodal"}
    bases = [m for m in methods if m not in ("unimodal", "ume-mma") and "@" not in m]
    best = max(bases, key=lambda m: Diff.of(avg[m]).mean)
    pbases = [k for k in ref if k not in ("Uni-Modal Models", "UME-MMA (ours)")]
    pbest = max(pbases, key=lambda k: ref[k]["avg"])
    pu = ref["UME-MMA (ours)"]
    d = Diff.of(avg["ume-mma"], avg[best])
    rows = [_row("UME-MMA's Avg >= every baseline's Avg", f"{mean_std(avg['ume-mma'])} vs {mean_std(avg[best])} "
                 f"({best}, the best baseline)", d, f"{pu['avg']:.2f} vs {ref[pbest]['avg']:.2f} ({pbest})", d.above(0.0))]
    for col, setting in missing.items():
        other = "audio" if col == "miss-v" else "image"
        u, o = per_seed(results, "ume-mma", [setting]), per_seed(results, "unimodal", [setting])
        d = Diff.of(u, o)
        pd_ = pu[col] - ref["Uni-Modal Models"][col]
        rows.append(_row(f"UME-MMA's {col.title()} within {TWO_POINTS:g} points of the {other}-only model",
                         f"{mean_std(u)} vs {mean_std(o)}", d,
                         f"{pu[col]:.2f} vs {ref['Uni-Modal Models'][col]:.2f} ({pd_:+.2f})", d.within(TWO_POINTS)))
    worst = {m: {s: min(r["metrics"][c] for c in missing.values()) for r in results if r["method"] == m
                 for s in [r["seed"]]} for m in bases + ["ume-mma"]}
    others = [m for m in worst if m != "naive"]
    if "naive" in worst and others:
        runner_up = {s: min(worst[m][s] for m in others if s in worst[m]) for s in worst["naive"]}
        d = Diff.of(runner_up, worst["naive"])
        pworst = min(pbases + ["UME-MMA (ours)"], key=lambda k: min(ref[k][c] for c in missing))
        rows.append(_row("naive fusion is the method most hurt by a missing modality",
                         f"lowest single-setting accuracy: naive {mean_std(worst['naive'])}, the next lowest "
                         f"{mean_std(runner_up)}", d, f"{pworst} ({min(ref[pworst][c] for c in missing):.2f})",
                         d.above(0.0)))
    return _frame(rows, why_not)


def table4(results: Iterable[Mapping], missing: Mapping[str, str] | None = None):
    """Table 4 claims (Sec. 4.3, AV-MNIST column) on results holding ``unimodal``, the ablations and ``ume-mma``;
    the score is the mean of the two missing settings, as the paper's Table 4 reports only those."""
    results = list(results)
    why_not = chance_check(results)
    missing = dict(missing or MISSING)
    methods = list(dict.fromkeys(r["method"] for r in results))
    ours = {m: per_seed(results, m, missing.values()) for m in methods}
    ref = {k: sum(v[c] for c in missing) / len(missing) for k, v in paper.TABLE4_AVMNIST.items()}
    n = paper.TABLE4_NAMES
    rows = []
    for abl in ("only-aug", "only-pretrain"):
        if abl in ours:
            d = Diff.of(ours["ume-mma"], ours[abl])
            rows.append(_row(f"UME-MMA beats {abl} (mean of Miss-V and Miss-A)",
                             f"{mean_std(ours['ume-mma'])} vs {mean_std(ours[abl])}", d,
                             f"{ref[n['ume-mma']]:.2f} vs {ref[n[abl]]:.2f}", d.above(0.0)))
    if "ume-mma-frozen" in ours:
        d = Diff.of(ours["ume-mma-frozen"], ours["ume-mma"])
        pd_ = ref[n["ume-mma-frozen"]] - ref[n["ume-mma"]]
        rows.append(_row(f"frozen encoders cost at most {TWO_POINTS:g} points",
                         f"{mean_std(ours['ume-mma-frozen'])} vs {mean_std(ours['ume-mma'])}", d,
                         f"{ref[n['ume-mma-frozen']]:.2f} vs {ref[n['ume-mma']]:.2f} ({pd_:+.2f})",
                         d.above(-TWO_POINTS)))
    if "frozen-heads" in ours and "ume-mma-frozen" in ours:
        d = Diff.of(ours["ume-mma-frozen"], ours["frozen-heads"])
        rows.append(_row("on frozen encoders, the augmentation still helps (ume-mma-frozen > frozen-heads)",
                         f"{mean_std(ours['ume-mma-frozen'])} vs {mean_std(ours['frozen-heads'])}", d,
                         "not in the paper", d.above(0.0)))
    return _frame(rows, why_not)


def sweep(results: Iterable[Mapping], missing: Mapping[str, str] | None = None):
    """Table 5's claim: a drop probability strictly inside the range tried beats both ends (mean of the missing
    settings on test, paired by seed). The inner p is chosen on the validation scores the runs recorded (on test
    only for results without them, and the row says so). Needs the ``unimodal`` results for the chance check."""
    results = list(results)
    why_not = chance_check(results)
    missing = dict(missing or MISSING)
    by: dict[float, dict[int, float]] = {}
    val: dict[float, list[float]] = {}
    for r in results:
        if "sweep" in r:
            p = r["sweep"]["drop_p"]
            by.setdefault(p, {})[r["seed"]] = sum(r["metrics"][s] for s in missing.values()) / len(missing)
            v = validation_score(r)
            if v is not None:
                val.setdefault(p, []).append(v)
    ps = sorted(by)
    inner = ps[1:-1]
    pscore = {p: (v["miss-v"] + v["miss-a"]) / 2 for p, v in paper.TABLE5_AVE.items()}
    pbest = max(pscore, key=pscore.get)
    theirs = f"best p = {pbest:g} (AVE, ViT): " + ", ".join(f"p={p:g}: {s:.2f}" for p, s in pscore.items())
    ours = "; ".join(f"p={p:g}: {mean_std(by[p])}" for p in ps)
    claim = "the best drop probability lies strictly between the smallest and the largest tried"
    if not inner:
        return _frame([_row(claim, ours, "needs 3 or more drop probabilities", theirs, "inconclusive")], why_not)
    on_val = all(len(val.get(p, [])) == len(by[p]) for p in inner)
    best = max(inner, key=lambda p: sum(val[p]) / len(val[p]) if on_val else Diff.of(by[p]).mean)
    lo, hi = Diff.of(by[best], by[ps[0]]), Diff.of(by[best], by[ps[-1]])
    claim += f" (the inner p chosen on {'validation' if on_val else 'test: no validation scores recorded'})"
    verdicts = {lo.above(0.0), hi.above(0.0)}
    verdict = "fails" if "fails" in verdicts else "holds" if verdicts == {"holds"} else "inconclusive"
    diff = f"p={best:g} minus p={ps[0]:g}: {lo.text()}; minus p={ps[-1]:g}: {hi.text()}"
    return _frame([_row(claim, ours, diff, theirs, verdict)], why_not)


def verdict_counts(table) -> str:
    """'2 hold, 1 fails, 1 inconclusive' (or the reason no verdicts were drawn), for the chapters' prose."""
    if "note" in table.attrs:
        return table.attrs["note"]
    counts = table["verdict"].value_counts()
    words = {"holds": "hold", "fails": "fail", "inconclusive": "inconclusive"}
    return ", ".join(f"{counts[v]} {words[v] if counts[v] != 1 else v}" for v in ("holds", "fails", "inconclusive")
                     if v in counts) + f" (of {len(table)})"
