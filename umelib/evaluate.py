"""The missing-modality protocol (paper Sec. 4.1): the model is not told what is missing; the missing
input is replaced by its substitute. Settings: ``complete``, ``miss:<m>`` per modality, ``avg``.
A ``missing_rate`` < 1 makes only that share of test samples miss the modality (partial missing; the paper's
Fig. 3 axis is eta = 1 - missing_rate, the share that keeps it)."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .training.augment import Noise, Substitute, replace
from .datasets.core import Split
from .errors import UmeError
from .training.trainer import autocast, pick_device


@torch.no_grad()
def predict(model: nn.Module, split: Split, missing: torch.Tensor | None = None,
            substitutes: Mapping[str, Substitute] | None = None, batch_size: int | None = None,
            device: str | torch.device | None = None, seed: int = 0) -> torch.Tensor:
    """Fused logits (float32, on CPU) for ``split``; ``missing`` (N, M) bool replaces inputs by substitutes
    (a :class:`Noise` substitute is drawn from ``seed``, so every model of a seed sees the same noise).
    ``batch_size`` None: 4096 on CUDA; on a CPU about 2 MB of input per batch (small batches keep a CNN's
    activations in cache: 1,000 AV-MNIST samples take 0.6 s in batches of 32 against 1.7 s in one of 4096)."""
    device = pick_device(device) if device is not None else next(model.parameters()).device
    substitutes = split.fill if substitutes is None else substitutes
    model.eval()
    if batch_size is None:
        per_sample = sum(t[:1].numel() * t.element_size() for t in split.x.values()) or 1
        batch_size = 4096 if device.type == "cuda" else int(min(4096, max(32, (2 << 20) // per_sample)))
    if any(isinstance(v, Noise) for v in substitutes.values()):
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            return _predict(model, split, missing, substitutes, batch_size, device)
    return _predict(model, split, missing, substitutes, batch_size, device)


def _predict(model: nn.Module, split: Split, missing: torch.Tensor | None, substitutes: Mapping[str, Substitute],
             batch_size: int, device: torch.device) -> torch.Tensor:
    mods = split.modalities
    outs = []
    for i in range(0, len(split), batch_size):
        b = {k: v.to(device) for k, v in split.batch(slice(i, i + batch_size)).items()}
        miss = ~b["present"] if missing is None else (missing[i:i + batch_size].to(device) | ~b["present"])
        b = replace(b, miss, mods, substitutes)
        with autocast(device):
            outs.append(model(b).float().cpu())
    return torch.cat(outs) if outs else torch.empty(0)


def score(logits: torch.Tensor, y: torch.Tensor, task: str = "multiclass") -> dict[str, float]:
    """Accuracy (multiclass) or macro and micro F1 (multi-label), in percent, via torchmetrics. Multi-label logits are
    thresholded at 0 here (sigmoid 0.5): torchmetrics would read logits that all lie in [0, 1] as probabilities."""
    import torchmetrics.functional as F

    k = logits.shape[1]
    if task == "multilabel":
        yi, pred = y.int(), (logits > 0).int()
        return {"f1_macro": 100 * float(F.f1_score(pred, yi, task="multilabel", num_labels=k, average="macro")),
                "f1_micro": 100 * float(F.f1_score(pred, yi, task="multilabel", num_labels=k, average="micro"))}
    return {"accuracy": 100 * float(F.accuracy(logits, y, task="multiclass", num_classes=k, average="micro"))}


def missing_mask(n: int, modalities: list[str], setting: str, missing_rate: float = 1.0, seed: int = 0) -> torch.Tensor:
    """Bool (n, M) for one protocol setting: ``complete``, or ``miss:<m>`` on a seeded share ``missing_rate`` of
    the samples (the suite passes each run's seed, so the masks vary over seeds as the training does; every method
    of one seed sees the same masks, so paired differences compare like with like)."""
    mask = torch.zeros(n, len(modalities), dtype=torch.bool)
    if setting == "complete":
        return mask
    m = setting.split(":", 1)[1]
    j = modalities.index(m)
    if missing_rate >= 1.0:
        mask[:, j] = True
    else:
        g = torch.Generator().manual_seed(seed)
        mask[torch.randperm(n, generator=g)[: round(missing_rate * n)], j] = True
    return mask


def evaluate(model: nn.Module, split: Split, task: str = "multiclass", missing_rate: float = 1.0,
             substitutes: Mapping[str, Substitute] | None = None, seed: int = 0,
             modalities: list[str] | None = None, keep: dict | None = None) -> dict[str, dict[str, float]]:
    """Every protocol setting -> its metrics (percent); ``avg`` is the mean over the settings. ``keep``: a dict
    that receives each setting's predicted classes (multiclass), for :mod:`umelib.experiments.diagnostics`."""
    mods = split.modalities
    settings = ["complete"] + [f"miss:{m}" for m in (modalities or mods)]
    out = {}
    for s in settings:
        logits = predict(model, split, missing_mask(len(split), mods, s, missing_rate, seed), substitutes, seed=seed)
        out[s] = score(logits, split.y.cpu(), task)
        if keep is not None and task == "multiclass":
            keep[s] = logits.argmax(1)
    out["avg"] = {k: sum(out[s][k] for s in settings) / len(settings) for k in out["complete"]}
    return out


