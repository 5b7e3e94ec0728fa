"""One trainer for every method: phase 1, phase 2 and the baselines differ only in model, loss and augmentation."""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

import torch
from torch import nn

from .augment import MissingModalityAugmentation
from ..config import PhaseConfig
from ..datasets.core import LABEL, Split
from ..errors import UmeError
from ..files import atomic_save
from . import distributed as dist
from .graphs import StepGraph, graphs_wanted
from .progress import Progress

LossFn = Callable[[nn.Module, Mapping[str, torch.Tensor]], torch.Tensor]


SMALL_MODEL = 1_000_000  # trainable parameters up to which a CPU fit runs on one thread


@contextlib.contextmanager
def cpu_threads(model: nn.Module, device: torch.device) -> Iterator[None]:
    """One intra-op thread while a small model (<= :data:`SMALL_MODEL` trainable parameters) trains on the CPU: its
    batches are too small to share, and threads that wait on each other on a busy machine cost 2-4x (LeNet on 32-px
    images, batch 64, 2 cores: 1.2 s per 32 steps on one thread, 4.7 s on two with other work running). Set
    ``$UME_CPU_THREADS`` to choose."""
    n = torch.get_num_threads()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    want = int(os.environ.get("UME_CPU_THREADS") or (1 if trainable <= SMALL_MODEL else n))
    if device.type != "cpu" or want == n:
        yield
        return
    torch.set_num_threads(want)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given (checked: a known kind, and a CUDA device that exists), else CUDA when available, else
    CPU. A bad ``device`` raises one :class:`UmeError` line."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UmeError(f"unknown device '{device}'; use cpu, cuda, cuda:N or mps (or leave --device out)") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise UmeError(f"device '{device}' asked for, but no CUDA GPU is visible to torch "
                           f"(torch {torch.__version__}); use --device cpu, or leave --device out")
        if dev.index is not None and dev.index >= n:
            raise UmeError(f"device '{device}' asked for, but only {n} CUDA GPU(s) are visible (cuda:0..cuda:{n - 1})")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise UmeError(f"device '{device}' asked for, but MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise UmeError(f"device '{device}' is not supported; use cpu, cuda, cuda:N or mps")
    return dev


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)  # cache off: CUDA-graph safe
    return contextlib.nullcontext()


def param_groups(model: nn.Module | Mapping[str, torch.Tensor], lr: float | Mapping[str, float]) -> list[dict]:
    """Optimizer groups from a model or a ``{name: parameter}`` dict: parameters under
    ``encoders.<m>``/``heads.<m>``/``aux.<m>`` get ``lr[m]``, except that the classifiers (``heads``, ``aux``) get
    ``lr["head"]`` when the dict has that key (Tian & Xu's classifier rate); everything else the mean rate of the
    modalities. Frozen parameters are left out. A dict must name every modality of the model (else
    :class:`UmeError`); rates for modalities the model lacks are ignored (phase 1's uni-modal models get the run's
    whole dict)."""
    named = model.named_parameters() if isinstance(model, nn.Module) else model.items()
    if not isinstance(lr, Mapping):
        return [{"params": [p for _, p in named if p.requires_grad], "lr": float(lr)}]
    groups: dict[str, list] = {}
    for name, p in named:
        if not p.requires_grad:
            continue
        parts = name.split(".")
        key = parts[1] if len(parts) > 2 and parts[0] in ("encoders", "heads", "aux") else "_other"
        if "head" in lr and parts[0] in ("heads", "aux"):
            key = "head"
        groups.setdefault(key, []).append(p)
    unnamed = sorted(k for k in groups if k not in ("_other", "head") and k not in lr)
    if unnamed:
        raise UmeError(f"learning rates are given for {sorted(lr)} but not for the model's modalities {unnamed}; "
                       "give every modality a rate, or one number for all")
    mods = [v for k, v in lr.items() if k != "head"] or list(lr.values())
    default = sum(mods) / len(mods)
    return [{"params": ps, "lr": float(lr.get(k, default))} for k, ps in groups.items()]


