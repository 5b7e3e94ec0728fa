"""The method's pieces, each pinned by a test that fails when the piece changes: augmentation redrawn every epoch,
mean-of-logits fusion, phase 2 from phase-1 weights, a model blind to ``present``, the baselines' losses, frozen
BatchNorm and validation selection (stacked runs: tests/test_multirun.py)."""
import copy

import pytest
import torch
import torch.nn.functional as F

from umelib import LateFusion, MissingModalityAugmentation, PhaseConfig, Split, Trainer
from umelib.methods import METHODS, make_loss, setup_method


def _ids_split(n=200):
    """Inputs that name their sample: x = z = id + 1 (never 0), so a zeroed row shows which sample was dropped."""
    ids = torch.arange(1, n + 1, dtype=torch.float32)[:, None]
    return Split({"x": ids.clone(), "z": ids.clone()}, torch.arange(n) % 3, torch.ones(n, 2, dtype=torch.bool))


def test_drops_are_redrawn_every_epoch():
    split = _ids_split()
    zeroed: list[set] = []

    def loss(model, batch):  # which samples came with x zeroed (their id is their value)
        zeroed[-1].update((batch["z"][batch["x"][:, 0] == 0][:, 0]).long().tolist())
        return F.cross_entropy(model(batch), batch["label"])

    aug = MissingModalityAugmentation(0.3)
    seen, orig = [], aug.draw

    def draw(n, mods, device, generator):
        seen.append(orig(n, mods, device, generator))
        zeroed.append(set())
        return seen[-1]

    aug.draw = draw
    Trainer("cpu", progress=False).fit(LateFusion.build({"x": (1,), "z": (1,)}, 3), split, PhaseConfig(3, 50, 1e-2),
                                       loss, aug)
    assert len(seen) == 3 and all(d.shape == (200, 2) for d in seen)  # one draw per epoch, one row per sample
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])
    for d, z in zip(seen, zeroed):
        assert 0.45 < d.any(1).float().mean() < 0.75  # 2 x 0.3 of the samples lose one modality
        assert 40 < len(z) < 80 and z != zeroed[0] or z is zeroed[0]  # about 30% lose x, other samples each epoch


def test_fusion_is_the_mean_of_the_heads_logits():
    torch.manual_seed(0)
    model = LateFusion.build({"x": (4,), "z": (6,)}, 5)
    b = {"x": torch.randn(8, 4), "z": torch.randn(8, 6)}
    hx = model.heads["x"](model.encoders["x"](b["x"]))
    hz = model.heads["z"](model.encoders["z"](b["z"]))
    assert torch.allclose(model(b), (hx + hz) / 2, atol=1e-6)


def test_the_model_never_reads_present():
    torch.manual_seed(0)
    model = LateFusion.build({"x": (4,), "z": (6,)}, 5).eval()
    b = {"x": torch.randn(8, 4), "z": torch.randn(8, 6)}
    out = model(b)
    for present in (torch.ones(8, 2, dtype=torch.bool), torch.zeros(8, 2, dtype=torch.bool)):
        assert torch.equal(model({**b, "present": present}), out)


def test_phase2_starts_from_the_phase1_weights(tiny, tiny_cfg):
    shapes = tiny.input_shapes()
    uni = {}
    for m in tiny.modalities:
        torch.manual_seed(7)
        uni[m] = LateFusion.build({m: shapes[m]}, tiny.num_classes)
    torch.manual_seed(0)
    model, phase, aug, _ = setup_method("ume-mma", tiny, tiny_cfg, uni)
    for m in tiny.modalities:
        assert torch.equal(model.heads[m].weight, uni[m].heads[m].weight)
        for p, q in zip(model.encoders[m].parameters(), uni[m].encoders[m].parameters()):
            assert torch.equal(p, q)
    assert phase is tiny_cfg.phase2 and aug is not None
    torch.manual_seed(0)
    scratch, phase, aug, _ = setup_method("only-aug", tiny, tiny_cfg)
    assert not torch.equal(scratch.heads["x"].weight, uni["x"].heads["x"].weight) and phase is tiny_cfg.phase1


def test_missing_detection_targets_and_loss():
    torch.manual_seed(0)
    model = LateFusion.build({"x": (4,), "z": (4,)}, 3, missing_class=True)
    present = torch.tensor([[True, True], [False, True], [True, False]])
    b = {"x": torch.randn(3, 4), "z": torch.randn(3, 4), "label": torch.tensor([0, 1, 2]), "present": present}
    out = model.forward_all(b)
    y = b["label"]
    heads = (F.cross_entropy(out["uni"]["x"], torch.tensor([0, 3, 2]))  # "missing" = class 3 where x is gone
             + F.cross_entropy(out["uni"]["z"], torch.tensor([0, 1, 3]))) / 2
    w = present.T.unsqueeze(-1).float()
    cls = torch.stack([out["uni"]["x"][:, :3], out["uni"]["z"][:, :3]])
    fused = F.cross_entropy((cls * w).sum(0) / w.sum(0), y)
    assert torch.allclose(make_loss(METHODS["missing-detection"], "multiclass")(model, b), fused + heads, atol=1e-6)


