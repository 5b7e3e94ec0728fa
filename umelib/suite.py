"""One call for a whole table set (paper Tables 1, 4 and 5): per seed, phase 1 is trained once and shared by
every method that starts from it, then every method and every drop probability of the sweep.

On a GPU the runs are stacked (``concurrent``, see :mod:`umelib.multirun`): phase 1 of all seeds at once per
modality, then one stacked training per method over all its seeds and drop probabilities."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from .data import MultiModalData, Split
from .encoders import default_encoder_name
from .evaluate import evaluate
from .experiment import bayes_reference, prepare
from .fusion import LateFusion
from .methods import (Recipe, check_method, make_loss, pretrain, run_method, setup_method, unimodal_metrics,
                      unimodal_model, unimodal_split)
from .multirun import MultiTrainer
from .results import git_commit, load_json, make_result, provenance, save_json
from .train import Trainer, atomic_save, pick_device

TABLE1 = ["unimodal", "naive", "multitask", "missing-detection", "ume-mma"]
TABLE4 = ["only-aug", "only-pretrain", "ume-mma-frozen", "frozen-heads", "ume-mma"]
DROP_PS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


@dataclasses.dataclass
class _Job:
    seed: int
    name: str  # method, or "ume-mma@p=<p>" for a sweep point
    cfg: Any
    key: str  # the cache key of the training behind it (a sweep point at the default p shares ume-mma's)

    @property
    def method(self) -> str:
        return self.name.split("@")[0]


def run_suite(dataset: str | MultiModalData, profile: str | None = None, seeds: Iterable[int] = (0, 1, 2),
              methods: Iterable[str] | None = None, drop_ps: Iterable[float] = DROP_PS, device: str | None = None,
              progress: bool = False, cache_dir: str | Path | None = None,
              encoders: Mapping[str, Any] | None = None, eta: float = 1.0, concurrent: bool | None = None,
              **overrides: Any) -> list[dict]:
    """Result dicts for every (seed, method) and every (seed, drop p) of UME-MMA; sweep results carry
    ``"sweep": {"drop_p": p}`` and the method name ``ume-mma@p=<p>``.

    ``cache_dir`` keeps phase-1 weights and results keyed by dataset, profile, seed, config and git commit,
    so chapters that need different methods of the same suite train each piece once (and an interrupted run
    resumes). ``concurrent`` trains the seeds and drop probabilities of a method together (default: on CUDA, and
    on the CPU for MLP encoders over several seeds)."""
    methods = list(dict.fromkeys(methods or TABLE1 + TABLE4))
    drop_ps = list(drop_ps)
    for m in methods:
        check_method(m)
    profile = profile or os.environ.get("UME_PROFILE", "smoke")
    dev = pick_device(device)
    cache = Path(cache_dir) if cache_dir else None
    commit = git_commit()
    seeds = list(seeds)
    datas, refs, jobs = {}, {}, []
    for seed in seeds:
        data, cfg = prepare(dataset, profile, seed, encoders, **overrides)
        if datas and _same_train(data, datas[seeds[0]]):
            data = dataclasses.replace(data, train=datas[seeds[0]].train)  # one copy in memory
        datas[seed], refs[seed] = data, bayes_reference(data)
        for name, c in [(m, cfg) for m in methods] + [(f"ume-mma@p={p:g}", dataclasses.replace(cfg, drop_p=p))
                                                     for p in drop_ps]:
            rec = check_method(name.split("@")[0])
            ident = (name.split("@")[0], c.drop_p if rec.augment else None)
            jobs.append(_Job(seed, name, c, _key(data.name, profile, seed, ident, c.to_dict(), len(data.train), commit)))
    if concurrent is None:
        concurrent = _stack_by_default(dev, datas[seeds[0]], jobs[0].cfg if jobs else None, encoders, len(seeds))
    ctx = _Ctx(profile, dev, progress, cache, commit, encoders, eta)
    results: dict[str, dict] = {}  # training key -> result of that training
    if cache:
        for j in jobs:
            if (cache / f"result-{j.key}.json").exists():
                results[j.key] = load_json(cache / f"result-{j.key}.json")
    todo = [j for j in jobs if j.key not in results]
    if concurrent:
        _run_stacked(todo, datas, refs, ctx, results)
    else:
        for seed in seeds:
            _run_sequential([j for j in todo if j.seed == seed], datas[seed], refs[seed], ctx, results)
    out = []
    for j in jobs:  # one result per job, in job order; a sweep point at the default p is the ume-mma run
        r = json.loads(json.dumps(results[j.key]))
        r["method"] = j.name
        r.pop("sweep", None)
        r.pop("same_run_as", None)
        if "@" in j.name:
            r["sweep"] = {"drop_p": j.cfg.drop_p}
            if any(k.key == j.key and "@" not in k.name for k in jobs):
                r["same_run_as"] = j.method
        out.append(r)
    return out


@dataclasses.dataclass
class _Ctx:
    profile: str
    device: torch.device
    progress: bool
    cache: Path | None
    commit: str | None
    encoders: Mapping[str, Any] | None
    eta: float


def _result(job: _Job, data: MultiModalData, ref: dict | None, metrics: dict, ctx: _Ctx, wall: float,
            t_pre: float, **prov: Any) -> dict:
    metric = "accuracy" if data.task == "multiclass" else "f1_micro"
    p = provenance(job.cfg.to_dict(), ctx.device, wall, phase1_shared_s=round(t_pre, 3), n_train=len(data.train),
                   n_test=len(data.test), **prov)
    extra: dict[str, Any] = {"eta": ctx.eta, "modalities": data.modalities}
    if ref:
        extra["reference"] = ref
    res = make_result(data.name, job.method, ctx.profile, job.seed, metric, metrics, p, **extra)
    if ctx.cache:
        save_json(res, ctx.cache / f"result-{job.key}.json", overwrite=True)
    return res


def _needs_phase1(jobs: list[_Job]) -> bool:
    return any(check_method(j.method).pretrain for j in jobs)


def _run_sequential(jobs: list[_Job], data: MultiModalData, ref: dict | None, ctx: _Ctx, results: dict) -> None:
    if not jobs:
        return
    seed, cfg = jobs[0].seed, jobs[0].cfg
    trainer = Trainer(ctx.device, seed=seed, progress=ctx.progress)
    t0 = time.perf_counter()
    uni = _phase1(data, cfg, ctx, seed) if _needs_phase1(jobs) else None
    t_pre = time.perf_counter() - t0
    for j in jobs:
        if j.key in results:
            continue
        rec = check_method(j.method)
        t1 = time.perf_counter()
        res = run_method(j.method, data, j.cfg, trainer, pretrained=uni if rec.pretrain else None,
                         encoders=ctx.encoders, eta=ctx.eta)
        results[j.key] = _result(j, data, ref, res.metrics, ctx, time.perf_counter() - t1, t_pre)


def _run_stacked(jobs: list[_Job], datas: dict[int, MultiModalData], refs: dict, ctx: _Ctx, results: dict) -> None:
    """Phase 1 of all seeds stacked per modality; then one stacked training per architecture and phase over the
    pending runs of every method that trains it (seeds, drop probabilities, with or without augmentation)."""
    if not jobs:
        return
    seeds = sorted({j.seed for j in jobs})
    trainer = MultiTrainer(ctx.device, progress=ctx.progress)
    t0 = time.perf_counter()
    uni = _phase1_stacked({s: datas[s] for s in seeds}, jobs[0].cfg, ctx, trainer) if _needs_phase1(jobs) else {}
    t_pre = time.perf_counter() - t0
    unions: dict[tuple, tuple] = {}
    tests: dict[int, Split] = {}
    groups: dict[tuple, list[_Job]] = {}
    for j in jobs:  # one stacked training per architecture and phase: e.g. naive + only-aug, ume-mma@p + only-pretrain
        rec = check_method(j.method)
        gkey = ("unimodal",) if not rec.joint else (rec.pretrain, rec.freeze, rec.multitask, rec.missing_class)
        if all(j.key != k.key for k in groups.get(gkey, [])):
            groups.setdefault(gkey, []).append(j)
    for group in groups.values():
        t1 = time.perf_counter()
        if not check_method(group[0].method).joint:
            for j in group:
                results[j.key] = _result(j, datas[j.seed], refs[j.seed], unimodal_metrics(uni[j.seed], datas[j.seed]),
                                         ctx, time.perf_counter() - t1, t_pre)
            continue
        built = []
        for j in group:
            torch.manual_seed(j.seed)
            built.append(setup_method(j.method, datas[j.seed], j.cfg, uni.get(j.seed), ctx.encoders))
        trains = [datas[j.seed].train for j in group]
        ukey = tuple(id(t) for t in trains)
        if ukey not in unions:  # the joint training split goes to the device once, for every group using it
            split, idx = _union(trains)
            unions[ukey] = (split.to(ctx.device), idx)
        split, idx = unions[ukey]
        names = "+".join(dict.fromkeys(j.method for j in group))
        models = trainer.fit([b[0] for b in built], split, built[0][1], built[0][3], [j.seed for j in group],
                             [b[2] for b in built], idx, desc=names)
        wall = time.perf_counter() - t1
        for j, model in zip(group, models):
            d = datas[j.seed]
            if j.seed not in tests:
                tests[j.seed] = d.test.to(ctx.device)  # evaluated many times: moved once
            results[j.key] = _result(j, d, refs[j.seed], evaluate(model, tests[j.seed], d.task, ctx.eta), ctx,
                                     wall / len(group), t_pre, runs_together=len(group), trained_with=names,
                                     group_wall_s=round(wall, 3), cuda_graph=bool(trainer.history[-1]["cuda_graph"]))


def _stack_by_default(dev: torch.device, data: MultiModalData, cfg, encoders: Mapping[str, Any] | None,
                      n_seeds: int) -> bool:
    """Stack on CUDA; on the CPU only small MLPs over several seeds, whose steps are bound by overhead (measured:
    the synthetic suite, 3 seeds, 67 s stacked against 95 s one by one) — CNN steps there are bound by arithmetic
    and get slower stacked."""
    if dev.type == "cuda":
        return True
    names = dict(cfg.encoders if cfg else {}) | dict(encoders or {})
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
                torch.cat([s.y for s in distinct]), torch.cat([s.present for s in distinct]))
    return cat, [torch.arange(len(s)) + offsets[id(s)] for s in splits]


def _key(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _phase1_path(data: MultiModalData, cfg, ctx: _Ctx, seed: int) -> Path | None:
    if ctx.cache is None or any(not isinstance(e, (str, type(None))) for e in (ctx.encoders or {}).values()):
        return None  # never cache phase 1 with module encoders
    ident = (data.name, ctx.profile, seed, len(data.train), ctx.commit)
    return ctx.cache / f"phase1-{_key(*ident, dataclasses.asdict(cfg.phase1), cfg.encoders | dict(ctx.encoders or {}))}.pt"


def _load_phase1(path: Path, data: MultiModalData, cfg, ctx: _Ctx) -> dict[str, LateFusion]:
    states = torch.load(path, map_location="cpu")
    models = {}
    for m, st in states.items():
        models[m] = unimodal_model(data, cfg, data.modalities.index(m), 0, ctx.encoders)
        models[m].load_state_dict(st)
        models[m].to(ctx.device).eval()
    return models


def _phase1(data: MultiModalData, cfg, ctx: _Ctx, seed: int) -> dict[str, LateFusion]:
    """Phase-1 models, from the cache when an identical phase 1 was trained before."""
    path = _phase1_path(data, cfg, ctx, seed)
    if path is not None and path.exists():
        return _load_phase1(path, data, cfg, ctx)
    models = pretrain(data, cfg, Trainer(ctx.device, seed=seed, progress=ctx.progress), ctx.encoders)
    if path is not None:
        atomic_save({m: mod.state_dict() for m, mod in models.items()}, path)
    return models


def _phase1_stacked(datas: dict[int, MultiModalData], cfg, ctx: _Ctx, trainer: MultiTrainer) -> dict[int, dict]:
    """Phase 1 for every seed: cached ones loaded, the rest trained stacked, one modality at a time."""
    out: dict[int, dict] = {}
    todo = []
    for s, d in datas.items():
        path = _phase1_path(d, cfg, ctx, s)
        if path is not None and path.exists():
            out[s] = _load_phase1(path, d, cfg, ctx)
        else:
            todo.append(s)
    if not todo:
        return out
    first = datas[todo[0]]
    loss = make_loss(Recipe("unimodal"), first.task)
    for s in todo:
        out[s] = {}
    split, idx = _union([datas[s].train for s in todo])  # once, for every modality
    every = idx or [torch.arange(len(split))] * len(todo)
    for j, m in enumerate(first.modalities):
        runs = [ix[split.present[ix, j]] for ix in every]  # each run's samples where m is present
        if len({len(r) for r in runs}) > 1:  # different sample counts: cannot stack, train one by one
            for s in todo:
                t = Trainer(ctx.device, seed=s, progress=ctx.progress)
                out[s][m] = t.fit(unimodal_model(datas[s], cfg, j, s, ctx.encoders), unimodal_split(datas[s].train, j),
                                  cfg.phase1, loss, desc=f"phase 1 [{m}]")
            continue
        uni_split = Split({m: split.x[m]}, split.y, split.present[:, j:j + 1])
        whole = idx is None and len(runs[0]) == len(split)
        models = [unimodal_model(datas[s], cfg, j, s, ctx.encoders) for s in todo]
        trainer.fit(models, uni_split, cfg.phase1, loss, todo, None, None if whole else runs, desc=f"phase 1 [{m}]")
        for s, mod in zip(todo, models):
            out[s][m] = mod
    for s in todo:
        path = _phase1_path(datas[s], cfg, ctx, s)
        if path is not None:
            atomic_save({m: mod.state_dict() for m, mod in out[s].items()}, path)
    return out
