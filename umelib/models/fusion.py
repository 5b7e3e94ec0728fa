"""Late fusion (paper Fig. 2): one encoder + linear head per modality, output = mean of the logits."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .encoders import feature_dim, make_encoder


class LateFusion(nn.Module):
    """Per-modality ``encoder -> Linear`` heads whose logits are averaged.

    ``missing_class=True`` gives every head one extra output, "this modality is missing"
    (the missing-detection baseline); ``aux_heads=True`` adds a second uni-modal linear
    classifier per modality (the multi-task baseline). A model with one modality is a
    uni-modal model (phase 1).
    """

    def __init__(self, encoders: Mapping[str, nn.Module], num_classes: int,
                 input_shapes: Mapping[str, tuple[int, ...]], missing_class: bool = False,
                 aux_heads: bool = False) -> None:
        super().__init__()
        self.modalities = list(encoders)
        self.num_classes = num_classes
        self.missing_class = missing_class
        self.encoders = nn.ModuleDict(encoders)
        dims = {m: feature_dim(e, tuple(input_shapes[m])) for m, e in encoders.items()}
        out = num_classes + int(missing_class)
        self.heads = nn.ModuleDict({m: nn.Linear(dims[m], out) for m in self.modalities})
        self.aux = nn.ModuleDict({m: nn.Linear(dims[m], num_classes) for m in self.modalities}) if aux_heads else None

    @classmethod
    def build(cls, input_shapes: Mapping[str, tuple[int, ...]], num_classes: int,
              encoders: Mapping[str, str | nn.Module | None] | None = None, **kw) -> "LateFusion":
        """Encoders from names (or modules, or ``None`` for the shape default) per modality."""
        encoders = encoders or {}
        mods = {m: e if isinstance(e, nn.Module) else make_encoder(e, tuple(input_shapes[m]))
                for m in input_shapes for e in [encoders.get(m)]}
        return cls(mods, num_classes, input_shapes, **kw)

    def forward_all(self, batch: Mapping[str, torch.Tensor]) -> dict:
        """``{"uni": {m: head logits}, "aux": {m: logits} (multi-task only), "fused": (N, C)}``."""
        feats = {m: self.encoders[m](batch[m]) for m in self.modalities}
        uni = {m: self.heads[m](f) for m, f in feats.items()}
        out: dict = {"uni": uni}
        if self.aux is not None:
            out["aux"] = {m: self.aux[m](f) for m, f in feats.items()}
        out["fused"] = self.fuse(uni)
        return out

    def fuse(self, uni: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean of the heads' class logits; with a missing class, heads that predict "missing" are left out
        (all heads are used for a sample where every head says missing)."""
        logits = torch.stack([uni[m] for m in self.modalities])  # (M, N, C[+1])
        if not self.missing_class:
            return logits.mean(0)
        cls = logits[..., : self.num_classes]
        keep = (logits.argmax(-1) != self.num_classes).to(cls.dtype)  # (M, N)
        keep = torch.where(keep.sum(0, keepdim=True) > 0, keep, torch.ones_like(keep))
        return (cls * keep.unsqueeze(-1)).sum(0) / keep.sum(0).unsqueeze(-1)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.forward_all(batch)["fused"]

    # ------------------------------------------------------------ phase-1 weights, freezing

    def load_unimodal(self, unimodal: Mapping[str, "LateFusion"]) -> "LateFusion":
        """Copy encoder and head weights from uni-modal (phase-1) models, one per modality.

        A head with a different output size (e.g. an extra missing class) keeps its own init."""
        for m, uni in unimodal.items():
            self.encoders[m].load_state_dict(uni.encoders[m].state_dict())
            if uni.heads[m].weight.shape == self.heads[m].weight.shape:
                self.heads[m].load_state_dict(uni.heads[m].state_dict())
        return self

    def freeze_encoders(self, frozen: bool = True) -> "LateFusion":
        """Stop (or restart) gradient flow into every encoder; heads stay trainable."""
        for e in self.encoders.values():
            e.requires_grad_(not frozen)
        self._frozen = frozen
        return self

    def train(self, mode: bool = True) -> "LateFusion":
        super().train(mode)
        if getattr(self, "_frozen", False):  # frozen encoders keep their BatchNorm statistics
            self.encoders.eval()
        return self
