"""UPMC Food-101 (Wang et al. 2015): food photos (``image``) and the titles of the recipe pages they come from
(``text``), 101 classes, multiclass.

Read from the release layout::

    <root>/images/{train,test}/<class>/<file>.jpg
    <root>/texts/{train,test}_titles.csv     no header; columns: file name, title, class

Choices (recorded in ``data.info``):

- **classes**: the class names found in the two CSV files, sorted alphabetically (101 in the real data), so
  label ``i`` is the ``i``-th name of ``info["classes"]``.
- **validation**: the release has none; 10% of the training rows, stratified by class, drawn with the fixed
  seed 0 whatever the run's seed (so every run and method selects on the same samples). It is drawn as
  :meth:`MultiModalData.with_validation` ``(0.1, seed=0)`` would draw it, but before the images are cached, so
  that train, validation and test are slices of one memory-mapped cache (no copy).
- **text**: the title as UTF-8 bytes (:func:`umelib.texts.encode_texts`), cut at ``TEXT_BYTES`` = 3,072 bytes
  on a character boundary. CSV quoting is honoured (titles hold quoted commas); a row with more than three
  fields (an unquoted comma) keeps the first as file name, the last as class, and joins the rest as the title.
- **skipped, not fatal**: a row whose image is not on disk (``no image``), a row with fewer than three fields
  (``bad row``), an image PIL cannot read (``unreadable image``); counts in ``info["skipped"]``.
- **images**: decoded once into a memory-mapped cache (:mod:`umelib.datasets.images`): RGB, shorter side resized
  to ``size``, centre crop ``size`` x ``size``, uint8 (N, 3, size, size).
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..errors import UmeError
from .core import MultiModalData
from .images import TRANSFORM, default_cache_dir, image_text_splits, light_digest, spread
from .registry import data_dir, register_dataset

TEXT_BYTES = 3072
VAL_FRACTION, VAL_SEED = 0.1, 0
HINT = ("get UPMC Food-101 (http://visiir.lip6.fr/) and pass --data-root DIR (the folder holding images/ "
        "and texts/)")
REASONS = ("bad row", "no image", "unreadable image")


def _read_csv(root: Path, split: str) -> list[tuple[str, str, str]]:
    """The (file name, title, class) rows of ``texts/<split>_titles.csv``, blank rows left out."""
    f = root / "texts" / f"{split}_titles.csv"
    if not f.is_file():
        raise UmeError(f"UPMC Food-101 file {f} is missing; {HINT}")
    rows = []
    try:
        with f.open(newline="", encoding="utf-8", errors="replace") as fh:
            for row in csv.reader(fh):
                if not row or not any(c.strip() for c in row):
                    continue
                if len(row) < 3:
                    rows.append(("", "", ""))  # counted as a bad row
                else:
                    rows.append((row[0].strip(), ",".join(row[1:-1]).replace("\x00", "").strip(), row[-1].strip()))
    except (OSError, csv.Error) as e:
        raise UmeError(f"cannot read {f} as CSV ({type(e).__name__}: {e}); {HINT}") from None
    return rows


def stratified_validation(y: np.ndarray, fraction: float = VAL_FRACTION, seed: int = VAL_SEED) -> np.ndarray:
    """Indices (sorted) of the validation rows: per class in label order, ``round(fraction * n_class)`` rows
    drawn by ``torch.randperm`` with one generator seeded ``seed`` -- the draw of
    :meth:`MultiModalData.with_validation`."""
    g = torch.Generator().manual_seed(seed)
    yt = torch.as_tensor(y)
    parts = []
    for c in yt.unique():
        idx = (yt == c).nonzero().squeeze(1)
        parts.append(idx[torch.randperm(len(idx), generator=g)[:int(round(fraction * len(idx)))]])
    return torch.cat(parts).sort().values.numpy() if parts else np.zeros(0, dtype=np.int64)


@register_dataset("food101", "UPMC Food-101 (Wang et al. 2015): food photos + recipe page titles, 101 classes",
                  build="get UPMC Food-101 and pass --data-root DIR (the folder holding images/ and texts/)",
                  task="multiclass", encoders={"image": "lenet", "text": "bag"}, paper=True)
def food101(seed: int = 0, root: str | Path | None = None, size: int = 64, cache_dir: str | Path | None = None,
            workers: int = 2, limit: int | None = None) -> MultiModalData:
    """UPMC Food-101 from its release folder ``root`` (default ``data_dir() / "food101"``): ``image`` uint8
    (N, 3, size, size), ``text`` uint8 bytes, integer class labels. The data do not depend on ``seed`` (the
    validation split is drawn with the fixed seed 0). ``limit``: at most that many rows of each CSV (evenly
    spaced, so every class of the class-sorted files appears), for quick runs. ``cache_dir``: where decoded
    images are kept (default ``<root>/.umelib-cache``); ``workers``: decoding threads."""
    root = Path(root) if root is not None else data_dir() / "food101"
    if not root.is_dir():
        raise UmeError(f"UPMC Food-101 folder {root} not found; {HINT}")
    if not (root / "images").is_dir():
        raise UmeError(f"UPMC Food-101 folder {root / 'images'} (images/{{train,test}}/<class>/) is missing; {HINT}")
    raw = {s: _read_csv(root, s) for s in ("train", "test")}
    classes = sorted({r[2] for rows in raw.values() for r in rows if r[2]})
    if not classes:
        raise UmeError(f"UPMC Food-101 CSV files under {root / 'texts'} hold no rows; {HINT}")
    label = {c: i for i, c in enumerate(classes)}
    skipped = Counter({r: 0 for r in REASONS})
    kept = {}
    for s, rows in raw.items():
        ok = []
        for i in spread(len(rows), limit):
            name, title, cls = rows[i]
            if not name or not cls:
                skipped["bad row"] += 1
                continue
            path = root / "images" / s / cls / name
            if not path.is_file():
                skipped["no image"] += 1
                continue
            ok.append((str(path), title, label[cls]))
        if not ok:
            raise UmeError(f"UPMC Food-101 {s} split has no row with its image under {root / 'images' / s} "
                           f"(skipped: {dict(+skipped)}); {HINT}")
        kept[s] = ok
    y_train = np.array([r[2] for r in kept["train"]], dtype=np.int64)
    val_idx = stratified_validation(y_train)
    is_val = np.zeros(len(y_train), dtype=bool)
    is_val[val_idx] = True
    order = {"train": np.flatnonzero(~is_val), "val": val_idx, "test": np.arange(len(kept["test"]))}
    if len(val_idx) == 0 or is_val.all():
        raise UmeError(f"UPMC Food-101: {len(y_train)} training rows are too few to carve a 10% validation "
                       "split; raise limit or check the data")

    def part(rows: list[tuple[str, str, int]], idx: np.ndarray) -> tuple[list[str], list[str], np.ndarray]:
        return [rows[i][0] for i in idx], [rows[i][1] for i in idx], np.array([rows[i][2] for i in idx], np.int64)

    parts = {s: part(kept["test" if s == "test" else "train"], idx) for s, idx in order.items()}
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(root)
    splits, bad, file = image_text_splits(parts, size=size, cache_dir=cache, workers=workers, task="multiclass",
                                          num_classes=len(classes), text_bytes=TEXT_BYTES)
    skipped["unreadable image"] += bad
    n = len(y_train)
    info = {"source": str(root), "sha256": light_digest(file, splits), "classes": classes, "skipped": dict(skipped),
            "text": f"title, <= {TEXT_BYTES} UTF-8 bytes", "image": f"{TRANSFORM}, {size}x{size}",
            "image_cache": str(file), "kinds": {"image": "image", "text": "text"},
            "validation": f"carved from training: {len(val_idx)} of {n} samples ({VAL_FRACTION:.0%}, stratified, "
                          f"seed {VAL_SEED})", **({"limit": limit} if limit is not None else {})}
    return MultiModalData("food101", splits["train"], splits["test"], len(classes), splits["val"], "multiclass", info)
