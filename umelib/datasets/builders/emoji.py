"""Build the emoji dataset (:mod:`umelib.datasets.emoji`) from the npm packages ``emoji-datasource-google`` and
``emoji-datasource-twitter`` 16.0.0, read straight from their tarballs (never unpacked to disk).

Sources: ``npm pack emoji-datasource-{google,twitter}@16.0.0`` into ``<out>/src/`` (or ``--src DIR`` holding
the two .tgz files), each pinned by sha256. Metadata: ``package/emoji.json`` of the google package (its
emoji list is the same in both); images: ``package/img/<design>/64/<image>``.

Choices (also recorded in the manifest):

- a sample = (emoji, design), designs ``google`` (Noto Color Emoji, Apache-2.0) and ``twitter`` (Twemoji,
  CC-BY-4.0); base emoji only (no skin-tone variations); the category "Component" (the five skin-tone
  swatches) is dropped; an emoji is kept only if both designs have its image (all 1,906 others do);
- image: the RGBA PNG composited on white, ``uint8`` (N, 3, 64, 64);
- text: see :data:`TEXT_RULES`; stored with :func:`umelib.texts.encode_texts` (``max_bytes=256``);
- labels: ``train/y`` = category (9 classes, in Unicode's order), ``meta/<split>/subcategory`` (98 classes);
- split by emoji with a fixed seed (0): within each subcategory (hence within each category) a shuffled
  floor(0.2 n + 0.5) emoji go to test, as many to val, the rest (at least one) to train; both designs of an
  emoji share its split; rows ordered by Unicode sort order, then design.

Output: ``<out>/emoji.npz`` (``<split>/{image,text,y}`` as :func:`umelib.load_npz` reads them, plus
``meta/<split>/{subcategory,design,unified}`` and ``meta/classes/*``, which ``load_npz`` ignores) and
``<out>/manifest.json``. A rerun with an up-to-date manifest does nothing; ``force`` rebuilds.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np

from ...errors import UmeError
from ...files import atomic_write, build_is_current, file_digest, npm_pack
from ...texts import encode_texts
from ..emoji import ATTRIBUTION, DESIGNS, IMAGE_SIZE, KEYWORDS_NAME, LICENCES, NPZ_NAME

VERSION = "16.0.0"
BUILD_VERSION = 1
SEED = 0
SPLIT_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
DROP_CATEGORIES = ("Component",)
MAX_TEXT_BYTES = 256
PACKAGES = {d: f"emoji-datasource-{d}" for d in DESIGNS}
TARBALLS = {d: f"emoji-datasource-{d}-{VERSION}.tgz" for d in DESIGNS}
PINS = {"google": "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438",
        "twitter": "f64a530c63bca463bd8317fdc4615ce63a53a0c65018e4ce2d848aaba7a28877"}
TEXT_RULES = [
    "text = the name, then each short name, joined by '; '; all lower-cased",
    "short names: '_' and '-' between letters or digits become spaces (names keep their hyphens, e.g. 'e-mail')",
    "removed: skin-tone wording ('light skin tone', 'skin-tone-2', 'emoji modifier fitzpatrick type-3')",
    "removed: 'regional indicator (symbol) (letter)' wording",
    "removed: whole words naming a category: flag(s) (with a following ':'), symbol(s), smiley(s), "
    "emotion(s), people, body, animal(s), nature, food(s), drink(s), travel, place(s), activity/activities, "
    "object(s), component(s) -- in every category alike",
    "where a word was removed, dangling connectives at either end (of, on, in, for, with, its, the, and, to, at, "
    "over) are dropped, then spaces and stray punctuation are tidied",
    "empty phrases and duplicates (hyphen = space) are dropped; an emoji left with no text gets 'u+<code points>'",
]
_SKIN = re.compile(r"\b(?:(?:medium-)?(?:light|dark)|medium)?[ -]?skin[ -]tones?(?:[ -]\d(?:-\d)?)?\b"
                   r"|\bemoji modifier fitzpatrick type[ -]\d(?:-\d)?\b|\bfitzpatrick type[ -]\d(?:-\d)?\b")
_REGIONAL = re.compile(r"\bregional indicator(?: symbol)?(?: letter)?\b")
_CATEGORY_WORDS = re.compile(r"\b(?:flags?|symbols?|smileys?|emotions?|people|body|animals?|nature|foods?|drinks?|"
                             r"travel|places?|activity|activities|objects?|components?)\b:?")
_CONNECT = r"(?:of|on|in|for|with|its|the|and|to|at|over)"
NPM_HINT = ("install Node.js/npm (e.g. `apt-get install npm`), or pass --src DIR holding "
            + " and ".join(TARBALLS.values()) + " (from `npm pack` on another machine)")


def clean_phrase(s: str, short_name: bool = False) -> str:
    """One name or short name made readable, without label give-aways (see :data:`TEXT_RULES`)."""
    s = s.lower()
    if short_name:
        s = re.sub(r"(?<=\w)-(?=\w)", " ", s.replace("_", " "))
    t = _CATEGORY_WORDS.sub(" ", _REGIONAL.sub(" ", _SKIN.sub(" ", s)))
    t = re.sub(r"\s+", " ", t).strip(" ,:;")
    if t != s.strip():
        for _ in range(3):
            t = re.sub(rf"^{_CONNECT}\b\s*|\s*\b{_CONNECT}$", "", t).strip(" ,:;")
        t = re.sub(r"([,:;])(?=[,:;])", "", re.sub(r"\s+([,:;])", r"\1", t))
    return t


def emoji_text(name: str, short_names: list[str], unified: str = "") -> str:
    """``name; short name; ...`` cleaned and de-duplicated (see :data:`TEXT_RULES`)."""
    out, seen = [], set()
    for i, s in enumerate([name, *short_names]):
        t = clean_phrase(s, short_name=i > 0)
        key = t.replace("-", " ")
        if t and key not in seen:
            seen.add(key)
            out.append(t)
    return "; ".join(out) or f"u+{unified.lower()}"


# ---------------------------------------------------------------- sources

def fetch_sources(src: Path, fetch: bool, pins: dict[str, str]) -> dict[str, Path]:
    """The two tarballs in ``src`` (fetched with ``npm pack`` when absent and ``fetch``), sha256-checked."""
    paths = {}
    for d in DESIGNS:
        p = src / TARBALLS[d]
        if not p.is_file() and not fetch:
            spec = f"{PACKAGES[d]}@{VERSION}"
            raise UmeError(f"{p} is missing; --src must hold {' and '.join(TARBALLS.values())} (`npm pack {spec}`)")
        paths[d] = npm_pack(f"{PACKAGES[d]}@{VERSION}", p, pins[d], NPM_HINT)
    return paths


def read_package(path: Path, design: str) -> tuple[list[dict], dict[str, bytes]]:
    """``package/emoji.json`` and the 64 px PNGs (file name -> bytes) of one tarball, read in one pass."""
    prefix, meta, images = f"package/img/{design}/{IMAGE_SIZE}/", None, {}
    try:
        with tarfile.open(path, "r:gz") as tf:
            for m in tf:
                if m.name == "package/emoji.json":
                    meta = json.loads(tf.extractfile(m).read())
                elif m.isfile() and m.name.startswith(prefix) and m.name.endswith(".png"):
                    images[m.name[len(prefix):]] = tf.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as e:
        raise UmeError(f"cannot read {path} as the {PACKAGES[design]} tarball ({type(e).__name__}); delete it and rerun") from None
    if not isinstance(meta, list) or not images:
        raise UmeError(f"{path} lacks package/emoji.json or {prefix}*.png; is it {PACKAGES[design]}@{VERSION}?")
    return meta, images


def composite(png: bytes) -> np.ndarray:
    """A PNG (any mode) composited on white at 64 px: ``uint8`` (3, 64, 64)."""
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGBA")
    a = np.asarray(im, dtype=np.uint32)
    alpha = a[..., 3:4]
    rgb = ((a[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    if rgb.shape[:2] != (IMAGE_SIZE, IMAGE_SIZE):
        rgb = np.asarray(Image.fromarray(rgb).resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS))
    return rgb.transpose(2, 0, 1)


def select(meta: list[dict], images: dict[str, dict[str, bytes]]) -> tuple[list[dict], dict[str, int]]:
    """The kept emoji (sorted by Unicode order) and how many were dropped, and why."""
    kept, dropped = [], {"category Component": 0, "image missing in a design": 0}
    for e in sorted(meta, key=lambda e: e["sort_order"]):
        if e["category"] in DROP_CATEGORIES:
            dropped["category Component"] += 1
        elif all(e.get(f"has_img_{d}") and e["image"] in images[d] for d in DESIGNS):
            kept.append(e)
        else:
            dropped["image missing in a design"] += 1
    if not kept:
        raise UmeError("no emoji has an image in both designs; are the tarballs emoji-datasource packages?")
    return kept, dropped


def split_emoji(kept: list[dict], seed: int = SEED) -> dict[str, list[dict]]:
    """Per subcategory (in first-appearance order), a seeded shuffle: floor(0.2 n + 0.5) to test, as many to
    val, the rest to train. Each split sorted by Unicode order."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[dict]] = {}
    for e in kept:
        groups.setdefault(e["subcategory"], []).append(e)
    out: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for g in groups.values():
        perm = [g[i] for i in rng.permutation(len(g))]
        k = int(np.floor(SPLIT_FRACTIONS["test"] * len(g) + 0.5))
        out["test"] += perm[:k]
        out["val"] += perm[k:2 * k]
        out["train"] += perm[2 * k:]
    empty = [s for s, v in out.items() if not v]
    if empty:
        raise UmeError(f"only {len(kept)} emoji: the {empty[0]} split would be empty (a subcategory needs 3 or more)")
    return {s: sorted(v, key=lambda e: e["sort_order"]) for s, v in out.items()}


