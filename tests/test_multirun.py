"""Stacked (vmap) training must reproduce sequential Trainer runs, run by run: one parametrised test over the ways
runs are stacked (each method's architecture, index sets, substitutes, AdamW with per-modality rates, validation
selection); tests/test_suite.py checks the suite's grouping on top."""
import copy

import pytest
import torch

from umelib import LateFusion, MissingModalityAugmentation, PhaseConfig, Split, Trainer, UmeError
from umelib.methods import METHODS, make_loss
from umelib.training.multirun import MultiTrainer, fit_many

SHAPES = {"image": (1, 16, 16), "audio": (1, 20, 20)}


def _split(n: int = 160, missing: int = 0) -> Split:
    g = torch.Generator().manual_seed(0)
    present = torch.ones(n, 2, dtype=torch.bool)
    present[:missing, 0] = False
    return Split({m: torch.randn(n, *s, generator=g) for m, s in SHAPES.items()},
                 torch.randint(0, 10, (n,), generator=g), present)


def _models(seeds, **kw):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(LateFusion.build(SHAPES, 10, **kw))
    return out


def _max_diff(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)


def _vectors(n: int, shapes: dict, classes: int = 3, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split({m: torch.randn(n, *s, generator=g) for m, s in shapes.items()},
                 torch.randint(0, classes, (n,), generator=g), torch.ones(n, len(shapes), dtype=torch.bool))


def _val_split(n: int = 120, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.nn.functional.one_hot(y, 3).float() + 0.8 * torch.randn(n, 3, generator=g)
    return Split({"x": x, "z": torch.randn(n, 2, generator=g)}, y, torch.ones(n, 2, dtype=torch.bool))


def _vector_models(seeds, shapes, classes=3):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(LateFusion.build(shapes, classes))
    return out


METHOD_KW = {"ume-mma": {}, "missing-detection": {"missing_class": True}, "multitask": {"aux_heads": True},
             "ume-mma-frozen": {}}
CASES = [*METHOD_KW, "index-sets", "substitutes", "adamw-per-modality-rates", "selection"]


def _case(case: str) -> dict:
    """One way of stacking runs: the models, the data and what ``MultiTrainer.fit`` / ``Trainer.fit`` get."""
    if case in METHOD_KW:  # each method's architecture and recipe on images + spectrograms, some images missing
        rec = METHODS[case]
        seeds = [0, 1, 2]
        models = _models(seeds, **METHOD_KW[case])
        for m in models:
            m.freeze_encoders(rec.freeze)
        return dict(models=models, split=_split(96, missing=16), seeds=seeds, loss=make_loss(rec, "multiclass"),
                    cfg=PhaseConfig(2, 32, 1e-2, step_every=1), freeze=rec.freeze,
                    augs=[MissingModalityAugmentation(p) for p in (0.0, 0.3, 0.5)])
    if case == "index-sets":  # each run trains on its own samples of one split
        return dict(models=_models([5, 6]), split=_split(200), seeds=[5, 6], cfg=PhaseConfig(1, 32, 1e-2),
                    loss=make_loss(METHODS["naive"], "multiclass"),
                    indices=[torch.arange(0, 120), torch.arange(80, 200)])
    if case == "substitutes":  # each run with its own stand-in for a missing input
        return dict(models=_models([0, 1]), split=_split(96), seeds=[0, 1], cfg=PhaseConfig(1, 32, 1e-2),
                    loss=make_loss(METHODS["ume-mma"], "multiclass"),
                    augs=[MissingModalityAugmentation(0.4), MissingModalityAugmentation(0.4, substitutes={"audio": 1.0})])
    if case == "adamw-per-modality-rates":
        shapes = {"x": (6,), "z": (4,)}
        return dict(models=_vector_models([0, 1], shapes), split=_vectors(96, shapes), seeds=[0, 1],
                    cfg=PhaseConfig(3, 16, {"x": 1e-3, "z": 5e-3}, optimizer="adamw", weight_decay=0.01),
                    loss=make_loss(METHODS["ume-mma"], "multiclass"),
                    augs=[MissingModalityAugmentation(0.3), MissingModalityAugmentation(0.5)])
    if case == "selection":  # the best epoch on validation, early stopping after 2 epochs without improvement
        from umelib.evaluate import evaluate

        val = _val_split(seed=1)
        return dict(models=_vector_models([0, 1, 2], {"x": (3,), "z": (2,)}), split=_val_split(seed=0),
                    seeds=[0, 1, 2], cfg=PhaseConfig(8, 16, 5e-2, patience=2),
                    loss=make_loss(METHODS["naive"], "multiclass"),
                    val_score=lambda m: evaluate(m, val)["avg"]["accuracy"])
    raise KeyError(case)


@pytest.mark.parametrize("case", CASES)
def test_stacked_runs_equal_sequential_runs(case):
    """One stacked (vmap) training of several runs gives each run the weights (and, with validation, the epoch kept)
    of its own sequential ``Trainer`` run: same batches, same drops, same steps."""
    c = _case(case)
    models, seeds = c["models"], c["seeds"]
    augs = c.get("augs") or [None] * len(seeds)
    indices = c.get("indices")
    ref = [copy.deepcopy(m) for m in models]
    before = [copy.deepcopy(m) for m in models]
    t = MultiTrainer("cpu")
    t.fit(models, c["split"], c["cfg"], c["loss"], seeds, c.get("augs"), indices=indices,
          val_scores=[c["val_score"]] * len(seeds) if "val_score" in c else None)
    for k, (s, r, a) in enumerate(zip(seeds, ref, augs)):
        one = Trainer("cpu", seed=s, progress=False)
        one.fit(r, c["split"] if indices is None else c["split"].subset(indices[k]), c["cfg"], c["loss"], a,
                val_score=c.get("val_score"))
        if "val_score" in c:
            got, want = t.selected[k], one.selected[-1]
            assert (got["epoch"], got["epochs_run"]) == (want["epoch"], want["epochs_run"])
            assert abs(got["val"] - want["val"]) < 1e-6
    for m, r, b in zip(models, ref, before):
        for (k, p), q in zip(m.state_dict().items(), r.state_dict().values()):
            assert float((p.double() - q.double()).abs().max()) < 1e-4, k
        assert _max_diff(m, b) > 1e-3  # and it did train
        assert not m.training
        if c.get("freeze"):
            assert _max_diff(m.encoders, b.encoders) == 0.0
    if case in METHOD_KW:
        assert len(t.history) == 2 * len(seeds) and {h["runs_together"] for h in t.history} == {3}
    if case == "adamw-per-modality-rates":
        for m, b in zip(models, before):
            dx = float((m.encoders["x"].net[1].weight - b.encoders["x"].net[1].weight).detach().abs().max())
            dz = float((m.encoders["z"].net[1].weight - b.encoders["z"].net[1].weight).detach().abs().max())
            assert dz > 2 * dx > 0  # the faster rate moved its modality further


def test_bad_inputs_give_one_clear_error():
    split = _split(64)
    loss = make_loss(METHODS["naive"], "multiclass")
    cfg = PhaseConfig(1, 32, 1e-2)
    with pytest.raises(UmeError, match="one architecture"):
        fit_many(_models([0]) + _models([1], aux_heads=True), split, cfg, loss, [0, 1])
    with pytest.raises(UmeError, match="one of each per run"):
        fit_many(_models([0, 1]), split, cfg, loss, [0])
    with pytest.raises(UmeError, match="same number of training samples"):
        fit_many(_models([0, 1]), split, cfg, loss, [0, 1], indices=[torch.arange(10), torch.arange(20)])
    broken = _models([0, 1])
    with torch.no_grad():
        broken[1].heads["audio"].bias.fill_(float("nan"))
    with pytest.raises(UmeError, match="run 1 .*NaN"):
        fit_many(broken, split, cfg, loss, [0, 1])
