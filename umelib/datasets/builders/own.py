"""Own data to ``.npz``: from arrays (:func:`from_arrays`), CSV columns (:func:`from_csv`) or folders of files,
one folder per modality and class (:func:`from_image_folders`). Each splits the samples (stratified by class, or
by a given split per sample), writes the ``.npz`` atomically, checks it with :func:`~umelib.datasets.npz.load_npz`
(a file that fails the check is never left behind) and returns the loaded :class:`MultiModalData`.

Missing inputs are marked in ``<split>/present`` (their array rows hold zeros, the blank text for text), so a
training set with missing modalities comes out as the paper's Table 3 setting expects."""
from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ...errors import UmeError
from ...files import atomic_write
from ...texts import encode_texts
from ..core import SPLITS, MultiModalData
from ..kinds import resolve_kinds
from ..npz import load_npz

Fractions = tuple[float, float, float]
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _labels(y: Any, task: str | None) -> tuple[np.ndarray, str, list[str] | None]:
    """Labels as class indices (1-D) or a 0/1 matrix (multi-label), the task, and class names when given as text."""
    y = np.asarray(y)
    if y.ndim == 2:
        if task not in (None, "multilabel"):
            raise UmeError(f"labels of shape {y.shape} are a multi-label 0/1 matrix; pass task='multilabel' or 1-D labels")
        return y.astype(np.int64), "multilabel", None
    if y.ndim != 1:
        raise UmeError(f"labels must be 1-D (classes) or a 2-D 0/1 matrix (multi-label), got shape {y.shape}")
    if task == "multilabel":
        raise UmeError("task='multilabel' needs a 0/1 label matrix (samples x classes); see from_csv(label_sep=...)")
    if y.dtype.kind in "iu":
        if len(y) and y.min() < 0:
            raise UmeError(f"labels hold {int(y.min())}; integer labels must lie in 0..C-1 (or pass class names)")
        return y.astype(np.int64), "multiclass", None
    names = sorted({str(v) for v in y})
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[str(v)] for v in y], dtype=np.int64), "multiclass", names


def _is_str_list(x: Any) -> bool:
    """Whether ``x`` is a sequence of str (a text modality), not a tensor or numeric array."""
    if hasattr(x, "detach"):
        return False
    a = np.asarray(x)
    return a.dtype.kind in "UO" and a.ndim == 1 and all(isinstance(t, str) for t in a)


def _modality(name: str, x: Any, n: int, max_text_bytes: int) -> np.ndarray:
    a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)  # tensors, arrays, lists, pandas
    if a.dtype.kind in "UO" and a.ndim == 1 and all(isinstance(t, str) for t in a):
        if len(a) != n:
            raise UmeError(f"modality '{name}' has {len(a)} texts but there are {n} labels; give one text per sample")
        return encode_texts(list(a), max_text_bytes).numpy()
    if a.dtype.kind not in "biuf":
        raise UmeError(f"modality '{name}' has dtype {a.dtype}; pass numbers, or a list of str for text")
    if a.ndim == 1:
        a = a[:, None]
    if len(a) != n:
        raise UmeError(f"modality '{name}' has {len(a)} samples but there are {n} labels; every input needs one row per sample")
    return a.astype(np.float32) if a.dtype.kind == "f" and a.dtype != np.float32 else a


def split_assignment(y: np.ndarray, split: Fractions | Sequence[str], seed: int = 0) -> np.ndarray:
    """Each sample's split name: ``split`` given per sample ('train', 'val', 'test'), or drawn from fractions
    (train, val, test) with ``seed``, stratified by class for 1-D labels (each class keeps >= 1 training sample)."""
    n = len(y)
    if not (len(split) == 3 and all(isinstance(f, (int, float, np.number)) for f in split)):
        if len(split) != n:
            raise UmeError(f"split gives {len(split)} split names for {n} samples; give one per sample or 3 fractions")
        out = np.asarray([str(s) for s in split])
        bad = sorted(set(out) - set(SPLITS))
        if bad:
            raise UmeError(f"split names {bad[:3]} unknown; use 'train', 'val' or 'test' per sample")
        return out
    fr = [float(f) for f in split]
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1) > 1e-6 or fr[0] == 0 or fr[2] == 0:
        raise UmeError(f"split fractions (train, val, test) must be 3 numbers >= 0 summing to 1, with train and test > 0; "
                       f"got {tuple(split)}")
    rng = np.random.default_rng(seed)
    out = np.full(n, "train", dtype="<U5")
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if y.ndim == 1 else [np.arange(n)]
    for idx in groups:
        idx = rng.permutation(idx)
        k_test = min(int(round(fr[2] * len(idx))), len(idx) - 1)
        k_val = min(int(round(fr[1] * len(idx))), len(idx) - 1 - k_test)
        out[idx[:k_test]] = "test"
        out[idx[k_test:k_test + k_val]] = "val"
    return out


