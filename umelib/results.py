"""Result JSON with provenance, atomic writes, and tables."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, IO, Iterable, Mapping

from .errors import UmeError


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through ``write(fileobj)`` into a temporary file beside ``path``, then rename it over."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` if it has uncommitted changes), or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if rev.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
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
    """Config, device, library versions, commit and wall time of a run."""
    import torch

    from . import __version__

    return {"config": dict(config or {}), "device": device_name(device), "torch": torch.__version__,
            "umelib": __version__, "python": platform.python_version(), "git": git_commit(),
            "wall_s": round(wall_s, 3), **extra}


def make_result(dataset: str, method: str, profile: str, seed: int, metric: str,
                metrics: Mapping[str, Mapping[str, float]], prov: Mapping, **extra: Any) -> dict:
    """A result dict per the contract; ``metrics`` is setting -> {metric: value}; the headline metric
    is flattened into ``metrics`` and all of them kept under ``all_metrics``."""
    flat = {s: (v.get(metric) if v else None) for s, v in metrics.items()}
    return {"dataset": dataset, "method": method, "profile": profile, "seed": seed, "metric": metric,
            "unit": "%", "metrics": flat, "all_metrics": {s: dict(v) for s, v in metrics.items()},
            **extra, "provenance": dict(prov)}


def save_json(obj: Any, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``obj`` as JSON atomically; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UmeError(f"{path} exists; choose another --out or pass --overwrite to replace it")
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, default=str) + "\n").encode()))
    return path


def load_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def settings_of(results: Iterable[Mapping]) -> list[str]:
    """Protocol settings in table order: complete, miss:*, avg (then anything else)."""
    keys: list[str] = []
    for r in results:
        for k in r["metrics"]:
            if k not in keys:
                keys.append(k)
    order = lambda k: (0 if k == "complete" else 1 if k.startswith("miss:") else 3 if k == "avg" else 2, k)
    return sorted(keys, key=order)


def format_table(results: Iterable[Mapping], extra_rows: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """A plain-text table: one row per result (method, seed), one column per setting."""
    results = list(results)
    cols = settings_of(results + [{"metrics": v} for v in (extra_rows or {}).values()])
    rows = [(f"{r['method']} (seed {r['seed']})", r["metrics"]) for r in results] + list((extra_rows or {}).items())
    w = max(len(n) for n, _ in rows) + 2
    cell = lambda v: "/" if v is None else f"{v:.2f}"
    lines = ["".ljust(w) + "".join(c.rjust(12) for c in cols)]
    lines += [n.ljust(w) + "".join(cell(m.get(c)).rjust(12) for c in cols) for n, m in rows]
    return "\n".join(lines)
