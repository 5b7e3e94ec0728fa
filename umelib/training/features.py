"""Features of frozen encoders, computed once and cached on disk.

A frozen encoder (a ``frozen:SPEC`` pre-trained one, or the phase-1 encoders of UME-MMA frozen and the
heads-only ablation) is a fixed function of its input, so training the heads on it needs its features once
per sample, not once per epoch. :func:`featurize` turns a dataset's modality into those features, and its
protocol substitute into the features *of the substitute* (``Split.fill``): ``encoder(zeros)``, which for text
is ``encoder("")``. A model of linear heads on these features computes exactly what the full model computes.

The cache is keyed by the encoder's weights (a sha256 of its state dict), the data (its sha256, the split and
its size) and the substitute; a file is written atomically and a rerun loads it. Random image flips of
pre-trained wrappers do not apply to cached features (the frozen encoder is in eval mode).
"""
from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..datasets.core import MultiModalData, Split
from ..files import atomic_save
from ..training.augment import substitute_like
from .trainer import autocast


def _update(h, name: str, t: torch.Tensor) -> None:
    """Feed a tensor's name, shape, dtype and bytes to the hash ``h``."""
    h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
    if t.numel():
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())


def weights_digest(module: nn.Module) -> str:
    """sha256 over a module's class, parameter and buffer names, shapes and values."""
    h = hashlib.sha256(type(module).__name__.encode())
    for name, t in sorted(module.state_dict().items()):
        _update(h, name, t)
    return h.hexdigest()


def feature_weights(data: MultiModalData) -> dict[str, str]:
    """Modality -> the sha256 of the frozen encoder whose features the modality holds (empty: none)."""
    return {m: f.get("weights_sha256") for m, f in sorted(data.info.get("features", {}).items())}


@torch.no_grad()
def encode(encoder: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu", batch_size: int | None = None,
           ) -> torch.Tensor:
    """``encoder`` over ``x`` in eval mode, in batches (default: about 4 MB of input each; 1,024 samples on
    CUDA), float32 features on the CPU."""
    device = torch.device(device)
    was = encoder.training
    encoder.eval().to(device)
    if batch_size is None:
        per = max(1, x[:1].numel() * x.element_size())
        batch_size = 1024 if device.type == "cuda" else int(min(1024, max(16, (4 << 20) // per)))
    out = []
    for i in range(0, len(x), batch_size):
        with autocast(device):
            out.append(encoder(x[i:i + batch_size].to(device)).float().cpu())
    encoder.train(was)
    return torch.cat(out) if out else torch.empty(0)


def _read_cached(path: Path, n: int) -> dict | None:
    """A cached feature file, or None (with a warning) when it cannot be read or does not fit: it is then
    recomputed and replaced atomically."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        ok = (isinstance(saved, dict) and isinstance(saved.get("x"), torch.Tensor)
              and isinstance(saved.get("fill"), torch.Tensor) and len(saved["x"]) == n)
    except Exception as e:  # noqa: BLE001 - a truncated or damaged file raises many kinds
        ok, why = False, type(e).__name__
    else:
        why = "unexpected content"
    if ok:
        return saved
    warnings.warn(f"feature cache file {path} is damaged ({why}); computing the features again and replacing it",
                  stacklevel=3)
    return None


def featurize(data: MultiModalData, encoders: Mapping[str, nn.Module], cache_dir: str | Path | None = None,
              device: torch.device | str = "cpu") -> MultiModalData:
    """A copy of ``data`` whose modalities in ``encoders`` hold the (frozen) encoders' features, every split,
    and whose ``fill`` holds the features of each one's substitute. With ``cache_dir``, features are read from
    and written to ``<cache_dir>/features-<key>.pt``, the key a digest of the encoder's weights, the inputs and the
    substitute (features depend on nothing else). Timings and cache hits go to ``info["features"]``."""
    digests = {m: weights_digest(enc) for m, enc in encoders.items()}  # once per encoder, not per split
    info = dict(data.info)
    log = {m: dict(e) for m, e in info.get("features", {}).items()}
    splits: dict[str, Split | None] = {}
    for name, split in [("train", data.train), ("val", data.val), ("test", data.test)]:
        if split is None:
            splits[name] = None
            continue
        x, fill = dict(split.x), dict(split.fill)
        for m, enc in encoders.items():
            t0 = time.perf_counter()
            sub_in = substitute_like(split.x[m][:1], split.fill.get(m, 0.0))
            digest = digests[m]
            h = hashlib.sha256(digest.encode())
            _update(h, "x", split.x[m])
            _update(h, "substitute", sub_in)
            key = h.hexdigest()[:24]
            path = Path(cache_dir) / f"features-{key}.pt" if cache_dir else None
            saved = _read_cached(path, len(split)) if path is not None and path.exists() else None
            if saved is not None:
                feats, sub, hit = saved["x"], saved["fill"], True
            else:
                feats = encode(enc, split.x[m], device)
                sub = encode(enc, sub_in, device)[0]
                hit = False
                if path is not None:
                    atomic_save({"x": feats, "fill": sub}, path)
            x[m], fill[m] = feats, sub
            entry = log.get(m)
            if entry is None or entry.get("weights_sha256") != digest:  # a new encoder on this modality
                entry = log[m] = {"weights_sha256": digest, "dim": int(feats.shape[1]), "seconds": 0.0,
                                  "cache_hits": 0, "computed": 0}
            entry["seconds"] = round(entry["seconds"] + time.perf_counter() - t0, 3)
            entry["cache_hits" if hit else "computed"] += 1
        splits[name] = Split(x, split.y, split.present, fill)
    info["features"] = log
    return MultiModalData(data.name, splits["train"], splits["test"], data.num_classes, splits["val"], data.task, info)

