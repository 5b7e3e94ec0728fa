"""umelib: Uni-Modal Ensemble with Missing Modality Adaptation (UME-MMA) in PyTorch.

The pieces: :mod:`umelib.data` (datasets as tensors, .npz), :mod:`umelib.synthetic` (Gaussian data
with exact Bayes posteriors), :mod:`umelib.encoders`, :mod:`umelib.fusion` (late fusion),
:mod:`umelib.augment` (missing-modality augmentation), :mod:`umelib.train` (one trainer),
:mod:`umelib.multirun` (many small runs stacked on one device), :mod:`umelib.graphs` (CUDA-graph steps),
:mod:`umelib.suite` (whole table sets), :mod:`umelib.claims` (the paper's claims checked per run),
:mod:`umelib.methods` (the recipes), :mod:`umelib.evaluate` (the protocol),
:mod:`umelib.results` (JSON with provenance), :mod:`umelib.experiment` (run it all).
"""
__version__ = "0.1.0"

from .augment import MissingModalityAugmentation
from .config import PhaseConfig, RunConfig, get_config
from .data import MultiModalData, Split, load_dataset, load_npz, save_npz
from .errors import UmeError
from .evaluate import evaluate, predict
from .experiment import bayes_reference, prepare, run
from .fusion import LateFusion
from .methods import METHODS, pretrain, run_method
from .multirun import MultiTrainer, fit_many
from .synthetic import GaussianSpec, make_gaussian
from .train import Trainer

__all__ = ["MissingModalityAugmentation", "PhaseConfig", "RunConfig", "get_config", "MultiModalData", "Split",
           "load_dataset", "load_npz", "save_npz", "UmeError", "evaluate", "predict", "bayes_reference", "prepare",
           "run", "LateFusion", "METHODS", "pretrain", "run_method", "GaussianSpec", "make_gaussian", "Trainer", "MultiTrainer", "fit_many"]
