"""How the book shows tables: every cell whole (pandas cuts cells at 50 characters by default, which cut the
claims tables' 'ours' and 'difference' cells). The CSS (book/_static/umelib.css) wraps long cells and lets wide
tables scroll sideways.

Nothing here runs on import: a chapter asks for the book's settings with :func:`book_display` (importing umelib
never changes a user's pandas options)."""
from __future__ import annotations

from types import ModuleType

OPTIONS = {"display.max_colwidth": None, "display.max_columns": 60, "display.width": 200}


def book_pandas() -> ModuleType:
    """pandas, imported on use (the tables' functions call this instead of ``import pandas`` at module level, so
    that the CLI starts without it)."""
    import pandas as pd

    return pd


def book_display() -> None:
    """Set :data:`OPTIONS` in pandas: what the book's chapters call once in their setup cell."""
    pd = book_pandas()
    for key, value in OPTIONS.items():
        pd.set_option(key, value)
