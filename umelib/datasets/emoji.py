"""Emoji: real image + text pairs from two emoji designs. Loading only; building lives in
:mod:`umelib.datasets.builders.emoji` (``python data_scripts/build_emoji.py``).

A sample is one emoji drawn in one design -- Noto Color Emoji (``google``) or Twemoji (``twitter``), from
the npm packages ``emoji-datasource-google`` / ``-twitter`` 16.0.0 -- with two modalities:

- ``image``: the 64 px PNG composited on white, downsampled (area averaging) to ``size`` x ``size``;
  ``uint8`` (N, 3, size, size) (encoders divide by 255);
- ``text``: the emoji's name and short names, lower-cased and cleaned of words that name the category
  (e.g. "grinning face; grinning"), as UTF-8 bytes (``uint8`` (N, L), see :mod:`umelib.texts`).

Labels: ``label="category"`` (9 classes: Unicode's emoji groups without "Component") or ``"subcategory"``
(98 classes). The split is fixed at build time (seed 0) by emoji: 60/20/20% of the emoji of every
subcategory, both designs of an emoji in the same split, so no emoji is in two splits. ``test_design``
("google" or "twitter") keeps the other design in train/val and only that design in test (a style shift).

``data.info["meta"][split]`` holds per-row ``design``, ``unified`` (code points), ``text``, ``category`` and
``subcategory``, aligned with the splits *as loaded*: :meth:`MultiModalData.subsample` and
:meth:`MultiModalData.with_validation` return new splits that this alignment does not follow.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UmeError
from ..texts import decode_texts
from .core import SPLITS, MultiModalData
from .npz import build_split, check_labels
from .registry import data_dir, register_dataset

BUILD_SCRIPT = "data_scripts/build_emoji.py"
NPZ_NAME = "emoji.npz"
DESIGNS = ("google", "twitter")
LABELS = ("category", "subcategory", "keywords")
KEYWORDS_NAME = "keywords.json"  # emojilib's keywords, written by data_scripts/build_emoji.py
IMAGE_SIZE = 64  # as stored
ATTRIBUTION = ("Twemoji graphics by Twitter, Inc and other contributors, licensed under CC-BY 4.0: "
               "https://creativecommons.org/licenses/by/4.0/")
LICENCES = {
    "google": {"images": "Noto Color Emoji", "licence": "Apache-2.0", "copyright": "Google Inc.",
               "url": "https://github.com/googlefonts/noto-emoji/blob/main/LICENSE"},
    "twitter": {"images": "Twemoji", "licence": "CC-BY-4.0", "copyright": "Twitter, Inc (X Corp.) and other contributors",
                "url": "https://github.com/jdecked/twemoji/blob/main/LICENSE-GRAPHICS", "attribution": ATTRIBUTION},
    "emoji-datasource": {"data": "emoji.json (names, short names, categories)", "licence": "MIT",
                         "copyright": "Cal Henderson", "url": "https://github.com/iamcal/emoji-data"},
}


def default_out() -> Path:
    """Where the build lives: ``data_dir()/emoji``."""
    return data_dir() / "emoji"


def _resolve(path: str | Path | None) -> Path:
    p = Path(path) if path is not None else default_out()
    p = p / NPZ_NAME if p.is_dir() or path is None else p
    if not p.exists():
        cmd = f"python {BUILD_SCRIPT}"
        if path is None and os.environ.get("UME_DATA"):
            cmd += f" --out {p.parent}"
        raise UmeError(f"the emoji dataset is not built: {p} is missing; build it with `{cmd}` (needs npm, "
                       "or --src DIR holding the two emoji-datasource .tgz files)")
    return p


def _read(p: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise UmeError(f"cannot read {p} as .npz ({type(e).__name__}); rebuild it with "
                       f"`python {BUILD_SCRIPT} --force`") from None
    need = [f"{s}/{k}" for s in SPLITS for k in ("image", "text", "y")] + \
           [f"meta/{s}/{k}" for s in SPLITS for k in ("subcategory", "design", "unified")] + \
           ["meta/classes/category", "meta/classes/subcategory"]
    missing = [k for k in need if k not in arrays]
    if missing:
        raise UmeError(f"{p} is not an emoji build (no array '{missing[0]}'); rebuild it with "
                       f"`python {BUILD_SCRIPT} --force`")
    return arrays


def downsample(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """``uint8`` (N, 3, H, W) -> ``uint8`` (N, 3, size, size) by area averaging (antialiased), rounded."""
    t = torch.as_tensor(images)
    if t.shape[-1] == size and t.shape[-2] == size:
        return t
    out = [F.interpolate(c.float(), size=(size, size), mode="area").round_().clamp_(0, 255).to(torch.uint8)
           for c in t.split(512)]
    return torch.cat(out) if out else torch.zeros(0, t.shape[1], size, size, dtype=torch.uint8)


def _manifest(p: Path) -> dict:
    try:
        return json.loads((p.parent / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


@register_dataset("emoji", "Noto + Twemoji emoji images (uint8) with their cleaned names as text; 9 categories; "
                  "offline build, split by emoji (60/20/20%)",
                  build="python data_scripts/build_emoji.py  (make data)", encoders={"image": "lenet", "text": "frozen:minilm"})
def emoji(seed: int = 0, path: str | Path | None = None, size: int = 32, label: str = "category",
          test_design: str | None = None, keywords: int = 20) -> MultiModalData:
    """The emoji build (``data/emoji/emoji.npz``; ``path``: the .npz or its folder). ``seed`` is ignored (the
    split is fixed at build time). ``size``: image side in pixels (1..64; downsampled by area averaging).
    ``label``: "category" (9 classes), "subcategory", or "keywords": multi-label, the ``keywords`` keywords that
    emojilib (MIT) gives most often to the training emoji, each a label (an emoji has 0 to several). ``test_design``:
    None (both designs everywhere), or "google"/"twitter": train and val keep only the other design, test only this
    one."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= IMAGE_SIZE:
        raise UmeError(f"size={size!r} must be an int in 1..{IMAGE_SIZE} (the images are stored at {IMAGE_SIZE} px)")
    if label not in LABELS:
        raise UmeError(f"label '{label}' unknown; choose 'category', 'subcategory' or 'keywords'")
    if test_design is not None and test_design not in DESIGNS:
        raise UmeError(f"test_design '{test_design}' unknown; choose None, 'google' or 'twitter'")
    p = _resolve(path)
    a = _read(p)
    cats = [str(c) for c in a["meta/classes/category"]]
    subs = [str(c) for c in a["meta/classes/subcategory"]]
    classes = cats if label == "category" else subs
    task = "multilabel" if label == "keywords" else "multiclass"
    if label == "keywords":
        table = _keywords(p)
        classes = top_keywords(table, [str(u) for u in a["meta/train/unified"]], keywords)
    splits, meta, kept = {}, {}, {}
    for s in SPLITS:
        design = a[f"meta/{s}/design"].astype(np.int64)
        keep = np.ones(len(design), dtype=bool)
        if test_design is not None:
            keep = (design == DESIGNS.index(test_design)) == (s == "test")
        y_cat, y_sub = a[f"{s}/y"][keep].astype(np.int64), a[f"meta/{s}/subcategory"][keep].astype(np.int64)
        text = a[f"{s}/text"][keep]
        x = {"image": downsample(a[f"{s}/image"][keep], size).numpy(), "text": text}
        if label == "keywords":
            y = keyword_targets(table, [str(u) for u in a[f"meta/{s}/unified"][keep]], classes)
        else:
            y = y_cat if label == "category" else y_sub
        splits[s], _ = build_split(s, x, y, None, len(classes), task)
        meta[s] = {"design": [DESIGNS[i] for i in design[keep]], "unified": [str(u) for u in a[f"meta/{s}/unified"][keep]],
                   "text": decode_texts(torch.from_numpy(np.ascontiguousarray(text))),
                   "category": [cats[i] for i in y_cat], "subcategory": [subs[i] for i in y_sub]}
        kept[s] = sorted(set(meta[s]["design"]))
    check_labels(splits, task)
    man = _manifest(p)
    info = {"source": str(p), "classes": classes, "label": label, "size": size, "test_design": test_design,
            "designs": kept, "kinds": {"image": "image", "text": "text"}, "licences": LICENCES, "attribution": ATTRIBUTION, "meta": meta,
            "meta_alignment": "rows of the splits as loaded (subsample/with_validation do not carry it)",
            "split": "by emoji, fixed at build time (seed 0), stratified by subcategory; seed is ignored"}
    if man.get("files", {}).get(NPZ_NAME, {}).get("sha256"):
        info["file_sha256"] = man["files"][NPZ_NAME]["sha256"]
    if man.get("text_rules"):
        info["text_rules"] = man["text_rules"]
    if label == "keywords":
        info["keywords_source"] = "emojilib@4.0.3 (MIT), dist/emoji-en-US.json, slugs left out"
    return MultiModalData("emoji", splits["train"], splits["test"], len(classes), splits["val"], task, info)


