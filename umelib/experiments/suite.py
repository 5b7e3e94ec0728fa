"""The one orchestrator: :func:`run` (methods x seeds) and :func:`run_suite` (whole table sets: paper Tables 1,
4 and 5). Per seed, phase 1 is trained once and shared by every method that starts from it, then every method
and every drop probability of the sweep.

On a GPU the runs are stacked (``concurrent``, see :mod:`umelib.training.multirun`): phase 1 of all seeds at once
per modality, then one stacked training per architecture and phase over all seeds and drop probabilities.

Under torchrun (N ranks) a suite of one job trains it data-parallel; more jobs are spread over the ranks, each
rank training whole runs (:func:`umelib.experiments.jobs.run_over_ranks`); every rank returns every result."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from ..config import VAL_FRACTION, RunConfig, get_config, plain
from ..datasets.core import MultiModalData, Split
from ..datasets.registry import DATASETS, data_dir, load_dataset, reference_for, seed_dependent
from ..errors import UmeError
from ..evaluate import evaluate, missing_mask
from ..methods import (Recipe, check_method, frozen_view, identity_encoders, joint_split, make_loss, model_encoders,
                       setup_method, unimodal_metrics, unimodal_model, unimodal_split,
                       val_scorer)
from ..models.encoders import default_encoder_name, make_encoder, stackable
from ..training.features import feature_weights, featurize, weights_digest
from ..provenance import git_commit
from ..training import distributed as dist
from ..training.multirun import MultiTrainer
from ..training.trainer import Trainer, pick_device
from .cache import Cache, key as cache_key
from .masking import ProtocolSpec, apply_protocol
from .jobs import (SuiteContext, Job, JobsFailed, by_phase, make_job_result, needs_phase1, run_over_ranks, run_sequential,
                   strip_selected)



def resolve_config(dataset: str, profile: str | None = None, settings: Mapping[str, Any] | None = None,
                   modalities: Iterable[str] | None = None, **overrides: Any) -> RunConfig:
    """The config a run of the dataset named ``dataset`` (an .npz: its file stem) gets: the profile's settings for it,
    the registry's default encoders (for those of ``modalities``, when given), then ``overrides`` and ``settings``.
    Needs no data on disk."""
    cfg = get_config(profile, dataset, settings, **overrides)
    entry = DATASETS.get(dataset)
    if entry and entry.encoders:
        default = {m: e for m, e in entry.encoders.items() if modalities is None or m in modalities}
        cfg = dataclasses.replace(cfg, encoders={**default, **cfg.encoders})
    return cfg


def check_modality_names(cfg: RunConfig, modalities: list[str], encoders: Mapping[str, Any] | None = None) -> None:
    """Every per-modality setting (encoders, learning rates, drop probabilities) must name modalities the data has."""
    named = {"encoders": set(cfg.encoders) | set(encoders or {}), "train_available": set(cfg.train_available),
             "substitute": set(cfg.substitute)}
    for ph in ("phase1", "phase2"):
        lr = getattr(cfg, ph).lr
        named[f"{ph}.lr"] = set(lr) - {"head"} if isinstance(lr, Mapping) else set()  # "head": the classifiers
    named["drop_p"] = set(cfg.drop_p) if isinstance(cfg.drop_p, Mapping) else set()
    for what, names in named.items():
        unknown = sorted(names - set(modalities))
        if unknown:
            raise UmeError(f"{what} named for modalities {unknown} that the data does not have ({', '.join(modalities)})")


def default_encoders(data: MultiModalData, cfg: RunConfig, encoders: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The encoder of each modality that neither ``cfg`` nor ``encoders`` names, by its kind
    (:func:`umelib.models.encoders.default_encoder_name`)."""
    named = set(cfg.encoders) | set(encoders or {})
    shapes, kinds = data.input_shapes(), data.kinds
    return {m: default_encoder_name(shapes[m], kinds[m]) for m in data.modalities if m not in named}


