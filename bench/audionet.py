"""AudioNet throughput (paper App. B.1.1's audio encoder): samples per second, forward and forward+backward.

    python bench/audionet.py                                  # CPU, batches 16 and 48, T = 65,535
    python bench/audionet.py --device cuda --out bench/audionet_cuda.json

For each batch size: *forward* is an evaluation pass (eval mode, ``torch.inference_mode``), *forward+backward* a
training pass without the optimizer step (train mode: BatchNorm on batch statistics; the loss is the sum of
squared features). Waveforms are random float32 in [-1, 1] of ``--samples`` samples (65,535 at 11,025 Hz in the
paper's setup). One warm-up pass, then passes until ``--min-time`` seconds and ``--reps`` passes have run; the
median pass gives samples/s. CPU seconds of this process are recorded too: on a CPU shared with other processes
they are less disturbed than wall time. Writes a JSON (atomic) with the numbers, torch version, threads, device
and git commit.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.files import save_json  # noqa: E402
from umelib.models.audio import AUDIO_LEN, AUDIO_RATE, AudioNet  # noqa: E402
from umelib.provenance import device_name, git_commit  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(step, device: torch.device, reps: int, min_time: float) -> dict:
    """Median wall and CPU seconds of ``step()`` after one warm-up call."""
    step()
    sync(device)
    walls, cpus, t_start = [], [], time.perf_counter()
    while len(walls) < reps or time.perf_counter() - t_start < min_time:
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        sync(device)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"reps": len(walls), "s_per_batch": statistics.median(walls), "s_per_batch_min": min(walls),
            "cpu_s_per_batch": statistics.median(cpus)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 48], help="batch sizes (paper: 48)")
    ap.add_argument("--samples", type=int, default=AUDIO_LEN, help="waveform length T")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--reps", type=int, default=3, help="timed passes at least")
    ap.add_argument("--min-time", type=float, default=5.0, help="seconds of timed passes at least, per setting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "audionet_cpu.json"))
    ap.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    torch.manual_seed(a.seed)
    net = AudioNet().to(device)
    params = sum(p.numel() for p in net.parameters())
    print(f"AudioNet, {params:,} parameters, T = {a.samples:,} -> {AudioNet.out_length(a.samples)} steps before "
          f"the global pool; {device_name(device)}, {torch.get_num_threads()} threads", flush=True)
    results = []
    for n in a.batches:
        x = torch.rand(n, a.samples, device=device) * 2 - 1

        def forward() -> None:
            net.eval()
            with torch.inference_mode():
                net(x)

        def forward_backward() -> None:
            net.train()
            net.zero_grad(set_to_none=True)
            net(x).pow(2).sum().backward()

        for mode, step in (("forward", forward), ("forward+backward", forward_backward)):
            r = measure(step, device, a.reps, a.min_time)
            r |= {"batch": n, "mode": mode, "samples_per_s": n / r["s_per_batch"],
                  "samples_per_cpu_s": n / r["cpu_s_per_batch"]}
            results.append(r)
            print(f"batch {n:3d} {mode:17s} {r['samples_per_s']:8.1f} samples/s  ({r['s_per_batch']:.3f} s per "
                  f"batch, median of {r['reps']})", flush=True)
    out = {"model": "AudioNet", "parameters": params, "samples": a.samples, "sampling_rate_hz": AUDIO_RATE,
           "out_length": AudioNet.out_length(a.samples), "results": results, "torch": torch.__version__,
           "python": platform.python_version(), "device": device_name(device), "threads": torch.get_num_threads(),
           "load_avg_1min": os.getloadavg()[0], "git": git_commit(),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = save_json(out, a.out, overwrite=a.overwrite)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
