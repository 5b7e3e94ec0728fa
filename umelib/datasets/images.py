"""Image files decoded and resized once, then kept as a memory-mapped ``uint8`` array (N, 3, S, S).

The transform: open with PIL, convert to RGB (grey, palette, CMYK and alpha images alike; alpha is dropped),
resize so that the *shorter* side is S (bicubic; JPEGs are first reduced by PIL's DCT ``draft`` to a size
still >= S on both sides, which is faster and visually equivalent), then crop the centre S x S square.

The result is stored as ``<cache_dir>/images-S<S>-N<N>-<key>.npy`` (plus ``...ok.npy``, the mask of readable
images), where ``key`` is a digest of the transform, S, and each file's absolute path, byte size and mtime: a
rerun on unchanged files memory-maps the array and decodes nothing; a changed file gives a new key. Both files
are written to a temporary name and renamed, so an interrupted build never leaves a half-written cache.
Old caches are not deleted (remove the folder to reclaim the space)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from ..errors import UmeError
from ..files import atomic_write
from ..texts import encode_texts
from .core import Split, splits_digest
from .npz import build_split, check_labels

TRANSFORM = "pil-rgb/shorter-side-bicubic/center-crop/v1"
CACHE_NAME = ".umelib-cache"
_CHUNK = 512  # images decoded per batch of work handed to the pool (bounds the memory held in flight)


class CachedImages(NamedTuple):
    """``images``: uint8 (N, 3, S, S), memory-mapped; ``ok``: bool (N,), False where the file could not be
    read (its row is zeros); ``file``: the cache file; ``decoded``: how many images this call decoded (0 on a
    cache hit)."""

    images: torch.Tensor
    ok: torch.Tensor
    file: Path
    decoded: int


def default_cache_dir(root: str | Path) -> Path:
    """``<root>/.umelib-cache`` if it can be created and written; else ``$XDG_CACHE_HOME/umelib/images``
    (default ``~/.cache/umelib/images``), so a read-only data folder still works. Keys hold absolute paths, so
    one folder can serve many datasets."""
    d = Path(root) / CACHE_NAME
    try:
        d.mkdir(parents=True, exist_ok=True)
        if os.access(d, os.W_OK):
            return d
    except OSError:
        pass
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "umelib" / "images"


def cache_key(paths: Sequence[str | Path], size: int) -> str:
    """The digest naming a cache: the transform, ``size``, and every file's absolute path, size and mtime (a
    missing file counts as size -1)."""
    h = hashlib.sha256(f"{TRANSFORM}|{size}|{len(paths)}\n".encode())
    for p in paths:
        p = os.path.abspath(os.fspath(p))
        try:
            st = os.stat(p)
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0-1\0-1\n".encode())
    return h.hexdigest()[:24]


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """One image as uint8 (3, size, size): RGB, shorter side resized to ``size`` (bicubic), centre-cropped.
    Raises whatever PIL raises on an unreadable file."""
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (size, size))  # JPEG only: decode at a reduced scale, never below size on either side
        im = im.convert("RGB")
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


def _try_decode(path: str, size: int) -> np.ndarray | None:
    from PIL import Image

    try:
        return decode_image(path, size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _build(paths: list[str], size: int, out: Path, ok_out: Path, workers: int, skip_bad: bool) -> None:
    """Decode every image into a temporary .npy beside ``out``, then rename it into place."""
    n = len(paths)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    ok = np.zeros(n, dtype=bool)
    try:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, 3, size, size))
        pool = ThreadPoolExecutor(workers) if workers > 1 else None
        try:
            for start in range(0, n, _CHUNK):
                chunk = paths[start:start + _CHUNK]
                results = (pool.map(lambda p: _try_decode(p, size), chunk) if pool
                           else (_try_decode(p, size) for p in chunk))
                for i, img in enumerate(results, start):
                    if img is None:
                        if not skip_bad:
                            raise UmeError(f"cannot read the image {paths[i]}; replace or delete the file (or pass "
                                           "skip_bad=True to skip unreadable images)")
                        continue
                    arr[i] = img
                    ok[i] = True
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
        arr.flush()
        del arr
        atomic_write(ok_out, lambda f: np.save(f, ok))
        os.replace(tmp, out)  # last: the array's presence marks a complete cache
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_images(paths: Sequence[str | Path], size: int, cache_dir: str | Path, workers: int = 2,
                skip_bad: bool = False) -> CachedImages:
    """The images at ``paths`` as a memory-mapped uint8 tensor (N, 3, size, size), decoded only when no cache
    for these exact files exists in ``cache_dir``. ``workers`` threads decode in parallel (PIL releases the GIL
    while decoding and resizing). An unreadable image raises :class:`UmeError` naming it, unless ``skip_bad``:
    then its row is zeros and ``ok`` is False there. The array is opened copy-on-write: writes to the tensor stay
    in memory and never reach the cache file."""
    if size < 1:
        raise UmeError(f"image size must be >= 1, got {size}")
    paths = [os.path.abspath(os.fspath(p)) for p in paths]
    n = len(paths)
    cache_dir = Path(cache_dir)
    if n == 0:
        return CachedImages(torch.zeros(0, 3, size, size, dtype=torch.uint8), torch.zeros(0, dtype=torch.bool),
                            cache_dir, 0)
    key = cache_key(paths, size)
    out = cache_dir / f"images-S{size}-N{n}-{key}.npy"
    ok_out = out.with_suffix(".ok.npy")
    decoded = 0
    if not (out.is_file() and ok_out.is_file()):
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UmeError(f"cannot create the image cache folder {cache_dir} ({e.strerror}); pass cache_dir=... "
                           "a writable folder") from None
        if not os.access(cache_dir, os.W_OK):
            raise UmeError(f"the image cache folder {cache_dir} is not writable; pass cache_dir=... a writable folder")
        _build(paths, size, out, ok_out, max(1, int(workers)), skip_bad)
        decoded = n
    try:
        arr = np.load(out, mmap_mode="c", allow_pickle=False)
        ok = np.load(ok_out, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UmeError(f"the image cache {out} is unreadable ({type(e).__name__}); delete it and load again") from None
    if arr.shape != (n, 3, size, size) or ok.shape != (n,):
        raise UmeError(f"the image cache {out} has shape {arr.shape}, expected {(n, 3, size, size)}; delete it")
    if not skip_bad and not ok.all():
        bad = paths[int(np.flatnonzero(~ok)[0])]
        raise UmeError(f"cannot read the image {bad} ({int((~ok).sum())} unreadable in all); replace or delete "
                       "the file (or pass skip_bad=True to skip unreadable images)")
    return CachedImages(torch.from_numpy(arr), torch.from_numpy(ok.astype(bool)), out, decoded)


# ---------------------------------------------------------------- shared by the image+text loaders

def spread(n: int, limit: int | None) -> list[int]:
    """Indices of at most ``limit`` of ``n`` rows, evenly spaced through them (so a class-sorted file still gives
    every class); all rows when ``limit`` is None."""
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 1:
        raise UmeError(f"limit must be >= 1 (or None for every sample), got {limit}")
    return np.linspace(0, n - 1, limit).round().astype(int).tolist()


def image_text_splits(parts: dict[str, tuple[list[str], list[str], np.ndarray]], *, size: int,
                      cache_dir: str | Path, workers: int, task: str, num_classes: int,
                      text_bytes: int) -> tuple[dict[str, Split], int, Path]:
    """Splits with modalities ``image`` (uint8 (N, 3, size, size), memory-mapped) and ``text`` (uint8 bytes
    (N, L), one L for every split) from ``{split: (image paths, texts, labels)}``. Every image goes into one
    cache, split after split, so each split's images are a slice of it (no copy). Unreadable images are dropped
    (that split is then copied into memory); returns the splits, how many were dropped, and the cache file."""
    names = list(parts)
    cached = load_images([p for s in names for p in parts[s][0]], size, cache_dir, workers, skip_bad=True)
    text = encode_texts([t for s in names for t in parts[s][1]], max_bytes=text_bytes).numpy()
    splits, bad, start = {}, 0, 0
    for s in names:
        n = len(parts[s][0])
        img, txt, y, ok = (cached.images[start:start + n].numpy(), text[start:start + n], parts[s][2],
                           cached.ok[start:start + n].numpy())
        start += n
        if not ok.all():
            bad += int((~ok).sum())
            img, txt, y = img[ok], txt[ok], y[ok]
        if len(y) == 0:
            raise UmeError(f"split '{s}' has no readable image left; check the image files")
        splits[s] = build_split(s, {"image": img, "text": txt}, y, None, num_classes, task)[0]
    check_labels(splits, task)
    return splits, bad, cached.file


def light_digest(image_file: str | Path, splits: dict) -> str:
    """A sha256 of a dataset whose images live in the decode-once cache: the cache file's name (its key covers
    every source file's path, size and mtime, and the transform) and every other array of every split (text,
    labels, presence), so that ``MultiModalData.sha256`` does not read gigabytes of pixels."""
    return splits_digest([(n, splits[n]) for n in ("train", "val", "test") if splits.get(n) is not None],
                         exclude=("image",), salt=Path(image_file).name)
