"""Files written safely and read back: atomic writes (temp file + rename), JSON, checksums.

Bottom layer: imports nothing of umelib but :mod:`umelib.errors`."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

from .errors import UmeError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
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


def atomic_save(obj: object, path: str | Path) -> None:
    """``torch.save`` through :func:`atomic_write` (checkpoints are never left half written)."""
    import torch

    atomic_write(Path(path), lambda f: torch.save(obj, f))


def check_out(path: str | Path, overwrite: bool = False, flag: str = "--out") -> Path:
    """Check, before any work, that a file can be written at ``path``: not a folder, not under a file, its folder
    writable, and (unless ``overwrite``) not there yet. One :class:`UmeError` line per problem."""
    path = Path(path)
    if path.is_dir():
        raise UmeError(f"{flag} {path} is a folder; give a file path such as {path / 'result.json'}")
    if path.exists() and not overwrite:
        raise UmeError(f"{path} exists; choose another {flag} or pass --overwrite to replace it")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UmeError(f"{flag} {path} lies under {parent}, which is a file; choose a path in a folder")
    if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        raise UmeError(f"{flag} {path}: the folder {parent} is not writable; choose a path in a folder you can write")
    return path


def check_folder(path: str | Path, flag: str) -> Path:
    """Check, before any work, that ``path`` is (or can become) a folder: not a file, not under a file."""
    path = Path(path)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"lies under {probe}, which is a file"
        raise UmeError(f"{flag} {path} {where}; give a folder (absent, or one of umelib's own)")
    if probe.is_dir() and not os.access(probe, os.W_OK | os.X_OK):
        raise UmeError(f"{flag} {path}: {probe} is not writable; choose a folder you can write")
    return path


def save_json(obj: Any, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``obj`` as JSON atomically; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UmeError(f"{path} exists; choose another --out or pass --overwrite to replace it")
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, default=str) + "\n").encode()))
    return path


def load_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def file_digest(path: str | Path, algo: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.new(algo)
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_is_current(path: str | Path, params: dict) -> bool:
    """Whether a built file needs no rebuild: False when ``path`` is absent; True when ``manifest.json`` beside it
    records these ``params`` and the file's size and sha256; else one :class:`UmeError` (a different or
    unverifiable file is never replaced silently: the builders' ``--force`` does that)."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        old = json.loads((path.parent / "manifest.json").read_text())
    except (OSError, ValueError):
        old = None
    if old is not None and old.get("params") == params:
        rec = old.get("files", {}).get(path.name, {})
        if rec.get("bytes") == path.stat().st_size and rec.get("sha256") == file_digest(path):
            return True
    why = ("has no readable manifest" if old is None else "was built with other settings"
           if old.get("params") != params else "does not match the checksum in its manifest")
    raise UmeError(f"{path} exists but {why}; rerun with --force to replace it (or choose another --out)")


def npm_pack(spec: str, path: Path, sha256: str, hint: str, timeout: int = 900) -> Path:
    """The npm tarball ``path`` of ``spec`` (``name@version``), fetched into its folder with ``npm pack`` when absent,
    then checked against its pinned ``sha256``; ``hint`` (how to get it otherwise) ends each error line."""
    import shutil
    import subprocess

    if not path.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise UmeError(f"npm is not on PATH, so {spec} cannot be fetched; {hint}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            r = subprocess.run([npm, "pack", spec], cwd=path.parent, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UmeError(f"`npm pack {spec}` failed ({type(e).__name__}); {hint}") from None
        if r.returncode != 0 or not path.is_file():
            last = (r.stderr.strip().splitlines() or ["no output"])[-1]
            raise UmeError(f"`npm pack {spec}` in {path.parent} failed (exit {r.returncode}: {last}); check access to "
                           f"the npm registry, or {hint}")
    digest = file_digest(path)
    if digest != sha256:
        raise UmeError(f"{path} has sha256 {digest[:16]}... but {spec} is pinned to {sha256[:16]}...; delete it and "
                       "rerun (it is fetched again), or put the genuine tarball there")
    return path
