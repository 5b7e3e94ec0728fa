"""Multi-modal datasets held as tensors: one :class:`Split` per train/val/test.

A batch is a dict ``{modality: tensor, "label": y, "present": mask}`` where ``mask`` is a
bool tensor of shape (N, M), column order = ``modalities``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

import torch

from ..errors import UmeError
from ..texts import is_text


LABEL, PRESENT = "label", "present"
SPLITS = ("train", "val", "test")


def headline_metric(task: str) -> str:
    """The metric a task is scored, reported and selected by: accuracy (multiclass) or macro F1 (multi-label, as Ma
    et al. 2022 report MM-IMDB, whose settings the paper's Fig. 3 follows; micro F1 is recorded beside it)."""
    return "accuracy" if task == "multiclass" else "f1_macro"


@dataclass
class Split:
    """One split: inputs per modality, labels, and a presence mask (N, M). ``fill`` holds a modality's
    substitute (one sample's shape) where it is not zero: the features of the substitute input when the
    modality holds features of a frozen encoder (see :mod:`umelib.training.features`)."""

    x: dict[str, torch.Tensor]
    y: torch.Tensor
    present: torch.Tensor
    fill: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def modalities(self) -> list[str]:
        return list(self.x)

    def to(self, device: torch.device | str) -> "Split":
        return Split({m: t.to(device) for m, t in self.x.items()}, self.y.to(device), self.present.to(device),
                     {m: t.to(device) for m, t in self.fill.items()})

    def subset(self, idx: torch.Tensor | slice) -> "Split":
        return Split({m: t[idx] for m, t in self.x.items()}, self.y[idx], self.present[idx], dict(self.fill))

    def batch(self, idx: torch.Tensor | slice) -> dict[str, torch.Tensor]:
        b = {m: t[idx] for m, t in self.x.items()}
        b[LABEL] = self.y[idx]
        b[PRESENT] = self.present[idx]
        return b

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in [*self.x.values(), self.y, self.present])

    def describe(self, kinds: Mapping[str, str] | None = None) -> str:
        """Per modality: (kind,) sample shape, dtype and the share of samples that have it."""
        parts = []
        for j, (m, t) in enumerate(self.x.items()):
            share = float(self.present[:, j].float().mean()) if len(self) else 0.0
            kind = f"{kinds[m]} " if kinds and m in kinds else ""
            parts.append(f"{m}: {kind}{tuple(t.shape[1:])} {str(t.dtype).replace('torch.', '')} {share:.0%} present")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"Split({len(self)} samples; {self.describe()})"


