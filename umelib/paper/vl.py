"""The vision-language experiments in tables, plots and verdicts: Fig. 3 (a share of the test texts blank: the
missing rate; the paper's axis is eta = 1 - missing rate, the share of test samples WITH text) and Table 3 (text in
only part of the training set), on result records of :mod:`umelib.paper.chapters` (each has ``missing_rate``, and
``text_encoder`` or ``train_text``/``phase2``)."""
from __future__ import annotations

from typing import Iterable, Mapping

from . import reference as paper
from .claims import TWO_POINTS, chance_check, frame, items_var, mean_std, method_is, paired
from ..verdicts import Claim, Diff, all_pairs, non_inferiority, superiority
from .display import book_pandas

NAMES = {"naive": "naive", "multitask": "multi-task", "missing-detection": "missing detection",
         "phase1-fused": "phase-1 models fused", "ume-mma": "UME-MMA"}


def _pick(results: Iterable[Mapping], **where) -> list[Mapping]:
    return [r for r in results if all(r.get(k) == v for k, v in where.items())]


def rate_values(results: Iterable[Mapping], method: str, setting: str = "miss:text") -> dict[float, dict[int, float]]:
    """missing rate -> seed -> the score of ``method`` with that share of the test samples missing their text."""
    out: dict[float, dict[int, float]] = {}
    for r in results:
        if r["method"] == method and r["metrics"].get(setting) is not None:
            out.setdefault(float(r["missing_rate"]), {})[r["seed"]] = r["metrics"][setting]
    return dict(sorted(out.items()))


def image_only(results: Iterable[Mapping]) -> dict[int, float]:
    """Seed -> the image-only (phase-1) model's score: the level a model with no text can keep."""
    return {r["seed"]: r["metrics"]["only:image"] for r in results if r["method"] == "unimodal"}


def rate_table(results: Iterable[Mapping], setting: str = "miss:text", digits: int = 1):
    """Methods x missing rate (%) of 'mean ± half-width of the 95% interval' over seeds (none with one seed)."""
    pd = book_pandas()

    results = list(results)
    rows = {}
    for m in [m for m in NAMES if any(r["method"] == m for r in results)]:
        row = {}
        for rate, v in rate_values(results, m, setting).items():
            d = Diff.of(v)
            row[f"{100 * rate:.0f}%"] = (f"{d.mean:.{digits}f} ± {d.hi - d.mean:.{digits}f}" if d.lo is not None
                                        else f"{d.mean:.{digits}f}")
        rows[NAMES[m]] = row
    io = image_only(results)
    if io:
        d = Diff.of(io)
        rows["image-only model (any rate)"] = {c: f"{d.mean:.{digits}f}" for c in next(iter(rows.values()), {})}
    df = pd.DataFrame(rows).T
    df.columns.name = "missing rate: test samples without text (eta = 100% - this)"
    return df


