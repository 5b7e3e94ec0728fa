"""The Protocols chapter in tables and plots: the named protocols (:mod:`umelib.protocols`) drawn as masks, our
``train-test`` runs on emoji (records with ``part == "train-test"``, the masked test set as setting ``masked``) and
the "beyond the training rate" curve (``part == "beyond"``: UME-MMA trained at drop probability p, tested at every
missing rate), each with intervals over seeds; published numbers only where their table is at hand (the UME-MMA
paper's own Table 3, protocol ``train-only``)."""
from __future__ import annotations

from typing import Iterable, Mapping

from . import reference as paper
from .display import book_pandas
from ..protocols import PROTOCOLS, make_masks
from ..verdicts import Diff

NAMES = {"naive": "naive", "multitask": "multi-task", "missing-detection": "missing detection", "ume-mma": "UME-MMA"}
MISSING = {"text": "text", "image": "image", "both": "text or image (half each)"}


def protocol_table():
    """Each protocol: what goes missing where, and the published works that use it."""
    pd = book_pandas()

    rows = {p.name: {"what goes missing": p.help, "splits with missing samples": ", ".join(p.splits) or "none drawn",
                     "used by": p.used_by} for p in PROTOCOLS.values()}
    return pd.DataFrame(rows).T


def plot_masks(n: int = 30, rate: float = 0.5, seed: int = 0):
    """The masks of test-only, train-test and train-only for ``n`` samples per split, two modalities, ``rate``
    (``both``: the missing samples split between the modalities): dark = missing."""
    import matplotlib.pyplot as plt
    import numpy as np

    names = [p for p in PROTOCOLS if p != "any-subset"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), sharey=True)
    for ax, name in zip(axes, names):
        m = make_masks({"train": n, "test": n}, ["image", "text"], "illustration", name, rate, "both", seed)
        img = np.concatenate([m["train"], np.ones((n, 1), bool), m["test"]], axis=1).T.astype(float)
        ax.imshow(img, cmap="gray", aspect="auto", vmin=0, vmax=1)
        ax.set_yticks([0, 1, 3, 4], ["train: image", "train: text", "test: image", "test: text"])
        ax.set_xlabel("sample")
        ax.set_title(name)
    fig.suptitle(f"presence masks at rate {rate:g} (dark = missing), seed {seed}")
    fig.tight_layout()
    return fig


def _scores(results: Iterable[Mapping], method: str, modality: str, setting: str) -> dict[int, float]:
    return {r["seed"]: r["metrics"][setting] for r in results
            if r.get("part") == "train-test" and r["method"] == method and r["protocol"]["modality"] == modality
            and r["metrics"].get(setting) is not None}


def train_test_table(results: Iterable[Mapping], setting: str = "masked", digits: int = 1):
    """Methods x the modality that goes missing: mean ± half-width of the 95% interval over seeds, on the test set
    with the protocol's masks (``setting='masked'``) or complete (``'complete'``)."""
    pd = book_pandas()

    results = list(results)
    rows = {}
    for m, label in NAMES.items():
        row = {}
        for mod, col in MISSING.items():
            v = _scores(results, m, mod, setting)
            if v:
                d = Diff.of(v)
                row[col] = f"{d.mean:.{digits}f} ± {d.hi - d.mean:.{digits}f}" if d.lo is not None else f"{d.mean:.{digits}f}"
        if row:
            rows[label] = row
    df = pd.DataFrame(rows).T
    df.columns.name = f"missing at rate {_rate(results):g} in training, validation and test"
    return df


def _rate(results: list[Mapping]) -> float:
    return next((r["protocol"]["rate"] for r in results if r.get("part") == "train-test"), float("nan"))


def train_test_differences(results: Iterable[Mapping], setting: str = "masked"):
    """UME-MMA minus each baseline on the masked test set, per missing modality: the paired difference over seeds
    with its 95% interval and whether it lies above 0 (holds), below (fails) or spans it (inconclusive); no
    correction across the 9 comparisons (read them as a family: Holm would only widen them)."""
    pd = book_pandas()

    results = list(results)
    rows = []
    for mod, col in MISSING.items():
        ume = _scores(results, "ume-mma", mod, setting)
        for m in ("naive", "multitask", "missing-detection"):
            other = _scores(results, m, mod, setting)
            if ume and other:
                d = Diff.of(ume, other)
                rows.append({"missing": col, "UME-MMA minus": NAMES[m], "difference [95% CI]": d.text(),
                             "UME-MMA above it": d.above(0.0)})
    return pd.DataFrame(rows)


def beyond_values(results: Iterable[Mapping], p: float | None, setting: str) -> dict[float, dict[int, float]]:
    """missing rate -> seed -> score of UME-MMA trained at drop probability ``p`` (None: naive fusion)."""
    out: dict[float, dict[int, float]] = {}
    for r in results:
        if r.get("part") != "beyond":
            continue
        ok = (r["method"] == "naive") if p is None else (r.get("sweep", {}).get("drop_p") == p)
        if ok and r["metrics"].get(setting) is not None:
            out.setdefault(float(r["missing_rate"]), {})[r["seed"]] = r["metrics"][setting]
    return dict(sorted(out.items()))


def drop_ps(results: Iterable[Mapping]) -> list[float]:
    return sorted({r["sweep"]["drop_p"] for r in results if r.get("part") == "beyond" and "sweep" in r})


