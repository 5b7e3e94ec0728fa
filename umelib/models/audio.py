"""Audio and video-clip encoders for the audio-visual datasets (AVE, Kinetics-Sounds; paper App. B.1).

- :class:`AudioNet` (``audionet``): the 1-D CNN on raw waveforms of Tian & Xu (2021) that App. B.1.1 pairs with a
  ResNet-18: four blocks of two ``Conv1d(k=3, stride=2, padding=1) -> BatchNorm1d -> ReLU`` (channels
  1 -> 64 -> 64 -> 128 -> 128 -> 256 -> 256 -> 512 -> 512), a ``MaxPool1d(2)`` after each block, then a global
  max-pool over time: 512 features. Each block divides the length by 8 (two stride-2 convolutions and the pool),
  so 65,535 samples (11,025 Hz, ~5.9 s, Tian & Xu's ``audLen``) leave 16 time steps before the global pool
  (65,535 -> 32,768 -> 16,384 -> 8,192 | 4,096 -> 2,048 -> 1,024 | 512 -> 256 -> 128 | 64 -> 32 -> 16).
  The pools round up (``ceil_mode``): identical at 65,535 (every pooled length is even there), and any length
  T >= 1 works (with floor pooling, clips under 2,341 samples would fail). 1,566,528 parameters, PyTorch's
  default init. Waveforms are float in [-1, 1] (App. B.1.1) or ``int16`` PCM (scaled by 1/32,768, half the memory).
- :class:`FrameEncoder` (``frames:SPEC``): an image encoder applied to every frame of a clip (N, F, C, H, W),
  features averaged over the frames (for a ResNet, whose own pooling is a spatial mean, this is the mean over
  time and space that OGM-GE-style audio-visual code takes). (N, C, H, W) is a clip of one frame.
- :class:`HFAudio` (``hf-audio:PATH[@RATE]``): a ``transformers`` audio encoder with its feature extractor, from
  local files only: AST (``ASTModel``), CLAP (its audio tower and projection, ``get_audio_features``), or a
  wav2vec2/HuBERT-style model. The paper's audio encoder (ImageBind's, App. B.1.2) is in no package registry;
  AST fine-tuned on AudioSet (like ImageBind's, a ViT on log-mel spectrograms) is a stand-in ``transformers`` loads.

The protocol's audio substitute is zeros: silence. This module imports only :mod:`umelib.errors`; the registry
(:mod:`umelib.models.encoders`) imports it lazily and registers :func:`audionet`, :func:`frames` (given
``make_encoder`` to build the inner image encoder: this module never imports the registry, no cycle) and
:func:`hf_audio`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import UmeError

AUDIO_RATE = 11025  # Hz of the waveforms in Tian & Xu's (and App. B.1.1's) setup
AUDIO_LEN = 65535  # samples per clip in that setup
AST_NAME = "MIT/ast-finetuned-audioset-10-10-0.4593"  # the AudioSet-trained AST checkpoint to fetch elsewhere


def as_waveform(x: torch.Tensor) -> torch.Tensor:
    """Waveforms as float: ``int16`` PCM scaled to [-1, 1); float kept; other integer types refused."""
    if x.dtype == torch.int16:
        return x.float() / 32768.0
    if not x.is_floating_point():
        raise UmeError(f"audio encoders take float waveforms in [-1, 1] or int16 PCM, got {x.dtype}")
    return x.float()


def _mono(x: torch.Tensor, what: str) -> torch.Tensor:
    """(N, T), (N, 1, T) or (N, C, T) (channels averaged) -> (N, T)."""
    if x.dim() == 3:
        x = x.mean(1)
    if x.dim() != 2:
        raise UmeError(f"{what} takes waveforms shaped (N, T) or (N, C, T), got {tuple(x.shape)}")
    return x


class AudioNet(nn.Module):
    """Tian & Xu's 1-D CNN on raw waveforms (N, T) or (N, C, T) -> (N, 512); see the module docstring."""

    CHANNELS = (64, 64, 128, 128, 256, 256, 512, 512)

    def __init__(self, volume: tuple[float, float] | None = (0.5, 1.5)) -> None:
        super().__init__()
        self.volume = volume  # training: each waveform scaled by a factor drawn from this range (Tian & Xu 2021)
        layers: list[nn.Module] = []
        c = 1
        for i, w in enumerate(self.CHANNELS):
            layers += [nn.Conv1d(c, w, kernel_size=3, stride=2, padding=1), nn.BatchNorm1d(w), nn.ReLU()]
            if i % 2 == 1:
                layers.append(nn.MaxPool1d(kernel_size=2, stride=2, ceil_mode=True))
            c = w
        self.features = nn.Sequential(*layers)
        self.out_dim = c

    @classmethod
    def out_length(cls, t: int) -> int:
        """Time steps left before the global max-pool for an input of ``t`` samples (16 for 65,535)."""
        for i in range(len(cls.CHANNELS)):
            t = (t + 1) // 2  # Conv1d(k=3, s=2, p=1): ceil(t / 2)
            if i % 2 == 1:
                t = (t + 1) // 2  # MaxPool1d(2, ceil_mode=True)
        return t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _mono(as_waveform(x), "AudioNet").unsqueeze(1)
        if self.training and self.volume is not None:
            lo, hi = self.volume
            x = x * torch.empty(x.shape[0], 1, 1, device=x.device, dtype=x.dtype).uniform_(lo, hi)
        return self.features(x).amax(-1)


