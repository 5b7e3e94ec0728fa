"""The suite's cache: results and phase-1 weights on disk, keyed by everything that makes them what they are
(dataset, profile, seed, config, training-set size, encoders, git commit), so an interrupted suite resumes and
chapters that need different methods of one suite train each piece once."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import torch

from ..config import RunConfig
from ..datasets.core import MultiModalData
from ..files import atomic_save, load_json, save_json
from ..methods import unimodal_model
from ..models.fusion import LateFusion
from ..training.features import feature_weights


def key(*parts: Any) -> str:
    """A short stable hash of JSON-able ``parts``."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclasses.dataclass
class Cache:
    """A cache folder (``None``: no caching) for one suite call at one commit."""

    root: Path | None
    commit: str | None

    def load_result(self, k: str) -> dict | None:
        p = self.root / f"result-{k}.json" if self.root else None
        return load_json(p) if p is not None and p.exists() else None

    def save_result(self, k: str, result: dict) -> None:
        if self.root:
            save_json(result, self.root / f"result-{k}.json", overwrite=True)

    def phase1_path(self, data: MultiModalData, cfg: RunConfig, profile: str, seed: int,
                    encoders: Mapping[str, Any] | None) -> Path | None:
        """Where the phase-1 weights of this seed live; None when not cached (no folder, or module encoders)."""
        if self.root is None or any(not isinstance(e, (str, type(None))) for e in (encoders or {}).values()):
            return None
        present = hashlib.sha1(data.train.present.cpu().numpy().tobytes()).hexdigest()[:16]  # training-set missing
        if data.val is not None and not bool(data.val.present.all()):  # validation missing (a protocol's masks)
            present += hashlib.sha1(data.val.present.cpu().numpy().tobytes()).hexdigest()[:16]
        feats = feature_weights(data)
        ident = (data.name, profile, seed, len(data.train), self.commit, present, *([feats] if feats else []))
        return self.root / f"phase1-{key(*ident, dataclasses.asdict(cfg.phase1), cfg.encoders | dict(encoders or {}))}.pt"

    @staticmethod
    def load_phase1(path: Path, data: MultiModalData, cfg: RunConfig, encoders: Mapping[str, Any] | None,
                    device: torch.device) -> tuple[dict[str, LateFusion], dict]:
        """Phase-1 models and what was selected for them (epoch, validation score) per phase."""
        saved = torch.load(path, map_location="cpu", weights_only=True)
        models = {}
        for m, st in saved["states"].items():
            models[m] = unimodal_model(data, cfg, data.modalities.index(m), 0, encoders)
            models[m].load_state_dict(st)
            models[m].to(device).eval()
        return models, saved["selected"]

    @staticmethod
    def save_phase1(path: Path | None, models: Mapping[str, LateFusion], selected: Mapping[str, dict]) -> None:
        if path is not None:
            atomic_save({"states": {m: mod.state_dict() for m, mod in models.items()}, "selected": dict(selected)}, path)
