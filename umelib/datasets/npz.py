"""Own data as ``.npz``: validation of every array (one clear error per problem), loading and saving.

Layout: ``train/<modality>``, ``train/y``, ``test/<modality>``, ``test/y``, optional ``val/...``,
``<split>/present`` (bool, samples x modalities), ``num_classes``, ``task``, ``kind/<modality>`` (a string of
:data:`~umelib.datasets.kinds.KINDS`; inferred, with a one-line notice, where missing)."""
from __future__ import annotations

import sys
import warnings
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ..errors import UmeError
from ..files import atomic_write, file_digest
from .core import LABEL, PRESENT, SPLITS, MultiModalData, Split
from .kinds import resolve_kinds


def _check_array(key: str, a: np.ndarray) -> None:
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise UmeError(f"array '{key}' has dtype {a.dtype}; store numbers (float or int) in the .npz")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise UmeError(f"array '{key}' holds {bad} NaN/inf values; clean or impute them before training")


def build_split(name: str, xs: dict[str, np.ndarray], y: np.ndarray, present: np.ndarray | None,
                num_classes: int | None, task: str) -> tuple[Split, int]:
    """Validate arrays of one split and turn them into a :class:`Split`."""
    n = len(y)
    if n == 0:
        raise UmeError(f"split '{name}' is empty ('{name}/y' has 0 samples); every split needs samples")
    for m, a in xs.items():
        _check_array(f"{name}/{m}", a)
        if len(a) != n:
            raise UmeError(f"'{name}/{m}' has {len(a)} samples but '{name}/y' has {n}; every array of a split needs the same first dimension")
    _check_array(f"{name}/y", y)
    if task == "multilabel":
        if y.ndim != 2 or not np.isin(y, (0, 1)).all():
            raise UmeError(f"'{name}/y' must be a 0/1 matrix (N, classes) for a multi-label task")
        k = y.shape[1]
        yt = torch.as_tensor(y, dtype=torch.float32)
    else:
        if y.ndim != 1 or y.dtype.kind == "f" and not np.equal(np.mod(y, 1), 0).all():
            raise UmeError(f"'{name}/y' must be a 1-D array of integer class labels 0..C-1 (got shape {y.shape}, dtype {y.dtype})")
        k = int(y.max()) + 1 if n else 0
        if n and y.min() < 0:
            raise UmeError(f"'{name}/y' holds the label {int(y.min())}; labels must lie in 0..C-1")
        if num_classes is not None and k > num_classes:
            raise UmeError(f"'{name}/y' holds the label {k - 1}, out of range for {num_classes} classes (0..{num_classes - 1}); relabel the data or fix 'num_classes'")
        yt = torch.as_tensor(y.astype(np.int64))
    if present is None:
        pt = torch.ones(n, len(xs), dtype=torch.bool)
    else:
        if present.shape != (n, len(xs)):
            raise UmeError(f"'{name}/present' must have shape ({n}, {len(xs)}) = (samples, modalities), got {present.shape}")
        pt = torch.as_tensor(present.astype(bool))
        if n and not pt.any(1).all():
            raise UmeError(f"'{name}/present' marks {int((~pt.any(1)).sum())} samples with no modality at all; drop them")
    x = {m: torch.as_tensor(a.astype(np.float32) if a.dtype.kind == "f" else a) for m, a in xs.items()}
    return Split(x, yt, pt), k


def check_labels(splits: dict[str, Split], task: str) -> None:
    """Every validation and test label must occur in training (else its accuracy is 0 without a word); a
    single-class training set is allowed but warned about."""
    if task != "multiclass":
        return
    seen = set(splits["train"].y.unique().tolist())
    for s in ("val", "test"):
        if s in splits:
            new = sorted(set(splits[s].y.unique().tolist()) - seen)
            if new:
                raise UmeError(f"'{s}/y' holds label(s) {new[:5]} that never occur in 'train/y'; a model cannot learn "
                               "them: drop those samples or add training samples of those classes")
    if len(seen) == 1:
        warnings.warn(f"the training split has a single class ({seen.pop()}); every model will predict it", stacklevel=3)


_NOTICED: set[tuple[str, int]] = set()  # files whose inferred kinds were already reported (one notice each)


