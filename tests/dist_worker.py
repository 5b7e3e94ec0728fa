"""Worker for tests/test_distributed.py, run alone or under torchrun (``python -m torch.distributed.run``).

    dist_worker.py fit OUT.pt            one ume-mma run through Trainer: rank 0 saves weights, losses, metrics
    dist_worker.py suite OUT.json CACHE [FAIL]   a 10-job synthetic suite; FAIL = "method@seed" raises there
"""
from __future__ import annotations

import json
import sys

import torch

from umelib import PhaseConfig
from umelib.experiments.jobs import JobsFailed
from umelib.experiments.suite import prepare, run_suite
from umelib.files import atomic_save, save_json
from umelib.methods import run_method
from umelib.training import Trainer, distributed


def fit(out: str) -> None:
    data, cfg = prepare("synthetic", "smoke", 0, n_train=1000, n_test=1000,
                        phase1=PhaseConfig(2, 77, 5e-2), phase2=PhaseConfig(2, 77, 1e-2))  # 77: uneven shards
    trainer = Trainer("cpu", seed=0, progress=False)
    res = run_method("ume-mma", data, cfg, trainer)
    if distributed.is_main():
        atomic_save({"state": res.model.state_dict(), "losses": [h["loss"] for h in trainer.history],
                     "world": [h["world_size"] for h in trainer.history], "metrics": res.metrics}, out)


def suite(out: str, cache: str, fail: str | None) -> None:
    if fail:  # make one job fail, to see the others finish
        from umelib.experiments import jobs

        method, seed = fail.split("@")
        real = jobs.run_method

        def flaky(name, data, cfg, trainer, **kw):
            if name == method and trainer.seed == int(seed):
                raise RuntimeError("injected failure")
            return real(name, data, cfg, trainer, **kw)
        jobs.run_method = flaky
    try:
        res, failed = run_suite("synthetic", "smoke", seeds=[0, 1], methods=["unimodal", "naive", "ume-mma"],
                                drop_ps=[0.0, 0.5], n_train=600, n_test=600, phase1=PhaseConfig(2, 100, 5e-2),
                                phase2=PhaseConfig(2, 100, 1e-2), cache_dir=cache, concurrent=False), {}
    except JobsFailed as e:
        res, failed = e.results, e.failures
    if distributed.is_main():
        save_json({"results": res, "failed": sorted(failed.values()), "world": distributed.world_size()}, out)


if __name__ == "__main__":
    distributed.init()
    torch.set_num_threads(1)
    try:
        if sys.argv[1] == "fit":
            fit(sys.argv[2])
        else:
            suite(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    finally:
        distributed.close()