def with_default_encoders(data: MultiModalData, cfg: RunConfig,
                          encoders: Mapping[str, Any] | None = None) -> tuple[MultiModalData, RunConfig]:
    """``cfg`` naming the encoders by kind that differ from the shape default (a config that named none of them
    stays as it was, so are its cache keys), and ``data`` with every modality's encoder in ``info["encoders"]``
    (recorded in provenance; a module passed in ``encoders`` shows as its class name)."""
    defaults = default_encoders(data, cfg, encoders)
    shapes = data.input_shapes()
    extra = {m: e for m, e in defaults.items() if e != default_encoder_name(shapes[m])}
    if extra:
        cfg = dataclasses.replace(cfg, encoders={**extra, **cfg.encoders})
    given = {m: e if isinstance(e, str) else type(e).__name__ for m, e in (encoders or {}).items() if e is not None}
    chosen = {**defaults, **cfg.encoders, **given}
    info = dict(data.info, encoders={m: chosen[m] for m in data.modalities})
    return dataclasses.replace(data, info=info), cfg


def prepare(dataset: str | MultiModalData, profile: str | None = None, seed: int = 0,
            encoders: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None,
            data_kw: Mapping[str, Any] | None = None, **overrides: Any) -> tuple[MultiModalData, RunConfig]:
    """The dataset (with a validation split, carved from training when it has none: :data:`VAL_FRACTION`,
    stratified, seed 0, the same for every run; vector inputs standardized on the training split for own data,
    see ``RunConfig.standardize``; subsampled as the profile says) and its :class:`RunConfig`: the
    profile's settings for the
    dataset, the registry's default encoders, then ``overrides`` and ``settings`` (dotted keys, as ``--set``
    gives); checks that ``encoders`` (and the config's)
    name modalities the data has."""
    data = dataset if isinstance(dataset, MultiModalData) else load_dataset(dataset, seed=seed, **dict(data_kw or {}))
    cfg = resolve_config(data.name, profile, settings, data.modalities, **overrides)
    check_modality_names(cfg, data.modalities, encoders)
    data.sha256()  # of the data as loaded, before any split or subsample (kept in info, recorded in provenance)
    data, cfg = with_default_encoders(data, cfg, encoders)  # by kind; recorded in provenance
    data = data.with_validation(VAL_FRACTION).with_substitutes(cfg.substitute)
    own = str(data.info.get("source", "")).endswith(".npz") and data.name not in DATASETS
    if cfg.standardize or (cfg.standardize is None and own):
        data = data.standardized()
    data = data.subsample(cfg.n_train, cfg.n_test, seed=seed, n_val=cfg.n_val)
    data = with_train_available(data, cfg.train_available, seed)
    data, cfg = frozen_features(data, cfg, encoders)
    return data.with_noise([m for m, v in cfg.substitute.items() if v == "noise"]), cfg


def with_train_available(data: MultiModalData, fractions: Mapping[str, float], seed: int) -> MultiModalData:
    """A copy whose training split keeps modality m in a seeded ``fractions[m]`` of its samples (presence mask;
    the others get the substitute, as data missing in the training set). A sample never loses every modality:
    where the draws would leave one empty, it keeps the first modality drawn away. Validation and test stay as
    they are. Recorded in ``info["train_available"]``."""
    if not fractions:
        return data
    g = torch.Generator().manual_seed(10_007 + seed)
    present = data.train.present.clone()
    n = len(data.train)
    for m, f in fractions.items():
        j = data.modalities.index(m)
        keep = torch.zeros(n, dtype=torch.bool)
        keep[torch.randperm(n, generator=g)[: int(round(f * n))]] = True
        present[:, j] &= keep
    empty = ~present.any(1)
    if bool(empty.any()):
        first = data.modalities.index(next(iter(fractions)))
        present[empty, first] = True
    train = dataclasses.replace(data.train, present=present)
    info = dict(data.info, train_available={m: {"fraction": f, "kept": int(present[:, data.modalities.index(m)].sum()),
                                                "of": n} for m, f in fractions.items()})
    return dataclasses.replace(data, train=train, info=info)


def feature_dir() -> Path:
    """Where features of frozen pre-trained encoders are cached: ``$UME_FEATURES``, else ``<data dir>/features``."""
    return Path(os.environ.get("UME_FEATURES") or data_dir() / "features")


