"""Missing-modality protocols by name, with fixed, seeded, hash-verified presence masks.

Each public code base draws its own missing samples at run time; here a protocol and its parameters give one set of
boolean presence masks per split (True = present), deterministic for (the data's sha256, protocol, parameters,
seed), stored with their sha256 so that a run can prove which samples missed what.

- ``test-only``: a share ``rate`` of the test samples miss ``modality`` (or, with ``both``, each modality misses on
  half of those samples); training and validation complete (the paper's Fig. 3; RAGPT).
- ``train-test``: the same missing share in training, validation and test (missing-aware prompts, MAP).
- ``train-only``: ``modality`` kept by only a share ``1 - rate`` of the training samples; validation and test
  complete (the paper's Table 3; SMIL's severe case at high rates).
- ``any-subset``: no masks drawn; the model is evaluated on every non-empty subset of the modalities
  (:func:`subset_settings`: ``present:a+b``; for two modalities: complete and each one alone).

``rate`` is always the share of samples WITHOUT the modality (the paper's eta is ``1 - rate``). A sample never
loses every modality. Imports only torch, numpy and :mod:`umelib.errors`, :mod:`umelib.files`."""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .errors import UmeError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Protocol:
    """A named protocol: which splits lose the modality, and the works that use it."""

    name: str
    help: str
    splits: tuple[str, ...]  # the splits whose samples miss; the others stay complete
    used_by: str


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("test-only", "a share of the test samples miss the modality; training complete", ("test",),
             "UME-MMA Fig. 3; RAGPT"),
    Protocol("train-test", "the same share misses in training, validation and test", SPLITS,
             "missing-aware prompts (MAP, CVPR'23)"),
    Protocol("train-only", "the modality is kept by only 1 - rate of the training samples; evaluation complete",
             ("train",), "UME-MMA Table 3; SMIL (severe missing)"),
    Protocol("any-subset", "every non-empty subset of the modalities present at test, nothing drawn", (),
             "requested by users of several repositories"),
)}


def protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UmeError(f"unknown protocol '{name}'; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def _generator(data_sha256: str, name: str, rate: float, modality: str, seed: int, split: str) -> np.random.Generator:
    key = f"{data_sha256}|{name}|{rate!r}|{modality}|{seed}|{split}".encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


def draw(n: int, modalities: list[str], rate: float, modality: str, rng: np.random.Generator) -> np.ndarray:
    """(n, M) presence for one split: exactly ``round(rate * n)`` samples miss ``modality``; with ``both`` the
    missing samples are split evenly (first half the first modality, and so on), so no sample loses everything."""
    if not 0.0 <= rate <= 1.0:
        raise UmeError(f"rate must lie in [0, 1] (the share of samples without the modality), got {rate}")
    present = np.ones((n, len(modalities)), dtype=bool)
    k = int(round(rate * n))
    idx = rng.permutation(n)[:k]
    if modality == "both":
        for j, part in enumerate(np.array_split(idx, len(modalities))):
            present[part, j] = False
    else:
        if modality not in modalities:
            raise UmeError(f"modality '{modality}' is not in the data ({', '.join(modalities)}); or pass both")
        if len(modalities) < 2:
            raise UmeError("a missing-modality protocol needs at least two modalities")
        present[idx, modalities.index(modality)] = False
    return present


def make_masks(sizes: Mapping[str, int], modalities: list[str], data_sha256: str, name: str, rate: float,
               modality: str, seed: int) -> dict[str, np.ndarray]:
    """Presence masks per split for ``name`` (see the module doc); splits the protocol leaves alone are all True."""
    p = protocol(name)
    if name == "any-subset":
        raise UmeError("any-subset draws no masks: evaluate with subset_settings() (run --protocol any-subset)")
    if not 0 <= seed < 2 ** 32:
        raise UmeError(f"seed must lie in 0..2**32 - 1, got {seed}")
    out = {}
    for s, n in sizes.items():
        if s in p.splits:
            out[s] = draw(n, modalities, rate, modality, _generator(data_sha256, name, rate, modality, seed, s))
        else:
            out[s] = np.ones((n, len(modalities)), dtype=bool)
    return out


def masks_sha256(masks: Mapping[str, np.ndarray]) -> str:
    """sha256 over every split's mask (name, shape and bytes), in split order."""
    h = hashlib.sha256()
    for s in sorted(masks):
        a = np.ascontiguousarray(masks[s], dtype=bool)
        h.update(f"{s}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_masks(path: str | Path, masks: Mapping[str, np.ndarray], meta: Mapping[str, object]) -> str:
    """Write ``masks`` and their parameters to an ``.npz`` atomically; returns the masks' sha256."""
    from .files import atomic_write

    digest = masks_sha256(masks)
    arrays = {f"{s}/present": np.asarray(m, dtype=bool) for s, m in masks.items()}
    arrays.update({f"meta/{k}": np.array(str(v)) for k, v in meta.items()})
    arrays["meta/sha256"] = np.array(digest)
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
    return digest


def load_masks(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The masks and parameters of a file :func:`save_masks` wrote; the stored sha256 is checked."""
    p = Path(path)
    if not p.is_file():
        raise UmeError(f"masks file not found: {p}; write one with python -m umelib masks ...")
    try:
        with np.load(p, allow_pickle=False) as z:
            masks = {k.split("/")[0]: z[k].astype(bool) for k in z.files if k.endswith("/present")}
            meta = {k.split("/", 1)[1]: str(z[k]) for k in z.files if k.startswith("meta/")}
    except (OSError, ValueError) as e:
        raise UmeError(f"cannot read {p} as a masks file ({type(e).__name__}); write it again with python -m umelib masks") from None
    if meta.get("sha256") != masks_sha256(masks):
        raise UmeError(f"{p}: its masks do not match the sha256 stored with them; the file was changed or damaged")
    return masks, meta


def subset_settings(modalities: Iterable[str]) -> dict[str, list[str]]:
    """Every non-empty subset of ``modalities`` present: ``present:a+b`` -> the modalities MISSING in it (the full
    set is named ``complete``)."""
    mods = list(modalities)
    out: dict[str, list[str]] = {}
    for k in range(len(mods), 0, -1):
        for keep in itertools.combinations(mods, k):
            name = "complete" if k == len(mods) else "present:" + "+".join(keep)
            out[name] = [m for m in mods if m not in keep]
    return out
