"""Build the embedded synthetic datasets as .npz files with a checksummed manifest.

    python data_scripts/build_synthetic.py [--out data/synthetic] [--seed 0] [--force]

The files are the same datasets the registry names 'synthetic' and 'synthetic-3m' generate in
memory; on disk they double as examples of the own-data .npz format. Reruns keep existing files
whose checksum matches the manifest and refuse to replace a changed file unless --force.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.datasets import load_dataset, save_npz  # noqa: E402
from umelib.files import atomic_write, file_digest  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/synthetic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="replace files whose checksum differs from the manifest")
    a = ap.parse_args()
    out = Path(a.out)
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": {}}
    manifest = {"seed": a.seed, "files": {}}
    for name in ("synthetic", "synthetic-3m"):
        path = out / f"{name}.npz"
        t0 = time.perf_counter()
        if path.exists() and old["files"].get(path.name, {}).get("sha256") == file_digest(path) and old.get("seed") == a.seed:
            manifest["files"][path.name] = old["files"][path.name]
            print(f"{path}: up to date")
            continue
        if path.exists() and not a.force:
            print(f"error: {path} exists but does not match the manifest; rerun with --force to rebuild it", file=sys.stderr)
            return 2
        data = load_dataset(name, seed=a.seed)
        save_npz(data, path)
        manifest["files"][path.name] = {
            "sha256": file_digest(path), "bytes": path.stat().st_size, "modalities": data.modalities,
            "sizes": {s: len(sp) for s, sp in data.splits()}, "num_classes": data.num_classes,
            "spec": data.info["spec"]}
        print(f"{path}: built in {time.perf_counter() - t0:.1f} s")
    atomic_write(manifest_path, lambda f: f.write((json.dumps(manifest, indent=2) + "\n").encode()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