@dataclass
class MultiModalData:
    """A dataset: named modalities, ``num_classes``, a ``task`` ('multiclass' or 'multilabel')."""

    name: str
    train: Split
    test: Split
    num_classes: int
    val: Split | None = None
    task: str = "multiclass"
    info: dict = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return self.train.modalities

    @property
    def kinds(self) -> dict[str, str]:
        """Each modality's kind (``info["kinds"]``, as recorded or inferred when loaded; else inferred now)."""
        from .kinds import infer_kind

        known = self.info.get("kinds") or {}
        return {m: known.get(m) or infer_kind(m, t) for m, t in self.train.x.items()}

    def __repr__(self) -> str:
        sizes = "/".join(str(len(s)) for _, s in self.splits())
        names = "/".join(s for s, _ in self.splits())
        return (f"MultiModalData('{self.name}', {self.task}, {self.num_classes} classes, {names} {sizes}; "
                f"{self.train.describe(self.kinds)})")

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {m: tuple(t.shape[1:]) for m, t in self.train.x.items()}

    def splits(self) -> Iterator[tuple[str, Split]]:
        for s in SPLITS:
            if getattr(self, s) is not None:
                yield s, getattr(self, s)

    def subsample(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                  n_val: int | None = None) -> "MultiModalData":
        """A smaller copy (random, seeded) for quick runs; ``None`` keeps a split whole (``n_val`` None: as
        ``n_test``)."""
        g = torch.Generator().manual_seed(seed)

        def cut(s: Split | None, n: int | None) -> Split | None:
            if s is None or n is None or n >= len(s):
                return s
            return s.subset(torch.randperm(len(s), generator=g)[:n])

        val = cut(self.val, n_test if n_val is None else n_val)
        info = dict(self.info)
        if val is not None and self.val is not None and len(val) < len(self.val):
            info["validation"] = f"{info.get('validation', 'given')}; {len(val)} of them used (seeded subsample)"
        return MultiModalData(self.name, cut(self.train, n_train), cut(self.test, n_test), self.num_classes, val,
                              self.task, info)

    def with_validation(self, fraction: float = 0.1, seed: int = 0) -> "MultiModalData":
        """This dataset if it has a validation split; else a copy whose validation split is ``fraction`` of the
        training split, stratified by class (multiclass; random for multi-label), drawn with ``seed``. What was
        done is recorded in ``info["validation"]``."""
        if self.val is not None:
            self.info.setdefault("validation", f"given ({len(self.val)} samples)")
            return self
        g = torch.Generator().manual_seed(seed)
        n = len(self.train)
        if self.task == "multiclass":
            parts = []
            for c in self.train.y.unique():
                idx = (self.train.y == c).nonzero().squeeze(1)
                k = int(round(fraction * len(idx)))
                parts.append(idx[torch.randperm(len(idx), generator=g)[:k]])
            val_idx = torch.cat(parts)
        else:
            val_idx = torch.randperm(n, generator=g)[: int(round(fraction * n))]
        keep = torch.ones(n, dtype=torch.bool)
        keep[val_idx] = False
        if len(val_idx) == 0 or not bool(keep.any()):
            return self  # too small to split: selection falls back to the last epoch
        info = dict(self.info, validation=f"carved from training: {len(val_idx)} of {n} samples ({fraction:.0%}, "
                                          f"stratified, seed {seed})")
        return MultiModalData(self.name, self.train.subset(keep.nonzero().squeeze(1)), self.test, self.num_classes,
                              self.train.subset(val_idx.sort().values), self.task, info)

    def standardized(self, modalities: list[str] | None = None) -> "MultiModalData":
        """A copy whose vector modalities (samples of one dimension; or ``modalities``) are standardized with the
        training split's mean and standard deviation (over present samples), every split alike. The protocol's
        zero substitute then stands for the training mean. Recorded in ``info["standardized"]``."""
        mods = modalities if modalities is not None else [m for m, t in self.train.x.items()
                                                          if t.ndim == 2 and t.is_floating_point()]
        if not mods:
            return self
        stats = {}
        for m in mods:
            j = self.modalities.index(m)
            x = self.train.x[m][self.train.present[:, j]].double()
            stats[m] = (x.mean(0).float(), x.std(0).clamp_min(1e-8).float())

        def apply(s: Split | None) -> Split | None:
            if s is None:
                return None
            return Split({m: (t - stats[m][0]) / stats[m][1] if m in stats else t for m, t in s.x.items()}, s.y, s.present,
                         {m: (t - stats[m][0]) / stats[m][1] if m in stats else t for m, t in s.fill.items()})

        info = dict(self.info, standardized=mods)
        return MultiModalData(self.name, apply(self.train), apply(self.test), self.num_classes, apply(self.val),
                              self.task, info)

    def with_substitutes(self, spec: Mapping[str, float | str]) -> "MultiModalData":
        """A copy whose every split substitutes a missing input of modality m by ``spec[m]``: a number (a constant
        input, in the data's units) or ``"mean"`` (the training split's mean over the samples that have m,
        rounded for integer inputs); ``"zero"`` or no entry keeps zeros. The substitute lands in ``Split.fill``,
        which the augmentation, the protocol and frozen features all read. Recorded in ``info["substitute"]``.
        Text keeps its blank-text substitute (paper Sec. 4.1)."""
        spec = {m: v for m, v in spec.items() if v not in ("zero", "noise")}  # noise: :meth:`with_noise`
        fills = {}
        for m, v in spec.items():
            x, sel = self._substitute_inputs(m, f"'{m}' holds text, whose substitute is the blank text \"\" (paper "
                                                f"Sec. 4.1); drop substitute.{m}")
            if v == "mean":
                if len(sel) == 0:
                    raise UmeError(f"no training sample has '{m}', so it has no mean; give substitute.{m} a number")
                f = sel.double().mean(0)
                fills[m] = (f if x.is_floating_point() else f.round()).to(x.dtype)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                if not x.is_floating_point() and not torch.iinfo(x.dtype).min <= v <= torch.iinfo(x.dtype).max:
                    raise UmeError(f"substitute.{m} = {v:g} does not fit '{m}' ({x.dtype}); choose a value in "
                                   f"{torch.iinfo(x.dtype).min}..{torch.iinfo(x.dtype).max}")
                fills[m] = torch.full(x.shape[1:], float(v), dtype=torch.float64).to(x.dtype)
            else:
                raise UmeError(f"substitute.{m} must be a finite number or \"mean\", got {v!r}")
        return self._with_fills(fills, {m: (v if v == "mean" else float(v)) for m, v in spec.items()})

    def with_noise(self, modalities: Iterable[str]) -> "MultiModalData":
        """A copy whose missing inputs of each of ``modalities`` are replaced by fresh Gaussian noise per sample, with
        the per-feature mean and std of the training samples that have it (:class:`~umelib.training.augment.Noise`,
        the broken-sensor case). Run after frozen features, so that a text modality gets noise in feature space;
        raw text has no noise (its substitute is the blank text). Recorded in ``info["substitute"]``."""
        from .substitutes import Noise

        fills = {}
        for m in modalities:
            _, sel = self._substitute_inputs(m, f"'{m}' holds raw text, which has no noise substitute; give it a frozen "
                                                f"encoder (noise then replaces its features) or drop substitute.{m}")
            if len(sel) < 2:
                raise UmeError(f"fewer than 2 training samples have '{m}', so it has no spread for noise; give "
                               f"substitute.{m} a number")
            sel = sel.double()
            fills[m] = Noise(sel.mean(0).float(), sel.std(0).float())
        return self._with_fills(fills, {m: "noise" for m in fills})

    def _substitute_inputs(self, m: str, text_error: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Modality ``m``'s training inputs and those of the samples that have it (checked: ``m`` exists and does
        not hold raw text, else ``text_error``)."""
        if m not in self.modalities:
            raise UmeError(f"substitute named for modality '{m}' that the data does not have "
                           f"({', '.join(self.modalities)})")
        x = self.train.x[m]
        if is_text(x):
            raise UmeError(text_error)
        return x, x[self.train.present[:, self.modalities.index(m)]]

    def _with_fills(self, fills: Mapping[str, object], recorded: Mapping[str, object]) -> "MultiModalData":
        """A copy whose splits substitute by ``fills``; ``recorded`` joins ``info["substitute"]``."""
        if not fills:
            return self

        def apply(s: Split | None) -> Split | None:
            return None if s is None else Split(s.x, s.y, s.present, {**s.fill, **fills})

        info = dict(self.info, substitute={**self.info.get("substitute", {}), **recorded})
        return MultiModalData(self.name, apply(self.train), apply(self.test), self.num_classes, apply(self.val),
                              self.task, info)

    def sha256(self) -> str:
        """The checksum of the data as loaded: ``info["sha256"]`` (a file's, e.g. from a build manifest) if set,
        else a digest of every array of every split (computed once, then kept in ``info``)."""
        if "sha256" not in self.info:
            self.info["sha256"] = splits_digest(self.splits())
        return self.info["sha256"]


def splits_digest(splits: Iterable[tuple[str, Split]], exclude: Iterable[str] = (), salt: str = "") -> str:
    """sha256 over ``salt`` and every array of every ``(name, split)``: inputs (but the modalities in
    ``exclude``), labels and presence, each with its name, shape and dtype."""
    h = hashlib.sha256(salt.encode())
    skip = set(exclude)
    for name, split in splits:
        items = sorted((k, v) for k, v in split.x.items() if k not in skip)
        for key, t in items + [("y", split.y), ("present", split.present)]:
            h.update(f"{name}/{key}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
