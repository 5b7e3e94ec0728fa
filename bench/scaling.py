"""The cost of scaling out: one training run in one process against the same run data-parallel over N ranks
(torchrun, DistributedDataParallel; gloo on the CPU, NCCL on GPUs). Prints samples/s (global batch, timed epochs
after a warm-up), the wall time with process start, peak resident memory per rank and, on CUDA, peak memory
allocated per rank; optionally writes a JSON with provenance.

    python bench/scaling.py                                    # synthetic MLP pair and AV-MNIST-shaped LeNet pair
    python bench/scaling.py --ranks 2 --out results/bench/scaling_cpu.json

Each setup starts fresh processes (``python bench/scaling.py --worker`` alone, then under
``python -m torch.distributed.run --standalone --nproc_per_node N``), each thread-limited to one core
(``OMP_NUM_THREADS=1``), so 1 process uses one core and N ranks use N.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKLOADS = {  # shapes, training samples, batch, timed epochs
    "synthetic": ({"x": (32,), "z": (32,)}, 20_000, 128, 3),
    "avmnist": ({"image": (1, 28, 28), "audio": (1, 112, 112)}, 2_000, 64, 1),
}


def worker(workload: str, out: str) -> None:
    """One ume-mma-style fit (augmentation on) of the workload; rank 0 writes what every rank measured."""
    import torch

    from umelib import LateFusion, MissingModalityAugmentation, PhaseConfig, Split, Trainer
    from umelib.methods import METHODS, make_loss
    from umelib.training import distributed

    distributed.init()
    shapes, n, batch, epochs = WORKLOADS[workload]
    g = torch.Generator().manual_seed(0)
    split = Split({m: torch.randn(n, *s, generator=g) for m, s in shapes.items()},
                  torch.randint(0, 10, (n,), generator=g), torch.ones(n, len(shapes), dtype=torch.bool))
    torch.manual_seed(0)
    model = LateFusion.build(shapes, 10)
    t = Trainer(None, progress=False)
    loss_fn, aug = make_loss(METHODS["ume-mma"], "multiclass"), MissingModalityAugmentation()
    t.fit(model, split.subset(slice(0, n // 10)), PhaseConfig(1, batch, 1e-2), loss_fn, aug)  # warm-up, not timed
    distributed.barrier()
    t0 = time.perf_counter()
    t.fit(model, split, PhaseConfig(epochs, batch, 1e-2), loss_fn, aug)
    if t.device.type == "cuda":
        torch.cuda.synchronize()
    distributed.barrier()
    wall = time.perf_counter() - t0
    mine = {"rank": distributed.rank(), **distributed.peak_memory(t.device)}
    ranks = distributed.gather_objects(mine)
    if distributed.is_main():
        timed = t.history[1:]
        Path(out).write_text(json.dumps({
            "world_size": distributed.world_size(), "device": str(t.device), "samples": sum(h["samples"] for h in timed),
            "train_s": wall, "samples_per_s": sum(h["samples"] for h in timed) / wall,
            "final_loss": timed[-1]["loss"], "ranks": ranks}))
    distributed.close()


def launch(workload: str, ranks: int) -> dict:
    """The worker in fresh processes: alone (ranks 1) or under torchrun; what it measured, plus the wall time."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.json"
        cmd = [sys.executable, __file__, "--worker", workload, str(out)]
        if ranks > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks),
                   *cmd[1:]]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        res = json.loads(out.read_text())
    res["wall_with_start_s"] = time.perf_counter() - t0
    return res


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=WORKLOADS, nargs="+", default=list(WORKLOADS))
    ap.add_argument("--ranks", type=int, default=2, help="ranks of the data-parallel setup (default 2)")
    ap.add_argument("--out", default=None, help="write a JSON with provenance (refuses to overwrite)")
    a = ap.parse_args()
    from umelib.files import save_json
    from umelib.provenance import provenance

    t_start, load0 = time.perf_counter(), os.getloadavg()
    rows = []
    for w in a.workload:
        for r in (1, a.ranks):
            m = launch(w, r)
            rows.append({"workload": w, "setup": "1 process" if r == 1 else f"{r} ranks (DDP)", **m,
                         "peak_rss_mib_per_rank": [x["peak_rss_mib"] for x in m["ranks"]],
                         "peak_rss_mib_total": round(sum(x["peak_rss_mib"] for x in m["ranks"]), 1)})
    print(f"{'workload':11s}{'setup':18s}{'samples/s':>11s}{'speed-up':>10s}{'wall+start s':>14s}"
          f"{'peak RSS MiB/rank':>19s}{'total':>8s}{'final loss':>12s}")
    base = {}
    for row in rows:
        base.setdefault(row["workload"], row["samples_per_s"])
        cuda = f"  CUDA {[x.get('peak_cuda_mib') for x in row['ranks']]}" if "cuda" in row["device"] else ""
        print(f"{row['workload']:11s}{row['setup']:18s}{row['samples_per_s']:11.0f}"
              f"{row['samples_per_s'] / base[row['workload']]:10.2f}{row['wall_with_start_s']:14.1f}"
              f"{max(row['peak_rss_mib_per_rank']):19.0f}{row['peak_rss_mib_total']:8.0f}{row['final_loss']:12.4f}{cuda}")
    if a.out:
        prov = provenance(vars(a), rows[0]["device"], time.perf_counter() - t_start,
                          load_average_1min=[round(load0[0], 2), round(os.getloadavg()[0], 2)],
                          note="each process limited to one thread (OMP_NUM_THREADS=1)")
        save_json({"rows": rows, "provenance": prov}, a.out)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
