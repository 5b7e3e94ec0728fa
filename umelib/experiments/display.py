"""How the book shows tables: every cell whole (pandas cuts cells at 50 characters by default, which cut the
claims tables' 'ours' and 'difference' cells). The CSS (book/_static/umelib.css) wraps long cells and lets wide
tables scroll sideways."""
from __future__ import annotations

import sys
from types import ModuleType

OPTIONS = {"display.max_colwidth": None, "display.max_columns": 60, "display.width": 200}


def book_pandas() -> ModuleType:
    """pandas, with :data:`OPTIONS` set (the tables' functions call this instead of ``import pandas``)."""
    import pandas as pd

    for key, value in OPTIONS.items():
        pd.set_option(key, value)
    return pd


def setup_if_loaded() -> None:
    """Set :data:`OPTIONS` when pandas is already imported (a chapter that builds its own DataFrames imports
    pandas before umelib); never imports pandas itself, so the CLI starts no slower."""
    if "pandas" in sys.modules:
        book_pandas()
