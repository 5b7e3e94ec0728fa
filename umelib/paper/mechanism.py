"""The method opened up: the plain-PyTorch reference against umelib, what the heads say on the substitute, and
linear probes of encoders trained end to end vs uni-modally (the modality-laziness argument of Du et al. 2023)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from ..datasets.core import MultiModalData
from ..datasets.synthetic import bayes_reference
from ..errors import UmeError
from ..files import load_json, save_json
from ..paths import results_root
from ..methods import pretrain, run_method, setup_method
from ..models.fusion import LateFusion
from ..provenance import provenance
from ..training.trainer import Trainer
from . import scratch
from ..experiments.diagnostics import (PROBE_GAPS, SUITE_ENCODERS, features, gaps_text, head_accuracy,  # noqa: F401
                                       probe_accuracy, probe_gaps, suite_probe_rows)  # (public here too)
from ..experiments.suite import prepare, run

SETTINGS = ["complete", "miss:x", "miss:z", "avg"]


# ------------------------------------------------------------------ the plain-PyTorch reference against umelib

def _inputs(split) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    return {m: x.float() for m, x in split.x.items()}, split.y


def scratch_comparison(dataset: str | MultiModalData = "synthetic", profile: str | None = None,
                       seeds: Iterable[int] = (0, 1, 2), drop_p: float | None = None):
    """Long table (implementation, method, seed, setting, value): naive late fusion and UME-MMA trained by
    :mod:`umelib.paper.scratch` and by :func:`umelib.run`, on the same prepared data and config per seed, both
    on the CPU
    (``drop_p`` changes the plain-PyTorch drop probability only: a deliberate mismatch, for checks)."""
    import pandas as pd

    seeds, rows = list(seeds), []
    for seed in seeds:
        data, cfg = prepare(dataset, profile, seed)
        if any(len(s) != 1 for s in data.input_shapes().values()) or set(cfg.encoders.values()) - {"mlp"}:
            raise UmeError(f"the plain-PyTorch reference takes vector inputs with MLP encoders; '{data.name}' has "
                           f"{data.input_shapes()} with {cfg.encoders}; use 'synthetic'")
        p1, p2 = cfg.phase1, cfg.phase2
        if any(ph.optimizer != "sgd" or ph.patience or ph.plateau or ph.step_every or ph.epoch_samples
               or ph.momentum != 0.9 or ph.weight_decay or not ph.select_best for ph in (p1, p2)) \
                or p1.batch_size != p2.batch_size or cfg.aug_mode != "one" or not isinstance(cfg.drop_p, float):
            raise UmeError(f"the plain-PyTorch reference implements the smoke schedule (SGD with momentum 0.9, fixed "
                           f"epochs, one batch size, the best epoch on validation, drop mode 'one'); the '{profile}' "
                           "profile differs: compare with profile='smoke'")
        p = cfg.drop_p if drop_p is None else drop_p
        train, val, test = _inputs(data.train), _inputs(data.val), _inputs(data.test)
        models = {"naive": scratch.naive(train, val, data.num_classes, p1.epochs, p1.lr, p1.batch_size, seed),
                  "ume-mma": scratch.ume_mma(train, val, data.num_classes, (p1.epochs, p2.epochs), (p1.lr, p2.lr),
                                             p1.batch_size, p, seed)[1]}
        rows += [{"implementation": "plain PyTorch", "method": name, "seed": seed, "setting": s, "value": v}
                 for name, model in models.items() for s, v in scratch.protocol(model, *test).items()]
    rows += [{"implementation": "umelib", "method": r["method"], "seed": r["seed"], "setting": s, "value": v}
             for r in run(dataset, ["naive", "ume-mma"], profile, seeds, device="cpu")  # where the reference runs
             for s, v in r["metrics"].items()]
    return pd.DataFrame(rows)


def agreement(frame):
    """Per method and setting: each implementation's mean ± std over seeds, and the paired difference
    (plain PyTorch - umelib): its mean, a 95% t-interval and the largest |difference| over seeds."""
    import pandas as pd
    from scipy import stats

    wide = frame.pivot_table(index=["method", "setting", "seed"], columns="implementation", values="value")
    rows = []
    for (method, setting), g in wide.groupby(level=[0, 1], sort=False):
        d = g["plain PyTorch"] - g["umelib"]
        n, half = len(d), 0.0
        if n > 1 and float(d.std(ddof=1)) > 0:
            half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / n ** 0.5)
        rows.append({"method": method, "setting": setting,
                     "umelib": f"{g['umelib'].mean():.2f} ± {g['umelib'].std(ddof=1):.2f}",
                     "plain PyTorch": f"{g['plain PyTorch'].mean():.2f} ± {g['plain PyTorch'].std(ddof=1):.2f}",
                     "difference": float(d.mean()), "95% interval": (float(d.mean()) - half, float(d.mean()) + half),
                     "max |difference|": float(d.abs().max()), "seed spread (umelib std)": float(g["umelib"].std(ddof=1))})
    return pd.DataFrame(rows).set_index(["method", "setting"])


# ------------------------------------------------------------------ the heads on the substitute

def phase2_models(data: MultiModalData, cfg, trainer: Trainer) -> dict[str, LateFusion]:
    """The fused models around phase 2: naive late fusion, the phase-1 models fused before any fine-tuning,
    phase 2 without augmentation (only pre-training) and with it (UME-MMA)."""
    uni = pretrain(data, cfg, trainer)
    return {"naive": run_method("naive", data, cfg, trainer).model,
            "phase 1, fused (before phase 2)": setup_method("ume-mma", data, cfg, uni)[0].eval(),
            "phase 2 without augmentation": run_method("only-pretrain", data, cfg, trainer, pretrained=uni).model,
            "UME-MMA (after phase 2)": run_method("ume-mma", data, cfg, trainer, pretrained=uni).model}


def substitute_study(dataset: str = "synthetic", profile: str | None = None, seeds: Iterable[int] = (0, 1, 2),
                     device: str | None = None):
    """:func:`substitute_logits` of the :func:`phase2_models` for each seed: (logits, effect), with a seed column."""
    import pandas as pd

    logits, effects = [], []
    for seed in seeds:
        data, cfg = prepare(dataset, profile, seed)
        lg, ef = substitute_logits(phase2_models(data, cfg, Trainer(device, seed=seed, progress=False)), data)
        logits.append(lg.assign(seed=seed))
        effects.append(ef.reset_index().assign(seed=seed))
    return pd.concat(logits, ignore_index=True), pd.concat(effects, ignore_index=True)


def effect_table(effect):
    """Mean ± std over seeds of :func:`substitute_study`'s effect, per model and zeroed modality."""
    df = effect.assign(**{"substitute / real spread": effect["substitute spread"] / effect["real spread"]})
    cols = ["substitute spread", "real spread", "substitute / real spread", "predictions changed (%)"]
    g = df.groupby(["model", "zeroed"], sort=False)[cols]
    mean, std = g.mean(), g.std(ddof=1)
    return mean.round(2).astype(str) + " ± " + std.round(2).astype(str) if len(set(df["seed"])) > 1 else mean.round(2)


