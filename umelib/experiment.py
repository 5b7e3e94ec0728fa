"""Run methods on a dataset under a profile and get result dicts with provenance (the CLI and the book use this)."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterable, Mapping

import numpy as np

from . import avmnist, synthetic  # noqa: F401  (register their datasets)
from .config import RunConfig, get_config
from .data import MultiModalData, load_dataset
from .errors import UmeError


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
    from .suite import run_suite

    methods = [methods] if isinstance(methods, str) else list(methods)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    return run_suite(dataset, profile, seeds, methods, drop_ps=[], device=device, progress=progress,
                     encoders=encoders, eta=eta, **overrides)
