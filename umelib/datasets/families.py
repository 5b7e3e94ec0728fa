"""Synthetic families with a knob for the complementary information Gamma_Z (the "bounds to models" chapter):
a discrete joint table whose Gamma_Z grows with ``lam``, and two Gaussian modalities whose z separation grows."""
from __future__ import annotations

import numpy as np
import torch

from .core import MultiModalData, Split
from .synthetic import GaussianSpec, make_gaussian


# ------------------------------------------------------------------ a discrete family with a Gamma_Z knob

def discrete_joint(lam: float, flip_z: float = 0.1) -> np.ndarray:
    """Joint over (x, z, y): Y = (y1, y2) uniform over 4 classes; X = (y1, b) with b = y2 kept with
    probability 1 - lam, else a fair coin; Z = y2 flipped with probability ``flip_z``. Gamma_Z grows from 0
    (lam = 0: X already knows y2) to log 2 - h(flip_z) (lam = 1)."""
    p = np.zeros((4, 2, 4))
    for y in range(4):
        y1, y2 = divmod(y, 2)
        for b in range(2):
            pb = (1 - lam) * (b == y2) + lam * 0.5
            for z in range(2):
                pz = 1 - flip_z if z == y2 else flip_z
                p[2 * y1 + b, z, y] += 0.25 * pb * pz
    return p


def sample_discrete(p: np.ndarray, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw ``n`` samples of a joint over (x, z, y); inputs one-hot coded (float32)."""
    idx = rng.choice(p.size, n, p=p.ravel())
    x, z, y = np.unravel_index(idx, p.shape)
    eye = lambda k, v: np.eye(k, dtype=np.float32)[v]
    return {"x": eye(p.shape[0], x), "z": eye(p.shape[1], z)}, y


def make_discrete(lam: float, n_train: int = 20_000, n_val: int = 5_000, n_test: int = 20_000, seed: int = 0,
                  flip_z: float = 0.1) -> MultiModalData:
    """A dataset from :func:`discrete_joint`; ``info["joint"]`` holds the exact table."""
    p = discrete_joint(lam, flip_z)
    rng = np.random.default_rng(seed)
    splits = {}
    for s, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        xs, y = sample_discrete(p, n, rng)
        splits[s] = Split({m: torch.from_numpy(a) for m, a in xs.items()}, torch.from_numpy(y),
                          torch.ones(n, 2, dtype=torch.bool))
    return MultiModalData(f"discrete-lam{lam:g}", splits["train"], splits["test"], 4, splits["val"],
                          info={"generator": "discrete", "lam": lam, "joint": p})


# ------------------------------------------------------------------ the sweep of the "bounds to models" chapter

GAUSSIAN_X_SEPARATION = 3.0
KNOBS = {"discrete": [0.25, 0.5, 0.75, 1.0], "gaussian": [1.5, 2.4, 3.2, 4.0]}


def family_data(family: str, knob: float, seed: int = 0) -> MultiModalData:
    """The dataset of one sweep point: ``discrete`` (knob = lam) or ``gaussian`` (knob = z's separation)."""
    if family == "discrete":
        return make_discrete(knob, seed=seed)
    if family == "gaussian":
        spec = GaussianSpec(separation={"x": GAUSSIAN_X_SEPARATION, "z": knob})
        return make_gaussian(spec, seed=seed, name="synthetic")
    raise ValueError(f"unknown family '{family}'; use 'discrete' or 'gaussian'")