@torch.no_grad()
def substitute_logits(models: Mapping[str, LateFusion], data: MultiModalData, n: int = 4000):
    """Two tables. ``logits``: per model, zeroed modality and class, the head's logit on the substitute, centred
    over the classes (a constant shift does not change the softmax). ``effect``: per model and zeroed modality, the
    spread (max - min) of those logits, the head's mean spread on real inputs, and the share of test predictions
    the substitute head changes compared with the remaining heads alone."""
    import pandas as pd

    test = data.test.subset(slice(0, n))
    logits, effect = [], []
    for name, model in models.items():
        model.eval()
        dev = next(model.parameters()).device
        heads = {m: model.heads[m](model.encoders[m](test.x[m].to(dev))).float().cpu() for m in model.modalities}
        for m in model.modalities:
            x0 = data.train.fill.get(m, 0.0)
            sub = torch.full_like(test.x[m][:1], x0) if not isinstance(x0, torch.Tensor) else x0[None]
            z = model.heads[m](model.encoders[m](sub.to(dev))).float().cpu()[0, :model.num_classes]
            z = z - z.mean()
            logits += [{"model": name, "zeroed": m, "class": c, "logit": float(v)} for c, v in enumerate(z)]
            rest = torch.stack([heads[k][:, :model.num_classes] for k in model.modalities if k != m]).mean(0)
            with_sub = (rest * (len(model.modalities) - 1) + z) / len(model.modalities)
            real = heads[m][:, :model.num_classes]
            effect.append({"model": name, "zeroed": m, "substitute spread": float(z.max() - z.min()),
                           "real spread": float((real.amax(1) - real.amin(1)).mean()),
                           "predictions changed (%)": 100 * float((with_sub.argmax(1) != rest.argmax(1)).float().mean())})
    return pd.DataFrame(logits), pd.DataFrame(effect).set_index(["model", "zeroed"])


