"""Tables and plots of result dicts for the book (pandas, seaborn/matplotlib imported on use)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from ..files import load_json
from ..experiments.results import settings_of
from .display import book_pandas

if TYPE_CHECKING:
    import torch


def to_frame(results: Iterable[Mapping]):
    """Long table: one row per (method, seed, setting) with the headline metric."""
    pd = book_pandas()

    rows = [{"method": r["method"], "seed": r["seed"], "setting": s, "value": v}
            for r in results for s, v in r["metrics"].items() if v is not None]
    return pd.DataFrame(rows)


def summary(results: Iterable[Mapping], reference: Mapping[str, Mapping[str, float]] | None = None,
            digits: int = 2):
    """Wide table of 'mean ± std' over seeds, methods as rows, settings as columns, in the protocol's
    order; ``reference`` adds labelled rows (e.g. the Bayes optimum, the paper's numbers)."""
    pd = book_pandas()

    results = list(results)
    df = to_frame(results)
    cols = [c for c in settings_of(results) if c in set(df["setting"])]
    g = df.groupby(["method", "setting"])["value"]
    mean, std, n = g.mean().unstack(), g.std(ddof=1).unstack(), g.count().unstack()
    order = list(dict.fromkeys(r["method"] for r in results))
    fmt = lambda m, s, k: "/" if m != m else (f"{m:.{digits}f} ± {s:.{digits}f}" if k > 1 else f"{m:.{digits}f}")
    table = pd.DataFrame({c: [fmt(mean.loc[r, c], std.loc[r, c], n.loc[r, c]) if c in mean.columns else "/"
                              for r in order] for c in cols}, index=order)
    for name, ref in (reference or {}).items():
        table.loc[name] = [f"{ref[c]:.{digits}f}" if ref.get(c) is not None else "/" for c in cols]
    table.index.name = "method"
    return table


def mean_metrics(results: Iterable[Mapping], method: str) -> dict[str, float]:
    """Mean over seeds of each setting for one method."""
    df = to_frame(results)
    return df[df["method"] == method].groupby("setting")["value"].mean().to_dict()


def plot_settings(results: Iterable[Mapping], reference: Mapping[str, float] | None = None,
                  reference_label: str = "Bayes optimum", ax=None, ylabel: str = "accuracy (%)"):
    """Bars per setting and method (mean, error bars = std over seeds); ``reference`` as black ticks. The y axis
    starts at 0."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    results = list(results)
    df = to_frame(results)
    order = [s for s in settings_of(results) if s in set(df["setting"])]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    sns.barplot(df, x="setting", y="value", hue="method", order=order, errorbar="sd", ax=ax)
    if reference:
        xs = range(len(order))
        ax.scatter(xs, [reference.get(s) for s in order], marker="_", s=900, c="k", zorder=5, label=reference_label)
    ax.set_xlabel("")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_ylim(0, 100 if df["value"].max() > 90 else df["value"].max() + 8)  # from 0: bar heights compare
    return ax


def load_results(pattern: str, root: str | Path = "results") -> list[dict]:
    """Committed result JSONs under ``root`` matching a glob ``pattern`` (a file may hold one result or a list)."""
    out: list[dict] = []
    for p in sorted(Path(root).glob(pattern)):
        obj = load_json(p)
        out.extend(obj if isinstance(obj, list) else obj.get("results", [obj]))
    return out


def sweep_frame(results: Iterable[Mapping], settings: Iterable[str] | None = None):
    """Mean and std over seeds per drop probability (rows) and setting (columns) of the sweep results."""
    pd = book_pandas()

    rows = [{"p": r["sweep"]["drop_p"], "seed": r["seed"], **r["metrics"]} for r in results if "sweep" in r]
    df = pd.DataFrame(rows)
    settings = list(settings or [c for c in df.columns if c not in ("p", "seed", "avg")])
    return df.groupby("p")[settings].agg(["mean", "std"])


def plot_sweep(results: Iterable[Mapping], settings: Iterable[str] | None = None, ax=None,
               ylabel: str = "accuracy (%)"):
    """Accuracy against the drop probability, one line per setting, error bars = std over seeds; the y axis
    starts at 0."""
    import matplotlib.pyplot as plt

    agg = sweep_frame(results, settings)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for s in dict.fromkeys(c[0] for c in agg.columns):
        ax.errorbar(agg.index, agg[(s, "mean")], yerr=agg[(s, "std")].fillna(0), marker="o", capsize=3, label=s)
    ax.set(xlabel="drop probability per modality", ylabel=ylabel)
    ax.set_ylim(bottom=0)  # from 0, as in plot_settings
    ax.legend(fontsize=8, frameon=False)
    return ax


def _phase_text(c: Mapping) -> str:
    lr = c["lr"] if not isinstance(c["lr"], Mapping) else "/".join(f"{m} {v:g}" for m, v in c["lr"].items())
    stop = f", patience {c['patience']}" if c.get("patience") else ""
    return f"{c['optimizer']} lr {lr}, batch {c['batch_size']}, up to {c['epochs']} epochs{stop}"


def describe_run(results: Iterable[Mapping]) -> str:
    """The settings and provenance behind a set of results: sizes, both phases' optimizer, rate, batch and epochs,
    the epochs selected on validation, seeds, device, commit (and whether the tree was dirty)."""
    results = list(results)
    p = results[0]["provenance"]
    c = p.get("config", {})
    seeds = sorted({r["seed"] for r in results})
    phases = ""
    if "phase1" in c:
        phases = f"phase 1: {_phase_text(c['phase1'])}; phase 2: {_phase_text(c['phase2'])}; "
    sel = [v["epoch"] for r in results for v in (r["provenance"].get("selected_epoch") or {}).values()
           if isinstance(v, Mapping) and v.get("epoch")]
    chosen = f"epochs kept (best on validation): {min(sel)}-{max(sel)}; " if sel else "last epoch kept; "
    val = f" / {p['n_val']} validation" if p.get("n_val") else ""
    git = str(p.get("git"))
    return (f"{p.get('n_train', '?')} training{val} / {p.get('n_test', '?')} test samples; {phases}{chosen}"
            f"seeds {seeds}; device {p['device']}; commit {git[:12]}{' (dirty tree)' if git.endswith('-dirty') else ''}")


def head_response(models: Mapping[str, "torch.nn.Module"], data, n: int = 4000):
    """What each head knows alone and how loudly it speaks on the zero substitute, per model and modality: the
    accuracy of the head alone on real test inputs (argmax of its logits), the accuracy of the whole model when
    every other modality is replaced by the substitute (fused models only), and the spread of the head's logits
    (max - min over classes) on the substitute relative to its mean spread on real inputs (under 1: quieter on the
    substitute). ``models``: name -> :class:`~umelib.models.fusion.LateFusion` (a uni-modal model counts for its one
    modality)."""
    pd = book_pandas()
    import torch

    from ..evaluate import predict

    rows = []
    test = data.test.subset(slice(0, n))
    y = test.y
    with torch.no_grad():
        for name, model in models.items():
            model.eval()
            dev = next(model.parameters()).device
            for m in model.modalities:
                x = test.x[m].to(dev)
                real = model.heads[m](model.encoders[m](x)).float().cpu()
                zero = model.heads[m](model.encoders[m](torch.zeros_like(x[:1]))).float().cpu()
                row = {"model": name, "modality": m,
                       "head alone (%)": 100 * float((real[:, :model.num_classes].argmax(1) == y).float().mean())}
                if len(model.modalities) > 1:
                    miss = torch.ones(len(test), len(test.modalities), dtype=torch.bool)
                    miss[:, test.modalities.index(m)] = False
                    row["model, the others missing (%)"] = 100 * float((predict(model, test, miss).argmax(1) == y).float().mean())
                row["substitute spread / real spread"] = float(zero.amax(1) - zero.amin(1)) / float((real.amax(1) - real.amin(1)).mean())
                rows.append(row)
    return pd.DataFrame(rows)
