"""Stacked (vmap) training must reproduce sequential Trainer runs, run by run."""
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


@pytest.mark.parametrize("method, kw", [("ume-mma", {}), ("missing-detection", {"missing_class": True}),
                                        ("multitask", {"aux_heads": True}), ("ume-mma-frozen", {})])
def test_stacked_runs_equal_sequential_runs(method, kw):
    rec = METHODS[method]
    split = _split(missing=16)
    seeds = [0, 1, 2]
    models = _models(seeds, **kw)
    for m in models:
        m.freeze_encoders(rec.freeze)
    ref = [copy.deepcopy(m) for m in models]
    before = [copy.deepcopy(m) for m in models]
    cfg = PhaseConfig(2, 32, 1e-2, step_every=1)
    loss = make_loss(rec, "multiclass")
    augs = [MissingModalityAugmentation(p) for p in (0.0, 0.3, 0.5)]
    t = MultiTrainer("cpu")
    t.fit(models, split, cfg, loss, seeds, augs)
    for s, m, a in zip(seeds, ref, augs):
        Trainer("cpu", seed=s, progress=False).fit(m, split, cfg, loss, a)
    for m, r, b in zip(models, ref, before):
        assert _max_diff(m, r) < 1e-4  # same batches, same drops, same steps
        assert _max_diff(m, b) > 1e-3  # and it did train
        assert not m.training
        if rec.freeze:
            assert _max_diff(m.encoders, b.encoders) == 0.0
    assert len(t.history) == 2 * len(seeds) and {h["runs_together"] for h in t.history} == {3}


def test_index_sets_select_each_runs_samples():
    split = _split(200)
    ix = [torch.arange(0, 120), torch.arange(80, 200)]
    models = _models([0, 1])
    ref = [copy.deepcopy(m) for m in models]
    cfg = PhaseConfig(1, 32, 1e-2)
    loss = make_loss(METHODS["naive"], "multiclass")
    fit_many(models, split, cfg, loss, [5, 6], indices=ix)
    for s, m, i in zip([5, 6], ref, ix):
        Trainer("cpu", seed=s, progress=False).fit(m, split.subset(i), cfg, loss)
    assert all(_max_diff(a, b) < 1e-4 for a, b in zip(models, ref))


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


def test_runs_with_their_own_substitutes():
    split = _split(96)
    models = _models([0, 1])
    ref = [copy.deepcopy(m) for m in models]
    cfg = PhaseConfig(1, 32, 1e-2)
    loss = make_loss(METHODS["ume-mma"], "multiclass")
    augs = [MissingModalityAugmentation(0.4), MissingModalityAugmentation(0.4, substitutes={"audio": 1.0})]
    fit_many(models, split, cfg, loss, [0, 1], augs)
    for s, m, a in zip([0, 1], ref, augs):
        Trainer("cpu", seed=s, progress=False).fit(m, split, cfg, loss, a)
    assert all(_max_diff(a, b) < 1e-4 for a, b in zip(models, ref))
