"""Result dicts per the JSON contract, and plain-text tables of them (writing: :mod:`umelib.files`;
provenance: :mod:`umelib.provenance`)."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping


def make_result(dataset: str, method: str, profile: str, seed: int, metric: str,
                metrics: Mapping[str, Mapping[str, float]], prov: Mapping, **extra: Any) -> dict:
    """A result dict per the contract; ``metrics`` is setting -> {metric: value}; the headline metric
    is flattened into ``metrics`` and all of them kept under ``all_metrics``."""
    flat = {s: (v.get(metric) if v else None) for s, v in metrics.items()}
    return {"dataset": dataset, "method": method, "profile": profile, "seed": seed, "metric": metric,
            "unit": "%", "metrics": flat, "all_metrics": {s: dict(v) for s, v in metrics.items()},
            **extra, "provenance": dict(prov)}


def validation_score(result: Mapping) -> float | None:
    """The validation score the run's final phase was selected on (its ``provenance.selected_epoch``), if recorded."""
    sel = result.get("provenance", {}).get("selected_epoch") or {}
    method = result["method"].split("@")[0]
    entry = sel.get(method)
    return entry.get("val") if isinstance(entry, Mapping) else None


def compute_rule(config: Mapping) -> str:
    """How the methods of a run were given compute, from its resolved config (``provenance.config``)."""
    p1 = config.get("phase1") or {}
    if p1.get("patience") and config.get("equal_compute"):
        return (f"equal epoch budgets (methods from scratch: phase 1 + phase 2 epochs, at most "
                f"{p1.get('epochs', 0) + (config.get('phase2') or {}).get('epochs', 0)}), every fit stopped on "
                f"validation (patience {p1['patience']})")
    if p1.get("patience"):
        return f"every method trained to convergence on validation (patience {p1['patience']})"
    if config.get("equal_compute"):
        return "equal epochs: methods from scratch train phase 1 + phase 2 epochs"
    return "unequal: methods from scratch train phase 1's epochs only, UME-MMA phase 1 + phase 2"


def fits_kept_last(results: Iterable[Mapping]) -> tuple[int, int]:
    """(how many fits kept their last epoch, how many fits) in ``results``: each run's own final phase (records of
    one run at several missing rates, or a sweep point that is the same run, count once) and each phase-1 fit."""
    ident = lambda d: json.dumps(d, sort_keys=True, default=str)
    fits: dict[tuple, Mapping] = {}
    for r in results:
        for phase, v in (r.get("provenance", {}).get("selected_epoch") or {}).items():
            if not isinstance(v, Mapping) or not v.get("epochs_run"):
                continue
            if phase.startswith("phase 1"):
                fits[(phase, r["seed"], ident(v))] = v
            elif phase == r["method"].split("@")[0]:
                fits[(phase, ident(r["provenance"]))] = v
    return sum(v["epoch"] == v["epochs_run"] for v in fits.values()), len(fits)


def settings_of(results: Iterable[Mapping]) -> list[str]:
    """Protocol settings in table order: complete, miss:*, avg (then anything else)."""
    keys: list[str] = []
    for r in results:
        for k in r["metrics"]:
            if k not in keys:
                keys.append(k)
    order = lambda k: (0 if k == "complete" else 1 if k.startswith("miss:") else 3 if k == "avg" else 2, k)
    return sorted(keys, key=order)


def rate_label(r: Mapping) -> str:
    return f", missing rate {r['missing_rate']:g}"


def format_table(results: Iterable[Mapping], extra_rows: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """A plain-text table: one row per result (method, seed), one column per setting."""
    results = list(results)
    cols = settings_of(results + [{"metrics": v} for v in (extra_rows or {}).values()])
    rates = len({r.get("missing_rate") for r in results}) > 1  # a sweep of missing rates: say which row is which
    rows = [(f"{r['method']} (seed {r['seed']}{rate_label(r) if rates else ''})", r["metrics"])
            for r in results] + list((extra_rows or {}).items())
    w = max(len(n) for n, _ in rows) + 2
    cell = lambda v: "/" if v is None else f"{v:.2f}"
    lines = ["".ljust(w) + "".join(c.rjust(12) for c in cols)]
    lines += [n.ljust(w) + "".join(cell(m.get(c)).rjust(12) for c in cols) for n, m in rows]
    return "\n".join(lines)