def frozen_features(data: MultiModalData, cfg: RunConfig, encoders: Mapping[str, Any] | None = None,
                    device: str | None = None) -> tuple[MultiModalData, RunConfig]:
    """For each modality whose encoder is ``frozen:SPEC``: its features, computed once per (weights, data) and
    cached on disk (:func:`feature_dir`), recorded in ``info["features"]``; models read them through ``identity``
    (:func:`umelib.methods.model_encoders`). The config is returned unchanged."""
    names = dict(cfg.encoders) | {m: e for m, e in (encoders or {}).items() if isinstance(e, str)}
    specs = {m: e for m, e in names.items() if e.startswith("frozen:")}
    if not specs:
        return data, cfg
    shapes = data.input_shapes()
    with torch.random.fork_rng():  # a frozen from-scratch encoder gets fixed random weights, not the global state's
        torch.manual_seed(0)
        encs = {m: make_encoder(spec, shapes[m]) for m, spec in specs.items()}
    data = featurize(data, encs, feature_dir(), pick_device(device))
    for m, spec in specs.items():
        data.info["features"][m]["spec"] = spec
    return data, cfg


def run(dataset: str | MultiModalData, methods: str | Iterable[str] = "ume-mma", profile: str | None = None,
        seeds: int | Iterable[int] = 0, device: str | None = None, progress: bool = False,
        encoders: Mapping[str, Any] | None = None, missing_rate: float = 1.0, settings: Mapping[str, Any] | None = None,
        data_kw: Mapping[str, Any] | None = None, protocol: ProtocolSpec | None = None, **overrides: Any) -> list[dict]:
    """Train and evaluate each method for each seed; phase-1 models are trained once per seed and shared
    by every method that starts from them. Returns one result dict (the JSON contract) per run."""
    methods = [methods] if isinstance(methods, str) else list(methods)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    return run_suite(dataset, profile, seeds, methods, drop_ps=[], device=device, progress=progress,
                     encoders=encoders, missing_rate=missing_rate, settings=settings, data_kw=data_kw,
                     protocol=protocol, **overrides)


