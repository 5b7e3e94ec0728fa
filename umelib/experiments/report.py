"""Tables and plots of result dicts for the book (pandas, seaborn/matplotlib imported on use)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from ..files import load_json
from .results import settings_of


def to_frame(results: Iterable[Mapping]):
    """Long table: one row per (method, seed, setting) with the headline metric."""
    import pandas as pd

    rows = [{"method": r["method"], "seed": r["seed"], "setting": s, "value": v}
            for r in results for s, v in r["metrics"].items() if v is not None]
    return pd.DataFrame(rows)


def summary(results: Iterable[Mapping], reference: Mapping[str, Mapping[str, float]] | None = None,
            digits: int = 2):
    """Wide table of 'mean ± std' over seeds, methods as rows, settings as columns, in the protocol's
    order; ``reference`` adds labelled rows (e.g. the Bayes optimum, the paper's numbers)."""
    import pandas as pd

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
    """Bars per setting and method (mean, error bars = std over seeds); ``reference`` as black ticks."""
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
    lo = df["value"].min()
    ax.set_ylim(max(0, lo - 10), 100 if df["value"].max() > 90 else df["value"].max() + 8)
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
    import pandas as pd

    rows = [{"p": r["sweep"]["drop_p"], "seed": r["seed"], **r["metrics"]} for r in results if "sweep" in r]
    df = pd.DataFrame(rows)
    settings = list(settings or [c for c in df.columns if c not in ("p", "seed", "avg")])
    return df.groupby("p")[settings].agg(["mean", "std"])


def plot_sweep(results: Iterable[Mapping], settings: Iterable[str] | None = None, ax=None,
               ylabel: str = "accuracy (%)"):
    """Accuracy against the drop probability, one line per setting, error bars = std over seeds."""
    import matplotlib.pyplot as plt

    agg = sweep_frame(results, settings)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for s in dict.fromkeys(c[0] for c in agg.columns):
        ax.errorbar(agg.index, agg[(s, "mean")], yerr=agg[(s, "std")].fillna(0), marker="o", capsize=3, label=s)
    ax.set(xlabel="drop probability per modality", ylabel=ylabel)
    ax.legend(fontsize=8, frameon=False)
    return ax


def describe_run(results: Iterable[Mapping]) -> str:
    """One line of provenance for a set of results: sizes, epochs, seeds, device, commit."""
    results = list(results)
    p = results[0]["provenance"]
    c = p.get("config", {})
    seeds = sorted({r["seed"] for r in results})
    epochs = f"{c['phase1']['epochs']}+{c['phase2']['epochs']} epochs, " if "phase1" in c else ""
    return (f"{p.get('n_train', '?')} training / {p.get('n_test', '?')} test samples, {epochs}"
            f"seeds {seeds}; device {p['device']}; commit {str(p.get('git'))[:12]}")
