"""A suite's jobs and how they run: one by one in this process (:func:`run_sequential`), or spread over the
ranks of a torchrun group (:func:`run_over_ranks`: each rank trains whole runs, round-robin, after the shared
phase 1; results gathered on every rank). A job that fails is recorded (name, seed, error) and the rest
finish (:class:`JobsFailed` at the end); finished jobs sit in the cache, so a rerun resumes.

Below :mod:`umelib.experiments.suite` (which builds the jobs); above methods, evaluate and training."""
from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Mapping

import torch

from ..datasets.core import MultiModalData, Split, headline_metric
from ..errors import UmeError
from ..evaluate import evaluate
from ..methods import check_method, pretrain, run_method, setup_method, unimodal_model
from ..models.fusion import LateFusion
from ..provenance import provenance
from ..training import distributed as dist
from ..training.trainer import Trainer
from . import diagnostics
from .cache import Cache
from .masking import Applied, protocol_metrics
from .results import make_result


@dataclasses.dataclass
class Job:
    seed: int
    name: str  # method, or "ume-mma@p=<p>" for a sweep point
    cfg: Any
    key: str  # the cache key of the training behind it (a sweep point at the default p shares ume-mma's)

    @property
    def method(self) -> str:
        return self.name.split("@")[0]


@dataclasses.dataclass
class SuiteContext:
    profile: str
    device: torch.device
    progress: bool
    cache: Cache
    encoders: Mapping[str, Any] | None
    missing_rate: float
    overrides: dict  # what the caller changed of the profile's config (recorded in provenance)
    missing_rates: list[float] = dataclasses.field(default_factory=list)  # also evaluate every fused model at these
    failures: dict[str, str] = dataclasses.field(default_factory=dict)  # job key -> "name (seed s): error"
    errors: dict[str, BaseException] = dataclasses.field(default_factory=dict)  # the exceptions raised here
    announce: bool = False  # print each failure as it happens (suites of several jobs; one job: its own error)
    protocols: dict[int, Applied] = dataclasses.field(default_factory=dict)  # seed -> the named protocol applied

    def by_rate(self, model, test: Split, task: str, seed: int = 0) -> dict[str, tuple[dict, dict]] | None:
        """Every missing rate's (metrics, predicted classes per setting), the missing samples drawn with the run's
        ``seed``."""
        if not self.missing_rates or model is None:
            return None
        out = {}
        for r in self.missing_rates:
            preds: dict = {}
            out[f"{r:g}"] = (evaluate(model, test, task, r, seed=seed, keep=preds), preds)
        return out

    def fail(self, job: Job, err: BaseException) -> None:
        self.failures[job.key] = f"{job.name} (seed {job.seed}): {type(err).__name__}: {err}"
        self.errors[job.key] = err
        if self.announce:
            print(f"job failed: {self.failures[job.key]}", file=sys.stderr, flush=True)


class JobsFailed(UmeError):
    """Some jobs of a suite failed (the others finished): ``failures`` (key -> name, seed, error), ``results``
    (the finished ones, as run_suite would return them)."""

    def __init__(self, failures: Mapping[str, str], total: int, results: list[dict], cached: bool) -> None:
        self.failures, self.results = dict(failures), results
        where = "they are cached: rerun to resume" if cached else "pass cache_dir to keep them for a rerun"
        super().__init__(f"{len(failures)} of {total} jobs failed ({'; '.join(self.failures.values())}); the "
                         f"other {total - len(failures)} finished ({where})")