# ---------------------------------------------------------------- the build

def _params(pins: dict[str, str]) -> dict:
    return {"builder": "emoji", "version": BUILD_VERSION, "seed": SEED, "designs": list(DESIGNS),
            "packages": {d: f"{PACKAGES[d]}@{VERSION}" for d in DESIGNS}, "sha256": dict(pins),
            "split_fractions": SPLIT_FRACTIONS, "drop_categories": list(DROP_CATEGORIES), "skin_tones": False,
            "image_size": IMAGE_SIZE, "max_text_bytes": MAX_TEXT_BYTES, "text_rules": TEXT_RULES}


def up_to_date(out: Path, params: dict, force: bool = False) -> bool:
    """True if ``out`` holds a build of ``params`` matching its manifest; False if one is needed (always with
    ``force``). A file that does not match is only replaced with ``force``."""
    return False if force else build_is_current(out / NPZ_NAME, params)


def build_emoji(out: str | Path, src: str | Path | None = None, force: bool = False,
                pins: dict[str, str] | None = None) -> dict | None:
    """Build ``out/emoji.npz`` + ``out/manifest.json`` from the tarballs in ``src`` (default ``out/src``,
    fetched with npm when absent). Returns the manifest, or None when the build was already up to date."""
    out, pins = Path(out), dict(pins or PINS)
    params = _params(pins)
    if up_to_date(out, params, force):
        return None
    t0 = time.perf_counter()
    paths = fetch_sources(Path(src) if src is not None else out / "src", src is None, pins)
    meta, images = None, {}
    for d in DESIGNS:
        m, images[d] = read_package(paths[d], d)
        meta = meta if meta is not None else m
    kept, dropped = select(meta, images)
    cats = list(dict.fromkeys(e["category"] for e in kept))
    subs = list(dict.fromkeys(e["subcategory"] for e in kept))
    parts = split_emoji(kept)
    rows = [(s, e, d) for s in parts for e in parts[s] for d in DESIGNS]
    text = encode_texts([emoji_text(e["name"], e.get("short_names") or [], e["unified"]) for _, e, _ in rows],
                        max_bytes=MAX_TEXT_BYTES).numpy()
    arrays: dict[str, np.ndarray] = {"num_classes": np.array(len(cats)), "task": np.array("multiclass"),
                                     "meta/classes/category": np.array(cats), "meta/classes/subcategory": np.array(subs),
                                     "meta/designs": np.array(DESIGNS)}
    counts: dict = {}
    for s in parts:
        idx = [i for i, r in enumerate(rows) if r[0] == s]
        sel = [rows[i] for i in idx]
        arrays[f"{s}/image"] = np.stack([composite(images[d][e["image"]]) for _, e, d in sel])
        arrays[f"{s}/text"] = text[idx]
        arrays[f"{s}/y"] = np.array([cats.index(e["category"]) for _, e, _ in sel], dtype=np.int64)
        arrays[f"meta/{s}/subcategory"] = np.array([subs.index(e["subcategory"]) for _, e, _ in sel], dtype=np.int64)
        arrays[f"meta/{s}/design"] = np.array([DESIGNS.index(d) for _, _, d in sel], dtype=np.int8)
        arrays[f"meta/{s}/unified"] = np.array([e["unified"] for _, e, _ in sel])
        counts[s] = {"emoji": len(parts[s]), "samples": len(sel),
                     "per_category": {c: sum(e["category"] == c for e in parts[s]) for c in cats},
                     "per_design": {d: sum(r[2] == d for r in sel) for d in DESIGNS}}
    npz = out / NPZ_NAME
    atomic_write(npz, lambda f: np.savez_compressed(f, **arrays))
    manifest = {
        "name": "emoji", "params": params,
        "sources": {d: {"package": f"{PACKAGES[d]}@{VERSION}", "file": TARBALLS[d], "sha256": pins[d],
                        **LICENCES[d]} for d in DESIGNS},
        "licences": LICENCES, "attribution": ATTRIBUTION,
        "sample": "(emoji, design); base emoji only, no skin-tone variations; category Component dropped; "
                  "emoji with an image in both designs",
        "image": "RGBA 64 px PNG composited on white, uint8 (N, 3, 64, 64); the loader downsamples (area)",
        "text": f"umelib.texts.encode_texts(max_bytes={MAX_TEXT_BYTES}): uint8 (N, {text.shape[1]})",
        "text_rules": TEXT_RULES,
        "split": "by emoji, seed 0, within each subcategory floor(0.2 n + 0.5) test, as many val, rest train; "
                 "both designs of an emoji in the same split",
        "classes": {"category": cats, "subcategory": subs}, "dropped": dropped, "counts": counts,
        "per_subcategory": {sub: {s: sum(e["subcategory"] == sub for e in parts[s]) for s in parts} for sub in subs},
        "layout": "<split>/{image,text,y} (y = category), meta/<split>/{subcategory,design,unified}, "
                  "meta/classes/{category,subcategory}, meta/designs",
        "files": {NPZ_NAME: {"sha256": file_digest(npz), "bytes": npz.stat().st_size}},
        "build_s": round(time.perf_counter() - t0, 1),
    }
    atomic_write(out / "manifest.json", lambda f: f.write((json.dumps(manifest, indent=2) + "\n").encode()))
    return manifest


