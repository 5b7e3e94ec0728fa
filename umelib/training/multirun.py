"""Many small runs at once on one device: K models of the same architecture are stacked
(``torch.func.stack_module_state``) and every step is one ``vmap``-ed forward/backward over the K runs.

One LeNet pair uses a few percent of a GPU; stacking seeds and drop probabilities fills it. Each run keeps
its own seed (initialisation is the caller's; data order and each epoch's augmentation drops are drawn exactly
as :class:`umelib.training.trainer.Trainer` draws them) and its own augmentation, so a stacked run reproduces the
sequential one up to float rounding.
"""
from __future__ import annotations

import copy
import time
from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .augment import MissingModalityAugmentation, Noise, replace
from ..config import PhaseConfig
from ..datasets.core import LABEL, PRESENT, Split
from ..errors import UmeError
from .graphs import StepGraph, graphs_wanted
from .progress import Progress
from .trainer import LossFn, Selection, ValFn, autocast, epoch_order, make_optimizer, pick_device


class _Loss(nn.Module):
    """``forward(batch) = loss_fn(model, batch)``, so that ``functional_call`` can run any loss."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def check_stackable(models: Sequence[nn.Module]) -> None:
    """Raise :class:`UmeError` unless every model has the same parameter and buffer names, shapes and
    trainable flags as the first."""
    if not models:
        raise UmeError("fit_many needs at least one model")
    ref = models[0]
    sig = [(n, tuple(p.shape), p.requires_grad) for n, p in ref.named_parameters()]
    bsig = [(n, tuple(b.shape)) for n, b in ref.named_buffers()]
    for k, m in enumerate(models[1:], 1):
        if [(n, tuple(p.shape), p.requires_grad) for n, p in m.named_parameters()] != sig or \
                [(n, tuple(b.shape)) for n, b in m.named_buffers()] != bsig:
            raise UmeError(f"model {k} differs from model 0 in its parameters, buffers or frozen parts; "
                           "runs trained together need one architecture (train the others separately)")


class MultiTrainer:
    """Trains K same-shaped models concurrently on one resident :class:`Split` (see the module doc).

    ``history`` gets one entry per run and epoch (``run`` = index in the list given to :meth:`fit`).
    ``graphs=True`` (or ``UME_CUDA_GRAPHS=1``) replays the stacked step as a CUDA graph (:mod:`umelib.training.graphs`)."""

    def __init__(self, device: str | torch.device | None = None, amp: bool = True, progress: bool = False,
                 graphs: bool | None = None) -> None:
        self.device = pick_device(device)
        self.graphs = graphs
        self.amp = amp
        self.progress = progress
        self.history: list[dict] = []
        self.selected: list[dict] = []  # one entry per run and fit: epochs run, selected epoch, validation score

    def fit(self, models: Sequence[nn.Module], split: Split, cfg: PhaseConfig, loss_fn: LossFn,
            seeds: Sequence[int], augments: Sequence[MissingModalityAugmentation | None] | None = None,
            indices: Sequence[torch.Tensor] | None = None, desc: str = "train",
            val_scores: Sequence[ValFn] | None = None) -> list[nn.Module]:
        """Train every model in place for up to ``cfg.epochs`` and return them (in eval mode).

        ``seeds[k]`` drives run k's batch order (and ``seeds[k] + 1`` its augmentation), as in ``Trainer``;
        ``augments[k]`` is run k's augmentation (or None); ``indices[k]`` restricts run k to those samples of
        ``split`` (all runs need the same number of samples). Without ``indices`` every run sees all of it.
        ``val_scores[k]`` scores run k on its validation split after each epoch; each run is selected (best epoch,
        patience) as ``Trainer`` selects it, so its result is that of a sequential run; training goes on until every
        run has stopped. A rate cut on plateau (``cfg.plateau``) needs one rate per run: train those one by one."""
        k_runs = len(models)
        check_stackable(models)
        augments = list(augments) if augments is not None else [None] * k_runs
        if len(seeds) != k_runs or len(augments) != k_runs or (indices is not None and len(indices) != k_runs):
            raise UmeError(f"fit_many got {k_runs} models but {len(seeds)} seeds, {len(augments)} augmentations"
                           + (f" and {len(indices)} index sets" if indices is not None else "")
                           + "; give one of each per run")
        if cfg.plateau and val_scores is not None:
            raise UmeError("stacked runs share one learning rate, so they cannot cut it on each run's plateau; "
                           "train them one by one (concurrent=False) or set plateau=None")
        if val_scores is not None and len(val_scores) != k_runs:
            raise UmeError(f"fit_many got {k_runs} models but {len(val_scores)} validation scorers")
        dev = self.device
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
        data = split.to(dev)
        n = len(split) if indices is None else len(indices[0])
        if indices is not None:
            if any(len(ix) != n for ix in indices):
                raise UmeError("runs trained together need the same number of training samples; "
                               f"got {sorted({len(ix) for ix in indices})}")
            indices = [ix.to(dev) for ix in indices]
        for m in models:
            m.to(dev)
        params, buffers = stack_module_state(list(models))
        trainable = {name: p for name, p in params.items() if p.requires_grad}
        frozen = {name: p.detach() for name, p in params.items() if not p.requires_grad}
        opt = make_optimizer(trainable, cfg)
        sched = torch.optim.lr_scheduler.StepLR(opt, cfg.step_every, cfg.gamma) if cfg.step_every else None
        base = _Loss(copy.deepcopy(models[0]).to("meta"), loss_fn)
        base.train()

        def one(p: dict, b: dict, batch: dict) -> torch.Tensor:
            return functional_call(base, ({f"model.{k}": v for k, v in p.items()}
                                          | {f"model.{k}": v for k, v in b.items()}), (batch,))

        step = vmap(one, in_dims=(0, 0, 0))
        gens = [torch.Generator(device=dev).manual_seed(int(s)) for s in seeds]
        gaugs = [torch.Generator(device=dev).manual_seed(int(s) + 1) for s in seeds]
        mods = split.modalities
        all_subs = [a.substitutes for a in augments if a is not None]
        shared = not all_subs or all(_same_substitutes(x, all_subs[0]) for x in all_subs)
        subs = (all_subs[0] if all_subs else {}) if shared else None  # None: each run substitutes its own way

        def train_step(idx: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
            batch = data.batch(idx)  # every tensor (K, b, ...)
            if drop is not None:
                batch = self._augment(batch, drop, augments, mods, subs)
            opt.zero_grad(set_to_none=True)
            with autocast(dev, self.amp):
                losses = step(trainable | frozen, buffers, batch)
            losses.sum().backward()
            opt.step()
            return losses.detach().float()

        graphed = StepGraph(train_step, opt) if graphs_wanted(self.graphs, dev) else None
        n_ep = max(n, cfg.epoch_samples or 0)
        steps = cfg.epochs * max(1, n_ep // cfg.batch_size)
        bar = Progress(steps, f"{desc} x{k_runs}", cfg.epochs, self.progress)
        sels = [Selection(cfg, None) for _ in range(k_runs)]
        final: list[dict | None] = [None] * k_runs  # a stopped run's weights, frozen at its stop
        epochs_run = [0] * k_runs
        state = lambda k: {name: t[k] for name, t in (params | buffers).items()}
        for epoch in range(cfg.epochs):
            t0, total, count = time.perf_counter(), torch.zeros(k_runs, device=dev), 0
            perms = torch.stack([epoch_order(n, n_ep, g) for g in gens])  # (K, n_ep)
            drops = None  # each run's drops for the epoch, drawn as Trainer draws them: (K, n_ep, M)
            if any(a is not None for a in augments):
                drops = torch.stack([a.draw(n_ep, mods, dev, ga) if a is not None
                                     else torch.zeros(n_ep, len(mods), dtype=torch.bool, device=dev)
                                     for a, ga in zip(augments, gaugs)])
            if indices is not None:
                perms = torch.stack([ix[p] for ix, p in zip(indices, perms)])
            for i in range(0, n_ep, cfg.batch_size):
                idx = perms[:, i:i + cfg.batch_size]
                if idx.shape[1] <= 1:
                    continue
                drop = [drops[:, i:i + idx.shape[1]]] if drops is not None else []
                total += graphed(idx, *drop) if graphed is not None else train_step(idx, *drop)
                count += 1
                bar.update(1)
            if sched:
                sched.step()
            means = (total / max(count, 1)).tolist()
            dt = time.perf_counter() - t0
            for k, mean in enumerate(means):
                if mean != mean:
                    raise UmeError(f"{desc}, run {k} (seed {seeds[k]}): the loss became NaN in epoch {epoch + 1}; "
                                   "lower the learning rate")
                self.history.append({"phase": desc, "run": k, "seed": int(seeds[k]), "epoch": epoch + 1,
                                     "loss": mean, "seconds": dt, "samples": n_ep, "runs_together": k_runs,
                                     "cuda_graph": graphed is not None and graphed.failed is None})
            bar.epoch(epoch + 1, loss=sum(means) / k_runs)
            live = [k for k in range(k_runs) if final[k] is None]
            for k in live:
                epochs_run[k] = epoch + 1
            if val_scores is not None:
                with torch.no_grad():
                    for k in live:
                        models[k].load_state_dict(state(k))
                        v = float(val_scores[k](models[k].eval()))
                        self.history[-k_runs + k]["val"] = v
                        if sels[k].update(v, epoch + 1, lambda: state(k)):
                            final[k] = sels[k].best_state or {n_: t.detach().clone() for n_, t in state(k).items()}
                if all(f is not None for f in final):
                    break
        bar.close()
        with torch.no_grad():
            for k, m in enumerate(models):
                m.load_state_dict(final[k] or sels[k].best_state or state(k))
                m.eval()
                self.selected.append({"phase": desc, "run": k, "seed": int(seeds[k]), **sels[k].summary(epochs_run[k])})
        return list(models)

    @staticmethod
    def _augment(batch: dict[str, torch.Tensor], drops: torch.Tensor,
                 augments: Sequence[MissingModalityAugmentation | None], mods: list[str],
                 subs: dict | None) -> dict[str, torch.Tensor]:
        """Apply each run's drops (K, b, M) to its slice of the stacked batch: one substitution over all runs
        when they share substitutes, else one per run. Runs without augmentation only get substitutes for
        inputs missing in the data."""
        missing = MissingModalityAugmentation.combine(batch[PRESENT], drops)
        if subs is None:
            parts = [replace({m: batch[m][k] for m in mods}, missing[k], mods,
                             augments[k].substitutes if augments[k] else {}) for k in range(len(augments))]
            out = {m: torch.stack([p[m] for p in parts]) for m in mods}
        else:
            kb = missing.shape[:2]
            flat = replace({m: batch[m].flatten(0, 1) for m in mods}, missing.flatten(0, 1), mods, subs)
            out = {m: flat[m].view(*kb, *flat[m].shape[1:]) for m in mods}
        out[LABEL] = batch[LABEL]
        out[PRESENT] = ~missing
        return out


def fit_many(models: Sequence[nn.Module], split: Split, cfg: PhaseConfig, loss_fn: LossFn, seeds: Sequence[int],
             augments: Sequence[MissingModalityAugmentation | None] | None = None,
             indices: Sequence[torch.Tensor] | None = None, device: str | torch.device | None = None,
             amp: bool = True, progress: bool = False, desc: str = "train",
             val_scores: Sequence[ValFn] | None = None) -> list[nn.Module]:
    """Shortcut for ``MultiTrainer(device, amp, progress).fit(...)``."""
    return MultiTrainer(device, amp, progress).fit(models, split, cfg, loss_fn, seeds, augments, indices, desc,
                                                   val_scores)


def _same_substitutes(a: dict, b: dict) -> bool:
    """Whether two substitute dicts (scalars or tensors per modality) are equal."""
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, Noise) or isinstance(y, Noise):
            if x != y:
                return False
        elif isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape == y.shape
                    and bool(torch.equal(x.to(y.device), y))):
                return False
        elif x != y:
            return False
    return True