def from_arrays(xs: Mapping[str, Any], y: Any, out: str | Path, *, present: Any = None, task: str | None = None,
                num_classes: int | None = None, split: Fractions | Sequence[str] = (0.7, 0.1, 0.2), seed: int = 0,
                class_names: Sequence[str] | None = None, max_text_bytes: int = 512,
                overwrite: bool = False, kinds: Mapping[str, str] | None = None) -> MultiModalData:
    """Write ``xs`` (modality -> array of N rows, or a list of N strings for text) and labels ``y`` (class indices,
    class names, or a 0/1 matrix for a multi-label task) as an ``.npz`` at ``out``, split by ``split`` (fractions
    train/val/test, stratified, ``seed``; or a name per sample). ``present`` (N, M) bool marks missing inputs.
    ``kinds`` (modality -> text, image, audio, spectrogram, video, vector) is recorded in the file (``kind/<m>``);
    a modality not named there gets its kind inferred (a list of str: text), which picks its default encoder."""
    out = Path(out)
    if out.suffix != ".npz":
        raise UmeError(f"{out} must end in .npz (load_npz and the CLI tell files from dataset names by it)")
    if out.exists() and not overwrite:
        raise UmeError(f"{out} exists; pass overwrite=True to replace it, or choose another path")
    yy, task, names = _labels(y, task)
    n = len(yy)
    if n == 0:
        raise UmeError("no samples: the labels are empty")
    unknown = sorted(set(kinds or {}) - set(xs))
    if unknown:
        raise UmeError(f"kinds given for modality '{unknown[0]}' that is not among the inputs ({', '.join(xs)})")
    arrays = {m: _modality(m, x, n, max_text_bytes) for m, x in xs.items()}
    texts = {m: "text" for m, x in xs.items() if _is_str_list(x)}
    kind = resolve_kinds(arrays, {**texts, **dict(kinds or {})}, out.name)
    pres = None if present is None else np.asarray(present, dtype=bool)
    if pres is not None and pres.shape != (n, len(arrays)):
        raise UmeError(f"present must have shape ({n}, {len(arrays)}) = (samples, modalities {list(arrays)}), got {pres.shape}")
    where = split_assignment(yy, split, seed)
    z: dict[str, np.ndarray] = {"task": np.array(task)}
    k = num_classes or (yy.shape[1] if task == "multilabel" else int(yy.max()) + 1)
    z["num_classes"] = np.array(k)
    names = list(class_names) if class_names is not None else names
    if names:
        z["class_names"] = np.array(names)
    z.update({f"kind/{m}": np.array(k) for m, k in kind.items()})
    for s in SPLITS:
        sel = where == s
        if not sel.any():
            continue
        for m, a in arrays.items():
            z[f"{s}/{m}"] = a[sel]
        z[f"{s}/y"] = yy[sel]
        if pres is not None and not pres[sel].all():
            z[f"{s}/present"] = pres[sel]
    return _write_checked(z, out, names)


def _write_checked(arrays: dict[str, np.ndarray], out: Path, names: list[str] | None) -> MultiModalData:
    """Write beside ``out``, check with load_npz, then rename over ``out`` (a file failing the check is removed)."""
    tmp = out.with_name(f".{out.stem}.check.npz")
    atomic_write(tmp, lambda f: np.savez_compressed(f, **arrays))
    try:
        load_npz(tmp, digest=False)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    data = load_npz(out)
    if names:
        data.info["class_names"] = names
    return data