def plot_rates(results: Iterable[Mapping], setting: str = "miss:text", ax=None, title: str | None = None):
    """Fig. 3 style: the score against the missing rate per method, mean over seeds with its 95% band; the image-only model
    as a dashed line. The y axis starts at 0."""
    import matplotlib.pyplot as plt

    results = list(results)
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for m, label in NAMES.items():
        vals = rate_values(results, m, setting)
        if not vals:
            continue
        x = [100 * e for e in vals]
        ds = [Diff.of(v) for v in vals.values()]
        line, = ax.plot(x, [d.mean for d in ds], marker="o", label=label)
        if all(d.lo is not None for d in ds):
            ax.fill_between(x, [d.lo for d in ds], [d.hi for d in ds], color=line.get_color(), alpha=0.2)
    io = image_only(results)
    if io:
        ax.axhline(Diff.of(io).mean, ls="--", color="gray", label="image-only model")
    ax.set_xlabel("missing rate: test samples whose text is blank (%); the paper's eta = 100% - this")
    ax.set_ylabel(f"{results[0]['metric']} (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title or "")
    ax.legend(fontsize=8)
    return ax


MISS_TEXT = "miss:text"


def at_rate(method: str, rate: float):
    """A pick of ``method``'s records at one test missing rate."""
    return lambda r: r["method"] == method and float(r.get("missing_rate", -1)) == rate


def fig3_claims(results: Iterable[Mapping], rates: Iterable[float] | None = None):
    """Fig. 3's claims checked on one set of runs: UME-MMA above naive fusion across the missing rates (one claim on
    the curve: the mean over the rates of the difference, i.e. the area between the curves, plus its two ends), with
    every text blank UME-MMA above each other baseline (all-pairs), and within 2 points of the image-only model
    (non-inferiority)."""
    results = list(results)
    why_not = chance_check(results)
    ume, naive = rate_values(results, "ume-mma"), rate_values(results, "naive")
    rates = sorted(rates or ume)
    claims: list[Claim] = []
    if rates:
        area = {s: sum(ume[e][s] - naive[e][s] for e in rates) / len(rates) for s in ume[rates[0]]}
        on_curve = lambda m: (lambda r: r["method"] == m and float(r.get("missing_rate", -1)) in rates)
        claims.append(superiority(f"UME-MMA above naive fusion across the curve (mean over {len(rates)} missing "
                                  f"rates, {100 * rates[0]:.0f}% to {100 * rates[-1]:.0f}% of test texts blank)",
                                  f"mean difference {mean_std(area)}", "Fig. 3 (plotted, no numbers)",
                                  "naive", Diff.of(area, item_var=items_var(results, on_curve("ume-mma"),
                                                                            on_curve("naive"), [MISS_TEXT]))))
        for e in dict.fromkeys([rates[0], rates[-1]]):
            claims.append(superiority(f"UME-MMA above naive fusion with {100 * e:.0f}% of test texts blank",
                                      f"{mean_std(ume[e])} vs {mean_std(naive[e])}", "Fig. 3 (plotted, no numbers)",
                                      "naive", paired(results, at_rate("ume-mma", e), at_rate("naive", e), [MISS_TEXT],
                                                      ume[e], naive[e])))
    others = {m: rate_values(results, m) for m in ("naive", "multitask", "missing-detection")
              if m in {r["method"] for r in results}}
    if len(others) > 1 and 1.0 in ume:
        claims.append(all_pairs("with every text blank, UME-MMA above every other baseline",
                                f"{mean_std(ume[1.0])} vs " + ", ".join(f"{NAMES.get(m, m)} {mean_std(v[1.0])}"
                                                                          for m, v in others.items()),
                                "Fig. 3 compares with Ma et al. (2022), not these baselines",
                                {NAMES.get(m, m): paired(results, at_rate("ume-mma", 1.0), at_rate(m, 1.0), [MISS_TEXT],
                                                         ume[1.0], v[1.0]) for m, v in others.items()}))
    io = image_only(results)
    if io and 1.0 in ume:
        claims.append(non_inferiority(f"with every text blank, UME-MMA within {TWO_POINTS:g} points of the "
                                      "image-only model", f"{mean_std(ume[1.0])} vs {mean_std(io)}",
                                      "Sec. 3.2 (Table 1 on audio-visual data)", "image-only model",
                                      paired(results, at_rate("ume-mma", 1.0), method_is("unimodal"), [MISS_TEXT], ume[1.0],
                                             io, ["only:image"]), TWO_POINTS))
    return frame(claims, why_not, results)


def by_fraction(results: Iterable[Mapping], method: str, phase2: str, setting: str) -> dict[float, dict[int, float]]:
    out: dict[float, dict[int, float]] = {}
    for r in results:
        if r["method"] == method and r.get("phase2") == phase2:
            out.setdefault(float(r["train_text"]), {})[r["seed"]] = r["metrics"][setting]
    return dict(sorted(out.items()))


ROWS3 = {("naive", "augmented"): "naive (text-less samples get the blank text)",
         ("ume-mma", "augmented"): "UME-MMA, text-less samples as augmented (Sec. 3.3)",
         ("ume-mma", "complete only"): "UME-MMA, phase 2 on complete samples only (Sec. 4.2)"}


def table3(results: Iterable[Mapping], setting: str = "complete", digits: int = 1):
    """Table 3: rows = method (ours) and the paper's rows (MM-IMDB, F1 micro, labelled), columns = the fraction of
    training samples with text; ours: 'mean ± std' on the complete test set (``setting``)."""
    pd = book_pandas()

    results = list(results)
    rows: dict[str, dict[str, str]] = {}
    for (m, variant), label in ROWS3.items():
        vals = by_fraction(results, m, variant, setting)
        if vals:
            rows[f"ours (emoji, {results[0]['metric']}): {label}"] = {f"{100 * f:.0f}%": mean_std(v) for f, v in vals.items()}
    for name, ref in paper.TABLE3_MMIMDB.items():
        rows[f"paper (MM-IMDB, F1 micro): {name}"] = {f"{100 * f:.0f}%": ("/" if v is None else f"{v:.1f}")
                                                      for f, v in ref.items()}
    df = pd.DataFrame(rows).T.fillna("/")
    df.columns.name = "training samples with text"
    return df


def _is(method: str, phase2: str, frac: float):
    return lambda r: r["method"] == method and r.get("phase2") == phase2 and float(r.get("train_text", -1)) == frac


def table3_claims(results: Iterable[Mapping], setting: str = "complete"):
    """Table 3's claims on our runs: UME-MMA gains as more training samples have text (10% -> 20% -> 100%), and
    beats naive fusion at every fraction; plus a comparison of the paper's two ways to use text-less samples (as
    augmented samples, Sec. 3.3; phase 2 on the complete samples only, offered in Sec. 4.2)."""
    results = list(results)
    why_not = chance_check([r for r in results if r.get("train_text") == 1.0] or results)
    ume = by_fraction(results, "ume-mma", "augmented", setting)
    naive = by_fraction(results, "naive", "augmented", setting)
    only = by_fraction(results, "ume-mma", "complete only", setting)
    ref = paper.TABLE3_MMIMDB["UME-MMA (Res)"]
    fr = sorted(ume)
    claims: list[Claim] = []
    for a, b in zip(fr, fr[1:]):
        pa, pb = ref.get(a), ref.get(b)
        claims.append(superiority(f"UME-MMA gains from {100 * a:.0f}% to {100 * b:.0f}% of training texts",
                                  f"{mean_std(ume[b])} vs {mean_std(ume[a])}",
                                  f"{pb:.1f} vs {pa:.1f} (ResNet-152)" if pa is not None and pb is not None else "/",
                                  f"{100 * a:.0f}%", paired(results, _is("ume-mma", "augmented", b),
                                                            _is("ume-mma", "augmented", a), [setting], ume[b], ume[a])))
    for f in fr:
        if f in naive:
            claims.append(superiority(f"UME-MMA above naive fusion with {100 * f:.0f}% of training texts",
                                      f"{mean_std(ume[f])} vs {mean_std(naive[f])}", "not in the paper", "naive",
                                      paired(results, _is("ume-mma", "augmented", f), _is("naive", "augmented", f),
                                             [setting], ume[f], naive[f])))
    for f in fr:
        if f in only and f < 1.0:
            claims.append(superiority(f"{100 * f:.0f}% of training texts: text-less samples as augmented (Sec. 3.3) "
                                      "beat phase 2 on complete samples only (Sec. 4.2)",
                                      f"{mean_std(ume[f])} vs {mean_std(only[f])}",
                                      "both variants are the paper's; it does not say which gave Table 3",
                                      "complete only", paired(results, _is("ume-mma", "augmented", f),
                                                              _is("ume-mma", "complete only", f), [setting], ume[f], only[f])))
    return frame(claims, why_not, results)


def class_counts(data) -> "object":
    """Samples per class and split (a DataFrame, classes as rows), with the designs' share."""
    pd = book_pandas()

    classes = data.info.get("classes") or [str(c) for c in range(data.num_classes)]
    cols = {}
    for name, split in data.splits():
        counts = split.y.bincount(minlength=data.num_classes).tolist()
        cols[f"{name} ({len(split)})"] = counts
    df = pd.DataFrame(cols, index=classes)
    df.index.name = "class"
    return df


def gallery(data, split: str = "train", per_class: int = 4, design: str | None = None, seed: int = 0):
    """A grid of ``per_class`` images per class (rows) from ``split``, each titled with its text; ``design``
    keeps one design (e.g. 'google'). Uses ``info["meta"]`` (the splits as loaded)."""
    import random

    import matplotlib.pyplot as plt
    import textwrap

    s = getattr(data, split)
    meta = data.info["meta"][split]
    classes = data.info.get("classes") or [str(c) for c in range(data.num_classes)]
    rng = random.Random(seed)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(1.9 * per_class, 1.9 * len(classes)))
    for c, row in zip(range(len(classes)), axes):
        idx = [i for i in range(len(s)) if int(s.y[i]) == c and (design is None or meta["design"][i] == design)]
        for ax, i in zip(row, rng.sample(idx, min(per_class, len(idx)))):
            ax.imshow(s.x["image"][i].permute(1, 2, 0).numpy())
            ax.set_title("\n".join(textwrap.wrap(meta["text"][i], 22)[:2]), fontsize=7)
        for ax in row:
            ax.axis("off")
        row[0].text(-0.15, 0.5, classes[c], transform=row[0].transAxes, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def pretraining_table(results: Iterable[Mapping], missing_rate: float = 1.0):
    """What a pre-trained text encoder buys, per setting: rows = (method, setting), columns = text encoder
    ('mean ± std' over seeds); fused settings read at ``missing_rate`` (the share of test texts blank for
    miss:text)."""
    pd = book_pandas()

    results = list(results)
    encoders = list(dict.fromkeys(r["text_encoder"] for r in results))
    rows: dict[str, dict[str, str]] = {}
    wanted = [("unimodal", "only:text", "text-only model"), ("unimodal", "only:image", "image-only model")]
    wanted += [(m, s, f"{NAMES[m]}, {s}") for m in ("naive", "ume-mma") for s in ("complete", "miss:text", "miss:image")]
    for m, s, label in wanted:
        row = {}
        for enc in encoders:
            v = {r["seed"]: r["metrics"][s] for r in results if r["text_encoder"] == enc and r["method"] == m
                 and (m == "unimodal" or float(r["missing_rate"]) == missing_rate) and r["metrics"].get(s) is not None}
            row[enc] = mean_std(v) if v else "/"
        rows[label] = row
    df = pd.DataFrame(rows).T
    df.columns.name = "text encoder"
    return df


def gap_table(results: Iterable[Mapping], missing_rate: float = 1.0):
    """Per text encoder (columns) and missing modality: UME-MMA minus naive fusion, and the phase-1 models fused
    (no phase 2) minus naive fusion, paired over seeds with the 95% interval; read at ``missing_rate``. Under the
    paper's explanation joint training under-trains the encoders, so these gaps should grow where an encoder can
    be under-trained (one trained from scratch or fine-tuned) and shrink where it is frozen."""
    pd = book_pandas()

    results = [r for r in results if r["method"] == "unimodal" or float(r["missing_rate"]) == missing_rate]
    encoders = list(dict.fromkeys(r["text_encoder"] for r in results))
    rows: dict[str, dict[str, str]] = {}
    for m in ("ume-mma", "phase1-fused"):
        for s in ("miss:text", "miss:image", "complete"):
            row = {}
            for enc in encoders:
                a, b = ({r["seed"]: r["metrics"][s] for r in results if r["text_encoder"] == enc and r["method"] == x}
                        for x in (m, "naive"))
                row[enc] = Diff.of(a, b).text() if a and b else "/"
            rows[f"{NAMES[m]} minus naive, {s}"] = row
    df = pd.DataFrame(rows).T
    df.columns.name = f"text encoder (missing rate {100 * missing_rate:.0f}%)"
    return df


def detection_table(results: Iterable[Mapping], setting: str = MISS_TEXT):
    """UME-MMA against missing detection at every missing rate, per substitute (the runs' ``text_encoder`` label:
    the blank text's features, or Gaussian noise in their place), paired by seed; each interval adds the test items'
    variance (grouped by emoji) where the runs kept it (``reading``), and the seeds-only interval is beside it (what
    another training run would do on this same test set). A 95% interval per rate, no correction across rates: a
    description of the curve, not a family of claims."""
    pd = book_pandas()

    results = list(results)
    rows = []
    for label in dict.fromkeys(r.get("text_encoder") for r in results):
        part = [r for r in results if r.get("text_encoder") == label]
        ume, det = rate_values(part, "ume-mma", setting), rate_values(part, "missing-detection", setting)
        for e in sorted(set(ume) & set(det)):
            d = paired(part, at_rate("ume-mma", e), at_rate("missing-detection", e), [setting], ume[e], det[e])
            say = {"holds": "UME-MMA above", "fails": "missing detection above", "inconclusive": "not told apart"}
            seeds_only = Diff.of(ume[e], det[e])
            rows.append({"substitute": "noise (training mean and std)" if "noise" in str(label) else "blank text",
                         "missing rate": f"{100 * e:.0f}%", "UME-MMA": mean_std(ume[e]),
                         "missing detection": mean_std(det[e]), "UME-MMA − missing detection": d.text(),
                         "reading": say[d.above(0.0)],
                         "seeds only (this test set)": f"{seeds_only.text()}: {say[seeds_only.above(0.0)]}"})
    return pd.DataFrame(rows).set_index(["substitute", "missing rate"]) if rows else pd.DataFrame()


def detection_summary(table) -> str:
    """:func:`detection_table` in a sentence per substitute: at how many rates each reading came out."""
    if table is None or len(table) == 0:
        return "(no runs with both methods)"
    parts = []
    for sub, g in table.groupby(level=0, sort=False):
        counts = g["reading"].value_counts()
        seeds = g["seeds only (this test set)"].str.split(": ").str[-1].value_counts()
        higher = int(g["UME-MMA − missing detection"].str.startswith("-").sum())
        parts.append(f"{sub}: missing detection has the higher mean at {higher} of {len(g)} rates; " + ", ".join(f"{k} at {v} of {len(g)} rates" for k, v in counts.items())
                     + " (seeds only, on this test set: " + ", ".join(f"{k} at {v}" for k, v in seeds.items()) + ")")
    return "; ".join(parts)
