"""Training: missing-modality augmentation, the one :class:`Trainer` every method uses, many same-shaped runs
stacked on one device (:class:`MultiTrainer`, vmap), CUDA-graph steps, and scale-out over torchrun ranks
(:mod:`umelib.training.distributed`: data-parallel fits, jobs over ranks).

Above :mod:`umelib.datasets` and :mod:`umelib.models` (and the bottom modules); never imports methods,
evaluate or experiments."""
from .augment import MissingModalityAugmentation, replace, substitute_like
from .multirun import MultiTrainer, fit_many
from .trainer import Trainer, autocast, make_optimizer, param_groups, pick_device

__all__ = ["MissingModalityAugmentation", "replace", "substitute_like", "MultiTrainer", "fit_many", "Trainer",
           "autocast", "make_optimizer", "param_groups", "pick_device"]