def run_suite(dataset: str | MultiModalData, profile: str | None = None, seeds: Iterable[int] = (0, 1, 2),
              methods: str | Iterable[str] = ("ume-mma",), drop_ps: Iterable[float] = (), device: str | None = None,
              progress: bool = False, cache_dir: str | Path | None = None,
              encoders: Mapping[str, Any] | None = None, missing_rate: float = 1.0, concurrent: bool | None = None,
              settings: Mapping[str, Any] | None = None, data_kw: Mapping[str, Any] | None = None,
              missing_rates: Iterable[float] | None = None, spread: str | None = None,
              protocol: ProtocolSpec | None = None, **overrides: Any) -> list[dict]:
    """Result dicts for every (seed, method) and every (seed, drop p) of UME-MMA; sweep results carry
    ``"sweep": {"drop_p": p}`` and the method name ``ume-mma@p=<p>``.

    ``cache_dir`` keeps phase-1 weights and results keyed by dataset, profile, seed, config and git commit,
    so chapters that need different methods of the same suite train each piece once (and an interrupted run
    resumes). ``concurrent`` trains the seeds and drop probabilities of a method together (default: on CUDA, and
    on the CPU for MLP encoders over several seeds). A dataset whose registry entry does not depend on the seed
    (and any .npz) is loaded once for all seeds.

    Under torchrun, ``spread`` says how the ranks share the work: ``"jobs"`` (each rank trains whole runs,
    round-robin, after the shared phase 1) or ``"data"`` (every run data-parallel over all ranks); default: data
    with one job to train, else jobs. Stacked runs stay single-process (``concurrent`` is off under torchrun).
    A job that fails is reported and the others finish; then :class:`~umelib.experiments.jobs.JobsFailed`
    (a :class:`UmeError`) is raised carrying the finished results.

    ``protocol`` (:class:`~umelib.experiments.masking.ProtocolSpec`): a named missing-modality protocol, its masks
    drawn per seed (or read from a masks file) and laid on the training and validation splits; fused models are
    also evaluated on the masked test set (setting ``masked``; ``any-subset``: ``present:...``), and every result
    carries ``protocol`` (parameters, masks' sha256)."""
    methods = list(dict.fromkeys([methods] if isinstance(methods, str) else methods))
    if not methods:
        raise UmeError("run_suite needs at least one method; see python -m umelib list")
    drop_ps = list(drop_ps)
    for m in methods:
        check_method(m)
    profile = profile or os.environ.get("UME_PROFILE", "smoke")
    dev = pick_device(device)
    cache = Cache(Path(cache_dir) if cache_dir else None, git_commit())
    seeds = list(seeds)
    if isinstance(dataset, str) and not seed_dependent(dataset):
        dataset = load_dataset(dataset, **dict(data_kw or {}))  # once, not once per seed
    datas, refs, jobs, applied = {}, {}, [], {}
    for seed in seeds:
        data, cfg = prepare(dataset, profile, seed, encoders, settings, data_kw, **overrides)
        if protocol is not None:
            data, applied[seed] = apply_protocol(data, protocol, seed)
        if datas and _same_train(data, datas[seeds[0]]):
            data = dataclasses.replace(data, train=datas[seeds[0]].train)  # one copy in memory
        datas[seed], refs[seed] = data, _reference(data, missing_rate, seed)
        for name, c in [(m, cfg) for m in methods] + [(f"ume-mma@p={p:g}", dataclasses.replace(cfg, drop_p=p))
                                                     for p in drop_ps]:
            rec = check_method(name.split("@")[0])
            ident = (name.split("@")[0], c.drop_p if rec.augment else None)
            jobs.append(Job(seed, name, c, cache_key(data.name, profile, seed, ident, c.to_dict(), len(data.train),
                                                      cache.commit, missing_rate, missing_rates, *_encoders_key(encoders, data),
                                                      *([applied[seed].record] if seed in applied else []))))
    if spread not in (None, "jobs", "data"):
        raise UmeError(f"spread '{spread}' unknown; use 'jobs' (whole runs per rank) or 'data' (data-parallel runs)")
    if concurrent and dist.active():
        raise UmeError("stacked runs (concurrent=True) train in one process; under torchrun leave concurrent unset "
                       "(the suite spreads its jobs over the ranks) or run in one process")
    if dist.active():
        concurrent = False
    if concurrent is None:
        concurrent = _stack_by_default(dev, datas[seeds[0]], jobs[0].cfg if jobs else None, encoders, len(seeds))
    ctx = SuiteContext(profile, dev, progress, cache, encoders, missing_rate, plain({**overrides, **dict(settings or {})}),
                       sorted({float(e) for e in missing_rates}) if missing_rates else [], protocols=applied)
    if any(not 0.0 <= e <= 1.0 for e in [*ctx.missing_rates, missing_rate]):
        raise UmeError(f"every missing rate must lie in [0, 1], got {[*ctx.missing_rates, missing_rate]}")
    ctx.announce = len({j.key for j in jobs}) > 1
    results: dict[str, dict] = {}  # training key -> result of that training
    if dist.is_main():
        for j in jobs:
            cached = cache.load_result(j.key)
            if cached is not None:
                results[j.key] = cached
    results = dist.broadcast_object(results)  # every rank: rank 0's view of the cache (the same jobs to do)
    todo = [j for j in jobs if j.key not in results]
    if dist.active() and (spread or ("data" if len({j.key for j in todo}) <= 1 else "jobs")) == "jobs":
        run_over_ranks(todo, datas, refs, ctx, results)
    elif concurrent:
        _run_stacked(todo, datas, refs, ctx, results)
    else:
        for seed in seeds:
            run_sequential([j for j in todo if j.seed == seed], datas[seed], refs[seed], ctx, results)
    out = _collect(jobs, results)
    if ctx.failures and len({j.key for j in jobs}) == 1 and ctx.errors:
        raise next(iter(ctx.errors.values()))  # a single run: its own error
    if ctx.failures:
        raise JobsFailed(ctx.failures, len({j.key for j in jobs}), out, cache.root is not None)
    return out


def _collect(jobs: list[Job], results: Mapping[str, dict]) -> list[dict]:
    """One result per finished job, in job order (one per missing rate when evaluated at several)."""
    out = []
    for j in jobs:
        if j.key not in results:
            continue  # one result per job, in job order; a sweep point at the default p is the ume-mma run
        r = json.loads(json.dumps(results[j.key]))
        r["method"] = j.name
        r.pop("sweep", None)
        r.pop("same_run_as", None)
        if "@" in j.name:
            r["sweep"] = {"drop_p": j.cfg.drop_p}
            if any(k.key == j.key and "@" not in k.name for k in jobs):
                r["same_run_as"] = j.method
        out.extend(_per_rate(r))
    return out


