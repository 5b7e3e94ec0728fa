"""Training throughput: the trainer's resident path against a plain DataLoader loop, same model and data,
in one process. Prints samples/s and the ratio; optionally writes a JSON with provenance.

    python bench/throughput.py                          # synthetic MLP pair, CPU or GPU
    python bench/throughput.py --workload avmnist       # LeNet pair on AV-MNIST shapes (28x28 + 112x112)
    python bench/throughput.py --out results/bench/throughput_cpu.json
    python bench/throughput.py --workload avmnist --stack 21   # + 21 runs stacked with vmap (seeds x drop ps)

The baseline is what most code does: ``TensorDataset`` + ``DataLoader(shuffle=True)`` with the default
collate, tensors moved to the device per batch, fp32, the augmentation applied per batch on the device.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib import LateFusion, MissingModalityAugmentation, PhaseConfig, Split, Trainer  # noqa: E402
from umelib.methods import METHODS, make_loss  # noqa: E402
from umelib.training.multirun import MultiTrainer  # noqa: E402
from umelib.files import save_json
from umelib.provenance import provenance  # noqa: E402
from umelib.training.trainer import make_optimizer  # noqa: E402

WORKLOADS = {"synthetic": {"x": (32,), "z": (32,)}, "avmnist": {"image": (1, 28, 28), "audio": (1, 112, 112)}}


def make_split(shapes: dict, n: int) -> Split:
    g = torch.Generator().manual_seed(0)
    x = {m: torch.randn(n, *s, generator=g) for m, s in shapes.items()}
    return Split(x, torch.randint(0, 10, (n,), generator=g), torch.ones(n, len(shapes), dtype=torch.bool))


def dataloader_loop(model, split: Split, cfg: PhaseConfig, device, workers: int, epochs: int) -> float:
    """Plain loop: DataLoader over a TensorDataset, fp32. Returns samples/s."""
    mods = split.modalities
    ds = torch.utils.data.TensorDataset(*[split.x[m] for m in mods], split.y)
    dl = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, num_workers=workers,
                                     pin_memory=device.type == "cuda", drop_last=True)
    opt = make_optimizer(model, cfg)
    aug = MissingModalityAugmentation()
    loss_fn = make_loss(METHODS["ume-mma"], "multiclass")
    model.to(device).train()
    seen, t0 = 0, None
    for epoch in range(epochs + 1):  # epoch 0 warms up and is not timed
        if epoch == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, seen = time.perf_counter(), 0
        for *xs, y in dl:
            batch = {m: t.to(device, non_blocking=True) for m, t in zip(mods, xs)}
            batch["label"] = y.to(device, non_blocking=True)
            batch = aug(batch, mods)
            loss = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def trainer_resident(model, split: Split, cfg: PhaseConfig, device, epochs: int, graphs: bool = False) -> float:
    t = Trainer(device, progress=False, loader="resident", graphs=graphs)
    loss_fn = make_loss(METHODS["ume-mma"], "multiclass")
    aug = MissingModalityAugmentation()
    t.fit(model, split.subset(slice(0, 4096)), PhaseConfig(1, cfg.batch_size, cfg.lr), loss_fn, aug)  # warm-up, not timed
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    t.fit(model, split, PhaseConfig(epochs, cfg.batch_size, cfg.lr), loss_fn, aug)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return sum(h["samples"] for h in t.history[1:]) / (time.perf_counter() - t0)


def stacked(shapes: dict, split: Split, cfg: PhaseConfig, device, epochs: int, k: int, graphs: bool = False) -> float:
    """K runs (seeds x drop probabilities) trained at once by ``MultiTrainer``; samples/s summed over the runs
    (one timed epoch: K times the samples of the other rows)."""
    loss_fn = make_loss(METHODS["ume-mma"], "multiclass")
    augs = [MissingModalityAugmentation(0.1 * (i % 6)) for i in range(k)]
    models = []
    for i in range(k):
        torch.manual_seed(i)
        models.append(LateFusion.build(shapes, 10))
    t = MultiTrainer(device, graphs=graphs)
    t.fit(models, split.subset(slice(0, 4096)), PhaseConfig(1, cfg.batch_size, cfg.lr), loss_fn, list(range(k)),
          augs)  # warm-up, not timed
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    t.fit(models, split, PhaseConfig(1, cfg.batch_size, cfg.lr), loss_fn, list(range(k)), augs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return k * len(split) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=WORKLOADS, default="synthetic")
    ap.add_argument("--n", type=int, default=None, help="training samples (default: 50k synthetic, 60k avmnist on GPU, 4k on CPU)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64, help="batch size of the DataLoader baseline (the paper's 64)")
    ap.add_argument("--resident-batch", type=int, nargs="*", default=None, help="batch sizes for the resident path")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    ap.add_argument("--stack", type=int, default=None,
                    help="also time this many runs stacked with vmap (default: 21 on CUDA, none on CPU; 0: none)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", default=None, help="write a JSON with provenance (refuses to overwrite)")
    a = ap.parse_args()
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    shapes = WORKLOADS[a.workload]
    n = a.n or (4000 if device.type == "cpu" and a.workload == "avmnist" else 60_000 if a.workload == "avmnist" else 50_000)
    split = make_split(shapes, n)
    rbatches = a.resident_batch or ([a.batch, 512] if device.type == "cuda" else [a.batch, 256])
    cfg = PhaseConfig(a.epochs, a.batch, 1e-2)
    t_start = time.perf_counter()
    torch.manual_seed(0)
    base = dataloader_loop(LateFusion.build(shapes, 10), split, cfg, device, a.workers, a.epochs)
    rows = [("DataLoader loop, fp32", a.batch, base)]
    cuda = device.type == "cuda"
    for b in rbatches:
        for graphs in ([False, True] if cuda else [False]):
            torch.manual_seed(0)
            sps = trainer_resident(LateFusion.build(shapes, 10), split, PhaseConfig(a.epochs, b, 1e-2), device, a.epochs,
                                   graphs)
            rows.append((f"Trainer resident{', bf16' if cuda else ''}{', CUDA graph' if graphs else ''}", b, sps))
    k = a.stack if a.stack is not None else (21 if cuda else 0)
    for graphs in ([False, True] if cuda and k else [False] if k else []):
        torch.manual_seed(0)
        rows.append((f"{k} runs stacked (vmap){', bf16' if cuda else ''}{', CUDA graph' if graphs else ''}", a.batch,
                     stacked(shapes, split, PhaseConfig(a.epochs, a.batch, 1e-2), device, a.epochs, k, graphs)))
    print(f"workload {a.workload}, {n} samples, {a.epochs} timed epochs, device {device}")
    print(f"{'setup':48s}{'batch':>7s}{'samples/s':>12s}{'ratio':>8s}")
    for name, b, sps in rows:
        print(f"{name:48s}{b:7d}{sps:12.0f}{sps / base:8.2f}")
    if a.out:
        res = {"workload": a.workload, "n": n, "epochs": a.epochs,
               "rows": [{"setup": r[0], "batch": r[1], "samples_per_s": r[2], "ratio": r[2] / base} for r in rows],
               "provenance": provenance(vars(a), device, time.perf_counter() - t_start)}
        save_json(res, a.out)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
