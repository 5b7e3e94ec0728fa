import pytest
import torch

import umelib
from umelib import METHODS, LateFusion, Trainer, run_method
from umelib.methods import pretrain

CONTRACT = {"dataset", "method", "profile", "seed", "metric", "metrics", "provenance"}
PROV = {"config", "device", "torch", "umelib", "git", "wall_s"}


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_end_to_end(method, tiny, tiny_cfg, tiny_pretrained):
    # phase 1 is shared (trained once per session; pretraining inside run_method: test_phase1_uses_only_present_samples)
    pre = tiny_pretrained if METHODS[method].pretrain else None
    out = run_method(method, tiny, tiny_cfg, Trainer("cpu", seed=0, progress=False), pretrained=pre)
    keys = {"miss:x", "miss:z"} | (set() if method == "unimodal" else {"complete", "avg"})
    assert keys <= set(out.metrics)
    for k in keys:
        acc = out.metrics[k]["accuracy"]
        assert 0 <= acc <= 100
    if method != "unimodal":
        assert out.metrics["complete"]["accuracy"] > 20  # 10 classes: well above chance after 5 epochs


def test_result_json_contract_and_exact_reproducibility(tiny, tiny_cfg):
    kw = dict(profile="smoke", seeds=0, device="cpu", n_train=500, n_test=300,
              phase1=tiny_cfg.phase1, phase2=tiny_cfg.phase2)
    a = umelib.run(tiny, ["naive", "ume-mma"], **kw)
    b = umelib.run(tiny, ["naive", "ume-mma"], **kw)
    for r in a:
        assert CONTRACT <= set(r) and PROV <= set(r["provenance"])
        assert set(r["metrics"]) == {"complete", "miss:x", "miss:z", "avg"}
        assert r["metric"] == "accuracy"
        m = r["metrics"]
        assert m["avg"] == pytest.approx((m["complete"] + m["miss:x"] + m["miss:z"]) / 3)
        assert "bayes" in r["reference"]
    assert [r["metrics"] for r in a] == [r["metrics"] for r in b]
    c = umelib.run(tiny, "naive", **{**kw, "seeds": 1})
    assert c[0]["metrics"] != a[0]["metrics"]  # a different seed is a different run


def test_three_modalities_and_presence_mask():
    data = umelib.load_dataset("synthetic-3m").subsample(800, 300)
    data.train.present[:200, 2] = False  # 25% of training samples lack modality c
    cfg = umelib.get_config("smoke", n_train=None, n_test=None)
    out = run_method("ume-mma", data, cfg, Trainer("cpu", progress=False))
    assert set(out.metrics) == {"complete", "miss:a", "miss:b", "miss:c", "avg"}
    assert out.metrics["complete"]["accuracy"] > 40


def test_phase1_uses_only_present_samples_and_load_unimodal(tiny, tiny_cfg):
    tiny.train.present[:300, 1] = False
    t = Trainer("cpu", progress=False)
    uni = pretrain(tiny, tiny_cfg, t)
    assert t.history[-1]["samples"] <= 300  # phase 1 of z saw the 300 samples that have z
    fused = LateFusion.build(tiny.input_shapes(), tiny.num_classes).load_unimodal(uni)
    for m in ("x", "z"):
        for p, q in zip(fused.encoders[m].parameters(), uni[m].encoders[m].parameters()):
            assert torch.equal(p, q)


def test_frozen_encoders_do_not_change(tiny, tiny_cfg, tiny_pretrained):
    uni = tiny_pretrained
    out = run_method("ume-mma-frozen", tiny, tiny_cfg, Trainer("cpu", progress=False), pretrained=uni)
    for m in ("x", "z"):
        for p, q in zip(out.model.encoders[m].parameters(), uni[m].encoders[m].parameters()):
            assert torch.equal(p, q)
    assert not torch.equal(out.model.heads["x"].weight, uni["x"].heads["x"].weight)