def _encoders_key(encoders: Mapping[str, Any] | None, data: MultiModalData) -> tuple:
    """What the result cache must also key on: encoders passed as arguments (modules by their weights) and the
    weights behind cached frozen features. Empty (keys unchanged) without them."""
    enc = {m: e if isinstance(e, (str, type(None))) else f"{type(e).__name__}:{weights_digest(e)}"
           for m, e in sorted((encoders or {}).items())}
    feats = feature_weights(data)
    return tuple(x for x in ({"encoders": enc} if enc else None, {"features": feats} if feats else None) if x)


def _per_rate(r: dict) -> list[dict]:
    """A result evaluated at several missing rates (``by_rate``) as one record per rate, with its ``missing_rate``,
    the paper's ``eta`` (Fig. 3: the share of test samples that keep the modality, 1 - missing_rate) and metrics."""
    by = r.pop("by_rate", None)
    items = r.pop("by_rate_items", None) or {}
    if not by:
        return [r]
    out = []
    for e, metrics in by.items():
        x = json.loads(json.dumps(r))
        x["missing_rate"], x["eta"], x["all_metrics"] = float(e), round(1.0 - float(e), 10), metrics
        if e in items:
            x["items"] = items[e]
        elif x.get("method") != "unimodal":
            x.pop("items", None)  # the run's own items are for its own missing rate
        x["metrics"] = {k: v.get(r["metric"]) for k, v in metrics.items()}
        out.append(x)
    return out


