"""Offline MathJax for the book (data_scripts/build_mathjax.py): the pin is checked, only es5/ is unpacked."""
from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
from pathlib import Path

import pytest

from umelib.errors import UmeError

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_mathjax", ROOT / "data_scripts" / "build_mathjax.py")
bm = importlib.util.module_from_spec(spec)
sys.modules["build_mathjax"] = bm
spec.loader.exec_module(bm)


def _tarball(path: Path, names: list[str]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name in names:
            data = f"// {name}\n".encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_unpacks_es5_and_licence_only(tmp_path: Path) -> None:
    tgz = _tarball(tmp_path / "m.tgz", ["package/es5/tex-mml-chtml.js", "package/es5/output/chtml/fonts/woff-v2/a.woff",
                                        "package/LICENSE", "package/README.md", "package/ts/x.ts"])
    out = tmp_path / "mathjax"
    assert bm.unpack(tgz, out) == 3
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [".installed", "LICENSE", "es5/output/chtml/fonts/woff-v2/a.woff", "es5/tex-mml-chtml.js"]
    assert (out / ".installed").read_text().split() == [bm.SPEC, bm.PIN]


def test_refuses_a_tarball_without_the_entry_point(tmp_path: Path) -> None:
    tgz = _tarball(tmp_path / "m.tgz", ["package/es5/core.js"])
    with pytest.raises(UmeError, match="holds no package/es5/tex-mml-chtml.js"):
        bm.unpack(tgz, tmp_path / "mathjax")
    assert not (tmp_path / "mathjax").exists()  # nothing half unpacked


def test_a_tarball_off_the_pin_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _tarball(tmp_path / bm.TARBALL, ["package/es5/tex-mml-chtml.js"])
    assert bm.main(["--src", str(tmp_path), "--out", str(tmp_path / "mathjax")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "is pinned to" in err[0]
