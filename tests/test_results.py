"""Committed results are trustworthy: produced from a clean tree, with the config the code resolves today."""
import json
from pathlib import Path

import pytest

from umelib.experiments.suite import resolve_config

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(p for p in (ROOT / "results").rglob("*.json"))


def records(path: Path) -> list[dict]:
    """Every dict in the file that carries a provenance: the file itself and the entries of its list of results
    (``results``, ``rows``, or a top-level list)."""
    d = json.loads(path.read_text())
    items = d if isinstance(d, list) else [d, *d.get("results", []), *d.get("rows", [])]
    return [r for r in items if isinstance(r, dict) and "provenance" in r]


def stale_note(path: Path) -> str | None:
    """The explicit note of a result kept although it no longer matches the code (chapters print it)."""
    d = json.loads(path.read_text())
    return d.get("stale") if isinstance(d, dict) else None


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_committed_results_come_from_a_clean_tree(path):
    if stale_note(path):
        pytest.skip(f"kept with a note: {stale_note(path)}")
    recs = records(path)
    assert recs, f"{path} has no provenance"
    for r in recs:
        git = r["provenance"].get("git") or ""
        assert git and not git.endswith("-dirty") and r["provenance"].get("dirty") is not True, \
            f"{path} was produced from a dirty tree ({git}); regenerate it from a clean checkout"


NEW_DEFAULTS = {"train_available": {}, "phase2_complete_only": False, "substitute": {}, "equal_compute": False,
                "probes": False}  # RunConfig fields added after results were committed, at their defaults
RUNS = [p for p in FILES if "bench" not in p.parts and "theory" not in p.parts]


@pytest.mark.parametrize("path", RUNS, ids=[str(p.relative_to(ROOT)) for p in RUNS])
def test_committed_configs_are_what_the_code_resolves_now(path):
    if stale_note(path):
        pytest.skip(f"kept with a note: {stale_note(path)}")
    for r in records(path):
        assert r["provenance"].get("data_sha256"), f"{path}: no data checksum recorded"
        if "method" not in r:  # an analysis row (e.g. the linear probes), not a method's run: no recipe to resolve
            continue
        prof = r["provenance"]
        profile = r["profile"]
        settings = dict(prof.get("overrides") or {})
        if "sweep" in r:  # a point of the drop-probability sweep: the resolved config at that p
            settings["drop_p"] = r["sweep"]["drop_p"]
        now = resolve_config(r["dataset"], profile, settings, r.get("modalities")).to_dict()
        # a setting added to RunConfig since, left at its default, does not change what was run
        now = {k: v for k, v in now.items() if k in prof["config"] or v != NEW_DEFAULTS.get(k, object())}
        assert prof["config"] == now, (f"{path}: {r.get('method')} (seed {r['seed']}) was run with a config that "
                                       f"differs from get_config('{profile}', '{r['dataset']}') today; regenerate it")
        assert prof.get("data_sha256"), f"{path}: no data checksum recorded"


def test_a_stale_note_is_printed_where_the_results_are_shown(tmp_path, capsys):
    from umelib.paper.chapters import chapter_results
    from umelib.files import save_json

    save_json({"chapter": "five_minutes", "stale": "made before X changed", "results": [{"method": "m"}]},
              tmp_path / "five_minutes_full.json")
    assert chapter_results("five_minutes", "full", root=tmp_path) == [{"method": "m"}]
    assert "note on five_minutes_full.json: made before X changed" in capsys.readouterr().out


def test_a_changed_results_file_does_not_make_the_checkout_dirty(tmp_path, monkeypatch):
    import subprocess

    from umelib import provenance

    (tmp_path / "umelib").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "umelib" / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "r.json").write_text("{}\n")
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(provenance, "__file__", str(tmp_path / "umelib" / "provenance.py"))
    assert not provenance.git_commit().endswith("-dirty")
    (tmp_path / "results" / "r.json").write_text('{"a": 1}\n')  # a reproduce run wrote its results
    assert not provenance.git_commit().endswith("-dirty")
    (tmp_path / "umelib" / "code.py").write_text("x = 2\n")  # code changed: dirty
    assert provenance.git_commit().endswith("-dirty")
