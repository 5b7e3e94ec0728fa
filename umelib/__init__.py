"""umelib: Uni-Modal Ensemble with Missing Modality Adaptation (UME-MMA) in PyTorch.

The packages, bottom to top (imports point down only; see the README's Layout section):

- :mod:`umelib.datasets` containers, ``.npz``, the registry, one module per dataset (``builders/``: data files);
  :mod:`umelib.models` encoders and late fusion; :mod:`umelib.theory` information quantities, Theorem 3.2;
- :mod:`umelib.training` augmentation, the trainer, stacked runs, CUDA graphs;
- :mod:`umelib.methods` the recipes of the paper, :mod:`umelib.evaluate` the missing-modality protocol;
- :mod:`umelib.experiments` the runner: suite, jobs, cache, results, selection;
- :mod:`umelib.paper` the paper's numbers, tables, claims, chapters and plots (nothing below imports it);
  :mod:`umelib.cli` the command line.

Beneath them all: :mod:`umelib.errors`, :mod:`umelib.config` (every hyperparameter), :mod:`umelib.files`
(atomic writes, JSON, checksums), :mod:`umelib.provenance`, :mod:`umelib.paths` (where results and caches go) and
:mod:`umelib.verdicts` (the rules claims are tested by).

The public names below are imported on first use (PEP 562), so ``import umelib`` and ``python -m umelib --help``
do not import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

from .errors import UmeError
from .provenance import __version__

# public name -> the module that defines it; imported on first access (PEP 562), so ``import umelib`` and
# ``python -m umelib --help`` / ``list`` do not import torch
_LAZY = {"PhaseConfig": "config", "RunConfig": "config", "get_config": "config",
         "MultiModalData": "datasets", "Split": "datasets", "load_dataset": "datasets", "load_npz": "datasets",
         "save_npz": "datasets", "GaussianSpec": "datasets.synthetic", "bayes_reference": "datasets.synthetic",
         "make_gaussian": "datasets.synthetic", "evaluate": "evaluate", "predict": "evaluate",
         "prepare": "experiments.suite", "run": "experiments.suite", "run_suite": "experiments.suite",
         "METHODS": "methods", "pretrain": "methods", "run_method": "methods", "LateFusion": "models",
         "MissingModalityAugmentation": "training", "MultiTrainer": "training", "Trainer": "training",
         "fit_many": "training", "from_arrays": "datasets.builders.own", "from_csv": "datasets.builders.own",
         "from_image_folders": "datasets.builders.own", "KINDS": "datasets.kinds"}

__all__ = ["__version__", "MissingModalityAugmentation", "PhaseConfig", "RunConfig", "get_config", "MultiModalData", "Split",
           "load_dataset", "load_npz", "save_npz", "from_arrays", "from_csv", "from_image_folders", "KINDS", "UmeError", "evaluate", "predict", "bayes_reference", "prepare",
           "run", "run_suite", "LateFusion", "METHODS", "pretrain", "run_method", "GaussianSpec", "make_gaussian",
           "Trainer", "MultiTrainer", "fit_many"]


def __getattr__(name: str) -> Any:
    """A public name, imported on first use. The datasets are imported with any of them: they register themselves
    and fill ``config.FIXED_SCHEDULE``, which ``get_config`` reads."""
    if name not in _LAZY:
        raise AttributeError(f"module 'umelib' has no attribute '{name}'")
    importlib.import_module(".datasets", __name__)
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
