"""Text as a tensor modality: UTF-8 bytes, zero-padded, one row per sample (``uint8``, shape (N, L)).

Holding text this way keeps every split a dict of tensors (subsets, devices, checksums and ``.npz``
files work as for any modality), and it makes the protocol's zero substitute the blank text ``""``
(paper Sec. 4.1): a row of zeros decodes to the empty string, *before* any tokenizer sees it. Text
encoders (``umelib.models.text``) decode the rows and tokenize them themselves.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .errors import UmeError


def _clip_utf8(b: bytes, max_bytes: int) -> bytes:
    """``b`` cut to at most ``max_bytes`` without splitting a multi-byte character."""
    if len(b) <= max_bytes:
        return b
    cut = b[:max_bytes]
    return cut.decode("utf-8", errors="ignore").encode("utf-8")


def encode_texts(texts: Sequence[str], max_bytes: int = 512) -> torch.Tensor:
    """``uint8`` (N, L): each text's UTF-8 bytes (cut at ``max_bytes``, on a character boundary), zero-padded;
    L is the longest row (at least 1). A text containing the NUL character is refused (NUL is padding)."""
    if max_bytes < 1:
        raise UmeError(f"max_bytes must be >= 1, got {max_bytes}")
    rows = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise UmeError(f"text {i} is a {type(t).__name__}, not a str; pass a list of strings")
        if "\x00" in t:
            raise UmeError(f"text {i} contains a NUL character, which marks padding; remove it")
        rows.append(_clip_utf8(t.encode("utf-8"), max_bytes))
    width = max([len(r) for r in rows] + [1])
    out = np.zeros((len(rows), width), dtype=np.uint8)
    for i, r in enumerate(rows):
        out[i, : len(r)] = np.frombuffer(r, dtype=np.uint8)
    return torch.from_numpy(out)


def decode_texts(x: torch.Tensor) -> list[str]:
    """The strings of a ``uint8`` (N, L) byte tensor (zeros are padding; an all-zero row is ``""``)."""
    if x.dtype != torch.uint8 or x.dim() != 2:
        raise UmeError(f"text must be a uint8 tensor of shape (N, L) (see umelib.texts.encode_texts), "
                       f"got {x.dtype} {tuple(x.shape)}")
    arr = x.detach().cpu().numpy()
    return [bytes(row).rstrip(b"\x00").decode("utf-8", errors="replace") for row in arr]


def is_text(x: torch.Tensor) -> bool:
    """Whether a modality's tensor holds text bytes (``uint8`` of shape (N, L))."""
    return x.dtype == torch.uint8 and x.dim() == 2
