"""The results page: the best committed run is chosen full-first, every claim gets a three-valued verdict (none on a
near-chance run), Theorem 3.2's checks read as verdicts, and a table leaves the pending list once its results exist."""
import json

import pytest

from conftest import fake_result
from umelib.paper import claims, overview


def _result(method, seed, v, a, c=None, profile="cpu-intermediate", **extra):
    return fake_result(method, seed, v, a, c, profile=profile, **extra)


def _avmnist(uni_v=30.0, profile="cpu-intermediate"):
    rows = []
    for s, j in enumerate((0.0, 0.3, -0.3)):
        rows += [_result("unimodal", s, uni_v + j, 60 + j, profile=profile),
                 _result("naive", s, 20 + j, 50 + j, 70 + j, profile=profile),
                 _result("multitask", s, 22 + j, 52 + j, 70 + j, profile=profile),
                 _result("missing-detection", s, 29 + j, 61 + j, 68 + j, profile=profile),
                 _result("ume-mma", s, 31 + j, 61.5 + j, 75 + j, profile=profile),
                 _result("only-aug", s, 30 + j, 60 + j, 70 + j, profile=profile),
                 _result("only-pretrain", s, 10 + j, 62 + j, 70 + j, profile=profile)]
    return rows


def _save(root, name, results, **extra):
    (root / f"{name}.json").write_text(json.dumps({"results": results, **extra}))


def test_best_results_prefer_the_full_profile(tmp_path):
    assert overview.best_results("avmnist", tmp_path) is None
    _save(tmp_path, "avmnist_cpu-intermediate", _avmnist())
    profile, res = overview.best_results("avmnist", tmp_path)
    assert profile == "cpu-intermediate" and len(res) == 21
    _save(tmp_path, "avmnist_full", _avmnist(profile="full"))
    assert overview.best_results("avmnist", tmp_path)[0] == "full"
    assert overview.run_label(res) == "cpu-intermediate profile, seeds 0-2, cpu: test, commit 01234567"


def test_claims_get_three_valued_verdicts_and_none_near_chance(tmp_path):
    _save(tmp_path, "avmnist_cpu-intermediate", _avmnist())
    sets = overview.claim_sets(tmp_path)
    assert set(sets) == {"avmnist-table1", "avmnist-table4"}  # no sweep, no emoji, no theorem file here
    table = overview.all_claims(sets)
    assert set(table["verdict"]) <= {"holds", "fails", "inconclusive"}
    assert list(sets["avmnist-table4"][1]["verdict"]) == ["holds", "holds"]  # 46.25 vs 45 and 36: above both
    tally = overview.verdict_tally(sets)
    assert sum(tally.values()) == len(table)
    _save(tmp_path, "avmnist_cpu-intermediate", _avmnist(uni_v=11.0))  # audio-only model at chance
    sets = overview.claim_sets(tmp_path)
    assert set(overview.all_claims(sets)["verdict"]) == {claims.PIPELINE}
    assert overview.verdict_tally(sets) == {"holds": 0, "fails": 0, "inconclusive": 0}


def test_theorem_checks_read_as_verdicts(tmp_path):
    saved = {"inequalities": {"(1) upper": {"trials": 10, "violations": 0, "min_slack": 0.0},
                              "(3) as printed": {"trials": 10, "violations": 3, "min_slack": -0.6}},
             "provenance": {"device": "cpu", "git": "abc"}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(saved))
    t = overview.theorem_claims(path)
    assert list(t["verdict"]) == ["holds", "fails"] and "3 violations in 10" in t.loc["(3) as printed", "ours"]


def test_committed_results_give_the_known_theorem_verdicts():
    sets = overview.claim_sets()
    if "theorem" in sets:
        t = sets["theorem"][1]
        assert t.loc["(3) as printed: Pe_r_miss - Pe_r <= Gamma_Z / 2", "verdict"] == "fails"
        assert (t.drop(index="(3) as printed: Pe_r_miss - Pe_r <= Gamma_Z / 2")["verdict"] == "holds").all()


def test_a_table_leaves_the_pending_list_once_its_results_exist(tmp_path):
    item = "Table 1, 4 and 5 on AV-MNIST at the paper's settings (App. B.1.1)"
    assert item in overview.pending(tmp_path).index
    _save(tmp_path, "avmnist_full", [])
    assert item not in overview.pending(tmp_path).index
    assert "Table 3 and Fig. 3 on MM-IMDB; Fig. 3 on Food-101" in overview.pending(tmp_path).index


def test_selected_epochs_and_labels(tmp_path):
    import pytest

    from umelib.errors import UmeError

    res = [_result("ume-mma", s, 30, 60, 70, provenance={"device": "cpu", "git": "x", "selected_epoch": {
        "phase 1 [image]": {"epochs_run": 5, "epoch": 4, "val": 60.0}, "ume-mma": {"epochs_run": 5, "epoch": 5 - s, "val": 70.0}}})
           for s in (0, 1)]
    t = overview.selected_epochs(res, ["ume-mma"])
    assert list(t["epoch kept"]) == [5, 4] and len(overview.selected_epochs(res)) == 4
    labelled = overview.pipeline_labels(t, "smoke")
    assert all(i.endswith("[smoke: pipeline check]") for i in labelled.index)
    assert list(overview.pipeline_labels(t, "full").index)[0].endswith("[full]")
    assert list(overview.pipeline_labels(t, "smoke", "4 epochs").index)[0].endswith("[smoke, 4 epochs: pipeline check]")
    with pytest.raises(UmeError, match="reproduce avmnist"):
        overview.require_best("avmnist", tmp_path)


def test_metrics_frame_and_history_plot():
    import matplotlib

    matplotlib.use("Agg")
    t = overview.metrics_frame({"a": {"complete": {"accuracy": 80.123}, "miss:x": {"accuracy": 50.0}}})
    assert t.loc["a", "complete"] == 80.12 and list(t.columns) == ["complete", "miss:x"]
    hist = [{"phase": "phase 1 [x]", "epoch": e, "loss": 2.0 / e, "val": 10.0 * e} for e in (1, 2, 3)]
    axes = overview.plot_history(hist + [{"phase": "ume-mma", "epoch": 1, "loss": 1.0, "val": 40.0}])
    assert len(axes[0].lines) == 2 and list(axes[1].lines[0].get_ydata()) == [10.0, 20.0, 30.0]


def test_results_keep_learning_curves_that_match_the_epoch_kept():
    from umelib.paper.overview import committed_curves
    from umelib.experiments.suite import run_suite

    tiny = {"phase1.epochs": 3, "phase2.epochs": 2, "n_train": 400}
    res = run_suite("synthetic", "smoke", [0, 1], ["unimodal", "ume-mma"], drop_ps=[], settings=tiny, concurrent=False)
    res += run_suite("synthetic", "smoke", [0, 1], ["naive"], drop_ps=[], settings=tiny, concurrent=True)
    for r in res:
        for phase, v in r["provenance"]["selected_epoch"].items():
            c = v["curve"]
            assert len(c["loss"]) == len(c["val"]) == v["epochs_run"], phase
            assert max(c["val"]) == pytest.approx(v["val"], abs=1e-2) and c["val"][v["epoch"] - 1] == max(c["val"])
    rows = committed_curves(res)
    assert {row["phase"] for row in rows} >= {"phase 1 [x], seed 0", "phase 1 [z], seed 1"}
    assert committed_curves([{"seed": 0, "provenance": {"selected_epoch": {"p": {"epoch": 1}}}}]) == []