def subset_masks(n: int, modalities: list[str]) -> dict[str, torch.Tensor]:
    """``any-subset``: every non-empty subset of ``modalities`` present (``complete``, ``present:a+b``, ...) -> its
    (n, M) missing mask."""
    from .protocols import subset_settings

    return {name: torch.tensor([m in missing for m in modalities]).expand(n, -1)
            for name, missing in subset_settings(modalities).items()}


def bootstrap_interval(logits: torch.Tensor, y: torch.Tensor, task: str, n_boot: int = 1000, seed: int = 0,
                       groups: torch.Tensor | None = None) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of :func:`score` over test items resampled with replacement (``groups``: resample
    whole groups, e.g. the two designs of one emoji, so that items sharing content move together)."""
    g = torch.Generator().manual_seed(seed)
    n = len(y)
    if groups is None:
        idx = torch.randint(n, (n_boot, n), generator=g)
    else:
        ids, inv = torch.unique(groups, return_inverse=True)
        members = [torch.nonzero(inv == k).squeeze(1) for k in range(len(ids))]
        picks = torch.randint(len(ids), (n_boot, len(ids)), generator=g)
        idx = [torch.cat([members[int(k)] for k in row]) for row in picks]
    if task != "multilabel" and groups is None:  # accuracy: one vectorized mean per resample
        correct = (logits.argmax(1) == y).float()
        vals = {"accuracy": 100 * correct[idx].mean(1)}
    else:
        per = [score(logits[i], y[i], task) for i in idx]
        vals = {k: torch.tensor([p[k] for p in per]) for k in per[0]}
    return {k: (float(v.quantile(0.025)), float(v.quantile(0.975))) for k, v in vals.items()}


def evaluate_protocol(model, split: Split, task: str = "multiclass", protocol: str = "any-subset",
                      present: torch.Tensor | None = None, substitutes: Mapping[str, Substitute] | None = None,
                      device: str | torch.device | None = None, n_boot: int = 1000, seed: int = 0,
                      groups: torch.Tensor | None = None) -> dict[str, dict[str, float]]:
    """Any model under a named protocol (:mod:`umelib.protocols`): ``model`` is an ``nn.Module`` or a callable that
    takes a dict of modality tensors (plus ``"present"`` and ``"label"``, which it may ignore) and returns logits.
    ``any-subset``: every non-empty subset of modalities present (``complete``, ``present:a``, ...); other protocols:
    ``present`` (N, M) bool, the test masks of :func:`umelib.protocols.make_masks`, as the setting ``masked``, beside
    ``complete``. Each setting's metrics come with ``<metric>_lo`` / ``<metric>_hi``: a 95% bootstrap interval over
    test items (``groups``: items resampled together)."""
    from .protocols import protocol as get_protocol

    get_protocol(protocol)
    mods = split.modalities
    if protocol == "any-subset":
        settings = subset_masks(len(split), mods)
    else:
        if present is None or tuple(present.shape) != (len(split), len(mods)):
            raise UmeError(f"protocol '{protocol}' needs the test presence masks, shape ({len(split)}, {len(mods)}); "
                           "make them with python -m umelib masks")
        settings = {"complete": torch.zeros(len(split), len(mods), dtype=torch.bool), "masked": ~present.bool()}
    if device is None:
        params = list(model.parameters()) if isinstance(model, nn.Module) else []
        device = params[0].device if params else torch.device("cpu")
    wrapped = model if isinstance(model, nn.Module) else _Callable(model)
    out = {}
    y = split.y.cpu()
    for name, missing in settings.items():
        logits = predict(wrapped, split, missing, substitutes, device=device)
        metrics = score(logits, y, task)
        for k, (lo, hi) in bootstrap_interval(logits, y, task, n_boot, seed, groups).items():
            metrics[f"{k}_lo"], metrics[f"{k}_hi"] = lo, hi
        out[name] = metrics
    return out


class _Callable(nn.Module):
    """A plain callable as a module (for :func:`predict`)."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, batch: dict) -> torch.Tensor:
        return self.fn(batch)