def beyond_table(results: Iterable[Mapping], setting: str = "miss:text", digits: int = 1):
    """Training drop probability x test missing rate: mean ± half-width over seeds (naive fusion: no drop)."""
    pd = book_pandas()

    results = list(results)
    rows = {}
    for p in [None, *drop_ps(results)]:
        row = {}
        for rate, v in beyond_values(results, p, setting).items():
            d = Diff.of(v)
            row[f"{100 * rate:.0f}%"] = f"{d.mean:.{digits}f} ± {d.hi - d.mean:.{digits}f}" if d.lo is not None else f"{d.mean:.{digits}f}"
        rows["naive (p = 0)" if p is None else f"UME-MMA, p = {p:g}"] = row
    df = pd.DataFrame(rows).T
    df.columns.name = f"test missing rate ({setting})"
    return df


def beyond_differences(results: Iterable[Mapping], setting: str = "miss:text"):
    """For each pair of drop probabilities p < q: (UME-MMA at q) minus (at p) at every test missing rate, with its
    95% interval over seeds: if training at a higher rate protects only up to that rate, the difference grows with
    the missing rate beyond p."""
    pd = book_pandas()

    results = list(results)
    ps = drop_ps(results)
    rows = []
    for i, p in enumerate(ps):
        for q in ps[i + 1:]:
            a, b = beyond_values(results, q, setting), beyond_values(results, p, setting)
            for rate in a:
                if rate in b:
                    d = Diff.of(a[rate], b[rate])
                    rows.append({"pair": f"p = {q:g} minus p = {p:g}", "test missing rate": f"{100 * rate:.0f}%",
                                 "difference [95% CI]": d.text(), "above 0": d.above(0.0)})
    return pd.DataFrame(rows)


def plot_beyond(results: Iterable[Mapping], setting: str = "miss:text", ax=None):
    """Score against the test missing rate for each training drop probability (mean, 95% band over seeds), naive
    fusion dashed; a dotted vertical line at each p."""
    import matplotlib.pyplot as plt

    results = list(results)
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for p in [None, *drop_ps(results)]:
        vals = beyond_values(results, p, setting)
        if not vals:
            continue
        x = [100 * e for e in vals]
        ds = [Diff.of(v) for v in vals.values()]
        line, = ax.plot(x, [d.mean for d in ds], marker="o", ls="--" if p is None else "-",
                        label="naive (no drop)" if p is None else f"UME-MMA, trained at p = {p:g}")
        if all(d.lo is not None for d in ds):
            ax.fill_between(x, [d.lo for d in ds], [d.hi for d in ds], color=line.get_color(), alpha=0.15)
        if p is not None:
            ax.axvline(100 * p, color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel(f"test missing rate (%), {setting}")
    ax.set_ylabel(f"{results[0]['metric']} (%)" if results else "")
    ax.legend(fontsize=8)
    return ax


def published():
    """Published numbers whose table is at hand, with their source and protocol: the UME-MMA paper's Table 3
    (MM-IMDB, F1-Micro; train-only: text kept by 10%, 20%, 100% of the training samples). Other works' tables
    (MAP, RAGPT, SMIL's own) are not in this repository, so none of their numbers are shown."""
    pd = book_pandas()

    df = pd.DataFrame(paper.TABLE3_MMIMDB).T
    df.columns = [f"text in {100 * f:.0f}% of training" for f in df.columns]
    df.index.name = "UME-MMA paper Table 3 (MM-IMDB, F1-Micro), protocol train-only"
    return df


def summary(results: Iterable[Mapping]) -> dict[str, str]:
    """Sentences for the chapter's takeaways, each built from the numbers and verdicts above (and no further):
    ``train_test`` (per missing modality, which baselines UME-MMA is above, below, or not told apart from) and
    ``beyond`` (the highest against the lowest drop probability at the lowest and the highest test missing rate)."""
    results = list(results)
    diffs = train_test_differences(results)
    parts = []
    for col in MISSING.values():
        sub = diffs[diffs["missing"] == col] if len(diffs) else diffs
        if not len(sub):
            continue
        by = {v: [r["UME-MMA minus"] for _, r in sub.iterrows() if r["UME-MMA above it"] == v]
              for v in ("holds", "fails", "inconclusive")}
        said = [f"above {', '.join(by['holds'])}" if by["holds"] else "",
                f"below {', '.join(by['fails'])}" if by["fails"] else "",
                f"not told apart from {', '.join(by['inconclusive'])}" if by["inconclusive"] else ""]
        parts.append(f"{col} missing: UME-MMA " + "; ".join(s for s in said if s))
    out = {"train_test": ". ".join(parts) + "." if parts else "(no train-test runs)"}
    ps = drop_ps(results)
    if len(ps) >= 2:
        hi, lo = beyond_values(results, ps[-1], "miss:text"), beyond_values(results, ps[0], "miss:text")
        rates = [r for r in hi if r in lo]
        ends = [rates[0], rates[-1]] if rates else []
        say = {"holds": "the higher rate above", "fails": "the higher rate below", "inconclusive": "not told apart"}
        txt = [f"at {100 * e:.0f}% missing, p = {ps[-1]:g} minus p = {ps[0]:g}: {Diff.of(hi[e], lo[e]).text()}, "
               f"{say[Diff.of(hi[e], lo[e]).above(0.0)]}" for e in ends]
        out["beyond"] = "; ".join(txt) + "."
    else:
        out["beyond"] = "(fewer than two drop probabilities)"
    return out
