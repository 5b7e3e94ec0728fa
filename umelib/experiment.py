"""Run methods on a dataset under a profile and get result dicts with provenance (the CLI and the book use this)."""
from __future__ import annotations

import json
import time
from functools import lru_cache
from typing import Any, Iterable, Mapping

import numpy as np

from . import avmnist, synthetic  # noqa: F401  (register their datasets)
from .config import RunConfig, get_config
from .data import MultiModalData, load_dataset
from .errors import UmeError
from .methods import check_method, pretrain, run_method
from .results import make_result, provenance
from .train import Trainer


@lru_cache(maxsize=16)
def _bayes_cached(spec_json: str, n: int) -> dict[str, float]:
    spec = synthetic.GaussianSpec(**json.loads(spec_json))
    return spec.bayes_accuracy(n=n)


def bayes_reference(data: MultiModalData, n: int = 10**6) -> dict[str, dict[str, float]] | None:
    """For synthetic data: Bayes-optimal accuracy (%) per setting, Monte Carlo over ``n`` draws
    (``bayes``), and the Bayes classifier's accuracy on this test set (``bayes_test``)."""
    spec = data.info.get("gaussian_spec")
    if spec is None:
        return None
    mc = _bayes_cached(json.dumps(spec.to_dict(), sort_keys=True), n)
    xs = {m: t.numpy() for m, t in data.test.x.items()}
    y = data.test.y.numpy()
    test = {"complete": float((spec.posterior(xs).argmax(1) == y).mean())}
    for m in data.modalities:
        obs = [o for o in data.modalities if o != m]
        test[f"miss:{m}"] = float((spec.posterior(xs, obs).argmax(1) == y).mean())
    test["avg"] = float(np.mean(list(test.values())))
    return {"bayes": {k: 100 * v for k, v in mc.items()}, "bayes_test": {k: 100 * v for k, v in test.items()},
            "bayes_draws": n}


def prepare(dataset: str | MultiModalData, profile: str | None = None, seed: int = 0,
            encoders: Mapping[str, Any] | None = None, **overrides: Any) -> tuple[MultiModalData, RunConfig]:
    """The dataset (subsampled as the profile says) and its :class:`RunConfig`; checks that ``encoders``
    (and the config's) name modalities the data has."""
    data = dataset if isinstance(dataset, MultiModalData) else load_dataset(dataset, seed=seed)
    cfg = get_config(profile, data.name, **overrides)
    unknown = (set(cfg.encoders) | set(encoders or {})) - set(data.modalities)
    if unknown:
        raise UmeError(f"encoders named for modalities {sorted(unknown)} that the data does not have ({', '.join(data.modalities)})")
    return data.subsample(cfg.n_train, cfg.n_test, seed=seed), cfg


def run(dataset: str | MultiModalData, methods: str | Iterable[str] = "ume-mma", profile: str | None = None,
        seeds: int | Iterable[int] = 0, device: str | None = None, progress: bool = False,
        encoders: Mapping[str, Any] | None = None, eta: float = 1.0, **overrides: Any) -> list[dict]:
    """Train and evaluate each method for each seed; phase-1 models are trained once per seed and shared
    by every method that starts from them. Returns one result dict (the JSON contract) per run."""
    import os

    methods = [methods] if isinstance(methods, str) else list(methods)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    for m in methods:
        check_method(m)
    profile = profile or os.environ.get("UME_PROFILE", "smoke")
    results = []
    for seed in seeds:
        data, cfg = prepare(dataset, profile, seed, encoders, **overrides)
        ref = bayes_reference(data)
        trainer = Trainer(device, seed=seed, progress=progress)
        t0 = time.perf_counter()
        uni = pretrain(data, cfg, trainer, encoders) if any(check_method(m).pretrain for m in methods) else None
        t_pre = time.perf_counter() - t0
        for method in methods:
            t1 = time.perf_counter()
            out = run_method(method, data, cfg, trainer, pretrained=uni if check_method(method).pretrain else None,
                             encoders=encoders, eta=eta)
            wall = time.perf_counter() - t1 + (t_pre if check_method(method).pretrain else 0.0)
            metric = "accuracy" if data.task == "multiclass" else "f1_micro"
            prov = provenance(cfg.to_dict(), trainer.device, wall, phase1_shared_s=round(t_pre, 3),
                              n_train=len(data.train), n_test=len(data.test))
            extra = {"eta": eta, "modalities": data.modalities}
            if ref:
                extra["reference"] = ref
            results.append(make_result(data.name, method, profile, seed, metric, out.metrics, prov, **extra))
    return results
