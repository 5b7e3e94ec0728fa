"""Experiments: the suite (one orchestrator for runs, seeds, methods and drop sweeps), its cache, result dicts
and tables, reports and plots, the paper's claims checked per run, the paper's numbers, the model-based
Gamma estimates, the chapters' entry points, and the results page's overview of every reproduced table.

Top layer (with the CLI): may import everything below; nothing below imports it."""

from .display import setup_if_loaded as _setup_if_loaded

_setup_if_loaded()
