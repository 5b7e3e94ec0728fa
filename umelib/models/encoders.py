"""Encoder registry: a name -> factory ``fn(input_shape) -> nn.Module`` with an ``out_dim`` attribute.

Any ``nn.Module`` that maps a batch of one modality to (N, D) features plugs into
:class:`umelib.models.fusion.LateFusion` directly; the registry only picks defaults by name or shape.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import UmeError

ENCODERS: dict[str, tuple[Callable[[tuple[int, ...]], nn.Module], str]] = {}


def register_encoder(name: str, help: str = "") -> Callable:
    """Decorator: register ``factory(input_shape) -> nn.Module`` under ``name``."""
    def deco(fn: Callable[[tuple[int, ...]], nn.Module]) -> Callable:
        ENCODERS[name] = (fn, help)
        return fn
    return deco


class MLP(nn.Module):
    """Flatten, then ``depth`` Linear-ReLU layers of width ``hidden``."""

    def __init__(self, in_dim: int, hidden: int = 128, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        self.net = nn.Sequential(*layers)
        self.out_dim = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LeNet(nn.Module):
    """LeNet-style CNN for small images and spectrograms (any H, W; 1 or more channels).

    Conv blocks (a 5x5, then 3x3 convolutions, BatchNorm, ReLU, 2x2 max-pooling) with ``width``
    channels doubling per block, until the map is about 7x7, then the flattened map and a
    projection to ``out_dim`` features. The default width of 8 keeps it light, in the spirit of
    MultiBench's AV-MNIST LeNets (6 channels, doubling): 2 blocks for 28x28, 4 for 112x112.
    """

    def __init__(self, in_ch: int = 1, size: int = 28, width: int = 8, out_dim: int = 128) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c, s, w = in_ch, size, width
        k = 5
        while True:
            blocks += [nn.Conv2d(c, w, k, padding=k // 2), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c, s, k = w, s // 2, 3
            w = min(2 * w, 16 * width)
            if s <= 7:
                break
        s = max(s, 1)
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(s), nn.Flatten())
        self.proj = nn.Sequential(nn.Linear(c * s * s, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.proj(self.features(x))


class ResNet18(nn.Module):
    """torchvision ResNet-18 (random init) with 1 or 3 input channels; 512 features."""

    def __init__(self, in_ch: int = 3) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        if in_ch != 3:
            net.conv1 = nn.Conv2d(in_ch, 64, 7, 2, 3, bias=False)
        net.fc = nn.Identity()
        self.net = net
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.net(x)


def _image_dims(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 2:
        return 1, min(shape)
    if len(shape) == 3:
        return shape[0], min(shape[1:])
    raise UmeError(f"an image encoder needs inputs shaped (H, W) or (C, H, W), got {shape}; pick 'mlp' for vectors")


@register_encoder("mlp", "2-layer MLP on flattened inputs (vectors)")
def mlp(shape: tuple[int, ...]) -> nn.Module:
    n = 1
    for s in shape:
        n *= s
    return MLP(n)


@register_encoder("lenet", "LeNet-style CNN for small images and spectrograms (H,W) or (C,H,W)")
def lenet(shape: tuple[int, ...]) -> nn.Module:
    c, s = _image_dims(shape)
    return LeNet(c, s)


@register_encoder("resnet18", "ResNet-18 (torchvision, random init), 1 or 3 channels")
def resnet18(shape: tuple[int, ...]) -> nn.Module:
    c, _ = _image_dims(shape)
    return ResNet18(c)


def default_encoder_name(shape: tuple[int, ...]) -> str:
    """Pick by shape: vectors -> 'mlp', (H, W) or (C, H, W) -> 'lenet'."""
    return "mlp" if len(shape) <= 1 else "lenet"


def make_encoder(name: str | None, shape: tuple[int, ...]) -> nn.Module:
    """Build the encoder ``name`` (or the shape default) for inputs of sample shape ``shape``."""
    name = name or default_encoder_name(shape)
    if name not in ENCODERS:
        raise UmeError(f"unknown encoder '{name}'; choose one of {', '.join(sorted(ENCODERS))}")
    return ENCODERS[name][0](shape)


def feature_dim(encoder: nn.Module, shape: tuple[int, ...]) -> int:
    """``encoder.out_dim`` if set, else measured with one dummy forward pass."""
    if hasattr(encoder, "out_dim"):
        return int(encoder.out_dim)
    was = encoder.training
    encoder.eval()
    with torch.no_grad():
        p = next(encoder.parameters(), None)
        out = encoder(torch.zeros(2, *shape, device=p.device if p is not None else "cpu"))
    encoder.train(was)
    return int(out.reshape(2, -1).shape[1])
