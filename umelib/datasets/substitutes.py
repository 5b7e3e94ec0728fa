"""Stand-ins for a missing input that are not a constant: :class:`Noise` (the broken-sensor case)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(eq=False)
class Noise:
    """A random stand-in, drawn afresh for every sample it replaces: Gaussian noise with the per-feature ``mean`` and
    ``std`` of the training split (the paper's broken sensor: the input is there, but carries nothing). Integer
    inputs are rounded and clipped to their type. Draws use the global RNG of the input's device (seeded per run)."""

    mean: torch.Tensor
    std: torch.Tensor

    def to(self, device: torch.device | str) -> "Noise":
        return Noise(self.mean.to(device), self.std.to(device))

    def sample_like(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.randn(x.shape, device=x.device, dtype=torch.float32)
        v = self.mean.to(x.device, torch.float32) + z * self.std.to(x.device, torch.float32)
        if x.is_floating_point():
            return v.to(x.dtype)
        info = torch.iinfo(x.dtype)
        return v.round().clamp(info.min, info.max).to(x.dtype)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Noise) and self.mean.shape == other.mean.shape
                and bool(torch.equal(self.mean.cpu(), other.mean.cpu())) and bool(torch.equal(self.std.cpu(), other.std.cpu())))
