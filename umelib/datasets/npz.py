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


def _check_array(key: str, a: np.ndarray, modality: bool = False) -> None:
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise UmeError(f"array '{key}' has dtype {a.dtype}; store numbers (float or int) in the .npz")
    if modality and a.ndim < 2:
        raise UmeError(f"array '{key}' has shape {a.shape}, one number per sample; give it a feature axis: "
                       f"x.reshape(-1, 1) for shape ({len(a)}, 1)")
    if modality and 0 in a.shape[1:]:
        raise UmeError(f"array '{key}' has shape {a.shape}: its samples hold no values; drop the modality or "
                       "store its features")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise UmeError(f"array '{key}' holds {bad} NaN/inf values; clean or impute them before training")


MAX_SPARE_LABELS = 1024  # labels up to this count are taken as given even when few occur (a sample of the classes)


def build_split(name: str, xs: dict[str, np.ndarray], y: np.ndarray, present: np.ndarray | None,
                num_classes: int | None, task: str) -> tuple[Split, int]:
    """Validate arrays of one split and turn them into a :class:`Split`."""
    n = len(y)
    if n == 0:
        raise UmeError(f"split '{name}' is empty ('{name}/y' has 0 samples); every split needs samples")
    for m, a in xs.items():
        _check_array(f"{name}/{m}", a, modality=True)
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
        distinct = len(np.unique(y))
        if num_classes is None and k > max(MAX_SPARE_LABELS, 16 * distinct):
            raise UmeError(f"'{name}/y' holds the label {k - 1} but only {distinct} distinct labels (the model would "
                           f"get {k} outputs); number the classes 0..C-1, e.g. y = np.unique(y, "
                           "return_inverse=True)[1], or store 'num_classes'")
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


def _num_classes(a: np.ndarray) -> int:
    """The stored ``num_classes``: one whole number >= 1."""
    whole = a.dtype.kind in "iu" or a.dtype.kind == "f" and bool(np.isfinite(a).all()) and bool((a % 1 == 0).all())
    if a.shape != () or not whole:
        raise UmeError(f"'num_classes' must be one whole number (e.g. np.array(3)), got {a.ravel()[:3].tolist()} "
                       f"(dtype {a.dtype}, shape {a.shape}); store it as num_classes=np.array(C) or leave it out")
    if int(a) < 1:
        raise UmeError(f"'num_classes' must be >= 1, got {int(a)}")
    return int(a)


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
            arrays = {}
            for k in z.files:
                try:
                    arrays[k] = z[k]
                except ValueError as e:
                    if "allow_pickle" not in str(e):
                        raise
                    raise UmeError(f"array '{k}' of {path} holds Python objects (pickled), which are never loaded "
                                   "(they could run code); store it as numbers (float or int), e.g. "
                                   "np.asarray(x, dtype=np.float32)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise UmeError(f"cannot read {path} as .npz ({type(e).__name__}); save it with numpy.savez") from None
    if task is None:
        task = str(arrays.pop("task")) if "task" in arrays else "multiclass"
    else:
        arrays.pop("task", None)
    if task not in ("multiclass", "multilabel"):
        raise UmeError(f"task '{task}' unknown; use 'multiclass' or 'multilabel'")
    num_classes = _num_classes(arrays.pop("num_classes")) if "num_classes" in arrays else None
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
    extra = sorted({k for k in arrays if "/" in k and k.split("/", 1)[0] in SPLITS
                    and k.split("/", 1)[1] not in ("y", "present", *mods)})
    if extra:
        raise UmeError(f"{path.name} has an array '{extra[0]}' but no 'train/{extra[0].split('/', 1)[1]}'; every "
                       "modality needs its training array: add it, or drop (or rename) that array")
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
    if task == "multilabel" and len(set(ks)) > 1:
        widths = ", ".join(f"'{s}/y' {w}" for s, w in zip(splits, ks))
        raise UmeError(f"the label matrices of the splits have different widths ({widths}); every split needs one "
                       "column per class, in the same order")
    k = num_classes or max(ks)
    if task == "multiclass" and k < 2:
        k = 2  # one class: warned about below (check_labels); the model still gets a two-way head
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
