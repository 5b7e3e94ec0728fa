"""Complementary information Gamma_m = H(Y | all but m) - H(Y | all) estimated from trained models: the
difference of two temperature-calibrated cross-entropies (:func:`estimate_gamma`), and for one's own data before any
UME-MMA run, on the training and validation splits only (:func:`expected_gamma`)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..datasets.core import MultiModalData, Split
from ..errors import UmeError
from ..evaluate import predict
from ..methods import METHODS, make_loss, model_encoders
from ..models.fusion import LateFusion
from ..training.trainer import Trainer


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The temperature T > 0 that minimises the cross-entropy of ``logits / T`` (temperature scaling)."""
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def keep_modalities(split: Split, mods: list[str]) -> Split:
    idx = [split.modalities.index(m) for m in mods]
    return Split({m: split.x[m] for m in mods}, split.y, split.present[:, idx])


def calibrated_cross_entropy(model: LateFusion, val: Split, test: Split) -> tuple[torch.Tensor, float]:
    """Per-sample test cross-entropy (nats) after temperature scaling on ``val``, and the temperature."""
    t = fit_temperature(predict(model, val), val.y)
    return F.cross_entropy(predict(model, test) / t, test.y, reduction="none"), t


def gamma_from_models(without: LateFusion, with_all: LateFusion, data: MultiModalData, missing: str,
                      n_boot: int = 500, seed: int = 0) -> dict[str, float]:
    """Gamma_missing estimated as CE(model without it) - CE(model with every modality), both temperature
    calibrated on ``data.val`` and scored on ``data.test``; with a paired bootstrap standard error."""
    if data.val is None:
        raise ValueError("estimating Gamma needs a validation split for calibration (data.val)")
    rest = [m for m in data.modalities if m != missing]
    ce_wo, t_wo = calibrated_cross_entropy(without, keep_modalities(data.val, rest), keep_modalities(data.test, rest))
    ce_all, t_all = calibrated_cross_entropy(with_all, data.val, data.test)
    diff = (ce_wo - ce_all).numpy()
    rng = np.random.default_rng(seed)
    boots = diff[rng.integers(0, len(diff), (n_boot, len(diff)))].mean(1)
    return {"gamma_hat": float(diff.mean()), "se": float(boots.std()), "ce_without": float(ce_wo.mean()),
            "ce_all": float(ce_all.mean()), "temperature_without": t_wo, "temperature_all": t_all}


def estimate_gamma(data: MultiModalData, missing: str, cfg: RunConfig, trainer: Trainer) -> dict[str, float]:
    """Train a model without ``missing`` and one with every modality (late fusion, cross-entropy, phase-1
    settings, complete data) and return :func:`gamma_from_models` for them."""
    loss = make_loss(METHODS["naive"], data.task)
    rest = [m for m in data.modalities if m != missing]
    shapes = data.input_shapes()
    enc = model_encoders(data, cfg)  # cached frozen features: identity
    torch.manual_seed(trainer.seed)
    wo = trainer.fit(LateFusion.build({m: shapes[m] for m in rest}, data.num_classes, enc),
                     keep_modalities(data.train, rest), cfg.phase1, loss, desc=f"without {missing}")
    torch.manual_seed(trainer.seed)
    full = trainer.fit(LateFusion.build(shapes, data.num_classes, enc), data.train, cfg.phase1, loss,
                       desc="all modalities")
    return gamma_from_models(wo, full, data, missing)


def expected_gamma(data: MultiModalData, cfg: RunConfig, trainer: Trainer, seed: int = 0) -> list[dict]:
    """Gamma_m for every modality m of one's own (multiclass) data, before any UME-MMA run and without touching
    the test split: :func:`estimate_gamma` on the complete training samples, calibrated on one seeded half of the
    complete validation samples and scored on the other half. A large Gamma_m means that no method can keep its
    accuracy when m is missing (Theorem 3.2); near 0, the other modalities carry what m knows."""
    if data.task != "multiclass":
        raise UmeError("Gamma is estimated from calibrated cross-entropies of single-label classifiers; "
                       f"the task here is '{data.task}'")
    if data.val is None or len(data.val) < 4:
        raise UmeError("estimating Gamma needs a validation split of at least 4 samples (see MultiModalData.with_validation)")

    def complete(s: Split) -> Split:
        return s.subset(s.present.all(1).nonzero().squeeze(1))

    val = complete(data.val)
    idx = torch.randperm(len(val), generator=torch.Generator().manual_seed(seed))
    half = len(val) // 2
    view = MultiModalData(data.name, complete(data.train), val.subset(idx[half:]), data.num_classes,
                          val.subset(idx[:half]), data.task, dict(data.info))
    return [{"modality": m, **estimate_gamma(view, m, cfg, trainer)} for m in data.modalities]


def gap_discordant(frame) -> list[dict]:
    """Pairs of rows of :func:`umelib.paper.complementary.gap_frame` whose Gamma-hat and gap are ordered differently, each with whether the
    data tell the two Gamma-hats apart (their difference beyond 2 combined se) and the two gaps apart (disjoint
    95% intervals). A discordant pair told apart on both sides goes against Remark 1; otherwise it is noise."""
    rows = list(frame.iterrows())
    out = []
    for i, ((ds_a, m_a), a) in enumerate(rows):
        for (ds_b, m_b), b in rows[i + 1:]:
            if (a["gamma_hat"] - b["gamma_hat"]) * (a["gap"] - b["gap"]) >= 0:
                continue
            out.append({"a": f"{ds_a}: {m_a}", "b": f"{ds_b}: {m_b}",
                        "gamma_apart": bool(abs(a["gamma_hat"] - b["gamma_hat"]) > 2 * (a["se"] ** 2 + b["se"] ** 2) ** 0.5),
                        "gap_apart": bool(a["gap_lo"] > b["gap_hi"] or b["gap_lo"] > a["gap_hi"])})
    return out


def discordant_text(pairs: list[dict]) -> str:
    """One sentence on :func:`gap_discordant`'s pairs."""
    if not pairs:
        return "every pair of points is ordered alike by Γ̂ and by the gap"
    told = lambda p: " and ".join(k for k, v in (("Γ̂", p["gamma_apart"]), ("gap", p["gap_apart"])) if v) or "neither"
    against = sum(p["gamma_apart"] and p["gap_apart"] for p in pairs)
    return (f"{len(pairs)} pair{'s' if len(pairs) > 1 else ''} ordered differently by Γ̂ and by the gap ("
            + "; ".join(f"{p['a']} vs {p['b']}, told apart: {told(p)}" for p in pairs)
            + f"); {against} told apart on both sides, i.e. against Remark 1's ordering")

