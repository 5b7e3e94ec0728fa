"""Complementary information of trained models: estimate Gamma_m = H(Y | all but m) - H(Y | all) as the
difference of two calibrated cross-entropies, and the synthetic families with a knob for Gamma_Z."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .config import RunConfig
from .data import MultiModalData, Split
from .evaluate import predict
from .fusion import LateFusion
from .info import describe
from .methods import METHODS, make_loss
from .train import Trainer


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
    torch.manual_seed(trainer.seed)
    wo = trainer.fit(LateFusion.build({m: shapes[m] for m in rest}, data.num_classes, cfg.encoders),
                     keep_modalities(data.train, rest), cfg.phase1, loss, desc=f"without {missing}")
    torch.manual_seed(trainer.seed)
    full = trainer.fit(LateFusion.build(shapes, data.num_classes, cfg.encoders), data.train, cfg.phase1, loss,
                       desc="all modalities")
    return gamma_from_models(wo, full, data, missing)


# ------------------------------------------------------------------ a discrete family with a Gamma_Z knob

def discrete_joint(lam: float, flip_z: float = 0.1) -> np.ndarray:
    """Joint over (x, z, y): Y = (y1, y2) uniform over 4 classes; X = (y1, b) with b = y2 kept with
    probability 1 - lam, else a fair coin; Z = y2 flipped with probability ``flip_z``. Gamma_Z grows from 0
    (lam = 0: X already knows y2) to log 2 - h(flip_z) (lam = 1)."""
    p = np.zeros((4, 2, 4))
    for y in range(4):
        y1, y2 = divmod(y, 2)
        for b in range(2):
            pb = (1 - lam) * (b == y2) + lam * 0.5
            for z in range(2):
                pz = 1 - flip_z if z == y2 else flip_z
                p[2 * y1 + b, z, y] += 0.25 * pb * pz
    return p


def sample_discrete(p: np.ndarray, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw ``n`` samples of a joint over (x, z, y); inputs one-hot coded (float32)."""
    idx = rng.choice(p.size, n, p=p.ravel())
    x, z, y = np.unravel_index(idx, p.shape)
    eye = lambda k, v: np.eye(k, dtype=np.float32)[v]
    return {"x": eye(p.shape[0], x), "z": eye(p.shape[1], z)}, y


def make_discrete(lam: float, n_train: int = 20_000, n_val: int = 5_000, n_test: int = 20_000, seed: int = 0,
                  flip_z: float = 0.1) -> MultiModalData:
    """A dataset from :func:`discrete_joint`; ``info["joint"]`` holds the exact table and its quantities."""
    p = discrete_joint(lam, flip_z)
    rng = np.random.default_rng(seed)
    splits = {}
    for s, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        xs, y = sample_discrete(p, n, rng)
        splits[s] = Split({m: torch.from_numpy(a) for m, a in xs.items()}, torch.from_numpy(y),
                          torch.ones(n, 2, dtype=torch.bool))
    return MultiModalData(f"discrete-lam{lam:g}", splits["train"], splits["test"], 4, splits["val"],
                          info={"generator": "discrete", "lam": lam, "joint": p, "exact": describe(p)})


# ------------------------------------------------------------------ the sweep of the "bounds to models" chapter

GAUSSIAN_X_SEPARATION = 3.0
KNOBS = {"discrete": [0.25, 0.5, 0.75, 1.0], "gaussian": [1.5, 2.4, 3.2, 4.0]}


def family_data(family: str, knob: float, seed: int = 0) -> MultiModalData:
    """The dataset of one sweep point: ``discrete`` (knob = lam) or ``gaussian`` (knob = z's separation)."""
    from .synthetic import GaussianSpec, make_gaussian

    if family == "discrete":
        return make_discrete(knob, seed=seed)
    if family == "gaussian":
        spec = GaussianSpec(separation={"x": GAUSSIAN_X_SEPARATION, "z": knob})
        return make_gaussian(spec, seed=seed, name="synthetic")
    raise ValueError(f"unknown family '{family}'; use 'discrete' or 'gaussian'")


def exact_quantities(data: MultiModalData, n_mc: int = 10**6) -> dict[str, float]:
    """Exact (discrete) or Monte Carlo (Gaussian, ``n_mc`` draws) H(Y|X,Z), Gamma_Z and Bayes errors."""
    from .synthetic import conditional_entropies

    if "joint" in data.info:
        d = data.info["exact"]
        return {"H_Y|XZ": d["H(Y|X,Z)"], "gamma_Z": d["Gamma_Z"], "Pe": d["Pe"], "Pe_miss_z": d["Pe miss Z"]}
    spec = data.info["gaussian_spec"]
    ce = conditional_entropies(spec, n_mc)
    acc = spec.bayes_accuracy(n_mc)
    return {"H_Y|XZ": ce["complete"], "gamma_Z": ce["miss:z"] - ce["complete"], "Pe": 1 - acc["complete"],
            "Pe_miss_z": 1 - acc["miss:z"]}


def sweep(family: str, profile: str | None = None, seed: int = 0, knobs: list[float] | None = None,
          device: str | None = None, progress: bool = False) -> list[dict]:
    """For each knob value: exact Gamma_Z, H(Y|X,Z), Bayes errors and the bounds of Theorem 3.2; the errors of
    naive late fusion and UME-MMA with Z missing and complete; and Gamma_Z estimated from the trained models
    (phase-1 X model vs. naive fusion, both calibrated)."""
    import time

    from .experiment import prepare
    from .info import exp_upper, fano_lower
    from .methods import pretrain, run_method
    from .results import provenance

    rows = []
    for knob in knobs or KNOBS[family]:
        t0 = time.perf_counter()
        data, cfg = prepare(family_data(family, knob, seed), profile, seed)
        trainer = Trainer(device, seed=seed, progress=progress)
        uni = pretrain(data, cfg, trainer)
        naive = run_method("naive", data, cfg, trainer)
        ume = run_method("ume-mma", data, cfg, trainer, pretrained=uni)
        est = gamma_from_models(uni["x"], naive.model, data, "z")
        ex = exact_quantities(data)
        k = data.num_classes
        err = lambda out, s: 1 - out.metrics[s]["accuracy"] / 100
        rows.append({"family": family, "knob": knob, "seed": seed, **ex,
                     "lower_1": fano_lower(ex["H_Y|XZ"], k), "upper_1": exp_upper(ex["H_Y|XZ"]),
                     "lower_2": fano_lower(ex["H_Y|XZ"] + ex["gamma_Z"], k),
                     "upper_2": exp_upper(ex["H_Y|XZ"] + ex["gamma_Z"]),
                     "naive_complete": err(naive, "complete"), "naive_miss_z": err(naive, "miss:z"),
                     "ume_complete": err(ume, "complete"), "ume_miss_z": err(ume, "miss:z"),
                     **{f"est_{k2}": v for k2, v in est.items()},
                     "rel_error": (est["gamma_hat"] - ex["gamma_Z"]) / ex["gamma_Z"] if ex["gamma_Z"] > 0 else None,
                     "provenance": provenance(cfg.to_dict(), trainer.device, time.perf_counter() - t0,
                                              n_train=len(data.train), n_test=len(data.test))})
    return rows
