"""umelib: Uni-Modal Ensemble with Missing Modality Adaptation (UME-MMA) in PyTorch.

The packages, bottom to top (imports point down only; see the README's Layout section):

- :mod:`umelib.datasets` containers, ``.npz``, the registry, one module per dataset (``build/``: data files);
  :mod:`umelib.models` encoders and late fusion; :mod:`umelib.theory` information quantities, Theorem 3.2;
- :mod:`umelib.training` augmentation, the trainer, stacked runs, CUDA graphs;
- :mod:`umelib.methods` the recipes of the paper, :mod:`umelib.evaluate` the missing-modality protocol;
- :mod:`umelib.experiments` the suite, cache, results, reports, claims, paper numbers, chapters;
  :mod:`umelib.cli` the command line.

Beneath them all: :mod:`umelib.errors`, :mod:`umelib.config` (every hyperparameter), :mod:`umelib.files`
(atomic writes, JSON, checksums) and :mod:`umelib.provenance`.
"""
from .config import PhaseConfig, RunConfig, get_config
from .datasets import MultiModalData, Split, load_dataset, load_npz, save_npz
from .datasets.builders.own import from_arrays, from_csv, from_image_folders
from .datasets.kinds import KINDS
from .datasets.synthetic import GaussianSpec, bayes_reference, make_gaussian
from .errors import UmeError
from .evaluate import evaluate, predict
from .experiments.suite import prepare, run, run_suite
from .methods import METHODS, pretrain, run_method
from .models import LateFusion
from .provenance import __version__
from .training import MissingModalityAugmentation, MultiTrainer, Trainer, fit_many

__all__ = ["__version__", "MissingModalityAugmentation", "PhaseConfig", "RunConfig", "get_config", "MultiModalData", "Split",
           "load_dataset", "load_npz", "save_npz", "from_arrays", "from_csv", "from_image_folders", "KINDS", "UmeError", "evaluate", "predict", "bayes_reference", "prepare",
           "run", "run_suite", "LateFusion", "METHODS", "pretrain", "run_method", "GaussianSpec", "make_gaussian",
           "Trainer", "MultiTrainer", "fit_many"]