def plot_substitute_logits(logits, axes=None):
    """One panel per zeroed modality: the centred logits of its head on the substitute, per class and model."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    mods = list(dict.fromkeys(logits["zeroed"]))
    if axes is None:
        _, axes = plt.subplots(1, len(mods), figsize=(4.2 * len(mods), 3.4), sharey=True)
    for ax, m in zip(list(axes), mods):
        sns.barplot(logits[logits["zeroed"] == m], x="class", y="logit", hue="model", ax=ax, legend=ax is axes[-1])
        ax.axhline(0, c="k", lw=0.6)
        ax.set(title=f"head of '{m}' on its substitute", ylabel="logit - mean over classes")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return axes


# ------------------------------------------------------------------ linear probes (modality laziness)

ENCODERS = ("random init", "before training", "naive (end to end)", "uni-modal (phase 1)", "UME-MMA (phase 2)")


def probe_run(dataset: str, profile: str | None = None, seeds: Iterable[int] = (0, 1, 2), device: str | None = None,
              **overrides: Any) -> list[dict]:
    """Per seed and modality: probe and head accuracy of the encoders of naive late fusion and of phase 1, and the
    probe accuracy of an untrained encoder (a floor). ``overrides`` change the profile's config."""
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        data, cfg = prepare(dataset, profile, seed, **overrides)
        trainer = Trainer(device, seed=seed, progress=False)
        torch.manual_seed(seed)
        models = {"random init": setup_method("naive", data, cfg)[0].to(trainer.device),
                  "naive (end to end)": run_method("naive", data, cfg, trainer).model}
        uni = pretrain(data, cfg, trainer)
        ref = bayes_reference(data) if len(data.modalities) == 2 else None  # synthetic data only
        for m in data.modalities:
            other = next(o for o in data.modalities if o != m)
            for name, model in {**models, "uni-modal (phase 1)": uni[m]}.items():
                rows.append({"dataset": data.name, "seed": seed, "modality": m, "encoder": name,
                             "probe (%)": probe_accuracy(model, m, data),
                             "head alone (%)": None if name == "random init" else head_accuracy(model, m, data),
                             "Bayes, this modality alone (%)": ref["bayes"][f"miss:{other}"] if ref else None})
        prov = provenance(cfg.to_dict(), trainer.device, time.perf_counter() - t0, n_train=len(data.train),
                          n_test=len(data.test), data_sha256=data.info.get("sha256"),
                          overrides={k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in overrides.items()})
        for r in rows:
            r.setdefault("profile", profile)
            r.setdefault("provenance", prov)
    return rows


# The probes run on AV-MNIST in the cpu-intermediate profile (config.BASE), the size of the book's CPU run.
PROBES_NAME = "ume_from_scratch_probes_avmnist.json"


def probes_path() -> Path:
    """Where the AV-MNIST probe results live: ``<results root>/`` :data:`PROBES_NAME`."""
    return results_root() / PROBES_NAME


def avmnist_probes(retrain: bool = False, path: str | Path | None = None,
                   seeds: Iterable[int] = (0, 1, 2, 3, 4)) -> list[dict]:
    """The committed AV-MNIST probe results (``results/ume_from_scratch_probes_avmnist.json``), or a new run that
    writes them (5 seeds, as every committed suite; 3 seeds took 1,736 s on 2 shared CPU cores)."""
    path = Path(path or probes_path())
    if path.exists() and not retrain:
        return load_json(path)["results"]
    t0 = time.perf_counter()
    rows = probe_run("avmnist", "cpu-intermediate", seeds)
    save_json({"chapter": "ume_from_scratch", "profile": "cpu-intermediate", "wall_s": round(time.perf_counter() - t0, 1),
               "command": 'python -c "from umelib.paper.mechanism import avmnist_probes as f; f(retrain=True)"',
               "results": rows}, path, overwrite=True)
    return rows


def probe_table(rows: Iterable[Mapping]):
    """Mean ± std over seeds of the probe and head accuracies, per dataset, modality and encoder."""
    import pandas as pd

    df = pd.DataFrame([{k: v for k, v in r.items() if k != "provenance"} for r in rows])
    g = df.groupby(["dataset", "modality", "encoder"], sort=False)
    fmt = lambda s: "/" if s.isna().all() else f"{s.mean():.1f} ± {s.std(ddof=1):.1f}" if s.count() > 1 else f"{s.mean():.1f}"
    cols = [c for c in ("probe (%)", "head alone (%)", "Bayes, this modality alone (%)") if c in df]
    return pd.DataFrame({c: g[c].agg(fmt) for c in cols}).assign(seeds=g["seed"].nunique())


