"""Sphinx fixes for the book's HTML, and the chapters' execution cache (loaded through _config.yml:
sphinx.local_extensions).

Sphinx 7.4 adds an inline script registered after the builder started (sphinx-thebe's
`const THEBE_JS_URL = ...`) twice, once with filename None and once with '', so every page raised
"Identifier 'THEBE_JS_URL' has already been declared". Each page's script list is de-duplicated here.

Chapters execute once: `make test` (tests/test_chapters.py) executes every chapter into the jupyter-cache that
:func:`chapter_cache` names, and `make book` (myst-nb, ``execution_mode: cache``) takes each chapter's outputs from
there when its code cells are unchanged and executes only the others. myst-nb keys a notebook on its code cells
only, so the cache folder itself is keyed on everything else a chapter's outputs depend on: the profile, the
environment the kernel inherits (UME_* paths, PYTHONHASHSEED), and the contents of umelib/, results/ and the data
scripts. Any change there starts an empty cache, and every chapter executes again."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = ("UME_PROFILE", "PYTHONHASHSEED", "UME_DATA", "UME_RESULTS", "UME_CACHE")  # what the kernel inherits
KEY_FILES = ("umelib/**/*.py", "results/**/*", "data_scripts/*.py", "data_scripts/*.txt")


def cache_key(root: Path = ROOT, env: dict | None = None) -> str:
    """``<profile>-<digest>``: the digest of the environment values and files the chapters' outputs depend on."""
    env = {**(os.environ if env is None else env)}
    env["UME_PROFILE"] = env.get("UME_PROFILE") or "smoke"  # unset means smoke (umelib.config.get_config)
    h = hashlib.sha256()
    for k in KEY_ENV:
        h.update(f"{k}={env.get(k, '')}\n".encode())
    files = sorted({p for pattern in KEY_FILES for p in root.glob(pattern) if p.is_file() and "__pycache__" not in p.parts})
    for p in files:
        h.update(f"{p.relative_to(root).as_posix()}\n".encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return f"{env['UME_PROFILE']}-{h.hexdigest()[:16]}"


def chapter_cache(root: Path = ROOT, env: dict | None = None, prune: bool = False) -> Path:
    """The jupyter-cache folder of this checkout, profile and environment: _build/.jupyter_cache/<cache_key>;
    ``prune`` removes the folders of the same profile keyed on an older state (no build can hit them again)."""
    path = root / "_build" / ".jupyter_cache" / cache_key(root, env)
    if prune and path.parent.is_dir():
        profile = path.name.rsplit("-", 1)[0]
        for old in path.parent.glob(f"{profile}-*"):
            if old != path and old.is_dir() and old.name.rsplit("-", 1)[0] == profile:
                shutil.rmtree(old, ignore_errors=True)
    return path


def use_chapter_cache(app: Any, config: Any) -> None:
    if config.nb_execution_mode == "cache" and not config.nb_execution_cache_path:
        config.nb_execution_cache_path = str(chapter_cache(Path(app.srcdir), prune=True))


def _key(js: Any) -> tuple:
    attrs = getattr(js, "attributes", {}) or {}
    return (getattr(js, "filename", js) or "", getattr(js, "priority", 0), tuple(sorted(attrs.items())))


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    files = context.get("script_files")
    if files:
        seen: set = set()
        files[:] = [js for js in files if not (_key(js) in seen or seen.add(_key(js)))]


def setup(app: Any) -> dict:
    app.connect("config-inited", use_chapter_cache)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
