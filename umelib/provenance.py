"""What every written result carries: config, device, versions, commit (and whether the tree was dirty), time.

Bottom layer: imports nothing of umelib."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping

__version__ = "0.1.0"  # the package's version (umelib.__version__ is this)


def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` if it has uncommitted changes outside ``results/``), or None outside
    git. Committed results files are outputs, not code: a run that writes one (``reproduce``) must not mark every
    later run of the same checkout dirty."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if rev.returncode:
            return None
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True,
                             timeout=5).stdout.strip() or str(here)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                               cwd=top, capture_output=True, text=True, timeout=5).stdout.strip()
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: Any) -> str:
    import torch

    d = torch.device(device)
    if d.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(d)}"
    return f"cpu: {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def provenance(config: Mapping | None, device: Any, wall_s: float, **extra: Any) -> dict:
    """Config, device, library versions, commit, dirty flag and wall time of a run (``extra`` keys added);
    ``world_size`` (processes that trained the run) is 1 unless ``extra`` says otherwise."""
    import torch

    commit = git_commit()
    return {"config": dict(config or {}), "device": device_name(device), "torch": torch.__version__,
            "umelib": __version__, "python": platform.python_version(), "git": commit,
            "dirty": None if commit is None else commit.endswith("-dirty"), "wall_s": round(wall_s, 3),
            "world_size": 1, **extra}
