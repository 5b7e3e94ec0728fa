"""MM-IMDB (Arevalo et al. 2017): movie posters (``image``) and plot summaries (``text``), 23 genres, multi-label.

Read from the original release layout (``mmimdb.tar.gz``)::

    <root>/split.json            {"train": [ids], "dev": [ids], "test": [ids]}  (15,552 / 2,608 / 7,799)
    <root>/dataset/<id>.json     {"plot": [str, ...], "genres": [str, ...], ...}
    <root>/dataset/<id>.jpeg     the poster

Choices (recorded in ``data.info``):

- **splits**: the release's; ``dev`` is the validation split (model selection), ``test`` is touched once.
- **text**: the *longest* of a movie's plot summaries, as MMBT's MM-IMDB preparation (Kiela et al. 2019) and the
  missing-modality work built on it do: one summary per movie keeps the input comparable across movies (joining
  them would let movies with many summaries carry more text), and the longest holds the most evidence. Stored as
  UTF-8 bytes (:func:`umelib.texts.encode_texts`) cut at ``TEXT_BYTES`` = 3,072 bytes on a character boundary:
  enough for the 512 word-piece tokens a BERT-style encoder reads (English averages ~4-5 bytes per token).
- **labels**: multi-hot float (N, 23) over ``GENRES`` in the paper's order; other genres (News, Adult,
  Talk-Show, Reality-TV, ...) are dropped from the label and counted in ``info["dropped_genres"]``; a movie left
  with no genre of the 23 is dropped and counted in ``info["skipped"]["no kept genre"]``.
- **skipped, not fatal**: an id without its json (``no json``) or with an unreadable one (``bad json``), a json
  without a plot (``no plot``), an id without its jpeg (``no image``), an image PIL cannot read
  (``unreadable image``); counts in ``info["skipped"]``.
- **images**: decoded once into a memory-mapped cache (:mod:`umelib.datasets.images`): RGB, shorter side resized
  to ``size``, centre crop ``size`` x ``size``, uint8 (N, 3, size, size).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import UmeError
from .core import MultiModalData
from .images import TRANSFORM, default_cache_dir, image_text_splits, light_digest, spread
from .registry import data_dir, register_dataset

GENRES = ["Drama", "Comedy", "Romance", "Thriller", "Crime", "Action", "Adventure", "Horror", "Documentary",
          "Mystery", "Sci-Fi", "Fantasy", "Family", "Biography", "War", "History", "Music", "Animation", "Musical",
          "Western", "Sport", "Short", "Film-Noir"]
TEXT_BYTES = 3072
SPLIT_KEYS = {"train": "train", "val": "dev", "test": "test"}  # our split -> the key in split.json
HINT = ("get MM-IMDB (mmimdb.tar.gz, http://lisi1.unal.edu.co/mmimdb/) and pass --data-root DIR "
        "(the folder holding dataset/ and split.json)")
REASONS = ("no json", "bad json", "no plot", "no image", "no kept genre", "unreadable image")


def _read_split(root: Path) -> dict[str, list[str]]:
    if not root.is_dir():
        raise UmeError(f"MM-IMDB folder {root} not found; {HINT}")
    f = root / "split.json"
    if not f.is_file():
        raise UmeError(f"MM-IMDB split file {f} is missing; {HINT}")
    if not (root / "dataset").is_dir():
        raise UmeError(f"MM-IMDB folder {root / 'dataset'} (the <id>.json and <id>.jpeg files) is missing; {HINT}")
    try:
        split = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UmeError(f"cannot read {f} as JSON ({type(e).__name__}); {HINT}") from None
    missing = [k for k in SPLIT_KEYS.values() if not isinstance(split, dict) or not isinstance(split.get(k), list)]
    if missing:
        raise UmeError(f"{f} has no list '{missing[0]}'; it must hold lists 'train', 'dev' and 'test' of ids; {HINT}")
    return {s: [str(i) for i in split[k]] for s, k in SPLIT_KEYS.items()}


def _plot(doc: dict) -> str | None:
    """The longest plot summary of a movie's json (None if it has none)."""
    plot = doc.get("plot")
    plots = [plot] if isinstance(plot, str) else plot if isinstance(plot, list) else []
    plots = [p.replace("\x00", "").strip() for p in plots if isinstance(p, str)]
    plots = [p for p in plots if p]
    return max(plots, key=len) if plots else None