def make_optimizer(model: nn.Module | Mapping[str, torch.Tensor], cfg: PhaseConfig) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names over the trainable parameters of ``model`` (a module or a name -> tensor dict)."""
    groups = param_groups(model, cfg.lr)
    if not any(g["params"] for g in groups):
        raise UmeError("nothing to train: every parameter is frozen")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=groups[0]["lr"], weight_decay=cfg.weight_decay)
    raise UmeError(f"unknown optimizer '{cfg.optimizer}'; use 'sgd' or 'adamw'")


ValFn = Callable[[nn.Module], float]


def epoch_order(n: int, total: int, generator: torch.Generator) -> torch.Tensor:
    """The sample order of one epoch: a permutation of ``n`` samples, or, when an epoch should see ``total`` > ``n``
    samples (``PhaseConfig.epoch_samples`` on small data), consecutive permutations cut to ``total``."""
    perms = [torch.randperm(n, generator=generator, device=generator.device) for _ in range(-(-total // n))]
    return perms[0] if len(perms) == 1 else torch.cat(perms)[:total]


PERFECT = 100.0  # the best validation score there is (accuracy or F1, in %): with patience, training stops there


class Selection:
    """Model selection on the validation score over epochs: best epoch and its weights (``select_best``), a rate cut
    after ``plateau`` epochs without improvement, a stop after ``patience`` such epochs (or at a perfect score)."""

    def __init__(self, cfg: PhaseConfig, opt: torch.optim.Optimizer | None) -> None:
        self.cfg = cfg
        self.best, self.best_epoch, self.waited, self.stopped_at = float("-inf"), 0, 0, None
        self.best_state: dict | None = None
        self.plateau = (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, "max", cfg.gamma, cfg.plateau, threshold=0)
                        if opt is not None and cfg.plateau else None)
        self.scores: list[float] = []

    def update(self, score: float, epoch: int, state: Callable[[], dict]) -> bool:
        """Record the score of ``epoch``; ``state()`` gives the weights (copied only when they are the best so
        far). Returns True when training should stop."""
        self.scores.append(score)
        if score > self.best:
            self.best, self.best_epoch, self.waited = score, epoch, 0
            if self.cfg.select_best:
                self.best_state = {k: v.detach().clone() for k, v in state().items()}
        else:
            self.waited += 1
        if self.plateau is not None:
            self.plateau.step(score)
        if self.cfg.patience and (self.waited >= self.cfg.patience or score >= PERFECT):  # nothing left to improve
            self.stopped_at = epoch
            return True
        return False

    def summary(self, epochs_run: int) -> dict:
        if not self.scores:
            return {"epochs_run": epochs_run, "epoch": epochs_run, "val": None}
        chosen = self.best_epoch if self.cfg.select_best else epochs_run
        return {"epochs_run": epochs_run, "epoch": chosen, "val": self.scores[chosen - 1],
                "best_val": self.best, "stopped_early": self.stopped_at is not None}


class _LossModule(nn.Module):
    """``model`` with its loss as ``forward(batch)``: what DistributedDataParallel wraps (the loss functions call
    ``model.forward_all``, which DDP would not see)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def wrap_data_parallel(model: nn.Module, loss_fn: LossFn, device: torch.device) -> nn.Module:
    """``model`` and its loss in :class:`~torch.nn.parallel.DistributedDataParallel` (gradients averaged over the
    ranks at each step). On CUDA, BatchNorm layers become SyncBatchNorm (statistics over the global batch); on the
    CPU, where SyncBatchNorm does not run, each rank normalizes with its shard's statistics and rank 0's running
    statistics are kept (a model with BatchNorm then differs slightly from one process)."""
    ids = None
    if device.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(model)  # in place below the (non-BatchNorm) root
        ids = [device.index if device.index is not None else torch.cuda.current_device()]
    return torch.nn.parallel.DistributedDataParallel(_LossModule(model, loss_fn), device_ids=ids)