def test_missing_detection_ignores_heads_that_say_missing():
    model = LateFusion({"x": torch.nn.Identity(), "z": torch.nn.Identity()}, 3, {"x": (2,), "z": (2,)},
                       missing_class=True)
    uni = {"x": torch.tensor([[5.0, 0, 0, 0], [5.0, 0, 0, 0]]), "z": torch.tensor([[0, 9.0, 0, 0], [0, 9.0, 0, 99.0]])}
    fused = model.fuse(uni)
    assert fused[0].argmax() == 1  # both present: mean of the class logits
    assert fused[1].argmax() == 0  # z's head says "missing": only x counts


def test_per_modality_learning_rates(tiny):
    from umelib.training.trainer import param_groups

    model = LateFusion.build(tiny.input_shapes(), 10, aux_heads=True)
    groups = param_groups(model, {"x": 1e-2, "z": 1e-4})
    by_lr = {g["lr"]: sum(p.numel() for p in g["params"]) for g in groups}
    n_x = sum(p.numel() for n, p in model.named_parameters() if ".x." in f".{n}." or n.split(".")[1] == "x")
    assert by_lr[1e-2] == n_x and set(by_lr) == {1e-2, 1e-4}


def test_checkpoint_is_written_atomically(tiny, tiny_cfg, tmp_path):
    t = Trainer("cpu", progress=False, checkpoint=tmp_path / "ck.pt")
    run_method("naive", tiny, tiny_cfg, t)
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert state["epoch"] == tiny_cfg.phase1.epochs and not list(tmp_path.glob("*.tmp"))


def test_dataloader_and_resident_paths_agree_in_quality(tiny, tiny_cfg):
    accs = []
    for loader in ("resident", "dataloader"):
        out = run_method("naive", tiny, tiny_cfg, Trainer("cpu", progress=False, loader=loader))
        accs.append(out.metrics["complete"]["accuracy"])
    assert abs(accs[0] - accs[1]) < 10


def test_partial_missing_rate(tiny, tiny_cfg):
    from umelib.evaluate import missing_mask, predict

    out = run_method("naive", tiny, tiny_cfg, Trainer("cpu", progress=False), missing_rate=0.5)
    test = tiny.test
    correct = {s: (predict(out.model, test, missing_mask(len(test), ["x", "z"], s)).argmax(1) == test.y)
               for s in ("complete", "miss:x")}
    half = missing_mask(len(test), ["x", "z"], "miss:x", missing_rate=0.5)
    assert half[:, 0].sum() == len(test) // 2 and not half[:, 1].any()
    expected = torch.where(half[:, 0], correct["miss:x"], correct["complete"]).float().mean() * 100
    assert out.metrics["miss:x"]["accuracy"] == pytest.approx(float(expected), abs=1e-4)


@pytest.mark.parametrize("scale", [0.3, 5.0])
def test_multilabel_f1_thresholds_logits_at_zero(scale):
    """Logits inside [0, 1] are logits, not probabilities: positive logits predict the label (F1 100), negative
    ones do not (F1 0), whatever their size."""
    import torch

    from umelib.evaluate import score

    y = torch.ones(8, 3, dtype=torch.long)
    assert score(torch.full((8, 3), scale), y, "multilabel") == {"f1_macro": 100.0, "f1_micro": 100.0}
    assert score(torch.full((8, 3), -scale), y, "multilabel") == {"f1_macro": 0.0, "f1_micro": 0.0}
    y2 = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]])
    logits = torch.tensor([[0.2, -0.1], [-0.4, 0.9], [0.6, -0.2], [-0.3, -0.1]]) * scale
    s = score(logits, y2, "multilabel")  # label 0: 2 of 2 found, none wrong; label 1: 1 of 2 found, none wrong
    assert s["f1_macro"] == pytest.approx(100 * (1.0 + 2 / 3) / 2, abs=1e-3)
    assert s["f1_micro"] == pytest.approx(100 * 2 * 3 / (2 * 3 + 1), abs=1e-3)