def make_job_result(job: Job, data: MultiModalData, ref: dict | None, metrics: dict, ctx: SuiteContext, wall: float,
                    t_pre: float, by_rate: dict | None = None, model=None, predictions: Mapping | None = None,
                    **prov: Any) -> dict:
    """The result dict of a finished job (provenance: ``world_size`` = processes that trained it), cached; ``model``
    (the fused model) is evaluated under the run's named protocol too, when it has one. ``predictions`` (setting ->
    predicted classes) gives the record its per-item ``items``; a fused model
    its ``heads`` (:mod:`umelib.experiments.diagnostics`)."""
    metric = headline_metric(data.task)
    extra_prov = {k: data.info[k] for k in ("train_available", "features", "kinds", "encoders") if k in data.info}
    if dist.active() and not dist.data_parallel():
        extra_prov["job_rank"] = {"rank": dist.rank(), "of": dist.world_size()}
    p = provenance(job.cfg.to_dict(), ctx.device, wall, phase1_shared_s=round(t_pre, 3), n_train=len(data.train),
                   n_test=len(data.test), n_val=len(data.val) if data.val is not None else 0,
                   validation=data.info.get("validation"), data_sha256=data.info.get("sha256"),
                   overrides=ctx.overrides, world_size=dist.train_world_size(), **extra_prov, **prov)
    extra: dict[str, Any] = {"task": data.task, "num_classes": data.num_classes, "missing_rate": ctx.missing_rate,
                             "modalities": data.modalities}
    if ref:
        extra["reference"] = ref
    if job.seed in ctx.protocols:
        extra["protocol"] = ctx.protocols[job.seed].record
        metrics = {**metrics, **protocol_metrics(model, data.test, data.task, ctx.protocols[job.seed])}
    groups = diagnostics.test_groups(data)
    if by_rate:
        extra["by_rate"] = {e: m for e, (m, _) in by_rate.items()}
        if all(p for _, p in by_rate.values()):
            extra["by_rate_items"] = {e: diagnostics.items_record(p, data.test.y, groups) for e, (_, p) in by_rate.items()}
    if predictions:
        extra["items"] = diagnostics.items_record(predictions, data.test.y, groups)
    heads = diagnostics.head_effects(model, data.test, job.seed) if model is not None else None
    if heads:
        extra["heads"] = heads
    if job.cfg.probes and model is not None:
        extra.update(_probes(job, data, model, ctx))
    res = make_result(data.name, job.method, ctx.profile, job.seed, metric, metrics, p, **extra)
    if dist.writes():
        ctx.cache.save_result(job.key, res)
    return res


def _probes(job: Job, data: MultiModalData, model, ctx: SuiteContext) -> dict:
    """``probes`` of the fused model; for naive fusion also ``probes_init``: the same encoders before training
    (built from the run's seed; a pre-trained encoder's own start), the floor the others are read against."""
    out: dict[str, Any] = {}
    probes = diagnostics.encoder_probes(model, data)
    if probes:
        out["probes"] = probes
        if job.method == "naive":
            with torch.random.fork_rng():
                torch.manual_seed(job.seed)
                init = setup_method("naive", data, job.cfg, encoders=ctx.encoders)[0].to(ctx.device)
            out["probes_init"] = diagnostics.encoder_probes(init, data)
    return out


def needs_phase1(jobs: list[Job]) -> bool:
    return any(check_method(j.method).pretrain for j in jobs)


def run_sequential(jobs: list[Job], data: MultiModalData, ref: dict | None, ctx: SuiteContext, results: dict,
                   shared: tuple[dict, dict] | None = None) -> None:
    """The jobs (of one seed) one after another; phase 1 trained once (or ``shared``: models, selection) for all."""
    if not jobs:
        return
    seed, cfg = jobs[0].seed, jobs[0].cfg
    trainer = Trainer(ctx.device, seed=seed, progress=ctx.progress)
    t0 = time.perf_counter()
    try:
        uni, sel1 = shared or (phase1(data, cfg, ctx, seed) if needs_phase1(jobs) else (None, {}))
    except Exception as e:  # every job of this seed that needs phase 1 fails with it; the others go on
        for j in jobs:
            if check_method(j.method).pretrain:
                ctx.fail(j, e)
        jobs, uni, sel1 = [j for j in jobs if not check_method(j.method).pretrain], None, {}
    t_pre = time.perf_counter() - t0
    for j in jobs:
        if j.key in results or j.key in ctx.failures:
            continue
        rec = check_method(j.method)
        t1 = time.perf_counter()
        n0 = len(trainer.selected)
        try:
            res = run_method(j.method, data, j.cfg, trainer, pretrained=uni if rec.pretrain else None,
                             encoders=ctx.encoders, missing_rate=ctx.missing_rate, feature_cache=ctx.cache.root)
            sel = (sel1 if rec.pretrain else {}) | by_phase(trainer.selected[n0:], trainer.history)
            results[j.key] = make_job_result(j, data, ref, res.metrics, ctx, time.perf_counter() - t1, t_pre,
                                             selected_epoch=sel, by_rate=ctx.by_rate(res.model, data.test, data.task, j.seed),
                                             model=res.model, predictions=res.predictions)
        except Exception as e:
            ctx.fail(j, e)