def plot_probes(rows: Iterable[Mapping], ax=None):
    """Probe accuracy per modality and encoder (bars: mean, error bars: std over seeds)."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame([{k: v for k, v in r.items() if k != "provenance"} for r in rows])
    df["modality"] = df["dataset"] + ": " + df["modality"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.4))
    order = [e for e in ENCODERS if e in set(df["encoder"])]
    sns.barplot(df, x="modality", y="probe (%)", hue="encoder", hue_order=order, errorbar="sd", ax=ax)
    if "Bayes, this modality alone (%)" in df and df["Bayes, this modality alone (%)"].notna().any():
        ref = df.groupby("modality", sort=False)["Bayes, this modality alone (%)"].first()
        xs = [i for i, m in enumerate(ref.index) if ref[m] == ref[m]]
        ax.scatter(xs, [ref.iloc[i] for i in xs], marker="_", s=1500, c="k", zorder=5, label="Bayes optimum, alone")
    ax.set(xlabel="", ylabel="linear-probe test accuracy (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, markerscale=0.25)
    return ax


# ------------------------------------------------------------------ the heads on the substitute, on real data

HEAD_MODELS = {"naive": "naive late fusion", "phase1-fused": "phase 1, fused (before phase 2)",
               "only-pretrain": "phase 2 without augmentation", "missing-detection": "missing detection",
               "ume-mma": "UME-MMA (after phase 2)"}
HEAD_STATS = ["flipped", "harmed", "helped", "spread_ratio"]


def head_records(results: Iterable[Mapping], methods: Iterable[str] = tuple(HEAD_MODELS)) -> list[dict]:
    """One row per (method, seed, missing modality) from the ``heads`` a suite kept with each fused model (the
    records of one missing rate: heads do not depend on it)."""
    rows, seen = [], set()
    for r in results:
        if r["method"] not in methods or "heads" not in r or (r["method"], r["seed"]) in seen:
            continue
        seen.add((r["method"], r["seed"]))
        rows += [{"method": r["method"], "seed": r["seed"], "missing": m, **{k: v.get(k) for k in HEAD_STATS}}
                 for m, v in r["heads"].items()]
    return rows


def head_table(results: Iterable[Mapping], methods: Iterable[str] = tuple(HEAD_MODELS)):
    """Per fused model and missing modality, mean ± std over seeds of: the share of test predictions its head on the
    substitute changes (``flipped``, %), turns wrong (``harmed``) or right (``helped``), and the spread of its logits
    on the substitute over their spread on real inputs."""
    import pandas as pd

    df = pd.DataFrame(head_records(results, methods))
    if df.empty:
        return df
    df["model"] = df["method"].map(HEAD_MODELS)
    names = {"flipped": "predictions changed (%)", "harmed": "right → wrong (%)", "helped": "wrong → right (%)",
             "spread_ratio": "substitute / real spread"}
    g = df.groupby(["missing", "model"], sort=False)[HEAD_STATS]
    mean, std = g.mean(), g.std(ddof=1)
    out = mean.round(2).astype(str) + (" ± " + std.round(2).astype(str) if df["seed"].nunique() > 1 else "")
    return out.rename(columns=names)


def head_differences(results: Iterable[Mapping], stat: str = "harmed", before: str = "phase1-fused",
                     after: str = "ume-mma"):
    """The paper's explanation read on real data: per missing modality, ``before − after`` of a head statistic,
    paired by seed, with its 95% interval and what it says (holds: phase 2 lowered it; fails: raised it)."""
    import pandas as pd

    from ..verdicts import Diff

    rows = head_records(results, [before, after])
    out = []
    for m in dict.fromkeys(r["missing"] for r in rows):
        v = {meth: {r["seed"]: r[stat] for r in rows if r["missing"] == m and r["method"] == meth} for meth in (before, after)}
        if not v[before] or not v[after]:
            continue
        d = Diff.of(v[before], v[after])
        out.append({"missing": m, "statistic": stat, f"{HEAD_MODELS.get(before, before)}": Diff.of(v[before]).mean,
                    f"{HEAD_MODELS.get(after, after)}": Diff.of(v[after]).mean, "difference": d.text(),
                    "phase 2 lowered it": d.above(0.0)})
    return pd.DataFrame(out).set_index("missing") if out else pd.DataFrame()


def head_summary(diffs) -> str:
    """:func:`head_differences` in a sentence: per missing modality, the before and after means and the reading."""
    if diffs is None or len(diffs) == 0:
        return "(these runs kept no head statistics: they predate them)"
    before, after = diffs.columns[1], diffs.columns[2]
    say = {"holds": "lower after phase 2", "fails": "higher after phase 2", "inconclusive": "not told apart"}
    return "; ".join(f"{m} missing: {r['statistic']} {r[before]:.1f}% before phase 2, {r[after]:.1f}% after "
                     f"({r['difference']}: {say[r['phase 2 lowered it']]})" for m, r in diffs.iterrows())
