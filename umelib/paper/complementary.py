"""Complementary information of trained models: estimate Gamma_m = H(Y | all but m) - H(Y | all) as the
difference of two calibrated cross-entropies, and the sweep over the synthetic families with a knob for Gamma_Z
(:mod:`umelib.datasets.families`) behind the "bounds to models" chapter."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable, Mapping


from ..datasets.core import MultiModalData
from ..datasets.families import KNOBS, family_data
from ..datasets.synthetic import conditional_entropies
from ..methods import pretrain, run_method
from ..provenance import git_commit, provenance
from ..theory.info import describe, exp_upper, fano_lower
from ..training.trainer import Trainer
from ..experiments.gamma import (calibrated_cross_entropy, discordant_text, estimate_gamma, expected_gamma,  # noqa: F401
                                 fit_temperature, gamma_from_models, gap_discordant, keep_modalities)
from ..experiments.cache import Cache, key
from ..experiments.suite import prepare


def exact_quantities(data: MultiModalData, n_mc: int = 10**6) -> dict[str, float]:
    """Exact (discrete) or Monte Carlo (Gaussian, ``n_mc`` draws) H(Y|X,Z), Gamma_Z and Bayes errors."""
    if "joint" in data.info:
        d = describe(data.info["joint"])
        return {"H_Y|XZ": d["H(Y|X,Z)"], "gamma_Z": d["Gamma_Z"], "Pe": d["Pe"], "Pe_miss_z": d["Pe miss Z"]}
    spec = data.info["gaussian_spec"]
    ce = conditional_entropies(spec, n_mc)
    acc = spec.bayes_accuracy(n_mc)
    return {"H_Y|XZ": ce["complete"], "gamma_Z": ce["miss:z"] - ce["complete"], "Pe": 1 - acc["complete"],
            "Pe_miss_z": 1 - acc["miss:z"]}


def sweep(family: str, profile: str | None = None, seed: int = 0, knobs: list[float] | None = None,
          device: str | None = None, progress: bool = False) -> list[dict]:
    """For each knob value: exact Gamma_Z, H(Y|X,Z), Bayes errors and the bounds of Theorem 3.2; the errors of
    naive late fusion and UME-MMA with Z missing and complete; and Gamma_Z estimated from the trained models
    (phase-1 X model vs. naive fusion, both calibrated)."""
    profile = profile or os.environ.get("UME_PROFILE", "smoke")
    rows = []
    for knob in knobs or KNOBS[family]:
        t0 = time.perf_counter()
        data, cfg = prepare(family_data(family, knob, seed), profile, seed)
        trainer = Trainer(device, seed=seed, progress=progress)
        uni = pretrain(data, cfg, trainer)
        naive = run_method("naive", data, cfg, trainer)
        ume = run_method("ume-mma", data, cfg, trainer, pretrained=uni)
        est = gamma_from_models(uni["x"], naive.model, data, "z")
        ex = exact_quantities(data)
        k = data.num_classes
        err = lambda out, s: 1 - out.metrics[s]["accuracy"] / 100
        rows.append({"family": family, "knob": knob, "seed": seed, "dataset": data.name, "profile": profile, **ex,
                     "lower_1": fano_lower(ex["H_Y|XZ"], k), "upper_1": exp_upper(ex["H_Y|XZ"]),
                     "lower_2": fano_lower(ex["H_Y|XZ"] + ex["gamma_Z"], k),
                     "upper_2": exp_upper(ex["H_Y|XZ"] + ex["gamma_Z"]),
                     "naive_complete": err(naive, "complete"), "naive_miss_z": err(naive, "miss:z"),
                     "ume_complete": err(ume, "complete"), "ume_miss_z": err(ume, "miss:z"),
                     **{f"est_{k2}": v for k2, v in est.items()},
                     "rel_error": (est["gamma_hat"] - ex["gamma_Z"]) / ex["gamma_Z"] if ex["gamma_Z"] > 0 else None,
                     "provenance": provenance(cfg.to_dict(), trainer.device, time.perf_counter() - t0,
                                              n_train=len(data.train), n_test=len(data.test),
                                              data_sha256=data.info.get("sha256"),
                                              selected_epoch={c["phase"]: c for c in trainer.selected})})
    return rows


# (label, minuend, subtrahend) of a sweep's test errors with Z missing: what each recipe loses beyond the Bayes error
EXCESS = [("naive − Bayes", "naive_miss_z", "Pe_miss_z"), ("UME-MMA − Bayes", "ume_miss_z", "Pe_miss_z"),
          ("naive − UME-MMA", "naive_miss_z", "ume_miss_z")]


def excess_errors(rows: Iterable[Mapping]) -> list[dict]:
    """Per family and :data:`EXCESS` pair: the error difference with Z missing (points), averaged over the knobs,
    paired by seed (mean, 95% t interval, reading)."""
    from ..verdicts import Diff

    per: dict[tuple, dict[int, list[float]]] = {}
    for r in rows:
        for label, a, b in EXCESS:
            per.setdefault((r["family"], label), {}).setdefault(r["seed"], []).append(100 * (r[a] - r[b]))
    out = []
    for (fam, label), by_seed in per.items():
        d = Diff.of({s: sum(v) / len(v) for s, v in by_seed.items()})
        out.append({"family": fam, "difference": label, "seeds": d.n, "points": d.mean, "lo": d.lo, "hi": d.hi,
                    "reading": d.reading()})
    return out


# ------------------------------------------------------------------ Gamma against the observed gap, per dataset

# Each dataset with a committed run: (dataset, profile, settings) for the Gamma estimate on the same data as the run,
# and (results file, text_encoder label or None) for the observed gap.
GAP_DATASETS = {
    "synthetic": (("synthetic", "full", {}), ("five_minutes_full.json", None)),
    "AV-MNIST": (("avmnist", "cpu-intermediate", {}), ("avmnist_cpu-intermediate.json", None)),
    "emoji": (("emoji", "full", {"encoders": {"text": "frozen:minilm"}}), ("emoji_missing_text_full.json", "pre-trained")),
}


def gamma_rows(seed: int = 0, device: str | None = None, datasets=None, cache_dir=None) -> list[dict]:
    """:func:`expected_gamma` per modality of each dataset of :data:`GAP_DATASETS` (or ``datasets``, the same
    form): trained on its complete training split, calibrated and scored on the two halves
    of its validation split (never the test split). ``cache_dir`` keeps each dataset's rows keyed by dataset,
    profile, settings, seed and git commit, so an interrupted sweep resumes and seeds can be split over processes."""
    cache = Cache(Path(cache_dir) if cache_dir else None, git_commit())
    rows = []
    for name, ((ds, profile, settings), _) in (datasets or GAP_DATASETS).items():
        k = key("gamma_rows", name, ds, profile, settings, seed, cache.commit)
        hit = cache.load_result(k)
        if hit is not None:
            rows += hit["rows"]
            continue
        t0 = time.perf_counter()
        data, cfg = prepare(ds, profile, seed, settings=settings)
        trainer = Trainer(device, seed=seed, progress=False)
        part = []
        for r in expected_gamma(data, cfg, trainer, seed=seed):
            part.append({"dataset": name, "profile": profile, "seed": seed, **r,
                         "provenance": provenance(cfg.to_dict(), trainer.device, round(time.perf_counter() - t0, 1),
                                                  n_train=len(data.train), n_val=len(data.val),
                                                  data_sha256=data.info.get("sha256"))})
        cache.save_result(k, {"rows": part})
        rows += part
    return rows


def observed_gaps(results_by_dataset, method: str = "ume-mma") -> list[dict]:
    """Per dataset and modality m: ``method``'s complete accuracy minus its accuracy with m missing from every test
    sample (paired by seed; the test items' variance added where kept). ``results_by_dataset``: name -> records."""
    from .claims import method_is, paired

    out = []
    for name, results in results_by_dataset.items():
        recs = [r for r in results if r["method"] in (method, "unimodal") and float(r.get("missing_rate", 1.0)) == 1.0]
        runs = [r for r in recs if r["method"] == method]
        if not runs:
            continue
        for m in runs[0]["modalities"]:
            s = f"miss:{m}"
            comp = {r["seed"]: r["metrics"]["complete"] for r in runs}
            miss = {r["seed"]: r["metrics"][s] for r in runs}
            pick = lambda r: r["method"] == method and float(r.get("missing_rate", 1.0)) == 1.0
            d = paired(recs, pick, pick, ["complete"], comp, miss, [s])
            out.append({"dataset": name, "modality": m, "gap": d.mean, "gap_lo": d.lo, "gap_hi": d.hi, "n_seeds": d.n})
    return out


def gap_frame(gammas, gaps):
    """Gamma-hat (± 2 se) beside the observed gap (95% interval), one row per dataset and missing modality. Over
    several seeds Gamma-hat is their mean, its se ``sqrt(s² / n + mean(se²))``: the seeds' spread plus the bootstrap
    variance of the fixed validation split, which more seeds do not shrink (``gamma_seeds``: n)."""
    import pandas as pd

    g = pd.DataFrame(gammas)[["dataset", "modality", "gamma_hat", "se"]]
    agg = g.groupby(["dataset", "modality"], sort=False).agg(
        gamma_seeds=("gamma_hat", "size"), spread=("gamma_hat", "var"), gamma_hat=("gamma_hat", "mean"),
        se2=("se", lambda x: (x ** 2).mean()))
    agg["se"] = (agg["spread"].fillna(0) / agg["gamma_seeds"] + agg["se2"]) ** 0.5
    agg = agg.drop(columns=["spread", "se2"]).reset_index()
    return agg.merge(pd.DataFrame(gaps), on=["dataset", "modality"]).set_index(["dataset", "modality"])


def plot_gaps(frame, ax=None):
    """Observed gap against Gamma-hat, one point per dataset and missing modality, with both intervals."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for (ds, m), r in frame.iterrows():
        ax.errorbar(r["gamma_hat"], r["gap"], xerr=2 * r["se"], yerr=[[r["gap"] - r["gap_lo"]], [r["gap_hi"] - r["gap"]]],
                    fmt="o", capsize=3, label=f"{ds}: {m} missing")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.set(xlabel="estimated Γ of the missing modality (nats)", ylabel="complete − missing accuracy (points)")
    ax.legend(fontsize=8)
    return ax


def gap_spearman(frame) -> tuple[float, int]:
    """Spearman's rank correlation of Gamma-hat and the observed gap over the rows, and their number."""
    from scipy import stats

    return float(stats.spearmanr(frame["gamma_hat"], frame["gap"]).statistic), len(frame)