def test_phase1_fused_is_the_averaged_phase1_models_without_phase_2(tiny, tiny_cfg):
    """The Table 1 row that isolates phase 2: the phase-1 models fused as they are, nothing trained after them; the
    stacked and the sequential suite give the same numbers."""
    import torch

    trainer = Trainer("cpu", seed=0, progress=False)
    uni = pretrain(tiny, tiny_cfg, trainer)
    n_fits = len(trainer.selected)
    out = run_method("phase1-fused", tiny, tiny_cfg, trainer, pretrained=uni)
    assert len(trainer.selected) == n_fits  # no training
    for m in tiny.modalities:
        assert torch.equal(out.model.heads[m].weight, uni[m].heads[m].weight)
    kw = dict(profile="smoke", seeds=[0, 1], methods=["phase1-fused"], drop_ps=[], device="cpu", n_train=300,
              n_test=200, phase1=tiny_cfg.phase1)
    seq = umelib.run_suite("synthetic", concurrent=False, **kw)
    stk = umelib.run_suite("synthetic", concurrent=True, **kw)
    for a, b in zip(seq, stk):
        assert a["metrics"] == pytest.approx(b["metrics"], abs=0.5)
        assert "phase1-fused" not in a["provenance"]["selected_epoch"]


def test_equal_compute_gives_methods_from_scratch_both_phases_epochs(tiny, tiny_cfg):
    """With equal_compute a method trained from scratch runs phase1.epochs + phase2.epochs epochs (UME-MMA's total);
    without it, phase 1's; the rule is read back from a run's config."""
    import dataclasses

    from umelib.experiments.results import compute_rule
    from umelib.methods import setup_method

    cfg = dataclasses.replace(tiny_cfg, equal_compute=True)
    assert setup_method("naive", tiny, cfg).phase.epochs == tiny_cfg.phase1.epochs + tiny_cfg.phase2.epochs
    assert setup_method("naive", tiny, tiny_cfg).phase.epochs == tiny_cfg.phase1.epochs
    uni = pretrain(tiny, tiny_cfg, Trainer("cpu", seed=0, progress=False))
    assert setup_method("ume-mma", tiny, cfg, uni).phase.epochs == tiny_cfg.phase2.epochs
    assert compute_rule(cfg.to_dict()).startswith("equal epochs")
    assert compute_rule(tiny_cfg.to_dict()).startswith("unequal")
    assert compute_rule(umelib.get_config("full", "own.npz").to_dict()).startswith("every method trained to convergence")
    capped = dict(umelib.get_config("full", "own.npz").to_dict(), equal_compute=True)
    assert compute_rule(capped).startswith("equal epoch budgets (methods from scratch: phase 1 + phase 2 epochs, at most 400)")
    assert umelib.get_config("cpu-intermediate", "avmnist").equal_compute and umelib.get_config("full", "avmnist").equal_compute


def test_fits_kept_last_counts_each_fit_once():
    from umelib.experiments.results import fits_kept_last

    p1 = {"phase 1 [a]": {"epochs_run": 5, "epoch": 5}, "phase 1 [b]": {"epochs_run": 5, "epoch": 3}}
    ume = {"provenance": {"wall_s": 1.0, "selected_epoch": {**p1, "ume-mma": {"epochs_run": 4, "epoch": 4}}}}
    naive = {"provenance": {"wall_s": 2.0, "selected_epoch": {"naive": {"epochs_run": 10, "epoch": 7}}}}
    recs = [dict(ume, method="ume-mma", seed=0, missing_rate=e) for e in (0.0, 1.0)]  # one run, two rates
    recs += [dict(ume, method="ume-mma@p=0.3", seed=0, same_run_as="ume-mma"), dict(naive, method="naive", seed=0)]
    assert fits_kept_last(recs) == (2, 4)  # phase 1 [a] and ume-mma kept their last epoch, of a, b, ume-mma, naive
