"""Missing-modality augmentation and substitutes (paper Sec. 3.3), vectorized on the batch's device."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch

from ..datasets.core import LABEL, PRESENT
from ..datasets.substitutes import Noise
from ..errors import UmeError



Substitute = float | torch.Tensor | Noise


def substitute_like(x: torch.Tensor, value: Substitute = 0.0) -> torch.Tensor:
    """The stand-in for a missing input: ``value`` (a scalar, or a tensor of one sample's shape) broadcast to ``x``,
    or :class:`Noise` drawn per sample."""
    if isinstance(value, Noise):
        return value.sample_like(x)
    if isinstance(value, torch.Tensor):
        return value.to(device=x.device, dtype=x.dtype).expand_as(x)
    return torch.full_like(x, value)


def replace(batch: Mapping[str, torch.Tensor], missing: torch.Tensor, modalities: list[str],
            substitutes: Mapping[str, Substitute] | None = None) -> dict[str, torch.Tensor]:
    """A copy of ``batch`` where ``missing[i, j]`` replaces sample i of modality j by its substitute;
    ``present`` becomes ``~missing``. The label is untouched."""
    substitutes = substitutes or {}
    out = dict(batch)
    for j, m in enumerate(modalities):
        x = batch[m]
        mask = missing[:, j].view(-1, *([1] * (x.dim() - 1)))
        out[m] = torch.where(mask, substitute_like(x, substitutes.get(m, 0.0)), x)
    out[PRESENT] = ~missing
    return out


@dataclass
class MissingModalityAugmentation:
    """Per sample, drop modality m with probability ``p[m]`` (default 0.3 each), never all at once.

    ``mode="one"`` (the paper's): at most one modality is dropped per sample, chosen with
    probabilities ``p``; the rest of the samples (``1 - sum(p)``) stay complete.
    ``mode="independent"``: each modality is dropped independently; a sample that lost every
    modality gets one of them back (chosen uniformly), so its drop rates are slightly under ``p``.
    Samples already missing a modality in the data (``present`` False) get the substitute for it
    and no further drop: they count as augmented.
    """

    p: float | Mapping[str, float] = 0.3
    mode: str = "one"
    substitutes: dict[str, Substitute] = field(default_factory=dict)

    def probs(self, modalities: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
        if isinstance(self.p, Mapping):
            unknown = set(self.p) - set(modalities)
            if unknown:
                raise UmeError(f"drop probabilities name unknown modalities {sorted(unknown)}; the data has {modalities}")
            p = [float(self.p.get(m, 0.0)) for m in modalities]
        else:
            p = [float(self.p)] * len(modalities)
        if any(not 0.0 <= v <= 1.0 for v in p):
            raise UmeError(f"drop probabilities must lie in [0, 1], got {p}")
        if self.mode == "one" and sum(p) > 1.0 + 1e-9:
            raise UmeError(f"with mode='one' the drop probabilities must sum to <= 1 (got {sum(p):.2f} over {len(p)} modalities); lower p or use mode='independent'")
        if self.mode not in ("one", "independent"):
            raise UmeError(f"augmentation mode '{self.mode}' unknown; use 'one' or 'independent'")
        return torch.tensor(p, device=device)

    def draw(self, n: int, modalities: list[str], device: torch.device | str = "cpu",
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Bool (n, M): the random drops for ``n`` complete samples (trainers draw one epoch at a time)."""
        k = len(modalities)
        p = self.probs(modalities, device)
        if self.mode == "one":
            u = torch.rand(n, device=device, generator=generator)
            idx = torch.searchsorted(torch.cumsum(p, 0), u, right=True)  # == k: complete
            return torch.nn.functional.one_hot(idx, k + 1)[:, :k].bool()
        drop = torch.rand(n, k, device=device, generator=generator) < p
        allgone = drop.all(1)
        keep = torch.randint(0, k, (n,), device=device, generator=generator)
        return drop & ~(torch.nn.functional.one_hot(keep, k).bool() & allgone[:, None])

    @staticmethod
    def combine(present: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        """Which inputs to replace: ``drop`` for complete samples; a sample already missing a modality in the
        data gets the substitute for it and no further drop."""
        incomplete = ~present.all(-1, keepdim=True)
        return torch.where(incomplete, ~present, drop)

    def sample_missing(self, present: torch.Tensor, modalities: list[str],
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Bool (N, M): which inputs to replace by their substitute."""
        return self.combine(present, self.draw(present.shape[0], modalities, present.device, generator))

    def apply(self, batch: Mapping[str, torch.Tensor], modalities: list[str], drop: torch.Tensor) -> dict[str, torch.Tensor]:
        """``batch`` with the drops ``drop`` (N, M) from :meth:`draw` applied (combined with its ``present``)."""
        present = batch.get(PRESENT)
        if present is None:
            present = torch.ones_like(drop)
        return replace(batch, self.combine(present, drop), modalities, self.substitutes)

    def __call__(self, batch: Mapping[str, torch.Tensor], modalities: list[str],
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        n = batch[LABEL].shape[0]
        return self.apply(batch, modalities, self.draw(n, modalities, batch[LABEL].device, generator))
