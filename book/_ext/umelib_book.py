"""Sphinx fixes for the book's HTML (loaded through _config.yml: sphinx.local_extensions).

Sphinx 7.4 adds an inline script registered after the builder started (sphinx-thebe's
`const THEBE_JS_URL = ...`) twice, once with filename None and once with '', so every page raised
"Identifier 'THEBE_JS_URL' has already been declared". Each page's script list is de-duplicated here."""
from __future__ import annotations

from typing import Any


def _key(js: Any) -> tuple:
    attrs = getattr(js, "attributes", {}) or {}
    return (getattr(js, "filename", js) or "", getattr(js, "priority", 0), tuple(sorted(attrs.items())))


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    files = context.get("script_files")
    if files:
        seen: set = set()
        files[:] = [js for js in files if not (_key(js) in seen or seen.add(_key(js)))]


def setup(app: Any) -> dict:
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