def load_npz(path: str | Path, task: str | None = None, digest: bool = True, kinds: Mapping[str, str] | None = None,
             notice: bool = True) -> MultiModalData:
    """Load a dataset from an .npz with ``train/<m>``, ``train/y``, ``test/<m>``, ``test/y`` (optional ``val/...``,
    ``<split>/present`` bool (N, M), ``num_classes``, ``task``, ``kind/<m>``). Kinds the file does not record come
    from ``kinds``, else are inferred (with a one-line notice on stderr unless ``notice`` is False); they land in
    ``info["kinds"]``. Never unpickles anything."""
    path = Path(path)
    if not path.exists():
        raise UmeError(f"file not found: {path}; pass the path of an existing .npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        if "allow_pickle" in str(e) and zipfile.is_zipfile(path):
            raise UmeError(f"{path.name} holds pickled Python objects (an object array, e.g. a list of str saved by "
                           "numpy); umelib never unpickles files: store numbers, and text through "
                           "umelib.from_arrays (UTF-8 bytes)") from None
        raise UmeError(f"cannot read {path} as .npz ({type(e).__name__}); save it with numpy.savez") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise UmeError(f"cannot read {path} as .npz ({type(e).__name__}); save it with numpy.savez") from None
    if task is None:
        task = str(arrays.pop("task")) if "task" in arrays else "multiclass"
    else:
        arrays.pop("task", None)
    if task not in ("multiclass", "multilabel"):
        raise UmeError(f"task '{task}' unknown; use 'multiclass' or 'multilabel'")
    num_classes = int(arrays.pop("num_classes")) if "num_classes" in arrays else None
    recorded = {k.split("/", 1)[1]: str(arrays.pop(k)) for k in [k for k in arrays if k.startswith("kind/")]}
    for s in ("train", "test"):
        if f"{s}/y" not in arrays:
            raise UmeError(f"{path.name} has no array '{s}/y'; the .npz needs train/<modality>, train/y, test/<modality>, test/y (found: {', '.join(sorted(arrays)) or 'nothing'})")
    mods = [k.split("/", 1)[1] for k in arrays if k.startswith("train/") and k not in ("train/y", "train/present")]
    reserved = [m for m in mods if m in (LABEL, PRESENT)]
    if reserved:
        raise UmeError(f"{path.name} names a modality '{reserved[0]}', a reserved key of batches; rename 'train/{reserved[0]}' (and its other splits)")
    if len(mods) < 2:
        raise UmeError(f"{path.name} has {len(mods)} modality array(s) under train/; UME-MMA needs at least 2 (train/<modality>)")
    splits, ks = {}, []
    for s in SPLITS:
        if f"{s}/y" not in arrays:
            continue
        missing = [m for m in mods if f"{s}/{m}" not in arrays]
        if missing:
            raise UmeError(f"{path.name} has no array '{s}/{missing[0]}'; every split needs every modality ({', '.join(mods)})")
        for m in mods:
            if arrays[f"{s}/{m}"].shape[1:] != arrays[f"train/{m}"].shape[1:]:
                raise UmeError(f"'{s}/{m}' has sample shape {arrays[f'{s}/{m}'].shape[1:]} but 'train/{m}' has {arrays[f'train/{m}'].shape[1:]}; shapes must match across splits")
        splits[s], k = build_split(s, {m: arrays[f"{s}/{m}"] for m in mods}, arrays[f"{s}/y"],
                                   arrays.get(f"{s}/present"), num_classes, task)
        ks.append(k)
    k = num_classes or max(ks)
    check_labels(splits, task)
    train = {m: arrays[f"train/{m}"] for m in mods}
    found = resolve_kinds(train, {**{m: v for m, v in (kinds or {}).items() if m in train}, **recorded}, path.name)
    guessed = [m for m in mods if m not in recorded and m not in (kinds or {})]
    said = (str(path.resolve()), path.stat().st_mtime_ns)
    if guessed and notice and said not in _NOTICED:
        _NOTICED.add(said)
        print(f"note: {path.name} records no kind for {', '.join(guessed)}; inferred "
              f"{', '.join(f'{m}={found[m]}' for m in guessed)} (umelib.from_arrays(..., kinds=...) records them)",
              file=sys.stderr)
    info = {"source": str(path), "kinds": found, **({"sha256": file_digest(path)} if digest else {})}
    return MultiModalData(path.stem, splits["train"], splits["test"], k, splits.get("val"), task, info)


def save_npz(data: MultiModalData, path: str | Path) -> None:
    """Write ``data`` in the .npz format that :func:`load_npz` reads (atomically)."""
    arrays: dict[str, np.ndarray] = {"num_classes": np.array(data.num_classes), "task": np.array(data.task)}
    for s, split in data.splits():
        for m, t in split.x.items():
            arrays[f"{s}/{m}"] = t.numpy()
        arrays[f"{s}/y"] = split.y.numpy()
        if not bool(split.present.all()):
            arrays[f"{s}/present"] = split.present.numpy()
    arrays.update({f"kind/{m}": np.array(k) for m, k in data.kinds.items()})
    atomic_write(Path(path), lambda f: np.savez_compressed(f, **arrays))
