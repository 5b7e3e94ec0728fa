"""Install MathJax into the book's static folder, so that formulas typeset with no network.

    python data_scripts/build_mathjax.py [--out book/_static/mathjax] [--src data/mathjax] [--force]

Source: the npm package mathjax@3.2.2 (the MathJax project's own build, Apache-2.0), fetched with `npm pack` into
--src unless the tarball is already there, pinned by sha256. Its `es5/` folder (the components and the CHTML
woff-v2 fonts) and LICENSE are unpacked into --out (git-ignored); `_config.yml` points Sphinx's `mathjax_path`
at `mathjax/es5/tex-mml-chtml.js` there. A rerun with the same tarball does nothing; --force unpacks again.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from umelib.errors import UmeError  # noqa: E402
from umelib.files import npm_pack  # noqa: E402

VERSION = "3.2.2"
SPEC = f"mathjax@{VERSION}"
TARBALL = f"mathjax-{VERSION}.tgz"
PIN = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
ENTRY = "es5/tex-mml-chtml.js"  # the component _config.yml's mathjax_path names
STAMP = ".installed"


def fetch(src: Path) -> Path:
    """The pinned tarball in ``src``, fetched there with ``npm pack`` when absent; sha256-checked."""
    return npm_pack(SPEC, src / TARBALL, PIN, f"install Node.js/npm (e.g. `apt-get install npm`) or put {TARBALL} "
                    f"(from `npm pack {SPEC}`) into {src}")


def unpack(tarball: Path, out: Path) -> int:
    """Unpack ``package/es5/**`` and ``package/LICENSE`` into ``out`` (a temporary folder renamed over it, so a
    stopped run never leaves half a MathJax). Returns the number of files."""
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    n = 0
    try:
        with tarfile.open(tarball, "r:gz") as tf:
            for m in tf:
                name = m.name.removeprefix("package/")
                if not m.isfile() or not (name.startswith("es5/") or name == "LICENSE") or ".." in Path(name).parts:
                    continue
                dest = tmp / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tf.extractfile(m).read())
                n += 1
        if not (tmp / ENTRY).is_file():
            raise UmeError(f"{tarball} holds no package/{ENTRY}; delete it and rerun")
        (tmp / STAMP).write_text(f"{SPEC} {PIN}\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "book" / "_static" / "mathjax"), help="where MathJax goes "
                    "(default: book/_static/mathjax, which _config.yml serves)")
    ap.add_argument("--src", default=str(ROOT / "data" / "mathjax"), help=f"folder holding {TARBALL} (default: "
                    "data/mathjax, fetched there with npm pack when absent)")
    ap.add_argument("--force", action="store_true", help="unpack again even if --out is up to date")
    a = ap.parse_args(argv)
    out = Path(a.out)
    stamp = out / STAMP
    if not a.force and stamp.is_file() and stamp.read_text().split() == [SPEC, PIN] and (out / ENTRY).is_file():
        print(f"{out}: {SPEC} up to date (--force unpacks again)")
        return 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        n = unpack(fetch(Path(a.src)), out)
    except UmeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{out}: {SPEC} ({n} files, sha256 {PIN[:12]}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