@pytest.mark.parametrize("weight", [0.0, 1.0, 2.5])
def test_multitask_loss_weighting(weight):
    torch.manual_seed(0)
    model = LateFusion.build({"x": (4,), "z": (4,)}, 3, aux_heads=True)
    b = {"x": torch.randn(6, 4), "z": torch.randn(6, 4), "label": torch.tensor([0, 1, 2, 0, 1, 2])}
    out = model.forward_all(b)
    want = F.cross_entropy(out["fused"], b["label"]) + weight * (
        F.cross_entropy(out["aux"]["x"], b["label"]) + F.cross_entropy(out["aux"]["z"], b["label"])) / 2
    assert torch.allclose(make_loss(METHODS["multitask"], "multiclass", weight)(model, b), want, atol=1e-6)


def test_frozen_encoders_keep_their_batchnorm_statistics():
    torch.manual_seed(0)
    shapes = {"image": (1, 16, 16), "audio": (1, 16, 16)}
    model = LateFusion.build(shapes, 4).freeze_encoders(True)
    split = Split({m: torch.randn(64, *s) * 3 + 1 for m, s in shapes.items()}, torch.arange(64) % 4,
                  torch.ones(64, 2, dtype=torch.bool))
    before = copy.deepcopy(model.encoders.state_dict())
    Trainer("cpu", progress=False).fit(model, split, PhaseConfig(2, 16, 1e-2), make_loss(METHODS["ume-mma"], "multiclass"))
    after = model.encoders.state_dict()
    assert any("running_mean" in k for k in before)
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and running statistics alike


def _val_split(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = F.one_hot(y, 3).float() + 0.8 * torch.randn(n, 3, generator=g)
    return Split({"x": x, "z": torch.randn(n, 2, generator=g)}, y, torch.ones(n, 2, dtype=torch.bool))


def test_selection_keeps_the_best_epoch_and_stops_on_patience():
    scores = iter([50.0, 70.0, 60.0, 65.0, 55.0, 90.0])  # best at 2, then no improvement for 3 epochs
    t = Trainer("cpu", progress=False)
    model = LateFusion.build({"x": (3,), "z": (2,)}, 3)
    snaps = []

    def val(m):
        snaps.append(copy.deepcopy(m.state_dict()))
        return next(scores)

    t.fit(model, _val_split(), PhaseConfig(6, 32, 1e-1, patience=3), make_loss(METHODS["naive"], "multiclass"),
          val_score=val)
    assert t.selected[-1]["epochs_run"] == 5 and t.selected[-1]["epoch"] == 2 and t.selected[-1]["val"] == 70.0
    assert t.selected[-1]["stopped_early"] and len(snaps) == 5
    assert all(torch.equal(v, snaps[1][k]) for k, v in model.state_dict().items())  # the weights of epoch 2
    t2 = Trainer("cpu", progress=False)
    scores = iter([50.0, 70.0, 60.0])
    t2.fit(LateFusion.build({"x": (3,), "z": (2,)}, 3), _val_split(), PhaseConfig(3, 32, 1e-1, select_best=False),
           make_loss(METHODS["naive"], "multiclass"), val_score=lambda m: next(scores))
    assert t2.selected[-1]["epoch"] == 3  # no selection: the last epoch


def test_the_complete_only_variant_is_selected_on_complete_validation(tiny, tiny_cfg):
    """Table 3 reports complete-test scores; the variant that fine-tunes on complete samples only is selected on the
    complete validation score, the other on the protocol's avg."""
    import dataclasses

    from umelib.evaluate import evaluate, predict, score
    from umelib.methods import val_scorer

    torch.manual_seed(0)
    model = setup_method("naive", tiny, tiny_cfg).model
    only = val_scorer(tiny, None, dataclasses.replace(tiny_cfg, phase2_complete_only=True))(model)
    avg = val_scorer(tiny, None, tiny_cfg)(model)
    assert only == pytest.approx(score(predict(model, tiny.val), tiny.val.y, tiny.task)["accuracy"])
    assert avg == pytest.approx(evaluate(model, tiny.val, tiny.task)["avg"]["accuracy"])
    assert only != pytest.approx(avg)