# ---------------------------------------------------------------- multi-label keywords (emojilib)

KEYWORDS_SPEC = "emojilib@4.0.3"  # MIT; emoji -> keywords (the first entry is the emoji's slug)
KEYWORDS_TARBALL = "emojilib-4.0.3.tgz"
KEYWORDS_SHA256 = "7f9a6b43cff31d18985b7d65d11faba5bd971cbcc60020cf6d09322fbaaaf303"


def build_keywords(out: str | Path, src: str | Path | None = None) -> Path:
    """``out/keywords.json`` (emoji -> keywords, emojilib's ``dist/emoji-en-US.json``) from the sha256-pinned npm
    tarball in ``src`` (default ``out/src``, fetched with ``npm pack`` when absent); a file that is already there
    and matches the manifest entry is kept."""
    out = Path(out)
    dest = out / KEYWORDS_NAME
    src_dir = Path(src) if src is not None else out / "src"
    tgz = npm_pack(KEYWORDS_SPEC, src_dir / KEYWORDS_TARBALL, KEYWORDS_SHA256, NPM_HINT)
    try:
        with tarfile.open(tgz, "r:gz") as tf:
            table = json.loads(tf.extractfile("package/dist/emoji-en-US.json").read())
    except (tarfile.TarError, KeyError, OSError, ValueError, AttributeError) as e:
        raise UmeError(f"cannot read dist/emoji-en-US.json from {tgz} ({type(e).__name__}); delete it and rerun") from None
    data = {"source": {"package": KEYWORDS_SPEC, "file": KEYWORDS_TARBALL, "sha256": KEYWORDS_SHA256, "licence": "MIT"},
            "keywords": table}
    atomic_write(dest, lambda f: f.write((json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n").encode()))
    return dest