class FrameEncoder(nn.Module):
    """``backbone`` (an image encoder) on every frame of clips (N, F, C, H, W), ``uint8`` or float; the output is
    the mean of the per-frame features (N, D). (N, C, H, W) is taken as clips of one frame. The frames go through
    the backbone as one batch of N * k images.

    ``train_frames`` = k: in training mode each clip contributes k of its F frames drawn at random, anew at every
    forward pass (so every epoch sees other frames: App. B.1.2, after OGM-GE), on the device, without replacement.
    ``test_frames`` = t: in eval mode the t evenly spaced, centred frames (t = 1: the middle one). ``None``: every
    frame given. ``crop``: in training, every frame resized by 1.1, randomly cropped back and flipped at random
    (Tian & Xu's augmentation, App. B.1.1; :func:`umelib.models.image_aug.zoom_crop`)."""

    def __init__(self, backbone: nn.Module, frame_shape: tuple[int, ...] | None = None,
                 train_frames: int | None = None, test_frames: int | None = None, crop: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.train_frames, self.test_frames, self.crop = train_frames, test_frames, crop
        if hasattr(backbone, "out_dim"):
            self.out_dim = int(backbone.out_dim)
        elif frame_shape is not None:  # measured with one pass over two black frames
            was = backbone.training
            with torch.no_grad():
                self.out_dim = int(backbone.eval()(torch.zeros(2, *frame_shape)).reshape(2, -1).shape[1])
            backbone.train(was)

    def pick(self, x: torch.Tensor) -> torch.Tensor:
        """The frames of clips ``x`` (N, F, ...) this mode uses (see the class doc)."""
        n, f = x.shape[:2]
        if self.training and self.train_frames is not None and self.train_frames < f:
            idx = torch.rand(n, f, device=x.device).argsort(1)[:, : self.train_frames].sort(1).values
            return x[torch.arange(n, device=x.device)[:, None], idx]
        if not self.training and self.test_frames is not None and self.test_frames < f:
            step = f // self.test_frames
            start = (f - 1 - step * (self.test_frames - 1)) // 2
            return x[:, start: start + step * (self.test_frames - 1) + 1: step]
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            return self.backbone(x)
        x = self.pick(x)
        n, f = x.shape[:2]
        frames = x.reshape(n * f, *x.shape[2:])
        if self.training and self.crop:
            from .image_aug import zoom_crop

            frames = zoom_crop(frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float())
        feats = self.backbone(frames)
        return feats.reshape(n, f, -1).mean(1)


def resolve_audio(name_or_path: str) -> str:
    """A local folder, or a model name found in the local Hugging Face cache; else one clear error (no download)."""
    from .text import local_model

    path = local_model(name_or_path)
    if path is None:
        p = Path(name_or_path).expanduser()
        raise UmeError(f"audio encoder 'hf-audio:{name_or_path}' not found: no folder {p} and no such model in the "
                       "local Hugging Face cache (nothing is downloaded); where you have network run `python -c "
                       f"\"from huggingface_hub import snapshot_download as s; print(s('{AST_NAME}'))\"` and pass "
                       "the folder it prints as hf-audio:PATH")
    return path


class HFAudio(nn.Module):
    """A ``transformers`` audio encoder and its feature extractor from the local folder ``path``.

    Takes waveforms (N, T) or (N, C, T) at ``sampling_rate`` Hz (float in [-1, 1] or int16), resamples them
    (``torchaudio.functional.resample``) to the extractor's rate (16 kHz for AST) when the rates differ, runs the
    extractor (AST: Kaldi log-mel filterbanks, padded or cut to its ``max_length`` frames, AudioSet mean/std; on
    the CPU, without gradient to the waveform) and the model. Features: ``pooler_output`` where the model has one
    (AST: the mean of its [CLS] and distillation tokens, what ``ASTForAudioClassification`` classifies; CLAP: the
    projected audio embedding), else the mean of ``last_hidden_state`` over time (wav2vec2, HuBERT).

    As :class:`umelib.models.text.HFText`, the features pass through a LayerNorm without learned scale
    (``scale=True``): mean 0, unit variance per vector, so a linear head on them starts with logits of the same
    size as a CNN head's (CLAP's unit-norm embeddings are ~0.04 per dimension) and logit averaging in late fusion
    does not ignore them. The paper's audio encoder (ImageBind's, App. B.1.2) is in no package registry.
    """

    def __init__(self, path: str, sampling_rate: int = AUDIO_RATE, scale: bool = True) -> None:
        super().__init__()
        try:
            from transformers import AutoFeatureExtractor, AutoModel
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise UmeError("hf-audio encoders need transformers: pip install transformers==5.24.0 "
                           "(pip install -e '.[vl]')") from None
        hf_logging.disable_progress_bar()
        path = resolve_audio(path)
        self.path, self.rate = path, int(sampling_rate)
        self.extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True)
        self.target_rate = int(getattr(self.extractor, "sampling_rate", None) or self.rate)
        cfg = self.model.config
        self.projected = hasattr(self.model, "get_audio_features")  # CLAP: the audio tower + its projection
        dim = getattr(cfg, "projection_dim", None) if self.projected else None
        self.out_dim = int(dim or getattr(cfg, "hidden_size"))
        self.norm = nn.LayerNorm(self.out_dim, elementwise_affine=False) if scale else nn.Identity()

    def extract(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The feature extractor's inputs for waveforms ``x`` (N, T) at ``self.rate``, on the model's device."""
        x = _mono(as_waveform(x), "an hf-audio encoder")
        if self.rate != self.target_rate:
            import torchaudio.functional as AF

            x = AF.resample(x, self.rate, self.target_rate)
        waves = list(x.detach().cpu().float().numpy())
        enc = self.extractor(waves, sampling_rate=self.target_rate, return_tensors="pt")
        p = next(self.model.parameters())
        return {k: v.to(p.device, p.dtype if v.is_floating_point() else v.dtype) for k, v in enc.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc = self.extract(x)
        out = self.model.get_audio_features(**enc) if self.projected else self.model(**enc)
        if isinstance(out, torch.Tensor):  # older transformers: get_audio_features returns the embedding
            pooled = out
        else:
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                pooled = out.last_hidden_state.mean(1)
        return self.norm(pooled.float())


# ------------------------------------------------------------------ factories (registered in encoders.py)

def _wave_shape(shape: tuple[int, ...], family: str) -> None:
    if not (len(shape) == 1 or (len(shape) == 2 and shape[0] <= 2)):
        raise UmeError(f"'{family}' takes waveforms (sample shape (T,) or (C, T)), got {shape}")


def audionet(shape: tuple[int, ...]) -> nn.Module:
    """``audionet``: :class:`AudioNet` for waveforms of sample shape (T,) or (C, T)."""
    _wave_shape(tuple(shape), "audionet")
    return AudioNet()


FRAMES_ARG = re.compile(r"^(?:(\d+),(\d+)(,crop)?|(crop)):(.+)$")


def frames_arg(arg: str) -> tuple[int | None, int | None, bool, str]:
    """``[TRAIN,TEST[,crop]:]SPEC`` or ``crop:SPEC`` -> (frames per clip in training, at test, Tian & Xu's crop in
    training, the image encoder SPEC)."""
    m = FRAMES_ARG.match(arg)
    if not m:
        return None, None, False, arg
    crop = bool(m.group(3) or m.group(4))
    if m.group(1) is None:
        return None, None, crop, m.group(5)
    k, t = int(m.group(1)), int(m.group(2))
    if k < 1 or t < 1:
        raise UmeError(f"'frames:{arg}': frames per clip must be >= 1, got {k} in training and {t} at test")
    return k, t, crop, m.group(5)


def frames(shape: tuple[int, ...], arg: str, make: Callable[[str, tuple[int, ...]], nn.Module]) -> nn.Module:
    """``frames:[TRAIN,TEST[,crop]:]SPEC``: :class:`FrameEncoder` around ``make(SPEC, frame_shape)`` (the registry's
    ``make_encoder``) for clips of sample shape (F, C, H, W), or single images (C, H, W) / (H, W); ``3,1:`` draws 3
    random frames per clip in training and takes the middle one at test; ``,crop`` adds Tian & Xu's frame
    augmentation in training. ``frozen:frames:SPEC`` freezes (and lets
    the suite cache) the whole clip encoder."""
    shape = tuple(shape)
    if len(shape) == 4:
        frame = shape[1:]
    elif len(shape) in (2, 3):
        frame = shape
    else:
        raise UmeError(f"'frames:{arg}' takes clips of frames (F, C, H, W) or single images, got sample shape {shape}")
    k, t, crop, spec = frames_arg(arg)  # clips with no more than k (t) frames use all of theirs
    return FrameEncoder(make(spec, frame), frame, k, t, crop)


def split_rate(arg: str) -> tuple[str, int]:
    """``PATH[@RATE]`` -> (PATH, RATE in Hz; :data:`AUDIO_RATE` when absent)."""
    path, _, rate = arg.rpartition("@")
    return (path, int(rate)) if path and rate.isdigit() else (arg, AUDIO_RATE)


def hf_audio(shape: tuple[int, ...], arg: str) -> nn.Module:
    """``hf-audio:PATH[@RATE]``: :class:`HFAudio` from the local folder (or cached model name) PATH, for waveforms
    at RATE Hz."""
    _wave_shape(tuple(shape), "hf-audio")
    path, rate = split_rate(arg)
    return HFAudio(path, sampling_rate=rate)
