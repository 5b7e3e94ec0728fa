"""The full-profile GPU run of the book: its workflow file and data_scripts/book_gpu.py (no GPU needed)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("book_gpu", ROOT / "data_scripts" / "book_gpu.py")
bg = importlib.util.module_from_spec(spec)
sys.modules["book_gpu"] = bg
spec.loader.exec_module(bg)


def test_workflow_runs_the_book_on_a_self_hosted_gpu() -> None:
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "gpu-book.yml").read_text())
    assert "workflow_dispatch" in wf[True]  # YAML 1.1 reads the key `on` as True
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == ["self-hosted", "gpu"]
    steps = job["steps"]
    assert all(("uses" in s) != ("run" in s) for s in steps), "each step uses an action or runs a command"
    runs = [s["run"] for s in steps if "run" in s]
    order = [next(i for i, r in enumerate(runs) if r.startswith(cmd)) for cmd in
             ("make install", "make data-full", "make book-gpu")]
    assert order == sorted(order)
    assert steps[0]["uses"].startswith("actions/checkout@")
    upload = steps[-1]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    assert "results/*.json" in paths and "_build/executed/" in paths
    assert not any("${{" in r for r in runs), "workflow inputs go through env, never into a script"


def test_makefile_has_the_targets() -> None:
    make = (ROOT / "Makefile").read_text()
    for target in ("book-gpu: data-full", "check-book: install", "mathjax: install", "book: data mathjax"):
        assert f"\n{target}" in make, target
    assert "data_scripts/book_gpu.py" in make and "data_scripts/check_book.py" in make


def test_plan_covers_every_chapter_and_experiment(capsys: pytest.CaptureFixture) -> None:
    nbs = bg.toc_chapters(ROOT / "_toc.yml")
    toc = (ROOT / "_toc.yml").read_text()
    assert nbs and all(f"file: book/{nb.stem}" in toc for nb in nbs)
    assert len(nbs) == len(list((ROOT / "book").glob("*.ipynb")))  # every notebook of the book is in the toc
    assert "profile" in bg.parameters(ROOT / "book" / "five_minutes.ipynb")
    assert bg.experiments(ROOT / "book" / "avmnist_phase1.ipynb") == ["avmnist"]
    assert bg.experiments(ROOT / "book" / "five_minutes.ipynb") == ["five_minutes", "five_minutes_dependent"]
    assert bg.main(["--dry-run", "five_minutes", "theory_complementary"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["reproduce: five_minutes, five_minutes_dependent", "chapters: five_minutes, theory_complementary"]


def test_refuses_without_cuda_and_unknown_chapters(capsys: pytest.CaptureFixture) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    assert bg.main(["five_minutes"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no CUDA device") and "--allow-cpu" in err[0]
    assert bg.main(["no_such_chapter"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_chapter" in err[0]