class Trainer:
    """Trains any model on a :class:`Split` with a loss ``fn(model, batch) -> scalar``.

    Two input paths: ``resident`` keeps the whole split on the device and draws batches by
    device-side index permutation (no DataLoader); ``dataloader`` streams from CPU memory.
    ``loader="auto"`` picks resident on CPU, and on CUDA when the split takes under
    ``resident_fraction`` of free GPU memory. ``graphs=True`` (or ``UME_CUDA_GRAPHS=1``) replays the resident
    step as a CUDA graph (:mod:`umelib.training.graphs`).

    Under ``torchrun`` (a process group of N ranks, :mod:`umelib.training.distributed`) a fit is data-parallel:
    every rank draws the same permutation and the same augmentation for the whole global batch (generators seeded
    alike) and trains on its contiguous slice of each global batch under DistributedDataParallel; each rank's loss
    is weighted by its share of the batch, so the averaged gradient is the one-process mean-loss gradient even
    for an uneven last batch. Validation runs on every rank over the full split (identical weights, so the same
    selection everywhere); only rank 0 writes checkpoints. CUDA graphs stay single-process (off under DDP).
    ``distributed=False`` trains this process alone whatever the group.
    """

    def __init__(self, device: str | torch.device | None = None, seed: int = 0, progress: bool = True,
                 loader: str = "auto", amp: bool = True, resident_fraction: float = 0.5,
                 checkpoint: str | Path | None = None, graphs: bool | None = None,
                 distributed: bool | None = None) -> None:
        if loader not in ("auto", "resident", "dataloader"):
            raise UmeError(f"loader '{loader}' unknown; use 'auto', 'resident' or 'dataloader'")
        self.device = pick_device(device)
        self.seed = seed
        self.progress = progress
        self.loader = loader
        self.amp = amp
        self.resident_fraction = resident_fraction
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.graphs = graphs
        self.distributed = distributed
        self.history: list[dict] = []
        self.selected: list[dict] = []  # per fit: phase, epochs run, selected epoch, its validation score

    def data_parallel(self) -> bool:
        """Whether a fit is data-parallel over the process group (torchrun; see the class docstring)."""
        return dist.data_parallel() if self.distributed is None else bool(self.distributed) and dist.active()

    def uses_resident(self, split: Split) -> bool:
        if self.loader != "auto":
            return self.loader == "resident"
        if self.device.type != "cuda":
            return True
        free, _ = torch.cuda.mem_get_info(self.device)
        return split.nbytes() < self.resident_fraction * free

    def index_batches(self, n: int, batch_size: int, generator: torch.Generator,
                      total: int | None = None) -> Iterator[torch.Tensor]:
        """Shuffled index batches on the generator's device (``total`` samples: see :func:`epoch_order`); a last
        batch of one sample is dropped (BatchNorm)."""
        perm = epoch_order(n, total or n, generator)
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            if len(idx) > 1:
                yield idx

    def batches(self, split: Split, batch_size: int, generator: torch.Generator,
                resident: bool, total: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffled batches on the device; a last batch of one sample is dropped (BatchNorm)."""
        n = len(split)
        if resident:
            for idx in self.index_batches(n, batch_size, generator, total):
                yield split.batch(idx)
            return
        order = range(n) if not total or total <= n else epoch_order(n, total, generator).tolist()
        loader = torch.utils.data.DataLoader(order, batch_size=batch_size, shuffle=order == range(n),
                                             generator=generator, collate_fn=lambda ix: split.batch(torch.tensor(ix)))
        for b in loader:
            if len(b["label"]) > 1:
                yield {k: v.to(self.device, non_blocking=True) for k, v in b.items()}

    def fit(self, model: nn.Module, split: Split, cfg: PhaseConfig, loss_fn: LossFn,
            augment: MissingModalityAugmentation | None = None, desc: str = "train",
            val_score: ValFn | None = None) -> nn.Module:
        """See :meth:`_fit`; a small model on the CPU trains on one thread (:func:`cpu_threads`)."""
        with cpu_threads(model, self.device):
            return self._fit(model, split, cfg, loss_fn, augment, desc, val_score)

    def _fit(self, model: nn.Module, split: Split, cfg: PhaseConfig, loss_fn: LossFn,
             augment: MissingModalityAugmentation | None = None, desc: str = "train",
             val_score: ValFn | None = None) -> nn.Module:
        """Train ``model`` in place for up to ``cfg.epochs``; appends per-epoch mean loss to ``history``.

        With ``val_score`` (model -> score on the validation split, higher is better), the score after each epoch
        drives ``cfg.plateau`` (lower the rate), ``cfg.patience`` (stop early) and ``cfg.select_best`` (end on
        the best epoch); what was selected is appended to ``selected``. The test split is never seen here."""
        model.to(self.device)
        resident = self.uses_resident(split)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
        data = split.to(self.device) if resident else split
        gdev = self.device if resident else torch.device("cpu")
        g = torch.Generator(device=gdev).manual_seed(self.seed)
        gaug = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        opt = make_optimizer(model, cfg)
        sched = torch.optim.lr_scheduler.StepLR(opt, cfg.step_every, cfg.gamma) if cfg.step_every else None
        sel = Selection(cfg, opt if val_score is not None else None)
        mods = split.modalities
        n_ep = max(len(split), cfg.epoch_samples or 0)  # samples per epoch (small data: several passes)
        steps = cfg.epochs * max(1, n_ep // cfg.batch_size)
        ddp = self.data_parallel()
        other_rank = ddp and not dist.is_main()  # data-parallel: rank 0 shows the bar
        bar = Progress(steps, desc, cfg.epochs, self.progress and not other_rank)
        model.train()
        world, net = dist.world_size() if ddp else 1, None
        if ddp:
            if cfg.batch_size < 2 * world:
                raise UmeError(f"batch size {cfg.batch_size} leaves under 2 samples per rank on {world} ranks; use a "
                               f"batch size of at least {2 * world} (it is the global batch, split over the ranks)")
            net = wrap_data_parallel(model, loss_fn, self.device)

        def train_step(batch: dict[str, torch.Tensor], drop: torch.Tensor | None, share: float = 1.0) -> torch.Tensor:
            """One step; ``share``: this rank's fraction of the global batch times the world size (DDP)."""
            if drop is not None:
                batch = augment.apply(batch, mods, drop)
            opt.zero_grad(set_to_none=True)
            with autocast(self.device, self.amp):
                loss = net(batch) * share if net is not None else loss_fn(model, batch)
            loss.backward()
            opt.step()
            return loss.detach().float() / world  # summed over ranks: the global batch's mean loss

        graphed = None
        if resident and not ddp and graphs_wanted(self.graphs, self.device):  # the gather from the resident split is captured too
            graphed = StepGraph(lambda idx, *drop: train_step(data.batch(idx), drop[0] if drop else None), opt)
        epochs_run = 0
        for epoch in range(cfg.epochs):
            epochs_run = epoch + 1
            t0, total, count, seen = time.perf_counter(), torch.zeros((), device=self.device), 0, 0
            # the epoch's drops in one draw (batch i uses rows i*B ...); fewer calls than a draw per batch
            drops = augment.draw(n_ep, mods, self.device, gaug) if augment is not None else None
            if ddp:  # every rank: the same global batches; each trains on its slice
                items = ((idx, None) for idx in self.index_batches(len(split), cfg.batch_size, g, n_ep)
                         if len(idx) >= 2 * world)  # BatchNorm: at least 2 samples per rank
            elif resident:
                items = ((idx, None) for idx in self.index_batches(len(split), cfg.batch_size, g, n_ep))
            else:
                items = ((None, b) for b in self.batches(data, cfg.batch_size, g, False, n_ep))
            for i, (idx, batch) in enumerate(items):
                b = len(idx) if idx is not None else len(batch[LABEL])
                drop = drops[i * cfg.batch_size:i * cfg.batch_size + b] if drops is not None else None
                if ddp:
                    local = dist.shard(idx)
                    batch = data.batch(local) if resident else {k: v.to(self.device, non_blocking=True)
                                                               for k, v in data.batch(local).items()}
                    total += train_step(batch, dist.shard(drop) if drop is not None else None, len(local) * world / b)
                elif graphed is not None:
                    total += graphed(idx, *([drop] if drop is not None else []))
                else:
                    total += train_step(data.batch(idx) if idx is not None else batch, drop)
                count += 1
                seen += b
                bar.update(1)
            if sched:
                sched.step()
            if ddp:
                total = dist.all_reduce_sum(total)
            mean = float(total) / max(count, 1)
            if mean != mean:
                raise UmeError(f"{desc}: the loss became NaN in epoch {epoch + 1}; lower the learning rate")
            self.history.append({"phase": desc, "epoch": epoch + 1, "loss": mean, "seconds": time.perf_counter() - t0,
                                 "samples": seen, "resident": resident,
                                 "cuda_graph": graphed is not None and graphed.failed is None, "world_size": world})
            if self.checkpoint and (not ddp or dist.is_main()):
                atomic_save({"model": model.state_dict(), "epoch": epoch + 1, "phase": desc}, self.checkpoint)
            if val_score is not None:
                v = float(val_score(model.eval()))
                model.train()
                self.history[-1]["val"] = v
                bar.epoch(epoch + 1, loss=mean, val=v)
                if sel.update(v, epoch + 1, model.state_dict):
                    break
            else:
                bar.epoch(epoch + 1, loss=mean)
        bar.close("(stopped: no improvement)" if epochs_run < cfg.epochs else "")
        net = None  # DDP's hooks on the parameters go with it
        model.eval()
        if sel.best_state is not None:
            model.load_state_dict(sel.best_state)
        self.selected.append({"phase": desc, **sel.summary(epochs_run)})
        return model
