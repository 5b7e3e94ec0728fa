"""Small own image+text data with the defaults: unimodal + naive + UME-MMA in one call, timed.

    python bench/own_image_text.py [--n 1500] [--out results/bench/own_image_text_cpu.json] [--encoder text=bag ...]

The data: ``--n`` samples of the emoji set (32-px images and their short names; ``make data`` builds it), written
as own data with :func:`umelib.from_arrays` (70/10/20 split: about 1,050 training samples), then run as a new user
would, with no encoder named: the kinds pick ``lenet`` for the images and ``frozen:minilm`` (``bag`` without its
package) for the text. The feature and result caches start empty, so the time includes the MiniLM features.
Reports the wall time, the CPU time of the process (on a shared machine the wall time grows with the load; the
load average is recorded), and each method's test accuracy under the protocol. The target: all three methods
within 2 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import umelib  # noqa: E402
from umelib.files import save_json  # noqa: E402
from umelib.provenance import provenance  # noqa: E402
from umelib.texts import decode_texts  # noqa: E402


def build(path: Path, n: int, seed: int = 0) -> umelib.MultiModalData:
    """``n`` emoji (image, name) pairs as an own .npz."""
    d = umelib.load_dataset("emoji")
    splits = [s for _, s in d.splits()]
    img = np.concatenate([s.x["image"].numpy() for s in splits])
    txt = [t for s in splits for t in decode_texts(s.x["text"])]
    y = np.concatenate([s.y.numpy() for s in splits])
    idx = np.random.default_rng(seed).permutation(len(y))[:n]
    names = np.array(d.info["classes"])[y[idx]]
    return umelib.from_arrays({"image": img[idx], "text": [txt[i] for i in idx]}, names, path, overwrite=True)


def result(rows: list[dict]) -> dict:
    import torch

    return {"what": "unimodal + naive + ume-mma, profile full, own .npz of emoji images (32 px) and names",
            "target": "all three within 120 s on 2 cores", "torch_threads": torch.get_num_threads(),
            "cores": os.cpu_count(), "rows": rows, "provenance": provenance({}, "cpu", 0.0)}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "own_image_text_cpu.json"))
    ap.add_argument("--encoder", action="append", default=[], metavar="MODALITY=SPEC",
                    help="name encoders instead of the defaults (a second row for comparison)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ume-bench-"))
    os.environ["UME_FEATURES"], os.environ["UME_CACHE"] = str(tmp / "features"), str(tmp / "cache")
    data = build(tmp / "own.npz", args.n)
    print(repr(data))
    rows = []
    for enc in [{}] + ([dict(e.split("=", 1) for e in args.encoder)] if args.encoder else []):
        load0, t0, c0 = os.getloadavg()[0], time.perf_counter(), cpu_s()
        res = umelib.run(str(tmp / "own.npz"), ["unimodal", "naive", "ume-mma"], "full", progress=False,
                         settings={"encoders": enc} if enc else None)
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
        prov = res[-1]["provenance"]
        row = {"encoders": prov.get("encoders"), "given": enc or "defaults", "wall_s": round(wall, 1),
               "cpu_s": round(cpu, 1), "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
               "n_train": prov["n_train"], "n_val": prov["n_val"], "n_test": prov["n_test"],
               "metrics": {r["method"]: {k: round(v, 2) for k, v in r["metrics"].items()} for r in res},
               "epochs": {r["method"]: {ph: {k: v for k, v in e.items() if k in ("epochs_run", "epoch")}
                                        for ph, e in (r["provenance"].get("selected_epoch") or {}).items()}
                          for r in res}}
        rows.append(row)
        save_json(result(rows), args.out, overwrite=True)  # after each row: a long second row loses nothing
        print(f"{row['given']}: {wall:.1f} s wall, {cpu:.1f} s CPU, load {row['load_avg_1min']}; "
              + "; ".join(f"{m} avg {v['avg']:.1f}" for m, v in row["metrics"].items() if "avg" in v))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
