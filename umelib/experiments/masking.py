"""A named missing-modality protocol (:mod:`umelib.protocols`) applied to a run: its presence masks laid on the
training and validation splits, the test masks kept for evaluation, and the record every result carries
(``protocol``: name, rate, modality, where the masks came from, their sha256, how many samples miss what).

Masks are drawn per run seed (``make_masks`` with the run's seed, on the splits as the run sees them), or read
from a file that ``python -m umelib masks`` wrote (the same masks for every seed; its data sha256 and split sizes
must match the run's)."""
from __future__ import annotations

import dataclasses
import numpy as np
import torch
from torch import nn

from ..datasets.core import MultiModalData, Split
from ..errors import UmeError
from ..evaluate import predict, score, subset_masks
from ..protocols import PROTOCOLS, load_masks, make_masks, masks_sha256, protocol, subset_settings


@dataclasses.dataclass(frozen=True)
class ProtocolSpec:
    """Which protocol a run follows: ``name`` and its parameters, or ``masks_file`` (parameters from the file)."""

    name: str
    rate: float = 0.0
    modality: str = "both"
    masks_file: str | None = None
    loaded: tuple | None = dataclasses.field(default=None, compare=False, repr=False)  # (masks, meta) of masks_file

    def __post_init__(self) -> None:
        protocol(self.name)
        if not 0.0 <= self.rate <= 1.0:
            raise UmeError(f"the protocol's rate must lie in [0, 1] (the share of samples without the modality), "
                           f"got {self.rate}")

    @classmethod
    def from_file(cls, path: str) -> "ProtocolSpec":
        masks, meta = load_masks(path)
        return cls(meta["protocol"], float(meta["rate"]), meta["modality"], str(path), (masks, meta))


@dataclasses.dataclass
class Applied:
    """A protocol as applied to one seed's data: the test samples' missing mask (None: nothing drawn) and the
    record results carry."""

    test_missing: torch.Tensor | None
    record: dict


def apply_protocol(data: MultiModalData, spec: ProtocolSpec, seed: int) -> tuple[MultiModalData, Applied]:
    """``data`` with the protocol's training and validation masks laid on its presence masks (a sample keeps what
    it had and loses what the mask takes), and the :class:`Applied` protocol."""
    mods = data.modalities
    rec: dict = {"name": spec.name, "used_by": PROTOCOLS[spec.name].used_by}
    if spec.name == "any-subset":
        rec["settings"] = [s for s in subset_settings(mods) if s != "complete"]
        return data, Applied(None, rec)
    splits = dict(data.splits())
    sizes = {s: len(sp) for s, sp in splits.items()}
    if spec.masks_file:
        masks, meta = spec.loaded or load_masks(spec.masks_file)
        sha = data.info.get("sha256")
        if meta.get("data_sha256") and sha and meta["data_sha256"] != sha:
            raise UmeError(f"{spec.masks_file} was drawn for data with sha256 {meta['data_sha256'][:12]}…, this run's "
                           f"data has {sha[:12]}…; draw masks for it with python -m umelib masks --dataset ...")
        if meta.get("modalities") and meta["modalities"].split(",") != mods:
            raise UmeError(f"{spec.masks_file} has masks for modalities {meta['modalities']}, the data has "
                           f"{','.join(mods)}")
        got = {s: len(m) for s, m in masks.items()}
        if any(got.get(s) != n for s, n in sizes.items()):
            raise UmeError(f"{spec.masks_file} has masks for {got} samples, the run has {sizes} (a profile that "
                           "subsamples changes the sizes): use --profile full, or --protocol/--rate to draw masks "
                           "for the run's own splits")
        rec.update(rate=spec.rate, modality=spec.modality, masks=f"file {spec.masks_file} (seed {meta.get('seed')})")
    else:
        masks = make_masks(sizes, mods, data.info.get("sha256") or "", spec.name, spec.rate, spec.modality, seed)
        rec.update(rate=spec.rate, modality=spec.modality, masks=f"drawn for run seed {seed}")
    rec["masks_sha256"] = masks_sha256(masks)
    rec["missing"] = {s: {m: int((~np.asarray(masks[s])[:, j]).sum()) for j, m in enumerate(mods)} for s in sizes}
    new = {}
    for s in ("train", "val"):
        sp = splits.get(s)
        if sp is not None:
            present = sp.present & torch.as_tensor(masks[s], device=sp.present.device)
            if bool((~present.any(1)).any()):
                raise UmeError(f"the masks leave {int((~present.any(1)).sum())} {s} samples with no modality at all "
                               "(the data already missed some); use a lower rate or --modality for one modality")
            new[s] = dataclasses.replace(sp, present=present)
    test_missing = torch.from_numpy(~np.asarray(masks["test"]))
    return dataclasses.replace(data, **new), Applied(test_missing if bool(test_missing.any()) else None, rec)


@torch.no_grad()
def protocol_metrics(model: nn.Module, test: Split, task: str, applied: Applied | None) -> dict[str, dict[str, float]]:
    """The protocol's own test settings for a fused model: ``masked`` (the test samples' masks), or, for
    ``any-subset``, each proper subset present (``present:a+b``); empty when the protocol adds none."""
    if applied is None or model is None:
        return {}
    if applied.record["name"] == "any-subset":  # "complete" is among the suite's own settings already
        settings = {k: v for k, v in subset_masks(len(test), test.modalities).items() if k != "complete"}
    else:
        settings = {"masked": applied.test_missing} if applied.test_missing is not None else {}
    return {name: score(predict(model, test, missing), test.y.cpu(), task) for name, missing in settings.items()}


def spec_from_options(protocol_name: str | None, rate: float | None, modality: str | None,
                      masks_file: str | None) -> ProtocolSpec | None:
    """The CLI's ``--protocol/--rate/--modality`` or ``--masks``, checked (one of the two, not both)."""
    if masks_file and protocol_name:
        raise UmeError("give either --masks FILE (fixed masks) or --protocol P --rate R (masks drawn per seed), not both")
    if masks_file:
        return ProtocolSpec.from_file(masks_file)
    if protocol_name is None:
        if rate is not None or modality is not None:
            raise UmeError("--rate and --modality belong to a protocol: add --protocol NAME (see python -m umelib list)")
        return None
    if protocol_name != "any-subset" and rate is None:
        raise UmeError(f"protocol '{protocol_name}' needs --rate R (the share of samples without the modality)")
    return ProtocolSpec(protocol_name, float(rate or 0.0), modality or "both")

