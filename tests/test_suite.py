from umelib import PhaseConfig
from umelib.suite import run_suite


def test_suite_shares_phase1_and_reuses_the_default_sweep_point():
    res = run_suite("synthetic", "smoke", seeds=[0], methods=["naive", "ume-mma"], drop_ps=[0.0, 0.3],
                    n_train=400, n_test=300, phase1=PhaseConfig(2, 64, 5e-2), phase2=PhaseConfig(1, 64, 1e-2))
    names = [r["method"] for r in res]
    assert names == ["naive", "ume-mma", "ume-mma@p=0", "ume-mma@p=0.3"]
    by = {r["method"]: r for r in res}
    assert by["ume-mma@p=0.3"]["metrics"] == by["ume-mma"]["metrics"] and by["ume-mma@p=0.3"]["same_run_as"] == "ume-mma"
    assert by["ume-mma@p=0"]["sweep"] == {"drop_p": 0.0} and "same_run_as" not in by["ume-mma@p=0"]