def _run_stacked(jobs: list[Job], datas: dict[int, MultiModalData], refs: dict, ctx: SuiteContext, results: dict) -> None:
    """Phase 1 of all seeds stacked per modality; then one stacked training per architecture and phase over the
    pending runs of every method that trains it (seeds, drop probabilities, with or without augmentation)."""
    if not jobs:
        return
    seeds = sorted({j.seed for j in jobs})
    trainer = MultiTrainer(ctx.device, progress=ctx.progress)
    t0 = time.perf_counter()
    uni, sel1 = _phase1_stacked({s: datas[s] for s in seeds}, jobs[0].cfg, ctx, trainer) if needs_phase1(jobs) else ({}, {})
    t_pre = time.perf_counter() - t0
    unions: dict[tuple, tuple] = {}
    tests: dict[int, Split] = {}
    groups: dict[tuple, list[Job]] = {}
    for j in jobs:  # one stacked training per architecture and phase: e.g. naive + only-aug, ume-mma@p + only-pretrain
        rec = check_method(j.method)
        gkey = ("unimodal",) if not rec.joint else (rec.pretrain, rec.freeze, rec.multitask, rec.missing_class,
                                                    rec.finetune)
        if all(j.key != k.key for k in groups.get(gkey, [])):
            groups.setdefault(gkey, []).append(j)
    for group in groups.values():
        t1 = time.perf_counter()
        if not check_method(group[0].method).joint:
            for j in group:
                preds = {}
                metrics = unimodal_metrics(uni[j.seed], datas[j.seed], keep=preds)
                results[j.key] = make_job_result(j, datas[j.seed], refs[j.seed], metrics, ctx, time.perf_counter() - t1,
                                                 t_pre, selected_epoch=sel1[j.seed], predictions=preds)
            continue
        if not check_method(group[0].method).finetune:  # the fused phase-1 models, evaluated as they are
            for j in group:
                d = datas[j.seed]
                model = setup_method(j.method, d, j.cfg, uni[j.seed], ctx.encoders).model.to(ctx.device)
                test = d.test.to(ctx.device)
                preds: dict = {}
                metrics = evaluate(model, test, d.task, ctx.missing_rate, seed=j.seed, keep=preds)
                results[j.key] = make_job_result(j, d, refs[j.seed], metrics, ctx,
                                                 time.perf_counter() - t1, t_pre, selected_epoch=sel1[j.seed],
                                                 by_rate=ctx.by_rate(model, test, d.task, j.seed), model=model,
                                                 predictions=preds)
            continue
        built, gdatas = [], dict(datas)
        frozen = check_method(group[0].method).freeze
        for j in group:
            torch.manual_seed(j.seed)
            if frozen:  # heads on the phase-1 encoders' features, computed once per seed
                if gdatas[j.seed] is datas[j.seed]:
                    gdatas[j.seed], funi = frozen_view(datas[j.seed], uni[j.seed], ctx.cache.root, ctx.device)
                    tests.pop(j.seed, None)
                built.append(setup_method(j.method, gdatas[j.seed], j.cfg, funi, identity_encoders(gdatas[j.seed])))
            else:
                built.append(setup_method(j.method, datas[j.seed], j.cfg, uni.get(j.seed), ctx.encoders))
        trains = [joint_split(gdatas[j.seed], j.cfg) for j in group]
        ukey = tuple(id(t) for t in trains)
        if ukey not in unions:  # the joint training split goes to the device once, for every group using it
            split, idx = _union(trains)
            unions[ukey] = (split.to(ctx.device), idx)
        split, idx = unions[ukey]
        names = "+".join(dict.fromkeys(j.method for j in group))
        models = trainer.fit([b[0] for b in built], split, built[0][1], built[0][3], [j.seed for j in group],
                             [b[2] for b in built], idx, desc=names,
                             val_scores=_val_scores([gdatas[j.seed] for j in group], cfgs=[j.cfg for j in group]))
        wall = time.perf_counter() - t1
        for j, model, chosen in zip(group, models, trainer.selected[-len(group):]):
            rec = check_method(j.method)
            sel = (sel1[j.seed] if rec.pretrain else {}) | {j.method: strip_selected(chosen, trainer.history)}
            d = gdatas[j.seed]
            if j.seed not in tests:
                tests[j.seed] = d.test.to(ctx.device)  # evaluated many times: moved once
            preds = {}
            metrics = evaluate(model, tests[j.seed], d.task, ctx.missing_rate, seed=j.seed, keep=preds)
            by_rate = ctx.by_rate(model, tests[j.seed], d.task, j.seed)
            if frozen:
                tests.pop(j.seed)
            results[j.key] = make_job_result(j, d, refs[j.seed], metrics, ctx,
                                     wall / len(group), t_pre, runs_together=len(group), trained_with=names,
                                     group_wall_s=round(wall, 3), cuda_graph=bool(trainer.history[-1]["cuda_graph"]),
                                     selected_epoch=sel, by_rate=by_rate, model=model, predictions=preds)


def _reference(data: MultiModalData, missing_rate: float, seed: int = 0) -> dict | None:
    """The dataset's reference values under the protocol as evaluated (its registry entry's ``reference`` hook,
    e.g. the Bayes optimum of synthetic data; with a ``missing_rate`` < 1: the same samples miss as in the evaluation,
    drawn with the run's ``seed``)."""
    hook = reference_for(data)
    if hook is None:
        return None
    if missing_rate >= 1.0:
        return hook(data)
    mods = data.modalities
    masks = {f"miss:{m}": missing_mask(len(data.test), mods, f"miss:{m}", missing_rate, seed)[:, j].numpy() for j, m in enumerate(mods)}
    return hook(data, missing_rate=missing_rate, masks=masks)


def _stack_by_default(dev: torch.device, data: MultiModalData, cfg, encoders: Mapping[str, Any] | None,
                      n_seeds: int) -> bool:
    """Stack on CUDA; on the CPU only small MLPs over several seeds, whose steps are bound by overhead (measured:
    the synthetic suite, 3 seeds, 67 s stacked against 95 s one by one) — CNN steps there are bound by arithmetic
    and get slower stacked."""
    if cfg is not None and (cfg.phase1.plateau or cfg.phase2.plateau):
        return False  # a rate cut on each run's own plateau needs one rate per run
    names = model_encoders(data, cfg, encoders) if cfg else dict(encoders or {})  # cached features: identity
    if any(not isinstance(e, str) or not stackable(e) for e in names.values()):
        return False  # pre-trained and text encoders (tokenizers, EmbeddingBag) train one run at a time
    if dev.type == "cuda":
        return True
    shapes = data.input_shapes()
    mlp = all((names.get(m) or default_encoder_name(shapes[m])) == "mlp" for m in data.modalities)
    return mlp and n_seeds >= 2