def run_over_ranks(jobs: list[Job], datas: dict[int, MultiModalData], refs: dict, ctx: SuiteContext, results: dict) -> None:
    """The jobs spread over the ranks of the process group, each trained by one rank alone: phase 1 of each seed
    on one rank (seeds round-robin), its weights sent to every rank; then the jobs round-robin. Every rank ends
    with every result (and failure) in ``results`` (``ctx.failures``); every rank caches the jobs it trained."""
    uniq = list({j.key: j for j in jobs}.values())
    r, n = dist.rank(), dist.world_size()
    with dist.train_alone():
        first = {}
        for j in uniq:
            if check_method(j.method).pretrain:
                first.setdefault(j.seed, j)
        mine: dict[int, Any] = {}
        for s in sorted(first)[r::n]:
            t0 = time.perf_counter()
            try:
                models, sel = phase1(datas[s], first[s].cfg, ctx, s)
                mine[s] = ({m: {k: v.cpu() for k, v in mod.state_dict().items()} for m, mod in models.items()}, sel,
                           time.perf_counter() - t0)
            except Exception as e:
                mine[s] = f"{type(e).__name__}: {e}"
        shared: dict[int, Any] = {}
        for part in dist.gather_objects(mine):
            shared.update(part)
        for j in uniq[r::n]:
            got = shared.get(j.seed) if check_method(j.method).pretrain else None
            try:
                if isinstance(got, str):
                    raise UmeError(f"phase 1 failed: {got}")
                uni = _models(got[0], datas[j.seed], j.cfg, ctx) if got is not None else None
            except Exception as e:  # never leave the other ranks waiting: record it and go on
                ctx.fail(j, e)
                continue
            run_sequential([j], datas[j.seed], refs[j.seed], ctx, results, (uni, got[1]) if got is not None else None)
        done = {k: results[k] for k in (j.key for j in uniq[r::n]) if k in results}
        for part in dist.gather_objects((done, {k: v for k, v in ctx.failures.items()})):
            results.update(part[0])
            ctx.failures.update(part[1])


def _models(states: Mapping[str, dict], data: MultiModalData, cfg, ctx: SuiteContext) -> dict[str, LateFusion]:
    """Phase-1 models rebuilt from their weights (as another rank sent them), on this rank's device."""
    out = {}
    for m, st in states.items():
        out[m] = unimodal_model(data, cfg, data.modalities.index(m), 0, ctx.encoders)
        out[m].load_state_dict(st)
        out[m].to(ctx.device).eval()
    return out


def phase1(data: MultiModalData, cfg, ctx: SuiteContext, seed: int) -> tuple[dict[str, LateFusion], dict]:
    """Phase-1 models and what was selected for them, from the cache when an identical phase 1 was trained before."""
    path = ctx.cache.phase1_path(data, cfg, ctx.profile, seed, ctx.encoders)
    if path is not None and path.exists():
        return Cache.load_phase1(path, data, cfg, ctx.encoders, ctx.device)
    trainer = Trainer(ctx.device, seed=seed, progress=ctx.progress)
    models = pretrain(data, cfg, trainer, ctx.encoders)
    sel = by_phase(trainer.selected, trainer.history)
    if dist.writes():
        Cache.save_phase1(path, models, sel)
    return models, sel


def curve(history: list[dict], phase: str, run: int | None = None) -> dict[str, list]:
    """The per-epoch mean training loss and validation score of the last fit of ``phase`` (and ``run``, in a stacked
    fit) in a trainer's ``history``: the learning curve a result keeps."""
    rows = [h for h in history if h.get("phase") == phase and h.get("run") == run]
    rows = rows[max((i for i, h in enumerate(rows) if h.get("epoch") == 1), default=0):]
    return {"loss": [round(float(h["loss"]), 5) for h in rows],
            "val": [round(float(h["val"]), 3) if h.get("val") is not None else None for h in rows]}


def strip_selected(chosen: dict, history: list[dict] | None = None) -> dict:
    """One fit's selection for the provenance (and its learning curve when ``history`` is given)."""
    out = {k: v for k, v in chosen.items() if k not in ("phase", "run", "seed")}
    if history is not None:
        out["curve"] = curve(history, chosen["phase"], chosen.get("run"))
    return out


def by_phase(selected: list[dict], history: list[dict] | None = None) -> dict[str, dict]:
    """Trainer.selected as phase -> {epochs_run, epoch, val, curve, ...} (the provenance's ``selected_epoch``)."""
    return {c["phase"]: strip_selected(c, history) for c in selected}
