"""Where umelib writes: the checkout's results/ and runs/cache when run from it, the working folder's when installed,
and the folders $UME_RESULTS / $UME_CACHE name."""
import os
import subprocess
import sys
from pathlib import Path

from umelib import paths

ROOT = Path(__file__).resolve().parents[1]


def test_roots_default_to_the_checkout_and_follow_the_environment(monkeypatch, tmp_path):
    for k in ("UME_RESULTS", "UME_CACHE", "UME_DATA"):
        monkeypatch.delenv(k, raising=False)
    assert paths.checkout() == ROOT
    assert paths.results_root() == ROOT / "results" and paths.cache_root() == ROOT / "runs" / "cache"
    monkeypatch.setenv("UME_RESULTS", str(tmp_path / "r"))
    monkeypatch.setenv("UME_CACHE", str(tmp_path / "c"))
    assert paths.results_root() == tmp_path / "r" and paths.cache_root() == tmp_path / "c"


def test_an_installed_copy_writes_into_the_working_folder(tmp_path):
    """``pip install .`` (not editable), then ``reproduce`` from another folder: the results land there, nothing
    next to the installed package."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UME_") or k == "UME_DATA"}
    env["PYTHONPATH"] = str(site)
    where = subprocess.run([sys.executable, "-c", "import umelib, umelib.paths as p; print(umelib.__file__); "
                            "print(p.checkout())"], capture_output=True, text=True, cwd=work, env=env, check=True)
    file, checkout = where.stdout.split()
    assert file.startswith(str(site)) and checkout == "None"  # the installed copy, which knows no checkout
    out = subprocess.run([sys.executable, "-m", "umelib", "reproduce", "five_minutes", "--profile", "smoke", "--quiet",
                          "--device", "cpu"], capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (work / "results" / "five_minutes_smoke.json").is_file()
    assert not list(site.rglob("*_smoke.json")) and not (site / "results").exists() and not (site / "runs").exists()
