"""The paper's claims about its tables, checked on our results with their uncertainty (the rules:
:mod:`umelib.verdicts`).

Each row says what is claimed, our numbers (mean ± std over seeds), every paired difference the claim is about with
its interval over seeds at the claim's level (Holm within the table), the paper's numbers, the test and a verdict:
``holds``, ``fails`` or ``inconclusive``. No comparator is chosen on test results: "beats every baseline" is tested
against each. A run whose uni-modal models sit within :data:`CHANCE_MARGIN` points of chance gets no verdicts at
all: it is a pipeline check."""
from __future__ import annotations

from typing import Iterable, Mapping

from ..experiments.results import compute_rule, validation_score
from . import reference as paper
from .display import book_pandas
from ..experiments.diagnostics import item_scores, items_var, method_is, paired  # noqa: F401 (the claims' helpers)
from ..verdicts import PIPELINE, Claim, Diff, all_pairs, holm, non_inferiority, superiority

TWO_POINTS = 2.0
CHANCE_MARGIN = 5.0
MISSING = {"miss-v": "miss:image", "miss-a": "miss:audio"}
NOT_BASELINES = ("phase1-fused",)  # rows of Table 1 that are ablations of UME-MMA, not the paper's baselines
DIFF = "difference [CI at the claim's level]"  # the column of every paired difference
__all__ = ["Claim", "Diff", "PIPELINE", "TWO_POINTS", "CHANCE_MARGIN", "table1", "table4", "sweep", "frame",
           "records", "DIFF", "verdict_counts", "per_seed", "mean_std", "chance_check"]


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


def frame(claims: list[Claim], why_not: str | None, results: Iterable[Mapping] = ()):
    """The claims of one table (one family: Holm's levels set here) as a DataFrame; the JSON records ride along in
    ``attrs["records"]``, and how the run's methods were given compute (from ``results``) in ``attrs["compute"]``."""
    pd = book_pandas()

    holm(claims)
    if why_not:
        for c in claims:
            c.verdict = PIPELINE
    rows = [{"claim": c.claim, "ours": c.ours, DIFF: c.difference_text(),
             "paper": c.paper, "test": f"{c.test}, level {c.level:.3g}" if c.test not in ("none", "exact") else c.test,
             "verdict": c.verdict} for c in claims]
    df = pd.DataFrame(rows).set_index("claim")
    configs = [r["provenance"]["config"] for r in results if "config" in r.get("provenance", {})]
    compute = compute_rule(configs[0]) if configs else None
    df.attrs["records"] = [dict(c.record(), compute=compute) for c in claims]
    df.attrs["compute"] = compute
    if why_not:
        df.attrs["note"] = why_not
    return df


def records(table) -> list[dict]:
    """The JSON records of a claims table (see :func:`frame`)."""
    return list(table.attrs.get("records", []))


def table1(results: Iterable[Mapping], missing: Mapping[str, str] | None = None, dataset: str = "AV-MNIST"):
    """Table 1 claims (Sec. 4.2) on results holding ``unimodal``, the baselines and ``ume-mma``.

    ``missing`` maps the paper's column to our setting: ``{"miss-v": "miss:image", "miss-a": "miss:audio"}``."""
    results = list(results)
    why_not = chance_check(results)
    missing = dict(missing or MISSING)
    ref = paper.TABLE1[dataset]
    methods = list(dict.fromkeys(r["method"] for r in results))
    avg = {m: per_seed(results, m, ["avg"]) for m in methods if m != "unimodal"}
    every = ["complete", *missing.values()]  # the settings Avg is the mean of
    bases = [m for m in methods if m not in ("unimodal", "ume-mma", *NOT_BASELINES) and "@" not in m]
    pbases = [k for k in ref if k not in ("Uni-Modal Models", "UME-MMA (ours)")]
    pu = ref["UME-MMA (ours)"]
    claims = [all_pairs("UME-MMA's Avg above every baseline's Avg",
                        f"{mean_std(avg['ume-mma'])} vs " + ", ".join(f"{m} {mean_std(avg[m])}" for m in bases),
                        f"{pu['avg']:.2f} vs " + ", ".join(f"{k} {ref[k]['avg']:.2f}" for k in pbases),
                        {m: paired(results, method_is("ume-mma"), method_is(m), every, avg["ume-mma"], avg[m])
                         for m in bases})]
    for col, setting in missing.items():
        other = "audio" if col == "miss-v" else "image"
        u, o = per_seed(results, "ume-mma", [setting]), per_seed(results, "unimodal", [setting])
        pd_ = pu[col] - ref["Uni-Modal Models"][col]
        claims.append(non_inferiority(f"UME-MMA's {col.title()} within {TWO_POINTS:g} points of the {other}-only model",
                                      f"{mean_std(u)} vs {mean_std(o)}",
                                      f"{pu[col]:.2f} vs {ref['Uni-Modal Models'][col]:.2f} ({pd_:+.2f})",
                                      f"{other}-only model",
                                      paired(results, method_is("ume-mma"), method_is("unimodal"), [setting], u, o),
                                      TWO_POINTS))
    worst = {m: {s: min(r["metrics"][c] for c in missing.values()) for r in results if r["method"] == m
                 for s in [r["seed"]]} for m in bases + ["ume-mma"]}
    others = [m for m in worst if m != "naive"]

    def lowest(r: Mapping) -> list[str]:  # the record's own lowest single missing setting
        return [min(missing.values(), key=lambda c: r["metrics"][c])]
    if "naive" in worst and others:
        pworst = min(pbases + ["UME-MMA (ours)"], key=lambda k: min(ref[k][c] for c in missing))
        claims.append(all_pairs("naive fusion is the method most hurt by a missing modality (every other method's "
                                "lowest single-setting accuracy above naive's)",
                                f"lowest single-setting accuracy: naive {mean_std(worst['naive'])}, " +
                                ", ".join(f"{m} {mean_std(worst[m])}" for m in others),
                                f"{pworst} ({min(ref[pworst][c] for c in missing):.2f})",
                                {m: paired(results, method_is(m), method_is("naive"), lowest, worst[m], worst["naive"],
                                           lowest) for m in others}))
    return frame(claims, why_not, results)


