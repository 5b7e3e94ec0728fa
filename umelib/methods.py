"""The methods of the paper as named recipes on one trainer (Sec. 3.3, 4.2, 4.3).

Methods that train the fusion from scratch use the phase-1 hyperparameters (the from-scratch
setting); methods that start from phase-1 weights use the phase-2 ones (App. B).
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .training.augment import MissingModalityAugmentation
from .config import PhaseConfig, RunConfig
from .datasets.core import LABEL, PRESENT, MultiModalData, Split, headline_metric
from .errors import UmeError
from .evaluate import evaluate, predict, score
from .models.fusion import LateFusion
from .training.features import featurize
from .training.trainer import Trainer


@dataclass(frozen=True)
class Recipe:
    help: str
    pretrain: bool = False
    joint: bool = True
    augment: bool = False
    freeze: bool = False
    multitask: bool = False
    missing_class: bool = False
    finetune: bool = True  # False: the fused phase-1 models are evaluated as they are (no phase 2)


METHODS: dict[str, Recipe] = {
    "unimodal": Recipe("phase 1 only: one model per modality (the 'Uni-Modal Models' row)", pretrain=True, joint=False),
    "ume-mma": Recipe("UME-MMA: uni-modal pre-training, then late fusion fine-tuned with missing-modality augmentation",
                      pretrain=True, augment=True),
    "ume-mma-frozen": Recipe("UME-MMA with frozen phase-1 encoders: phase 2 trains the heads only", pretrain=True,
                             augment=True, freeze=True),
    "naive": Recipe("late fusion trained end to end from scratch, no augmentation"),
    "multitask": Recipe("naive + an extra uni-modal linear classifier and loss per modality", multitask=True),
    "missing-detection": Recipe("from scratch with augmentation; each head has an extra 'missing' class, and a modality "
                                "whose head predicts it is ignored at inference", augment=True, missing_class=True),
    "frozen-heads": Recipe("ablation: heads-only late fusion on frozen phase-1 encoders, no augmentation",
                           pretrain=True, freeze=True),
    "only-aug": Recipe("ablation: missing-modality augmentation without uni-modal pre-training", augment=True),
    "only-pretrain": Recipe("ablation: uni-modal pre-training without augmentation", pretrain=True),
    "phase1-fused": Recipe("ablation: the phase-1 models fused by averaging their logits, no phase 2 (what phase 2 "
                           "adds is UME-MMA minus this)", pretrain=True, finetune=False),
}


def task_loss(logits: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """Cross-entropy (multiclass) or binary cross-entropy with logits (multi-label)."""
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits.float(), y.float())
    return F.cross_entropy(logits.float(), y)


def make_loss(recipe: Recipe, task: str, aux_weight: float = 1.0):
    """The loss ``fn(model, batch)`` of a recipe."""
    def loss(model: LateFusion, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        out = model.forward_all(batch)
        y = batch[LABEL]
        if recipe.missing_class:
            # Each head learns "missing" (class C) where its input was dropped; the fused loss uses the
            # heads of the modalities that are present.
            present = batch[PRESENT]
            k = model.num_classes
            heads = sum(F.cross_entropy(out["uni"][m].float(), torch.where(present[:, j], y, k))
                        for j, m in enumerate(model.modalities))
            cls = torch.stack([out["uni"][m][:, :k] for m in model.modalities]).float()
            w = present.T.unsqueeze(-1).float()
            fused = (cls * w).sum(0) / w.sum(0)
            return F.cross_entropy(fused, y) + heads / len(model.modalities)
        total = task_loss(out["fused"], y, task)
        if recipe.multitask:
            total = total + aux_weight * sum(task_loss(a, y, task) for a in out["aux"].values()) / len(out["aux"])
        return total
    return loss


def check_method(method: str) -> Recipe:
    if method not in METHODS:
        raise UmeError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
    return METHODS[method]


def model_encoders(data: MultiModalData, cfg: RunConfig,
                   encoders: Mapping[str, str | nn.Module | None] | None = None) -> dict[str, str | nn.Module | None]:
    """The encoder per modality a model is built with: the config's, then ``encoders``; a ``frozen:SPEC`` modality
    whose data already holds that encoder's cached features (``info["features"]``) reads them through
    ``identity``."""
    enc = dict(cfg.encoders) | dict(encoders or {})
    feats = data.info.get("features", {})
    return {m: "identity" if isinstance(e, str) and e.startswith("frozen:") and m in feats else e for m, e in enc.items()}


def unimodal_split(split: Split, j: int, keep_all: bool = False) -> Split:
    """Modality ``j`` alone, on the samples where it is present (phase 1 trains on these; ``keep_all``: on every
    sample, the missing ones getting the substitute, as the protocol tests)."""
    keep = split.present[:, j]
    if not keep_all and not bool(keep.all()):
        split = split.subset(keep.nonzero().squeeze(1))
    m = split.modalities[j]
    return Split({m: split.x[m]}, split.y, split.present[:, j:j + 1], {k: v for k, v in split.fill.items() if k == m})


def unimodal_model(data: MultiModalData, cfg: RunConfig, j: int, seed: int,
                   encoders: Mapping[str, str | nn.Module | None] | None = None) -> LateFusion:
    """A fresh phase-1 model for modality ``j``, initialised from ``seed`` (as :func:`pretrain` does)."""
    m = data.modalities[j]
    enc = model_encoders(data, cfg, encoders).get(m)
    enc = copy.deepcopy(enc) if isinstance(enc, nn.Module) else enc  # the caller's module is never trained
    torch.manual_seed(seed + 101 * (j + 1))
    return LateFusion.build({m: data.input_shapes()[m]}, data.num_classes, {m: enc})


def val_scorer(data: MultiModalData, j: int | None = None, cfg: RunConfig | None = None):
    """Scores a model on the validation split (None without one): modality ``j``'s uni-modal model on its own
    input (phase 1), or a fused model by the protocol's ``avg`` over complete and each modality missing (the
    number the paper's tables lead with); with ``cfg.phase2_complete_only`` by its ``complete`` score, which is
    what Table 3 reports (the variant fine-tunes for complete inputs). Selection never sees the test split."""
    if data.val is None:
        return None
    key = headline_metric(data.task)
    if j is not None:
        split = unimodal_split(data.val, j)
        return lambda model: score(predict(model, split), split.y.cpu(), data.task)[key]
    if cfg is not None and cfg.phase2_complete_only:
        return lambda model: score(predict(model, data.val), data.val.y.cpu(), data.task)[key]
    return lambda model: evaluate(model, data.val, data.task)["avg"][key]


def pretrain(data: MultiModalData, cfg: RunConfig, trainer: Trainer,
             encoders: Mapping[str, str | nn.Module | None] | None = None) -> dict[str, LateFusion]:
    """Phase 1: a uni-modal model per modality, each trained on the samples where its modality is present and
    selected on its validation score."""
    loss = make_loss(Recipe("unimodal"), data.task)
    return {m: trainer.fit(unimodal_model(data, cfg, j, trainer.seed, encoders), unimodal_split(data.train, j),
                           cfg.phase1, loss, desc=f"phase 1 [{m}]", val_score=val_scorer(data, j))
            for j, m in enumerate(data.modalities)}


@dataclass
class RunOutput:
    """What :func:`run_method` returns: the trained model(s) and their protocol metrics."""

    method: str
    model: LateFusion | None
    unimodal: dict[str, LateFusion] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    predictions: dict[str, torch.Tensor] = field(default_factory=dict)  # setting -> predicted classes (multiclass)


def unimodal_metrics(models: Mapping[str, LateFusion], data: MultiModalData,
                     keep: dict | None = None) -> dict[str, dict[str, float]]:
    """``only:<m>``: each uni-modal model on its own modality. With two modalities the same numbers are
    also filed under ``miss:<other>`` (the paper's 'Uni-Modal Models' row). ``keep`` receives each setting's
    predicted classes (multiclass), as :func:`~umelib.evaluate.evaluate`'s does."""
    out, preds = {}, {}
    for j, m in enumerate(data.modalities):
        split = unimodal_split(data.test, j, keep_all=True)
        logits = predict(models[m], split)
        out[f"only:{m}"], preds[f"only:{m}"] = score(logits, data.test.y, data.task), logits.argmax(1)
    if len(data.modalities) == 2:
        a, b = data.modalities
        out[f"miss:{a}"], out[f"miss:{b}"] = out[f"only:{b}"], out[f"only:{a}"]
        preds[f"miss:{a}"], preds[f"miss:{b}"] = preds[f"only:{b}"], preds[f"only:{a}"]
    if keep is not None and data.task == "multiclass":
        keep.update(preds)
    return out


def run_method(method: str, data: MultiModalData, cfg: RunConfig, trainer: Trainer,
               pretrained: Mapping[str, LateFusion] | None = None,
               encoders: Mapping[str, str | nn.Module | None] | None = None, missing_rate: float = 1.0,
               feature_cache: str | Path | None = None) -> RunOutput:
    """Train ``method`` on ``data.train`` and evaluate it on ``data.test`` with the protocol.

    ``pretrained`` reuses phase-1 models across methods (they are copied, not changed); ``feature_cache`` is a
    folder where frozen-encoder methods keep the phase-1 encoders' features (keyed by their weights)."""
    rec = check_method(method)
    if rec.missing_class and data.task != "multiclass":
        raise UmeError("missing-detection needs a multiclass task (its 'missing' class has no multi-label analogue)")
    uni = dict(pretrained) if pretrained else (pretrain(data, cfg, trainer, encoders) if rec.pretrain else {})
    if not rec.joint:
        preds: dict = {}
        return RunOutput(method, None, uni, unimodal_metrics(uni, data, keep=preds), preds)
    torch.manual_seed(trainer.seed)
    if rec.freeze:  # heads on the frozen phase-1 encoders' features, computed once
        fdata, funi = frozen_view(data, uni, feature_cache, device=trainer.device)
        model, phase, aug, loss = setup_method(method, fdata, cfg, funi, identity_encoders(fdata))
        trainer.fit(model, joint_split(fdata, cfg), phase, loss, aug, desc=method, val_score=val_scorer(fdata, None, cfg))
        preds: dict = {}
        return RunOutput(method, attach_heads(method, data, cfg, uni, encoders, model), uni,
                         evaluate(model, fdata.test, data.task, missing_rate, seed=trainer.seed, keep=preds), preds)
    model, phase, aug, loss = setup_method(method, data, cfg, uni, encoders)
    if rec.finetune:
        trainer.fit(model, joint_split(data, cfg), phase, loss, aug, desc=method, val_score=val_scorer(data, None, cfg))
    else:
        model.to(trainer.device)
    preds = {}
    return RunOutput(method, model, uni, evaluate(model, data.test, data.task, missing_rate, seed=trainer.seed, keep=preds),
                     preds)


def joint_split(data: MultiModalData, cfg: RunConfig) -> Split:
    """What joint training sees: the training split, or its complete samples with ``cfg.phase2_complete_only``
    (the paper's variant for training-set missing; phase 1 still trains on every sample of its modality)."""
    if not cfg.phase2_complete_only:
        return data.train
    keep = data.train.present.all(1)
    if not bool(keep.any()):
        raise UmeError("phase2_complete_only: no training sample has every modality; turn it off")
    return data.train.subset(keep.nonzero().squeeze(1))


def identity_encoders(data: MultiModalData) -> dict[str, str]:
    return {m: "identity" for m in data.modalities}


def frozen_view(data: MultiModalData, pretrained: Mapping[str, LateFusion], cache_dir=None,
                device: torch.device | str = "cpu") -> tuple[MultiModalData, dict[str, LateFusion]]:
    """``data`` as features of the phase-1 encoders (substitutes as the features of the substitute, see
    :func:`umelib.training.features.featurize`), and the phase-1 heads on ``identity`` encoders: what a method
    with frozen encoders trains, at the cost of one encoder pass over the data."""
    fdata = featurize(data, {m: pretrained[m].encoders[m] for m in data.modalities}, cache_dir, device)
    shapes = fdata.input_shapes()
    heads = {}
    for m in data.modalities:
        heads[m] = LateFusion.build({m: shapes[m]}, data.num_classes, {m: "identity"})
        heads[m].heads.load_state_dict(pretrained[m].heads.state_dict())
    return fdata, heads


def attach_heads(method: str, data: MultiModalData, cfg: RunConfig, pretrained: Mapping[str, LateFusion],
                 encoders: Mapping[str, str | nn.Module | None] | None, trained: LateFusion) -> LateFusion:
    """The end-to-end model of a frozen-encoder method: the phase-1 encoders with the heads trained on features."""
    full = setup_method(method, data, cfg, pretrained, encoders)[0]
    full.heads.load_state_dict(trained.heads.state_dict())
    return full.to(next(trained.parameters()).device)


class Setup(NamedTuple):
    """What a joint method trains (unpacks as ``model, phase, aug, loss``)."""

    model: LateFusion
    phase: PhaseConfig  # the phase's settings: phase 2 for methods that start from phase 1, else phase 1
    aug: MissingModalityAugmentation | None  # None: no augmentation and no missing training inputs
    loss: Callable


def setup_method(method: str, data: MultiModalData, cfg: RunConfig, pretrained: Mapping[str, LateFusion] | None = None,
                 encoders: Mapping[str, str | nn.Module | None] | None = None) -> Setup:
    """What a joint method trains: a :class:`Setup` (model, phase config, augmentation or None, loss fn); the model is built
    (from the current torch seed) and, for methods that start from phase 1, loaded from ``pretrained``."""
    rec = check_method(method)
    enc = model_encoders(data, cfg, encoders)
    enc = {m: copy.deepcopy(e) if isinstance(e, nn.Module) else e for m, e in enc.items()}  # never share weights
    model = LateFusion.build(data.input_shapes(), data.num_classes, enc,
                             missing_class=rec.missing_class, aux_heads=rec.multitask)
    if rec.pretrain:
        if not pretrained:
            raise UmeError(f"'{method}' starts from phase-1 models; pass them (see umelib.methods.pretrain)")
        model.load_unimodal(pretrained)
        model.freeze_encoders(rec.freeze)
    phase = cfg.phase2 if rec.pretrain else cfg.phase1
    if cfg.equal_compute and not rec.pretrain:  # from scratch: as many epochs as UME-MMA's two phases together
        phase = dataclasses.replace(phase, epochs=cfg.phase1.epochs + cfg.phase2.epochs)
    subs = dict(data.train.fill)
    aug = MissingModalityAugmentation(cfg.drop_p, cfg.aug_mode, subs) if rec.augment else None
    if aug is None and not bool(data.train.present.all()):
        # Samples missing a modality in the training set still get the substitute for it.
        aug = MissingModalityAugmentation(0.0, cfg.aug_mode, subs)
    return Setup(model, phase, aug, make_loss(rec, data.task, cfg.aux_weight))
