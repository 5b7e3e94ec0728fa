"""Cost of a frozen-encoder phase against one encoder pass over the data: the claim "a frozen phase costs
<= 1.2 x one encoder pass" (features are computed once, then only the heads train).

    python bench/features.py                         # emoji, text = frozen MiniLM, image = LeNet, 10 epochs
    python bench/features.py --epochs 10 --device cuda --out bench/features_cuda.json

On the emoji dataset (all splits), with ``text`` through the frozen all-MiniLM-L6-v2 and ``image`` through a
LeNet (frozen, as phase 2 of ``ume-mma-frozen`` holds it), this times:

(a)  one pass of the frozen MiniLM over every split's text (:func:`umelib.training.features.encode`);
     (a+) also one pass of the LeNet over every split's images: one pass of all the encoders;
(b)  the frozen phase with a cold cache: :func:`umelib.methods.frozen_view` (features of both encoders and of
     their substitutes, written to a fresh cache folder), then the heads trained on the features for
     ``--epochs`` epochs with missing-modality augmentation and validation scoring, as ``run_method`` does;
(c)  the same with a warm cache (features read from disk);
(d)  for contrast, the same heads trained without features: the frozen encoders run on every batch and every
     validation pass; ``--contrast-epochs`` epochs timed, extrapolated per epoch to ``--epochs``.

On a CPU shared with other processes, pass ``--threads 1``: with 2 intra-op threads and both cores busy elsewhere,
every tiny step of the heads waits on a descheduled thread (measured here: 10 epochs of the heads on features took
33 s with 2 threads, 0.14 s with 1), which times the machine's load, not the method.

The heads start from untrained phase-1 heads (phase 1 is not what is timed). Writes a JSON (atomic) with the
timings, the ratios (b)/(a), (c)/(a), (b)/(a+), sample counts, torch version, device and git commit.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.config import get_config  # noqa: E402
from umelib.datasets import load_dataset  # noqa: E402
from umelib.files import save_json  # noqa: E402
from umelib.methods import frozen_view, identity_encoders, setup_method, unimodal_model, val_scorer  # noqa: E402
from umelib.models.encoders import Frozen, make_encoder  # noqa: E402
from umelib.provenance import device_name, git_commit  # noqa: E402
from umelib.training.features import encode  # noqa: E402
from umelib.training.trainer import Trainer, pick_device  # noqa: E402

METHOD = "ume-mma-frozen"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device):
    """``fn()``, its wall seconds and the CPU seconds of this process (less disturbed by other processes on a
    shared machine; on CUDA the wall time is the one that counts)."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="emoji", help="a dataset with an image and a text modality")
    ap.add_argument("--text-encoder", default="minilm")
    ap.add_argument("--image-encoder", default="lenet")
    ap.add_argument("--epochs", type=int, default=10, help="epochs of the heads' phase")
    ap.add_argument("--contrast-epochs", type=int, default=2, help="epochs timed without the feature cache")
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "features_cpu.json"))
    ap.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    a = ap.parse_args()
    if Path(a.out).exists() and not a.overwrite:
        print(f"error: {a.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2

    if a.threads:
        torch.set_num_threads(a.threads)
    device = pick_device(a.device)
    t0 = time.perf_counter()
    data = load_dataset(a.dataset)
    shapes = data.input_shapes()
    text = next(m for m in data.modalities if data.train.x[m].dtype == torch.uint8 and data.train.x[m].dim() == 2)
    image = next(m for m in data.modalities if m != text)
    torch.manual_seed(a.seed)
    text_enc = make_encoder(f"frozen:{a.text_encoder}", shapes[text])
    image_enc = Frozen(make_encoder(a.image_encoder, shapes[image]), f"frozen:{a.image_encoder}")
    t_load = time.perf_counter() - t0
    n = {name: len(s) for name, s in data.splits()}
    print(f"{a.dataset}: {n} samples; {text} = frozen {a.text_encoder}, {image} = {a.image_encoder} (frozen); "
          f"device {device}, {torch.get_num_threads()} threads; loaded in {t_load:.1f} s")

    # warm-up (first calls allocate, tokenizer caches, the import of torchmetrics by the first score), not timed
    encode(text_enc, data.train.x[text][:64], device)
    encode(image_enc, data.train.x[image][:64], device)
    import torchmetrics.functional  # noqa: F401

    # (a) one pass of the text encoder over all splits; (a+) and of the image encoder
    all_text = torch.cat([s.x[text] for _, s in data.splits()])
    all_image = torch.cat([s.x[image] for _, s in data.splits()])
    _, t_text, c_text = timed(lambda: encode(text_enc, all_text, device), device)
    _, t_image, c_image = timed(lambda: encode(image_enc, all_image, device), device)
    t_pass, c_pass = t_text + t_image, c_text + c_image
    print(f"(a)  one {a.text_encoder} pass over {len(all_text)} texts: {t_text:.2f} s;  "
          f"(a+) with the {a.image_encoder} pass over the images: {t_pass:.2f} s")

    # the phase's config: the smoke phase 2 of the dataset, at --epochs, no early stop
    cfg = get_config("smoke", a.dataset)
    cfg = dataclasses.replace(cfg, phase2=dataclasses.replace(cfg.phase2, epochs=a.epochs, patience=None, plateau=None))
    encoders = {text: text_enc, image: image_enc}
    uni = {m: unimodal_model(data, cfg, j, a.seed, encoders) for j, m in enumerate(data.modalities)}

    def frozen_phase(cache: Path) -> dict:
        trainer = Trainer(device, seed=a.seed, progress=False)
        (fdata, funi), t_feat, c_feat = timed(lambda: frozen_view(data, uni, cache_dir=cache, device=device), device)
        torch.manual_seed(a.seed)
        model, phase, aug, loss = setup_method(METHOD, fdata, cfg, funi, identity_encoders(fdata))
        _, t_heads, c_heads = timed(lambda: trainer.fit(model, fdata.train, phase, loss, aug, desc=METHOD,
                                                        val_score=val_scorer(fdata)), device)
        feats = fdata.info["features"]
        return {"total_s": t_feat + t_heads, "features_s": t_feat, "heads_s": t_heads,
                "total_cpu_s": c_feat + c_heads, "features_cpu_s": c_feat, "heads_cpu_s": c_heads,
                "epochs": len(trainer.history), "cache_hits": sum(f["cache_hits"] for f in feats.values()),
                "computed": sum(f["computed"] for f in feats.values()),
                "features_s_by_modality": {m: f["seconds"] for m, f in feats.items()}}

    with tempfile.TemporaryDirectory(prefix="ume-features-") as tmp:
        cold = frozen_phase(Path(tmp))  # (b)
        warm = frozen_phase(Path(tmp))  # (c)
        cache_bytes = sum(p.stat().st_size for p in Path(tmp).glob("features-*.pt"))
    assert cold["computed"] > 0 and cold["cache_hits"] == 0 and warm["cache_hits"] > 0 and warm["computed"] == 0
    print(f"(b)  frozen phase, cold cache: {cold['total_s']:.2f} s (features {cold['features_s']:.2f} s, "
          f"heads {a.epochs} epochs {cold['heads_s']:.2f} s)")
    print(f"(c)  frozen phase, warm cache: {warm['total_s']:.2f} s (features {warm['features_s']:.2f} s, "
          f"heads {warm['heads_s']:.2f} s); cache {cache_bytes / 2**20:.1f} MiB")

    # (d) without features: the frozen encoders run on every batch and every validation pass
    c2 = dataclasses.replace(cfg, phase2=dataclasses.replace(cfg.phase2, epochs=a.contrast_epochs))
    trainer = Trainer(device, seed=a.seed, progress=False)
    torch.manual_seed(a.seed)
    model, phase, aug, loss = setup_method(METHOD, data, c2, uni, encoders)
    _, t_nocache, c_nocache = timed(lambda: trainer.fit(model, data.train, phase, loss, aug, desc=METHOD,
                                             val_score=val_scorer(data)), device)
    per_epoch = t_nocache / a.contrast_epochs
    train_per_epoch = sum(h["seconds"] for h in trainer.history) / a.contrast_epochs
    nocache = {"epochs_timed": a.contrast_epochs, "seconds": t_nocache, "per_epoch_s": per_epoch,
               "train_per_epoch_s": train_per_epoch, "val_per_epoch_s": per_epoch - train_per_epoch,
               "extrapolated_s": per_epoch * a.epochs, "cpu_seconds": c_nocache,
               "extrapolated_cpu_s": c_nocache / a.contrast_epochs * a.epochs}
    print(f"(d)  no cache: {per_epoch:.2f} s per epoch ({train_per_epoch:.2f} s training, "
          f"{per_epoch - train_per_epoch:.2f} s validation), {a.epochs} epochs ~ {per_epoch * a.epochs:.1f} s")

    ratios = {"cold_over_text_pass": cold["total_s"] / t_text, "warm_over_text_pass": warm["total_s"] / t_text,
              "cold_over_all_encoders_pass": cold["total_s"] / t_pass,
              "warm_over_all_encoders_pass": warm["total_s"] / t_pass,
              "nocache_over_cold": nocache["extrapolated_s"] / cold["total_s"],
              "cpu": {"cold_over_text_pass": cold["total_cpu_s"] / c_text,
                      "warm_over_text_pass": warm["total_cpu_s"] / c_text,
                      "cold_over_all_encoders_pass": cold["total_cpu_s"] / c_pass,
                      "warm_over_all_encoders_pass": warm["total_cpu_s"] / c_pass,
                      "nocache_over_cold": nocache["extrapolated_cpu_s"] / cold["total_cpu_s"]}}
    print()
    print(f"{'':34s} {'wall s':>8s} {'/ (a)':>7s} {'/ (a+)':>7s} {'CPU s':>8s} {'/ (a)':>7s} {'/ (a+)':>7s}")
    rows = [("(a)  text encoder pass", t_text, c_text), ("(a+) all encoders pass", t_pass, c_pass),
            ("(b)  frozen phase, cold cache", cold["total_s"], cold["total_cpu_s"]),
            ("(c)  frozen phase, warm cache", warm["total_s"], warm["total_cpu_s"]),
            (f"(d)  no cache, {a.epochs} epochs (extrap.)", nocache["extrapolated_s"], nocache["extrapolated_cpu_s"])]
    for name, s, c in rows:
        print(f"{name:34s} {s:8.2f} {s / t_text:7.2f} {s / t_pass:7.2f} {c:8.2f} {c / c_text:7.2f} {c / c_pass:7.2f}")
    claim = cold["total_s"] <= 1.2 * t_pass
    print(f"claim (b) <= 1.2 x one pass of the encoders (wall): {'holds' if claim else 'FAILS'} "
          f"({ratios['cold_over_all_encoders_pass']:.2f}x; against the text pass alone "
          f"{ratios['cold_over_text_pass']:.2f}x; in CPU time {ratios['cpu']['cold_over_all_encoders_pass']:.2f}x "
          f"and {ratios['cpu']['cold_over_text_pass']:.2f}x)")

    out = {"dataset": a.dataset, "encoders": {text: f"frozen:{a.text_encoder}", image: f"frozen:{a.image_encoder}"},
           "method": METHOD, "epochs": a.epochs, "batch_size": cfg.phase2.batch_size, "samples": n,
           "samples_per_epoch": len(data.train),
           "text_pass_s": t_text, "image_pass_s": t_image, "all_encoders_pass_s": t_pass,
           "text_pass_cpu_s": c_text, "image_pass_cpu_s": c_image, "all_encoders_pass_cpu_s": c_pass,
           "load_avg_1min": os.getloadavg()[0],
           "cold": cold, "warm": warm, "cache_bytes": cache_bytes, "nocache": nocache, "ratios": ratios,
           "claim_holds": claim, "torch": torch.__version__, "python": platform.python_version(),
           "device": device_name(device), "threads": torch.get_num_threads(), "git": git_commit(),
           "config": cfg.to_dict()}
    save_json(out, a.out, overwrite=a.overwrite)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