def from_csv(path: str | Path, modalities: Mapping[str, str | Sequence[str]], label: str, out: str | Path, *,
             label_sep: str | None = None, split: Fractions | str = (0.7, 0.1, 0.2), seed: int = 0,
             **kw: Any) -> MultiModalData:
    """An ``.npz`` from a CSV: ``modalities`` maps a modality to its columns (a list: numbers, one float vector
    per row) or to one column (numbers, or text). An empty cell marks the input missing (all of a vector's
    columns empty; a partly empty vector is refused). ``label``: the class column, or with ``label_sep`` (e.g.
    ``"|"``) a multi-label column (``"comedy|drama"``). ``split``: fractions, or a column of train/val/test."""
    path = Path(path)
    if not path.is_file():
        raise UmeError(f"CSV file not found: {path}; pass the path of an existing .csv")
    columns, rows = _read_csv(path)
    wanted = [label] + [c for cols in modalities.values() for c in ([cols] if isinstance(cols, str) else cols)]
    if isinstance(split, str):
        wanted.append(split)
    missing = [c for c in wanted if c not in columns]
    if missing:
        what = "label column" if missing[0] == label else "split column" if missing[0] == split else "column"
        raise UmeError(f"{what} '{missing[0]}' is not in {path.name} (columns: {', '.join(columns)})")
    col = lambda c: [r.get(c) or "" for r in rows]
    xs, present = {}, []
    for m, cols in modalities.items():
        names = [cols] if isinstance(cols, str) else list(cols)
        block = {c: col(c) for c in names}
        empty = np.array([[v.strip() == "" for v in block[c]] for c in names], dtype=bool).T.reshape(len(rows), len(names))
        numeric = {c: all(_is_number(v) for v, e in zip(block[c], empty[:, k]) if not e) for k, c in enumerate(names)}
        if isinstance(cols, str) and not numeric[cols]:
            xs[m] = [("" if e else v) for v, e in zip(block[cols], empty[:, 0])]
        else:
            bad = [c for c in names if not numeric[c]]
            if bad:
                raise UmeError(f"column '{bad[0]}' of modality '{m}' holds non-numbers; clean it or give it as a text modality")
            partial = empty.any(axis=1) & ~empty.all(axis=1)
            if partial.any():
                raise UmeError(f"modality '{m}' is partly empty in {int(partial.sum())} rows (e.g. row {int(partial.argmax())}); "
                               "impute those cells or empty the whole modality of the row")
            xs[m] = np.array([[float(v) if v.strip() else 0.0 for v in block[c]] for c in names], dtype=np.float32).T
        present.append(~empty.all(axis=1))
    labels = col(label)
    n_empty = sum(v.strip() == "" for v in labels)
    if n_empty:
        raise UmeError(f"label column '{label}' has {n_empty} empty cells; drop those rows")
    if label_sep is not None:
        sets = [[t.strip() for t in v.split(label_sep) if t.strip()] for v in labels]
        names = sorted({t for s in sets for t in s})
        y = np.array([[int(c in s) for c in names] for s in sets], dtype=np.int64)
        kw = {"class_names": names, **kw, "task": "multilabel"}
    else:
        y = _csv_labels(labels)
    pres = np.stack(present, 1)
    where = np.array(col(split), dtype=str) if isinstance(split, str) else split
    return from_arrays(xs, y, out, present=None if pres.all() else pres, split=where, seed=seed, **kw)


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a CSV file (the standard library's reader, delimiter sniffed among , ; tab)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(io.StringIO(text), dialect=dialect)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as e:
        raise UmeError(f"cannot read {path} as CSV ({type(e).__name__}); check its delimiter and encoding") from None
    if not columns:
        raise UmeError(f"{path} has no header row; the first line must name the columns")
    return columns, rows


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _csv_labels(values: list[str]) -> np.ndarray:
    """Class labels from CSV cells: whole numbers as integers, anything else as strings (named classes)."""
    if all(_is_number(v) for v in values):
        x = np.array([float(v) for v in values])
        if np.all(x == np.round(x)):
            return x.astype(np.int64)
    return np.array([v.strip() for v in values], dtype=str)


def _read_file(p: Path, size: int, gray: bool) -> np.ndarray | str | None:
    """A sample file's content; None for an image that cannot be read."""
    if p.suffix.lower() == ".txt":
        return p.read_text(encoding="utf-8").strip()
    if p.suffix.lower() == ".npy":
        return np.load(p, allow_pickle=False)
    from PIL import Image

    try:
        with Image.open(p) as im:
            im = im.convert("L" if gray else "RGB").resize((size, size), Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError):
        return None
    return a[None] if gray else a.transpose(2, 0, 1)


def from_image_folders(root: str | Path, out: str | Path, *, size: int = 32, gray: bool = False,
                       split: Fractions = (0.7, 0.1, 0.2), seed: int = 0, skip_unreadable: bool = False,
                       **kw: Any) -> MultiModalData:
    """An ``.npz`` from ``root/<modality>/<class>/<sample>.<ext>``: images (resized to ``size`` x ``size``,
    ``uint8`` (C, H, W), RGB or ``gray``), ``.txt`` (text) or ``.npy`` (arrays of one shape). A sample is its
    class and file stem; where a modality has no file for it, the input is marked missing. Images that cannot be
    read are an error naming them, or with ``skip_unreadable`` left out (marked missing), named and counted."""
    root = Path(root)
    if not root.is_dir():
        raise UmeError(f"folder not found: {root}; pass a folder holding one subfolder per modality")
    mods = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(mods) < 2:
        raise UmeError(f"{root} has {len(mods)} modality folder(s); UME-MMA needs at least 2 "
                       "(root/<modality>/<class>/<sample>.<ext>)")
    files: dict[str, dict[tuple[str, str], Path]] = {}
    image_mods = []
    for m in mods:
        found = [f for c in sorted((root / m).iterdir()) if c.is_dir()
                 for f in sorted(c.iterdir()) if f.is_file() and not f.name.startswith(".")]
        kinds = {"text" if f.suffix.lower() == ".txt" else "array" if f.suffix.lower() == ".npy"
                 else "image" if f.suffix.lower() in IMAGE_EXT else f.suffix for f in found}
        files[m] = {(f.parent.name, f.stem): f for f in found}
        if not files[m]:
            raise UmeError(f"{root / m} has no files in class folders; lay it out as {m}/<class>/<sample>.<ext>")
        if len(kinds) > 1 or not kinds <= {"text", "array", "image"}:
            raise UmeError(f"{root / m} mixes or holds unknown file kinds {sorted(kinds)}; one modality holds images, "
                           ".txt or .npy files")
        if len(files[m]) < len(found):
            raise UmeError(f"{root / m} holds two files with the same name stem in one class folder; a sample is its "
                           "class and stem: rename or remove one")
        if kinds == {"image"}:
            image_mods.append(m)
    keys = sorted(set().union(*files.values()))
    present = np.array([[k in files[m] for m in mods] for k in keys], dtype=bool)
    xs: dict[str, Any] = {}
    vals_of = {m: [_read_file(files[m][k], size, gray) if present[i, j] else None for i, k in enumerate(keys)]
               for j, m in enumerate(mods)}
    bad = [files[m][k] for j, m in enumerate(mods) for i, k in enumerate(keys) if present[i, j] and vals_of[m][i] is None]
    if bad:
        shown = ", ".join(str(f.relative_to(root)) for f in bad[:3]) + (", ..." if len(bad) > 3 else "")
        if not skip_unreadable:
            raise UmeError(f"{len(bad)} image file(s) under {root} cannot be read ({shown}); remove or replace them, "
                           "or pass skip_unreadable=True (--skip-unreadable) to leave them out")
        print(f"note: skipped {len(bad)} unreadable image file(s) under {root} ({shown}); their inputs are missing",
              file=sys.stderr)
        present &= np.array([[vals_of[m][i] is not None for m in mods] for i in range(len(keys))], dtype=bool)
        keep = present.any(1)
        keys = [k for k, ok in zip(keys, keep) if ok]
        vals_of = {m: [v for v, ok in zip(vals_of[m], keep) if ok] for m in mods}
        present = present[keep]
    for j, m in enumerate(mods):
        vals = vals_of[m]
        if not any(v is not None for v in vals):
            raise UmeError(f"no file of modality '{m}' under {root} could be read")
        first = next(v for v in vals if v is not None)
        if isinstance(first, str):
            xs[m] = [v or "" for v in vals]
            continue
        shapes = {v.shape for v in vals if v is not None}
        if len(shapes) > 1:
            raise UmeError(f"the .npy files of '{m}' have shapes {sorted(shapes)[:3]}; all need one shape")
        xs[m] = np.stack([v if v is not None else np.zeros_like(first) for v in vals])
    y = [c for c, _ in keys]
    kw["kinds"] = {**{m: "image" for m in image_mods}, **kw.get("kinds", {})}
    return from_arrays(xs, y, out, present=None if present.all() else present, split=split, seed=seed, **kw)
