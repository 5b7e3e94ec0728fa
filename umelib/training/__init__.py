"""Training: missing-modality augmentation, the one :class:`Trainer` every method uses, many same-shaped runs
stacked on one device (:class:`MultiTrainer`, vmap) and CUDA-graph steps.

Above :mod:`umelib.datasets` and :mod:`umelib.models` (and the bottom modules); never imports methods,
evaluate or experiments."""
from .augment import MissingModalityAugmentation, replace, substitute_like
from .multirun import MultiTrainer, fit_many
from .trainer import Trainer, autocast, make_optimizer, param_groups, pick_device

__all__ = ["MissingModalityAugmentation", "replace", "substitute_like", "MultiTrainer", "fit_many", "Trainer",
           "autocast", "make_optimizer", "param_groups", "pick_device"]
