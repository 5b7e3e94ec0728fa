"""Wall time of the whole UME-MMA pipeline for one seed: phase 1 for every modality, then phase 2 (late fusion
fine-tuned with missing-modality augmentation), on a dataset and profile, with the evaluation.

    python bench/pipeline.py                                    # AV-MNIST, full profile (App. B.1.1), seed 0
    python bench/pipeline.py --dataset avmnist-small --profile smoke
    python bench/pipeline.py --graphs                           # each step replayed as a CUDA graph
    python bench/pipeline.py --out results/bench/pipeline_avmnist_<card>.json

Data loading is timed apart from training; the phase times come from the trainer's per-epoch history.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.experiments.suite import prepare  # noqa: E402
from umelib.methods import pretrain, run_method  # noqa: E402
from umelib.files import save_json
from umelib.provenance import provenance  # noqa: E402
from umelib.training.trainer import Trainer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="avmnist")
    ap.add_argument("--profile", default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--graphs", action="store_true", help="replay each training step as a CUDA graph (CUDA only)")
    ap.add_argument("--out", default=None, help="write a JSON with provenance (refuses to overwrite)")
    a = ap.parse_args()
    t0 = time.perf_counter()
    data, cfg = prepare(a.dataset, a.profile, a.seed)
    t_load = time.perf_counter() - t0
    trainer = Trainer(a.device, seed=a.seed, progress=False, graphs=a.graphs)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    uni = pretrain(data, cfg, trainer)
    res = run_method("ume-mma", data, cfg, trainer, pretrained=uni)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t1
    phases: dict[str, float] = {}
    for h in trainer.history:
        phases[h["phase"]] = phases.get(h["phase"], 0.0) + h["seconds"]
    samples = sum(h["samples"] for h in trainer.history)
    graphed = all(h.get("cuda_graph") for h in trainer.history)
    print(f"{a.dataset}, profile {a.profile}, seed {a.seed}, device {trainer.device}, CUDA graphs {graphed}: "
          f"{len(data.train)} training samples")
    print(f"data load {t_load:.1f} s; pipeline (phase 1 + phase 2 + evaluation) {wall:.1f} s, "
          f"{samples / wall:.0f} training samples/s")
    for name, s in phases.items():
        print(f"  {name:22s} {s:7.1f} s")
    print("  UME-MMA:", {k: {mk: round(mv, 2) for mk, mv in v.items()} for k, v in res.metrics.items()})
    if a.out:
        save_json({"dataset": a.dataset, "profile": a.profile, "seed": a.seed, "n_train": len(data.train),
                   "load_s": t_load, "pipeline_s": wall, "phases_s": phases, "training_samples": samples,
                   "metrics": res.metrics, "resident": all(h["resident"] for h in trainer.history),
                   "cuda_graphs": graphed,
                   "provenance": provenance(cfg.to_dict(), trainer.device, wall)}, a.out)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
