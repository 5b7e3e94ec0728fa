"""Pre-trained image encoders, loaded from local files only (nothing is downloaded at run time).

- :class:`OpenCLIPImage` (``openclip:ARCH@TAG_OR_FILE``): the image tower of an OpenCLIP model. ``TAG`` is a
  pretrained tag found in the local cache, ``FILE`` a checkpoint on disk, ``none`` random weights (tests).
- :class:`TorchvisionImage` (``torchvision:ARCH@WEIGHTS_FILE``): a torchvision classifier (``resnet152``, ...)
  with its classification layer removed; ``WEIGHTS_FILE`` a state dict saved by torchvision, ``none`` random.

Both take images as ``uint8`` (0..255) or float (0..1) tensors (N, 3, H, W) and do the preprocessing their
weights expect: resize to the model's input size (224 for ViT-B-32 and ResNets; our data are square, so the
resize is the paper's 224 crop), the model's mean/std, and random horizontal flips while training and not
frozen (App. B.2); OpenCLIP towers (the large encoders of App. B.1.2) get a random resized crop to 224 in training
instead of the fixed resize. The protocol's image substitute is zeros: a black image, normalized like any other.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UmeError
from .image_aug import random_resized_crop

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Images as float in [0, 1]: ``uint8`` is divided by 255; float is kept."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


class Preprocess(nn.Module):
    """Resize to ``size`` (bilinear, antialiased), flip at random in training, normalize by ``mean``/``std``. With
    ``train_crop`` a training batch gets a random resized crop to ``size`` instead of the fixed resize (App. B.1.2:
    "adjust their size randomly to 224x224"); evaluation always resizes."""

    def __init__(self, size: int, mean: tuple[float, ...], std: tuple[float, ...], flip: bool = True,
                 train_crop: bool = False) -> None:
        super().__init__()
        self.size, self.flip, self.train_crop = size, flip, train_crop
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_unit(x)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.training and self.train_crop:
            x = random_resized_crop(x, self.size, flip=self.flip)
        else:
            if tuple(x.shape[-2:]) != (self.size, self.size):
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
            if self.training and self.flip:
                flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
                x = torch.where(flip, x.flip(-1), x)
        return (x - self.mean) / self.std


def _weights_file(arg: str, spec: str, hint: str) -> Path | None:
    """``None`` for random weights (``none``), else the existing file ``arg``; one clear error otherwise."""
    if arg.lower() in ("none", "random"):
        return None
    p = Path(arg).expanduser()
    if not p.is_file():
        raise UmeError(f"weights for '{spec}' not found: no file {p}; {hint}")
    return p


class OpenCLIPImage(nn.Module):
    """The visual tower of OpenCLIP ``arch`` with ``weights`` (a tag in the local cache, a file, or ``none``)."""

    def __init__(self, arch: str, weights: str = "none") -> None:
        super().__init__()
        try:
            import open_clip
        except ImportError:
            raise UmeError("OpenCLIP encoders need open_clip_torch: pip install open_clip_torch==3.3.0 "
                           "(pip install -e '.[vl]')") from None
        spec = f"openclip:{arch}@{weights}"
        if arch not in open_clip.list_models():
            raise UmeError(f"OpenCLIP has no model '{arch}'; choose one of open_clip.list_models(), e.g. ViT-B-32")
        hint = (f"pass a checkpoint file (openclip:{arch}@/path/open_clip_pytorch_model.bin) or a tag whose weights "
                f"are in the local cache (download them where you have network: python -c \"import open_clip; "
                f"open_clip.create_model('{arch}', pretrained='TAG')\")")
        pretrained = None
        if weights.lower() not in ("none", "random"):
            tags = open_clip.list_pretrained_tags_by_model(arch)
            pretrained = _cached_tag(open_clip, arch, weights) if weights in tags else str(_weights_file(weights, spec, hint))
            if pretrained is None:
                raise UmeError(f"weights for '{spec}' are not in the local cache (nothing is downloaded); {hint}")
        try:
            model = open_clip.create_model(arch, pretrained=pretrained)
        except Exception as e:  # a checkpoint that does not fit the architecture, or an unreadable file
            why = (str(e).strip().splitlines() or [""])[0][:160]
            raise UmeError(f"weights for '{spec}' could not be loaded ({type(e).__name__}: {why}); {hint}") from None
        self.visual = model.visual
        size = self.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else int(size)
        cfg = getattr(self.visual, "preprocess_cfg", {}) or {}
        mean = tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
        std = tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD))
        self.pre = Preprocess(size, mean, std, train_crop=True)  # App. B.1.2: random resized crop in training
        self.out_dim = int(model.visual.output_dim)
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(self.pre(x)).float()


def _cached_tag(open_clip, arch: str, tag: str) -> str | None:
    """The local file of OpenCLIP's pretrained ``tag`` for ``arch`` (Hugging Face cache), or None: never downloads."""
    cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
    repo = (cfg.get("hf_hub") or "").strip("/")
    if not repo:
        return None
    from huggingface_hub import try_to_load_from_cache

    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        hit = try_to_load_from_cache(repo, name)
        if isinstance(hit, str):
            return hit
    return None


class TorchvisionImage(nn.Module):
    """torchvision ``arch`` (e.g. ``resnet152``) with ImageNet preprocessing; the classifier is removed."""

    def __init__(self, arch: str, weights: str = "none", size: int = 224) -> None:
        super().__init__()
        import torchvision

        if arch not in torchvision.models.list_models(module=torchvision.models):
            raise UmeError(f"torchvision has no classification model '{arch}'; e.g. resnet18, resnet152, vit_b_16")
        spec = f"torchvision:{arch}@{weights}"
        hint = (f"save torchvision's weights where you have network (torch.save(torchvision.models.get_model('{arch}', "
                f"weights='DEFAULT').state_dict(), '{arch}.pth')) and pass torchvision:{arch}@{arch}.pth")
        path = _weights_file(weights, spec, hint)
        net = torchvision.models.get_model(arch, weights=None)
        if path is not None:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                net.load_state_dict(state)
            except Exception as e:
                raise UmeError(f"cannot load {path} into {arch} ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                               f"{hint}") from None
        self.out_dim = _drop_classifier(net)
        self.net, self.spec = net, spec
        self.pre = Preprocess(size, IMAGENET_MEAN, IMAGENET_STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pre(x)).float()


def _drop_classifier(net: nn.Module) -> int:
    """Replace the last ``nn.Linear`` (the classification layer of torchvision's classifiers) by Identity; its
    input width is the feature size."""
    last = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not last:
        raise UmeError(f"cannot find the classification layer of {type(net).__name__}; wrap it yourself as an nn.Module")
    name, lin = last[-1]
    parent = net.get_submodule(name.rpartition(".")[0]) if "." in name else net
    setattr(parent, name.rpartition(".")[2], nn.Identity())
    return int(lin.in_features)
