"""The paper's claims about its tables, evaluated on our results: each row says what is claimed, our numbers,
the paper's numbers, and whether the claim holds in our run. Chapters show these tables as they come."""
from __future__ import annotations

from typing import Iterable, Mapping

from . import paper
from .report import mean_metrics

TWO_POINTS = 2.0


def _row(claim: str, ours: str, theirs: str, holds: bool) -> dict:
    return {"claim": claim, "ours": ours, "paper": theirs, "holds in ours": bool(holds)}


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows).set_index("claim")


def table1(results: Iterable[Mapping], missing: Mapping[str, str] | None = None, dataset: str = "AV-MNIST"):
    """Table 1 claims (Sec. 4.2) on results holding ``unimodal``, the baselines and ``ume-mma``.

    ``missing`` maps the paper's column to our setting: ``{"miss-v": "miss:image", "miss-a": "miss:audio"}``."""
    results = list(results)
    missing = dict(missing or {"miss-v": "miss:image", "miss-a": "miss:audio"})
    ref = paper.TABLE1[dataset]
    methods = list(dict.fromkeys(r["method"] for r in results))
    mean = {m: mean_metrics(results, m) for m in methods}
    ume, uni = mean["ume-mma"], mean["unimodal"]
    bases = [m for m in methods if m not in ("unimodal", "ume-mma") and "@" not in m]
    best = max(bases, key=lambda m: mean[m]["avg"])
    pbases = [k for k in ref if k not in ("Uni-Modal Models", "UME-MMA (ours)")]
    pbest = max(pbases, key=lambda k: ref[k]["avg"])
    pu = ref["UME-MMA (ours)"]
    rows = [_row("UME-MMA's Avg >= every baseline's Avg",
                 f"{ume['avg']:.2f} vs {mean[best]['avg']:.2f} ({best}, the best baseline)",
                 f"{pu['avg']:.2f} vs {ref[pbest]['avg']:.2f} ({pbest})", ume["avg"] >= mean[best]["avg"])]
    for col, setting in missing.items():
        other = "audio" if col == "miss-v" else "image"
        d = ume[setting] - uni[setting]
        pd_ = pu[col] - ref["Uni-Modal Models"][col]
        rows.append(_row(f"UME-MMA's {col.title()} within {TWO_POINTS:g} points of the {other}-only model",
                         f"{ume[setting]:.2f} vs {uni[setting]:.2f} ({d:+.2f})",
                         f"{pu[col]:.2f} vs {ref['Uni-Modal Models'][col]:.2f} ({pd_:+.2f})", abs(d) <= TWO_POINTS))
    worst = min(bases + ["ume-mma"], key=lambda m: min(mean[m][s] for s in missing.values()))
    pworst = min(pbases + ["UME-MMA (ours)"], key=lambda k: min(ref[k][c] for c in missing))
    rows.append(_row("naive fusion is the method most hurt by a missing modality",
                     f"lowest single-setting accuracy: {worst} "
                     f"({min(mean[worst][s] for s in missing.values()):.2f})",
                     f"{pworst} ({min(ref[pworst][c] for c in missing):.2f})", worst == "naive"))
    return _frame(rows)


def table4(results: Iterable[Mapping], missing: Mapping[str, str] | None = None):
    """Table 4 claims (Sec. 4.3, AV-MNIST column) on results holding the ablations and ``ume-mma``;
    the score is the mean of the two missing settings, as the paper's Table 4 reports only those."""
    results = list(results)
    missing = dict(missing or {"miss-v": "miss:image", "miss-a": "miss:audio"})
    methods = list(dict.fromkeys(r["method"] for r in results))
    mean = {m: mean_metrics(results, m) for m in methods}
    ours = {m: sum(mean[m][s] for s in missing.values()) / len(missing) for m in methods}
    ref = {k: sum(v[c] for c in missing) / len(missing) for k, v in paper.TABLE4_AVMNIST.items()}
    n = paper.TABLE4_NAMES
    rows = []
    for abl in ("only-aug", "only-pretrain"):
        if abl in ours:
            rows.append(_row(f"UME-MMA beats {abl} (mean of Miss-V and Miss-A)",
                             f"{ours['ume-mma']:.2f} vs {ours[abl]:.2f}",
                             f"{ref[n['ume-mma']]:.2f} vs {ref[n[abl]]:.2f}", ours["ume-mma"] > ours[abl]))
    if "ume-mma-frozen" in ours:
        d = ours["ume-mma-frozen"] - ours["ume-mma"]
        pd_ = ref[n["ume-mma-frozen"]] - ref[n["ume-mma"]]
        rows.append(_row(f"frozen encoders cost at most {TWO_POINTS:g} points",
                         f"{ours['ume-mma-frozen']:.2f} vs {ours['ume-mma']:.2f} ({d:+.2f})",
                         f"{ref[n['ume-mma-frozen']]:.2f} vs {ref[n['ume-mma']]:.2f} ({pd_:+.2f})",
                         d >= -TWO_POINTS))
    if "frozen-heads" in ours and "ume-mma-frozen" in ours:
        rows.append(_row("on frozen encoders, the augmentation still helps (ume-mma-frozen > frozen-heads)",
                         f"{ours['ume-mma-frozen']:.2f} vs {ours['frozen-heads']:.2f}", "not in the paper",
                         ours["ume-mma-frozen"] > ours["frozen-heads"]))
    return _frame(rows)


def sweep(results: Iterable[Mapping], missing: Mapping[str, str] | None = None):
    """Table 5's claim: a moderate drop probability beats none and the largest one (mean of the missing
    settings, averaged over seeds)."""
    missing = dict(missing or {"miss-v": "miss:image", "miss-a": "miss:audio"})
    by: dict[float, list[float]] = {}
    for r in results:
        if "sweep" in r:
            by.setdefault(r["sweep"]["drop_p"], []).append(sum(r["metrics"][s] for s in missing.values()) / len(missing))
    score = {p: sum(v) / len(v) for p, v in sorted(by.items())}
    best = max(score, key=score.get)
    pscore = {p: (v["miss-v"] + v["miss-a"]) / 2 for p, v in paper.TABLE5_AVE.items()}
    pbest = max(pscore, key=pscore.get)
    inner = [p for p in score if min(score) < p < max(score)]
    return _frame([_row("the best drop probability lies strictly between the smallest and the largest tried",
                        "best p = " + f"{best:g}" + "; " + ", ".join(f"p={p:g}: {s:.2f}" for p, s in score.items()),
                        f"best p = {pbest:g} (AVE, ViT): " + ", ".join(f"p={p:g}: {s:.2f}" for p, s in pscore.items()),
                        best in inner)])
