import pytest

from umelib import PhaseConfig
from umelib import run_suite


def test_suite_shares_phase1_and_reuses_the_default_sweep_point():
    res = run_suite("synthetic", "smoke", seeds=[0], methods=["naive", "ume-mma"], drop_ps=[0.0, 0.3],
                    n_train=400, n_test=300, phase1=PhaseConfig(2, 64, 5e-2), phase2=PhaseConfig(1, 64, 1e-2))
    names = [r["method"] for r in res]
    assert names == ["naive", "ume-mma", "ume-mma@p=0", "ume-mma@p=0.3"]
    by = {r["method"]: r for r in res}
    assert by["ume-mma@p=0.3"]["metrics"] == by["ume-mma"]["metrics"] and by["ume-mma@p=0.3"]["same_run_as"] == "ume-mma"
    assert by["ume-mma@p=0"]["sweep"] == {"drop_p": 0.0} and "same_run_as" not in by["ume-mma@p=0"]


def test_suite_cache_skips_training(tmp_path, monkeypatch):
    from umelib.training.trainer import Trainer

    calls = []
    fit = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda self, *a, **k: calls.append(k.get("desc")) or fit(self, *a, **k))
    kw = dict(seeds=[0], methods=["unimodal", "ume-mma"], drop_ps=[], n_train=400, n_test=300,
              phase1=PhaseConfig(2, 64, 5e-2), phase2=PhaseConfig(1, 64, 1e-2), cache_dir=tmp_path, concurrent=False)
    a = run_suite("synthetic", "smoke", **kw)
    assert calls == ["phase 1 [x]", "phase 1 [z]", "ume-mma"]
    assert len(list(tmp_path.glob("phase1-*.pt"))) == 1 and len(list(tmp_path.glob("result-*.json"))) == 2
    calls.clear()
    b = run_suite("synthetic", "smoke", **kw)
    assert calls == [] and [r["metrics"] for r in a] == [r["metrics"] for r in b]  # nothing trained again
    c = run_suite("synthetic", "smoke", **{**kw, "methods": ["naive", "only-pretrain"]})
    assert calls == ["naive", "only-pretrain"]  # phase 1 came from the cache
    assert len(list(tmp_path.glob("phase1-*.pt"))) == 1 and len(c) == 2


def test_seed_independent_data_is_loaded_once(monkeypatch):
    from umelib import make_gaussian
    from umelib.datasets import registry

    loads = []

    def loader(seed=0):
        loads.append(seed)
        return make_gaussian(n_train=200, n_val=50, n_test=100, seed=0, name="fixed-data")

    monkeypatch.setitem(registry.DATASETS, "fixed-data", registry.DatasetEntry("fixed-data", "test", loader))
    kw = dict(methods=["naive"], drop_ps=[], phase1=PhaseConfig(1, 64, 5e-2), concurrent=False)
    res = run_suite("fixed-data", "smoke", seeds=[0, 1, 2], **kw)
    assert loads == [0] and len(res) == 3
    monkeypatch.setitem(registry.DATASETS, "fixed-data",
                        registry.DatasetEntry("fixed-data", "test", loader, seed_dependent=True))
    loads.clear()
    run_suite("fixed-data", "smoke", seeds=[0, 1, 2], **kw)
    assert loads == [0, 1, 2]


@pytest.mark.slow  # two whole suites
def test_stacked_suite_matches_the_sequential_one():
    # synthetic data differs per seed, so the stacked runs index their own samples of one joint split
    kw = dict(seeds=[0, 1], methods=["unimodal", "naive", "ume-mma-frozen", "ume-mma", "only-aug", "only-pretrain"], drop_ps=[0.0, 0.3],
              n_train=300, n_test=300, phase1=PhaseConfig(2, 64, 5e-2), phase2=PhaseConfig(2, 64, 1e-2))
    seq = run_suite("synthetic", "smoke", concurrent=False, **kw)
    stk = run_suite("synthetic", "smoke", concurrent=True, **kw)
    assert [(r["method"], r["seed"]) for r in seq] == [(r["method"], r["seed"]) for r in stk]
    for a, b in zip(seq, stk):
        for s, v in a["metrics"].items():
            assert abs(v - b["metrics"][s]) <= 0.7, (a["method"], s)  # <= 2 of 300 test samples
    by = {(r["method"], r["seed"]): r for r in stk}
    # one stacked training per architecture and phase: 2 seeds x (p=0, p=0.3 = ume-mma, only-pretrain)
    assert by[("ume-mma@p=0", 1)]["provenance"]["runs_together"] == 6
    assert by[("only-aug", 1)]["provenance"]["trained_with"] == "naive+only-aug"
    assert by[("naive", 0)]["provenance"]["runs_together"] == 4
    assert by[("ume-mma-frozen", 0)]["provenance"]["runs_together"] == 2
    assert by[("ume-mma@p=0.3", 0)]["same_run_as"] == "ume-mma"
    assert by[("unimodal", 0)]["metrics"] != by[("unimodal", 1)]["metrics"]
