"""AV-MNIST: MNIST digits (``image``, (N, 1, 28, 28) in [0, 1]) paired with spoken digits (``audio``,
(N, 1, 112, 112) log-mel spectrograms). Loading only; building lives in :mod:`umelib.datasets.build`.

- ``avmnist`` / ``avmnist-small`` (registered): the offline build written by ``data_scripts/build_avmnist.py``
  -- real MNIST with 75% of its (centered) energy removed by PCA, and digits spoken by espeak-ng voices
  (disjoint between train and test) in noise;
- :func:`load_multibench_avmnist`: the public AV-MNIST in MultiBench's folder layout;
- :func:`umelib.datasets.builders.avmnist.build_from_fsdd`: a builder from MNIST and Free Spoken Digit Dataset
  recordings, whose output loads with :func:`umelib.load_npz`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UmeError
from .core import MultiModalData
from .npz import build_split, load_npz
from .registry import data_dir, register_dataset

BUILD_SCRIPT = "data_scripts/build_avmnist.py"
NPZ_NAME = "avmnist.npz"
SIZES = {"full": {"train": 55_000, "val": 5_000, "test": 10_000},
         "small": {"train": 2_000, "val": 500, "test": 1_000}}


def default_out(variant: str = "full") -> Path:
    """Where the offline build of ``variant`` lives (under :func:`umelib.datasets.registry.data_dir`)."""
    return data_dir() / ("avmnist" if variant == "full" else f"avmnist-{variant}")


# ---------------------------------------------------------------- public AV-MNIST (MultiBench layout)

MULTIBENCH_HINT = ("get the public AV-MNIST (MultiBench, https://github.com/pliang279/MultiBench: "
                   "avmnist.tar.gz) and pass the folder holding image/, audio/ and the *_labels.npy files")


def load_multibench_avmnist(root: str | Path, n_val: int = 5000) -> MultiModalData:
    """The public AV-MNIST in MultiBench's layout: ``image/{train,test}_data.npy`` (N, 784),
    ``audio/{train,test}_data.npy`` (N, 112, 112), ``{train,test}_labels.npy``. The last ``n_val`` training
    samples form the validation split (55k/5k/10k). Images and spectrograms stored as 0..255 are divided by
    255 (as MultiBench's loader does), so ``image`` lies in [0, 1]."""
    root = Path(root)
    if not root.is_dir():
        raise UmeError(f"AV-MNIST folder {root} not found; {MULTIBENCH_HINT}")
    arr = {}
    for s in ("train", "test"):
        for key, rel in (("image", f"image/{s}_data.npy"), ("audio", f"audio/{s}_data.npy"), ("y", f"{s}_labels.npy")):
            p = root / rel
            if not p.is_file():
                raise UmeError(f"AV-MNIST file {p} is missing; {MULTIBENCH_HINT}")
            try:
                arr[s, key] = np.load(p, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise UmeError(f"cannot read {p} as .npy ({type(e).__name__}); {MULTIBENCH_HINT}") from None
    splits, scale = {}, {}
    for s in ("train", "test"):
        img, aud, y = arr[s, "image"], arr[s, "audio"], arr[s, "y"].reshape(-1)
        if img.ndim < 2 or img[0].size != 784:
            raise UmeError(f"{root}/image/{s}_data.npy has shape {img.shape}; expected (N, 784) or (N, 28, 28)")
        if aud.ndim < 2 or aud[0].size != 112 * 112:
            raise UmeError(f"{root}/audio/{s}_data.npy has shape {aud.shape}; expected (N, 112, 112)")
        img = img.reshape(len(img), 1, 28, 28).astype(np.float32)
        aud = aud.reshape(len(aud), 1, 112, 112).astype(np.float32)
        for m, a in (("image", img), ("audio", aud)):
            if a.size and float(a.max()) > 1.5:
                a /= 255.0
                scale[m] = "divided by 255"
        splits[s] = (img, aud, y.astype(np.int64))
    img, aud, y = splits["train"]
    if not 0 <= n_val < len(y):
        raise UmeError(f"n_val={n_val} must be below the {len(y)} training samples")
    cut = len(y) - n_val
    parts = {"train": (img[:cut], aud[:cut], y[:cut]), "test": splits["test"]}
    if n_val:
        parts["val"] = (img[cut:], aud[cut:], y[cut:])
    built = {s: build_split(s, {"image": p[0], "audio": p[1]}, p[2], None, 10, "multiclass")[0]
             for s, p in parts.items()}
    return MultiModalData("avmnist-multibench", built["train"], built["test"], 10, built.get("val"),
                          info={"source": str(root), "scaling": scale or "as stored",
                                "kinds": {"image": "image", "audio": "spectrogram"}})


# ---------------------------------------------------------------- registered datasets

def _load_build(variant: str, path: str | Path | None) -> MultiModalData:
    p = Path(path) if path is not None else default_out(variant) / NPZ_NAME
    if not p.exists():
        cmd = f"python {BUILD_SCRIPT}" + ("" if variant == "full" else f" --variant {variant}")
        if path is None and os.environ.get("UME_DATA"):
            cmd += f" --out {p.parent}"
        raise UmeError(f"AV-MNIST ({variant}) is not built: {p} is missing; build it with `{cmd}`"
                       + (" (about 10 minutes on 2 cores)" if variant == "full" else ""))
    data = load_npz(p, digest=False, kinds={"image": "image", "audio": "spectrogram"})  # the manifest holds the file's sha256 (checked when it was built)
    data.name = "avmnist" if variant == "full" else f"avmnist-{variant}"
    man = p.parent / "manifest.json"
    if man.exists():
        try:
            m = json.loads(man.read_text())
            data.info.update({k: m[k] for k in ("pca_k", "energy_kept", "unimodal_accuracy", "voices") if k in m})
            if m.get("files", {}).get(NPZ_NAME, {}).get("sha256"):
                data.info["sha256"] = m["files"][NPZ_NAME]["sha256"]
        except ValueError:
            pass
    return data


@register_dataset("avmnist", "MNIST (75% energy removed) + espeak-ng spoken digits in noise; offline build (55k/5k/10k)",
                  build="python data_scripts/build_avmnist.py  (make data-full)", encoders={"image": "lenet", "audio": "lenet"}, paper=True)
def avmnist(seed: int = 0, path: str | Path | None = None) -> MultiModalData:
    """The offline AV-MNIST build (``data/avmnist/avmnist.npz`` or ``$UME_DATA/avmnist/avmnist.npz``)."""
    return _load_build("full", path)


@register_dataset("avmnist-small", "small offline AV-MNIST build for quick runs and CI (2k/500/1k)",
                  build="python data_scripts/build_avmnist.py --variant small  (make data)",
                  encoders={"image": "lenet", "audio": "lenet"}, paper=True)
def avmnist_small(seed: int = 0, path: str | Path | None = None) -> MultiModalData:
    """The small offline AV-MNIST build (``data/avmnist-small/avmnist.npz``)."""
    return _load_build("small", path)
