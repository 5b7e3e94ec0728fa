"""Image augmentation on the device, per sample and vectorized (one ``affine_grid`` + ``grid_sample`` per batch):

- :func:`zoom_crop`: resize by ``zoom`` (1.1) and crop a random window of the original size, then flip at random:
  the frame augmentation of Tian & Xu (2021) that the paper's App. B.1.1 adopts for AVE and Kinetics-Sounds;
- :func:`random_resized_crop`: a random window of 8–100% of the area and aspect 3/4–4/3 resized to ``size``, then
  flipped at random: "adjust their size randomly to 224x224" (App. B.1.2, as OGM-GE's and CLIP's training do).

Both take float images (N, C, H, W) and draw from torch's global generator (seeded by the trainer)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _sample(x: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor,
            size: tuple[int, int], flip: bool) -> torch.Tensor:
    """Each sample's window (half-widths ``sx``, ``sy`` and centre ``tx``, ``ty`` in [-1, 1] coordinates) resampled
    to ``size``, mirrored for a random half of the samples when ``flip``."""
    n = x.shape[0]
    if flip:
        sx = torch.where(torch.rand(n, device=x.device) < 0.5, -sx, sx)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = sx, sy, tx, ty
    grid = F.affine_grid(theta, [n, x.shape[1], *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def zoom_crop(x: torch.Tensor, zoom: float = 1.1, flip: bool = True) -> torch.Tensor:
    """Resize by ``zoom`` and crop a random window of the input's size (then a random horizontal flip)."""
    n, dev = x.shape[0], x.device
    s = torch.full((n,), 1.0 / zoom, device=dev, dtype=x.dtype)
    room = 1.0 - 1.0 / zoom  # how far the window's centre may move, in [-1, 1] coordinates
    tx, ty = (torch.rand(2, n, device=dev, dtype=x.dtype) * 2 - 1) * room
    return _sample(x, s, s.clone(), tx, ty, tuple(x.shape[-2:]), flip)


def random_resized_crop(x: torch.Tensor, size: int, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), flip: bool = True) -> torch.Tensor:
    """A random window of ``scale`` of the area with aspect ``ratio`` (clipped to the image), resized to ``size``."""
    n, dev = x.shape[0], x.device
    area = torch.empty(n, device=dev).uniform_(*scale)
    logr = torch.empty(n, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    r = logr.exp()
    sx = (area * r).sqrt().clamp(max=1.0).to(x.dtype)  # half-width as a share of the image's half-width
    sy = (area / r).sqrt().clamp(max=1.0).to(x.dtype)
    tx = (torch.rand(n, device=dev, dtype=x.dtype) * 2 - 1) * (1 - sx)
    ty = (torch.rand(n, device=dev, dtype=x.dtype) * 2 - 1) * (1 - sy)
    return _sample(x, sx, sy, tx, ty, (size, size), flip)