def _char(unified: str) -> str:
    return "".join(chr(int(h, 16)) for h in unified.split("-"))


def _keywords_of(table: Mapping[str, list[str]], unified: str) -> list[str]:
    """emojilib's keywords of one emoji (its slug, the first entry, left out); also found without or with U+FE0F."""
    c = _char(unified)
    words = table.get(c) or table.get(c.replace("\ufe0f", "")) or table.get(c + "\ufe0f") or []
    return [w for w in words[1:] if w]


def top_keywords(table: Mapping[str, list[str]], unified: list[str], k: int) -> list[str]:
    """The ``k`` keywords given to most of these emoji (ties by name), counted once per emoji."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise UmeError(f"keywords={k!r} must be an int >= 2 (the number of keyword labels)")
    counts: dict[str, int] = {}
    for u in dict.fromkeys(unified):
        for w in set(_keywords_of(table, u)):
            counts[w] = counts.get(w, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))[:k]


def keyword_targets(table: Mapping[str, list[str]], unified: list[str], classes: list[str]) -> np.ndarray:
    """(N, K) 0/1: which of ``classes`` each emoji has among its keywords."""
    index = {w: i for i, w in enumerate(classes)}
    y = np.zeros((len(unified), len(classes)), dtype=np.int64)
    for n, u in enumerate(unified):
        for w in _keywords_of(table, u):
            if w in index:
                y[n, index[w]] = 1
    return y


def _keywords(npz: Path) -> dict[str, list[str]]:
    path = npz.parent / KEYWORDS_NAME
    if not path.is_file():
        raise UmeError(f"{path} not found: the keyword labels come with the emoji build; run python "
                       "data_scripts/build_emoji.py (it fetches emojilib@4.0.3 with npm pack)")
    try:
        return json.loads(path.read_text())["keywords"]
    except (OSError, ValueError, KeyError) as e:
        raise UmeError(f"cannot read {path} ({type(e).__name__}); delete it and rerun data_scripts/build_emoji.py") from None
