"""Run every chapter of the book in the full profile on a GPU: results JSON and executed notebooks for commit.

    python data_scripts/book_gpu.py [CHAPTER ...] [--out _build/executed] [--no-reproduce] [--allow-cpu]
                                    [--timeout S] [--dry-run]

1. Training, once per experiment: for each experiment a chapter reads (`chapter_results("NAME", ...)`, or
   `avmnist_results(...)` for the AV-MNIST chapters), `python -m umelib reproduce NAME --profile full`, which
   trains on the GPU and writes results/NAME_full.json (atomically; the AV-MNIST pieces resume from runs/cache).
2. The chapters, in _toc.yml's order, through papermill with `-p profile full` (and `-p retrain False`: they
   show the results just written; retrain True in a notebook would train again without saving), into --out.
One line per step: name, ok/FAILED, wall seconds; a summary JSON (--out/summary.json). Exit 1 when a step
failed (the others still run), 2 on bad input or when no CUDA device is visible and --allow-cpu is not given.
CHAPTER: chapter names (e.g. five_minutes avmnist_phase1) to run only those.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from umelib.files import atomic_write  # noqa: E402

# the committed results a chapter reads: chapter_results("X", ...), overview.best_results("X") / require_best("X"),
# avmnist_results(...) (the experiment "avmnist")
EXPERIMENT = re.compile(r"""(?:chapter_results|best_results|require_best)\(\s*["']([\w-]+)["']|(avmnist_results)\(""")


def toc_chapters(toc: Path) -> list[Path]:
    """The notebooks of ``_toc.yml`` (root, parts, chapters, sections), in reading order."""
    import yaml

    files: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    files.append(node[key])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)

    walk(yaml.safe_load(toc.read_text()))
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()]


def parameters(nb_path: Path) -> set[str]:
    """The names the chapter's ``parameters`` cell assigns."""
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            return {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(t, ast.Name)}
    return set()


def experiments(nb_path: Path) -> list[str]:
    """The experiments (``python -m umelib reproduce`` names) whose results the chapter reads in its profile."""
    src = "".join("".join(c["source"]) for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == "code")
    return list(dict.fromkeys(a or "avmnist" for a, _ in EXPERIMENT.findall(src)))


def _line(name: str, ok: bool, wall: float, note: str = "") -> str:
    return f"{name:<28} {'ok' if ok else 'FAILED':<7} {wall:8.1f} s" + (f"  {note}" if note else "")


def reproduce(name: str, log_dir: Path) -> tuple[bool, str]:
    """``python -m umelib reproduce NAME --profile full --overwrite`` (git keeps the committed file), its output kept in ``log_dir/NAME.log``."""
    log = log_dir / f"reproduce_{name}.log"
    with log.open("w") as f:
        r = subprocess.run([sys.executable, "-m", "umelib", "reproduce", name, "--profile", "full", "--overwrite"], cwd=ROOT,
                           stdout=f, stderr=subprocess.STDOUT)
    last = (log.read_text().strip().splitlines() or [""])[-1][:160]
    return r.returncode == 0, last if r.returncode else f"results/{name}_full.json"


def execute(nb: Path, out: Path, timeout: int | None) -> tuple[bool, str]:
    """The chapter through papermill with profile full (retrain False where it has that parameter)."""
    import papermill as pm

    params = {"profile": "full"}
    if "retrain" in parameters(nb):
        params["retrain"] = False
    try:
        pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name="python3", cwd=str(nb.parent),
                            progress_bar=False, execution_timeout=timeout, request_save_on_cell_execute=True)
    except Exception as e:  # papermill raises PapermillExecutionError with the failing cell
        return False, f"{type(e).__name__}: {str(e).strip().splitlines()[-1][:160] if str(e).strip() else ''}"
    return True, str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("chapters", nargs="*", help="chapter names to run (default: every notebook in _toc.yml)")
    ap.add_argument("--out", default=str(ROOT / "_build" / "executed"), help="executed notebooks (default: "
                    "_build/executed)")
    ap.add_argument("--no-reproduce", action="store_true", help="skip step 1 (use the results already in results/)")
    ap.add_argument("--allow-cpu", action="store_true", help="run even when no CUDA device is visible (hours)")
    ap.add_argument("--timeout", type=int, default=None, help="seconds per notebook cell (default: none)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    a = ap.parse_args(argv)
    nbs = toc_chapters(ROOT / "_toc.yml")
    if a.chapters:
        known = {nb.stem: nb for nb in nbs}
        unknown = [c for c in a.chapters if c not in known]
        if unknown:
            print(f"error: not a chapter in _toc.yml: {', '.join(unknown)}; choose from {', '.join(known)}",
                  file=sys.stderr)
            return 2
        nbs = [known[c] for c in a.chapters]
    exps = [] if a.no_reproduce else list(dict.fromkeys(e for nb in nbs for e in experiments(nb)))
    if a.dry_run:
        print("reproduce: " + (", ".join(exps) or "nothing") + "\nchapters: " + ", ".join(nb.stem for nb in nbs))
        return 0
    import torch

    if not torch.cuda.is_available() and not a.allow_cpu:
        print("error: no CUDA device is visible (torch.cuda.is_available() is False); run this on a GPU machine, "
              "or pass --allow-cpu to run the full profile on the CPU (hours)", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["UME_PROFILE"] = "full"
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"book-gpu: {len(exps)} experiments, {len(nbs)} chapters, profile full, device {device}")
    steps = []
    for name, kind, run in ([(e, "reproduce", lambda e=e: reproduce(e, out)) for e in exps]
                            + [(nb.stem, "chapter", lambda nb=nb: execute(nb, out / nb.name, a.timeout)) for nb in nbs]):
        t0 = time.perf_counter()
        ok, note = run()
        wall = time.perf_counter() - t0
        steps.append({"name": name, "kind": kind, "ok": ok, "wall_s": round(wall, 1), "note": note})
        print(_line(f"{kind} {name}", ok, wall, note), flush=True)
    summary = {"device": device, "torch": torch.__version__, "steps": steps,
               "wall_s": round(sum(s["wall_s"] for s in steps), 1)}
    atomic_write(out / "summary.json", lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))
    bad = [s["name"] for s in steps if not s["ok"]]
    print(f"book-gpu: {len(steps) - len(bad)} of {len(steps)} steps ok in {summary['wall_s']:.0f} s"
          + (f"; failed: {', '.join(bad)}" if bad else "") + f"; notebooks in {out}, results in results/")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
