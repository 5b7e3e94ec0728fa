"""One call for a whole table set (paper Tables 1, 4 and 5): per seed, phase 1 is trained once and shared by
every method that starts from it, then every method and every drop probability of the sweep."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from .data import MultiModalData
from .experiment import bayes_reference, prepare
from .methods import check_method, pretrain, run_method
from .fusion import LateFusion
from .results import git_commit, load_json, make_result, provenance, save_json
from .train import atomic_save
from .train import Trainer

TABLE1 = ["unimodal", "naive", "multitask", "missing-detection", "ume-mma"]
TABLE4 = ["only-aug", "only-pretrain", "ume-mma-frozen", "frozen-heads", "ume-mma"]
DROP_PS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def run_suite(dataset: str | MultiModalData, profile: str | None = None, seeds: Iterable[int] = (0, 1, 2),
              methods: Iterable[str] | None = None, drop_ps: Iterable[float] = DROP_PS, device: str | None = None,
              progress: bool = False, cache_dir: str | Path | None = None,
              encoders: Mapping[str, Any] | None = None, eta: float = 1.0, **overrides: Any) -> list[dict]:
    """Result dicts for every (seed, method) and every (seed, drop p) of UME-MMA; sweep results carry
    ``"sweep": {"drop_p": p}`` and the method name ``ume-mma@p=<p>``.

    ``cache_dir`` keeps phase-1 weights and results keyed by dataset, profile, seed, config and git commit,
    so chapters that need different methods of the same suite train each piece once."""
    methods = list(dict.fromkeys(methods or TABLE1 + TABLE4))
    drop_ps = list(drop_ps)
    for m in methods:
        check_method(m)
    profile = profile or os.environ.get("UME_PROFILE", "smoke")
    cache = Path(cache_dir) if cache_dir else None
    commit = git_commit()
    out = []
    for seed in seeds:
        data, cfg = prepare(dataset, profile, seed, encoders, **overrides)
        ref = bayes_reference(data)
        trainer = Trainer(device, seed=seed, progress=progress)
        jobs = [(m, cfg) for m in methods] + [(f"ume-mma@p={p:g}", dataclasses.replace(cfg, drop_p=p))
                                               for p in drop_ps]
        t0 = time.perf_counter()
        uni = (_phase1(data, cfg, trainer, cache, (data.name, profile, seed, len(data.train), commit), encoders)
               if any(check_method(n.split("@")[0]).pretrain for n, _ in jobs) else None)
        t_pre = time.perf_counter() - t0
        done: dict[tuple[str, Any], Any] = {}
        for name, c in jobs:
            method = name.split("@")[0]
            rec = check_method(method)
            t1 = time.perf_counter()
            key = (method, c.drop_p if rec.augment else None)
            rkey = _key(data.name, profile, seed, key, c.to_dict(), len(data.train), commit)
            if cache and (cache / f"result-{rkey}.json").exists():  # same training: sweep point p = drop_p is ume-mma
                r = load_json(cache / f"result-{rkey}.json")
                r["method"] = name
                r.pop("sweep", None)
                if "@" in name:
                    r["sweep"] = {"drop_p": c.drop_p}
                out.append(r)
                continue
            reused = key in done  # the sweep point at the default p is the ume-mma run itself
            if not reused:
                done[key] = run_method(method, data, c, trainer, pretrained=uni if rec.pretrain else None,
                                       encoders=encoders, eta=eta)
            res = done[key]
            metric = "accuracy" if data.task == "multiclass" else "f1_micro"
            prov = provenance(c.to_dict(), trainer.device, time.perf_counter() - t1,
                              phase1_shared_s=round(t_pre, 3), n_train=len(data.train), n_test=len(data.test))
            extra: dict[str, Any] = {"eta": eta, "modalities": data.modalities}
            if "@" in name:
                extra["sweep"] = {"drop_p": c.drop_p}
            if reused:
                extra["same_run_as"] = method
            if ref:
                extra["reference"] = ref
            out.append(make_result(data.name, name, profile, seed, metric, res.metrics, prov, **extra))
            if cache:
                save_json(out[-1], cache / f"result-{rkey}.json", overwrite=True)
    return out


def _key(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _phase1(data, cfg, trainer: Trainer, cache: Path | None, ident: tuple,
            encoders: Mapping[str, Any] | None = None) -> dict[str, LateFusion]:
    """Phase-1 models, from the cache when an identical phase 1 was trained before (never with module encoders)."""
    if cache is None or any(not isinstance(e, (str, type(None))) for e in (encoders or {}).values()):
        return pretrain(data, cfg, trainer, encoders)
    path = cache / f"phase1-{_key(*ident, dataclasses.asdict(cfg.phase1), cfg.encoders | dict(encoders or {}))}.pt"
    if path.exists():
        states = torch.load(path, map_location="cpu")
        shapes = data.input_shapes()
        models = {}
        for m, st in states.items():
            models[m] = LateFusion.build({m: shapes[m]}, data.num_classes,
                                         {m: (encoders or {}).get(m, cfg.encoders.get(m))})
            models[m].load_state_dict(st)
            models[m].to(trainer.device).eval()
        return models
    models = pretrain(data, cfg, trainer, encoders)
    atomic_save({m: mod.state_dict() for m, mod in models.items()}, path)
    return models