def table4(results: Iterable[Mapping], missing: Mapping[str, str] | None = None):
    """Table 4 claims (Sec. 4.3, AV-MNIST column) on results holding ``unimodal``, the ablations and ``ume-mma``;
    the score is the mean of the two missing settings, as the paper's Table 4 reports only those."""
    results = list(results)
    why_not = chance_check(results)
    missing = dict(missing or MISSING)
    methods = list(dict.fromkeys(r["method"] for r in results))
    ours = {m: per_seed(results, m, missing.values()) for m in methods}
    miss = list(missing.values())
    ref = {k: sum(v[c] for c in missing) / len(missing) for k, v in paper.TABLE4_AVMNIST.items()}
    n = paper.TABLE4_NAMES
    claims = []
    for abl in ("only-aug", "only-pretrain"):
        if abl in ours:
            claims.append(superiority(f"UME-MMA beats {abl} (mean of Miss-V and Miss-A)",
                                      f"{mean_std(ours['ume-mma'])} vs {mean_std(ours[abl])}",
                                      f"{ref[n['ume-mma']]:.2f} vs {ref[n[abl]]:.2f}", abl,
                                      paired(results, method_is("ume-mma"), method_is(abl), miss, ours["ume-mma"],
                                             ours[abl])))
    if "ume-mma-frozen" in ours:
        pd_ = ref[n["ume-mma-frozen"]] - ref[n["ume-mma"]]
        claims.append(non_inferiority(f"frozen encoders cost at most {TWO_POINTS:g} points (ume-mma-frozen within "
                                      f"{TWO_POINTS:g} points of ume-mma)",
                                      f"{mean_std(ours['ume-mma-frozen'])} vs {mean_std(ours['ume-mma'])}",
                                      f"{ref[n['ume-mma-frozen']]:.2f} vs {ref[n['ume-mma']]:.2f} ({pd_:+.2f})",
                                      "ume-mma", paired(results, method_is("ume-mma-frozen"), method_is("ume-mma"), miss,
                                                        ours["ume-mma-frozen"], ours["ume-mma"]), TWO_POINTS))
    if "frozen-heads" in ours and "ume-mma-frozen" in ours:
        claims.append(superiority("on frozen encoders, the augmentation still helps (ume-mma-frozen > frozen-heads)",
                                  f"{mean_std(ours['ume-mma-frozen'])} vs {mean_std(ours['frozen-heads'])}",
                                  "not in the paper", "frozen-heads",
                                  paired(results, method_is("ume-mma-frozen"), method_is("frozen-heads"), miss,
                                         ours["ume-mma-frozen"], ours["frozen-heads"])))
    return frame(claims, why_not, results)


def sweep(results: Iterable[Mapping], missing: Mapping[str, str] | None = None):
    """Table 5's claim: a drop probability strictly inside the range tried beats both ends (mean of the missing
    settings on test, paired by seed; all-pairs over the two ends). The inner p is chosen on the validation scores
    the runs recorded (on test only for results without them, and the row says so). Needs the ``unimodal`` results
    for the chance check."""
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
        return frame([Claim(claim, ours, theirs, "none", note="needs 3 or more drop probabilities")], why_not, results)
    on_val = all(len(val.get(p, [])) == len(by[p]) for p in inner)
    best = max(inner, key=lambda p: sum(val[p]) / len(val[p]) if on_val else Diff.of(by[p]).mean)
    claim += f" (the inner p = {best:g} chosen on {'validation' if on_val else 'test: no validation scores recorded'})"
    at = lambda p: (lambda r: "sweep" in r and r["sweep"]["drop_p"] == p)
    miss = list(missing.values())
    return frame([all_pairs(claim, ours, theirs,
                            {f"p={q:g}": paired(results, at(best), at(q), miss, by[best], by[q]) for q in (ps[0], ps[-1])})],
                 why_not, results)


def verdict_counts(table) -> str:
    """'2 hold, 1 fails, 1 inconclusive' (or the reason no verdicts were drawn), for the chapters' prose."""
    if "note" in table.attrs:
        return table.attrs["note"]
    counts = table["verdict"].value_counts()
    words = {"holds": "hold", "fails": "fail", "inconclusive": "inconclusive"}
    return ", ".join(f"{counts[v]} {words[v] if counts[v] != 1 else v}" for v in ("holds", "fails", "inconclusive")
                     if v in counts) + f" (of {len(table)})"