def _same_train(a: MultiModalData, b: MultiModalData) -> bool:
    ta, tb = a.train, b.train
    if ta is tb:
        return True
    pairs = [(ta.y, tb.y), (ta.present, tb.present)] + [(ta.x[m], tb.x.get(m)) for m in ta.x]
    return all(u is not None and v is not None and u.shape == v.shape and (u is v or torch.equal(u, v))
               for u, v in pairs)


def _union(splits: list[Split]) -> tuple[Split, list[torch.Tensor] | None]:
    """One split holding every run's training data, and each run's indices into it (None: all share one)."""
    distinct: list[Split] = []
    for s in splits:
        if all(s is not d for d in distinct):
            distinct.append(s)
    if len(distinct) == 1:
        return distinct[0], None
    offsets, total = {}, 0
    for s in distinct:
        offsets[id(s)] = total
        total += len(s)
    cat = Split({m: torch.cat([s.x[m] for s in distinct]) for m in distinct[0].x},
                torch.cat([s.y for s in distinct]), torch.cat([s.present for s in distinct]), dict(distinct[0].fill))
    return cat, [torch.arange(len(s)) + offsets[id(s)] for s in splits]


def _phase1_stacked(datas: dict[int, MultiModalData], cfg, ctx: SuiteContext,
                    trainer: MultiTrainer) -> tuple[dict[int, dict], dict[int, dict]]:
    """Phase 1 for every seed: cached ones loaded, the rest trained stacked, one modality at a time. Returns the
    models and what was selected for them, per seed."""
    out: dict[int, dict] = {}
    sel: dict[int, dict] = {}
    todo = []
    for s, d in datas.items():
        path = ctx.cache.phase1_path(d, cfg, ctx.profile, s, ctx.encoders)
        if path is not None and path.exists():
            out[s], sel[s] = Cache.load_phase1(path, d, cfg, ctx.encoders, ctx.device)
        else:
            todo.append(s)
    if not todo:
        return out, sel
    first = datas[todo[0]]
    loss = make_loss(Recipe("unimodal"), first.task)
    for s in todo:
        out[s], sel[s] = {}, {}
    split, idx = _union([datas[s].train for s in todo])  # once, for every modality
    every = idx or [torch.arange(len(split))] * len(todo)
    for j, m in enumerate(first.modalities):
        runs = [ix[split.present[ix, j]] for ix in every]  # each run's samples where m is present
        if len({len(r) for r in runs}) > 1:  # different sample counts: cannot stack, train one by one
            for s in todo:
                t = Trainer(ctx.device, seed=s, progress=ctx.progress)
                out[s][m] = t.fit(unimodal_model(datas[s], cfg, j, s, ctx.encoders), unimodal_split(datas[s].train, j),
                                  cfg.phase1, loss, desc=f"phase 1 [{m}]", val_score=val_scorer(datas[s], j))
                sel[s] |= by_phase(t.selected, t.history)
            continue
        uni_split = Split({m: split.x[m]}, split.y, split.present[:, j:j + 1], {k: v for k, v in split.fill.items() if k == m})
        whole = idx is None and len(runs[0]) == len(split)
        models = [unimodal_model(datas[s], cfg, j, s, ctx.encoders) for s in todo]
        trainer.fit(models, uni_split, cfg.phase1, loss, todo, None, None if whole else runs, desc=f"phase 1 [{m}]",
                    val_scores=_val_scores([datas[s] for s in todo], j))
        for s, mod, chosen in zip(todo, models, trainer.selected[-len(todo):]):
            out[s][m] = mod
            sel[s][chosen["phase"]] = strip_selected(chosen, trainer.history)
    for s in todo:
        Cache.save_phase1(ctx.cache.phase1_path(datas[s], cfg, ctx.profile, s, ctx.encoders), out[s], sel[s])
    return out, sel


def _val_scores(datas: list[MultiModalData], j: int | None = None, cfgs: list | None = None) -> list | None:
    scorers = [val_scorer(d, j, c) for d, c in zip(datas, cfgs or [None] * len(datas))]
    return None if any(s is None for s in scorers) else scorers
