"""The browser check of the built book (data_scripts/check_book.py) on two hand-written pages.

Skipped only when Chromium is absent (.ci/run installs it before the tests)."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_book", ROOT / "data_scripts" / "check_book.py")
cb = importlib.util.module_from_spec(spec)
sys.modules["check_book"] = cb  # dataclasses look their module up
spec.loader.exec_module(cb)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# playwright is a test dependency (the `browser` extra): without it these tests fail rather than skip
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install -y chromium)")
# a 1x1 PNG
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
         "60e6kgAAAABJRU5ErkJggg==")
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; }} .bd-article {{ width: 600px; padding: 0 20px; }} .scroll {{ overflow-x: auto; }}
</style></head><body><main class="bd-article">{body}</main></body></html>"""
GOOD = """<h1>A good page</h1><p>Plain text, no formulas.</p><img src="{pixel}" alt="a pixel">
<table><tr><th>method</th><th>avg</th></tr><tr><td>ume-mma</td><td>81.2</td></tr></table>
<div class="scroll"><table style="width: 2000px"><tr><td>wide, but in a scroll container</td></tr></table></div>
<pre><code>x = r"\\(not math in code\\)"</code></pre>"""
BAD = """<h1>A bad page</h1><p>Raw TeX: <span class="math">\\(x\\)</span> and \\(y\\)</p>
<table style="width: 2000px"><tr><td>too wide</td></tr></table><img src="missing.png" alt="gone">
<div class="math"><mjx-container style="display: block; overflow-x: auto; width: 300px">
<span style="display: inline-block; width: 900px">a typeset formula too wide for its box</span></mjx-container></div>"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "good.html").write_text(PAGE.format(body=GOOD.format(pixel=PIXEL)))
    (tmp_path / "bad.html").write_text(PAGE.format(body=BAD))
    (tmp_path / "index.html").write_text(PAGE.format(body="<p>index</p>"))
    return tmp_path


@needs_browser
def test_good_page_passes_bad_page_fails(site: Path, tmp_path: Path) -> None:
    good, bad = cb.check_pages(site, ["good.html", "bad.html"], tmp_path / "shots", CHROMIUM, width=800)
    assert good.ok, good.problems
    assert good.images == 1 and Path(good.screenshot).stat().st_size > 1000
    text = "\n".join(bad.problems)
    assert "untypeset math: span.math" in text
    assert "raw TeX in text" in text
    assert "wider than the content column" in text and "table" in text
    assert "broken image: missing.png" in text
    assert "HTTP 404" in text
    assert "display formula wider than the column (900 px in 300 px" in text


@needs_browser
def test_other_hosts_are_blocked(site: Path) -> None:
    (site / "net.html").write_text(PAGE.format(body='<p>x</p><script src="https://cdn.example.org/m.js"></script>'))
    (rep,) = cb.check_pages(site, ["net.html"], None, CHROMIUM)
    assert any("blocked" in p and "cdn.example.org" in p for p in rep.problems), rep.problems


def test_cli_refuses_a_missing_book(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cb.main(["--html", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no built book") and "make book" in err[0]


def test_default_pages_add_own_data_only_when_built(tmp_path: Path) -> None:
    assert "book/own_data.html" not in cb.default_pages(tmp_path)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "own_data.html").write_text("x")
    assert cb.default_pages(tmp_path)[-1] == "book/own_data.html"


@needs_browser
def test_cli_reports_a_chromium_that_does_not_start(site: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    assert cb.main(["--html", str(site), "--chromium", str(fake), "good.html"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Chromium") and "did not start" in err[0]
