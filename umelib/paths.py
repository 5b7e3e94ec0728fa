"""Where umelib reads and writes by default: one place for every path root.

Run from a checkout (the package sits in a folder with ``pyproject.toml`` and ``.git``), the roots are that
checkout's ``data/``, ``results/`` and ``runs/cache``; installed elsewhere (``pip install .``), they are the
working folder's. ``$UME_DATA``, ``$UME_RESULTS`` and ``$UME_CACHE`` override each."""
from __future__ import annotations

import os
from pathlib import Path


def checkout() -> Path | None:
    """The source checkout umelib runs from, or None when it runs from an installed copy."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "umelib").is_dir() and (root / ".git").exists() else None


def base() -> Path:
    """The checkout when run from one, else the working folder."""
    return checkout() or Path.cwd()


def data_root() -> Path:
    """Built datasets: ``$UME_DATA``, else ``data/`` under :func:`base`."""
    return Path(os.environ.get("UME_DATA") or base() / "data")


def results_root() -> Path:
    """Result files: ``$UME_RESULTS``, else ``results/`` under :func:`base`."""
    return Path(os.environ.get("UME_RESULTS") or base() / "results")


def cache_root() -> Path:
    """Cached phase-1 weights and results: ``$UME_CACHE``, else ``runs/cache`` under :func:`base`."""
    return Path(os.environ.get("UME_CACHE") or base() / "runs" / "cache")