def _read_movie(folder: Path, mid: str, dropped: Counter) -> tuple[str, str, np.ndarray] | str:
    """(image path, plot, multi-hot genres) of one movie, or the reason it is skipped."""
    js, img = folder / f"{mid}.json", folder / f"{mid}.jpeg"
    if not js.is_file():
        return "no json"
    try:
        doc = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "bad json"
    if not isinstance(doc, dict):
        return "bad json"
    plot = _plot(doc)
    if plot is None:
        return "no plot"
    if not img.is_file():
        return "no image"
    genres = doc.get("genres") or []
    genres = [genres] if isinstance(genres, str) else [g for g in genres if isinstance(g, str)]
    y = np.zeros(len(GENRES), dtype=np.float32)
    for g in genres:
        if g in GENRES:
            y[GENRES.index(g)] = 1.0
        else:
            dropped[g] += 1
    if not y.any():
        return "no kept genre"
    return str(img), plot, y


@register_dataset("mmimdb", "MM-IMDB (Arevalo et al. 2017): posters + plots, 23 genres, multi-label",
                  build="get MM-IMDB (mmimdb.tar.gz) and pass --data-root DIR (the folder holding dataset/ and "
                        "split.json)", task="multilabel", encoders={"image": "lenet", "text": "bag"}, paper=True)
def mmimdb(seed: int = 0, root: str | Path | None = None, size: int = 64, cache_dir: str | Path | None = None,
           workers: int = 2, limit: int | None = None) -> MultiModalData:
    """MM-IMDB from its release folder ``root`` (default ``data_dir() / "mmimdb"``): ``image`` uint8
    (N, 3, size, size) and ``text`` uint8 bytes, labels multi-hot (N, 23). The data do not depend on ``seed``.
    ``limit``: at most that many ids of each split (evenly spaced through split.json's lists), for quick runs.
    ``cache_dir``: where decoded images are kept (default ``<root>/.umelib-cache``); ``workers``: decoding
    threads."""
    root = Path(root) if root is not None else data_dir() / "mmimdb"
    ids = _read_split(root)
    folder = root / "dataset"
    skipped = Counter({r: 0 for r in REASONS})
    dropped: Counter = Counter()
    parts = {}
    for s, split_ids in ids.items():
        rows = [_read_movie(folder, split_ids[i], dropped) for i in spread(len(split_ids), limit)]
        skipped.update(r for r in rows if isinstance(r, str))
        rows = [r for r in rows if not isinstance(r, str)]
        if not rows:
            raise UmeError(f"MM-IMDB split '{SPLIT_KEYS[s]}' has no usable movie in {folder} "
                           f"(skipped: {dict(+skipped)}); {HINT}")
        parts[s] = ([r[0] for r in rows], [r[1] for r in rows], np.stack([r[2] for r in rows]))
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(root)
    splits, bad, file = image_text_splits(parts, size=size, cache_dir=cache, workers=workers, task="multilabel",
                                          num_classes=len(GENRES), text_bytes=TEXT_BYTES)
    skipped["unreadable image"] += bad
    info = {"source": str(root), "sha256": light_digest(file, splits), "classes": list(GENRES), "skipped": dict(skipped),
            "dropped_genres": dict(dropped.most_common()), "text": f"longest plot, <= {TEXT_BYTES} UTF-8 bytes",
            "image": f"{TRANSFORM}, {size}x{size}", "image_cache": str(file),
            "validation": f"given (the release's dev split, {len(splits['val'])} samples)",
            "kinds": {"image": "image", "text": "text"}, **({"limit": limit} if limit is not None else {})}
    return MultiModalData("mmimdb", splits["train"], splits["test"], len(GENRES), splits["val"], "multilabel", info)
