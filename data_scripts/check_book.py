"""Open pages of the built book in headless Chromium, offline, and fail on what a reader would see broken.

    python data_scripts/check_book.py [PAGE ...] [--html _build/html] [--out _build/screenshots] [--all]
                                      [--width 1280] [--height 900] [--chromium PATH] [--allow-network]

PAGE: a path under --html (default: the intro, the five-minute chapter, a theory page, an AV-MNIST page, a
vision-and-language page and book/own_data.html when it exists; --all: every page under book/). Each page is
served from a localhost HTTP server; every request to another host is blocked (the book must work offline)
and counts as a failure. A page fails on:
  * untypeset math: a `.math` element MathJax did not replace, raw `\\(`, `\\[` or `$$` left in the text
    (code excluded), or a MathJax error box; a display formula wider than the column (it scrolls);
  * an element wider than the content column (`.bd-article`), or a page that scrolls sideways; elements inside
    a horizontal scroll container (overflow-x auto/scroll, e.g. the CSS's wide tables) are exempt, the
    container itself is not; text cut by `overflow: hidden` counts too;
  * a broken image (loaded with no pixels);
  * a console error, an uncaught page error or a failed or blocked request.
A full-page screenshot of each page at --width px goes to --out. Exit 0: every page passed; 1: a page failed
(one `FAIL` line per page, then its problems); 2: bad input (no built book, no Chromium, no playwright).
Needs the `browser` extra (`pip install -e '.[browser]'`: playwright, driving Debian's chromium; no browser download).
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAGES = ["book/intro.html", "book/five_minutes.html", "book/theory_complementary.html",
                 "book/avmnist_baselines.html", "book/emoji_missing_text.html"]
OPTIONAL_PAGES = ["book/own_data.html"]  # checked by default only when built
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
MATH_TIMEOUT_MS = 30_000

# Runs in the page once MathJax has finished; returns the problems found as strings.
PAGE_CHECKS = r"""
(content_selector) => {
  const out = [];
  const short = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    else if (el.classList.length) s += '.' + [...el.classList].slice(0, 2).join('.');
    const t = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60);
    return t ? `${s} "${t}"` : s;
  };
  const CODE = 'pre, code, script, style, textarea, .highlight, mjx-container, mjx-assistive-mml';
  // 1. math
  const mathEls = [...document.querySelectorAll('.math')];
  const raw = mathEls.filter(el => !el.querySelector('mjx-container'));
  raw.slice(0, 5).forEach(el => out.push(`untypeset math: ${short(el)}`));
  if (raw.length > 5) out.push(`untypeset math: ${raw.length - 5} more .math elements`);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(CODE) || el.closest('.math')) continue;
    if (/\\\(|\\\[|\$\$/.test(node.nodeValue)) {
      if (n++ < 5) out.push(`untypeset math (raw TeX in text): ${short(el)}`);
    }
  }
  if (n > 5) out.push(`untypeset math (raw TeX in text): ${n - 5} more`);
  document.querySelectorAll('mjx-merror').forEach(el => out.push(`MathJax error: ${short(el)}`));
  // a display formula wider than the column scrolls inside its box: part of it is out of sight
  document.querySelectorAll('div.math mjx-container').forEach(el => {
    if (el.scrollWidth > el.clientWidth + 2)
      out.push(`display formula wider than the column (${el.scrollWidth} px in ${el.clientWidth} px; split it `
               + `into lines or several formulas): ${short(el.closest('div.math'))}`);
  });
  // 2. width
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1)
    out.push(`the page scrolls sideways: ${doc.scrollWidth} px wide in a ${doc.clientWidth} px viewport`);
  const content = document.querySelector(content_selector);
  if (!content) { out.push(`no content column (${content_selector}) on the page`); return out; }
  const box = content.getBoundingClientRect();
  const cs = getComputedStyle(content);
  const left = box.left + parseFloat(cs.paddingLeft) - 1, right = box.right - parseFloat(cs.paddingRight) + 1;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const inScroller = (el) => {
    for (let a = el.parentElement; a && a !== content; a = a.parentElement) if (scrolls(a)) return true;
    return false;
  };
  let wide = 0;
  for (const el of content.querySelectorAll('*')) {
    if (el.closest('mjx-assistive-mml, script, style, .headerlink')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const st = getComputedStyle(el);
    if (st.position === 'fixed' || st.visibility === 'hidden') continue;
    if ((r.right > right || r.left < left) && !inScroller(el)) {
      if (wide++ < 5) out.push(`wider than the content column (${Math.round(right - left)} px): ${short(el)} spans `
                               + `${Math.round(r.left - left)}..${Math.round(r.right - left)} px`);
      continue;
    }
    if (['hidden', 'clip'].includes(st.overflowX) && el.scrollWidth > el.clientWidth + 1
        && !el.closest('mjx-container') && !inScroller(el)) {
      if (wide++ < 5) out.push(`content cut by overflow:hidden: ${short(el)} (${el.scrollWidth} px in ${el.clientWidth} px)`);
    }
  }
  if (wide > 5) out.push(`${wide - 5} more elements too wide or cut`);
  // 3. images
  document.querySelectorAll('img').forEach(img => {
    if (!img.complete || img.naturalWidth === 0) out.push(`broken image: ${img.getAttribute('src')}`);
  });
  return out;
}
"""


@dataclass
class PageReport:
    """What one page showed: its problems (empty when it passed) and a few counts."""

    page: str
    problems: list[str] = field(default_factory=list)
    math: int = 0
    images: int = 0
    screenshot: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium(given: str | None) -> str:
    """The Chromium executable: ``given``, else $CHROMIUM, else chromium / chromium-browser on PATH."""
    for cand in [given, os.environ.get("CHROMIUM"), "chromium", "chromium-browser"]:
        if cand and (shutil.which(cand) or Path(cand).is_file()):
            return shutil.which(cand) or cand
    raise SystemExit("error: Chromium not found; install it (`apt-get install -y chromium` on Debian) or pass "
                     "--chromium PATH")


def default_pages(html: Path) -> list[str]:
    return DEFAULT_PAGES + [p for p in OPTIONAL_PAGES if (html / p).is_file()]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the output to one line per page
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A localhost HTTP server for ``root`` in a daemon thread; returns it and its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/"


def check_pages(html: Path, pages: list[str], out: Path | None, chromium: str, width: int = 1280,
                height: int = 900, allow_network: bool = False,
                content_selector: str = ".bd-article") -> list[PageReport]:
    """Open each page of ``html`` in headless ``chromium`` and return what each showed (see the module doc)."""
    try:
        from playwright.sync_api import Error as PWError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("error: playwright is not installed; run `pip install -e '.[browser]'` (or `make install`)")
    srv, base = serve(html)
    reports = []
    try:
        with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="check-book-") as profile:
            try:
                browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_FLAGS + [f"--crash-dumps-dir={profile}"])
            except PWError as e:
                raise SystemExit(f"error: Chromium ({chromium}) did not start: {str(e).strip().splitlines()[0]}; "
                                 "check that it runs (`chromium --headless --no-sandbox --dump-dom about:blank`)")
            try:
                for page_path in pages:
                    reports.append(_check_one(browser, base, page_path, out, width, height, allow_network,
                                              content_selector, PWError))
            finally:
                browser.close()
    finally:
        srv.shutdown()
        srv.server_close()
    return reports


def _check_one(browser, base: str, page_path: str, out: Path | None, width: int, height: int,
               allow_network: bool, content_selector: str, PWError: type) -> PageReport:
    rep = PageReport(page_path)
    ctx = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    page = ctx.new_page()
    local = urlparse(base).netloc

    def route(r):
        host = urlparse(r.request.url).netloc
        if host == local or r.request.url.startswith(("data:", "blob:", "about:")) or allow_network:
            r.continue_()
        else:
            rep.problems.append(f"request to another host blocked (the book must work offline): {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and rep.problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: rep.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: urlparse(r.url).netloc == local
            and rep.problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and urlparse(r.url).netloc == local
            and rep.problems.append(f"HTTP {r.status}: {r.url}"))
    try:
        page.goto(base + page_path, wait_until="load", timeout=60_000)
        has_mathjax = page.evaluate("() => !!(window.MathJax && MathJax.startup && MathJax.startup.promise)")
        rep.math = page.evaluate("() => document.querySelectorAll('.math').length")
        if has_mathjax:
            page.evaluate(f"""() => Promise.race([MathJax.startup.promise,
                          new Promise((_, no) => setTimeout(() => no(new Error('MathJax still typesetting after '
                          + {MATH_TIMEOUT_MS} + ' ms')), {MATH_TIMEOUT_MS}))])""")
        elif rep.math:
            rep.problems.append(f"MathJax did not load, {rep.math} formulas stay raw")
        page.wait_for_load_state("networkidle", timeout=15_000)
        rep.images = page.evaluate("() => document.images.length")
        rep.problems += page.evaluate(PAGE_CHECKS, content_selector)
        if out is not None:
            shot = out / (page_path.replace("/", "_").removesuffix(".html") + ".png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            tmp = shot.with_name(f".{shot.name}.tmp.png")
            page.screenshot(path=str(tmp), full_page=True)
            os.replace(tmp, shot)
            rep.screenshot = str(shot)
    except PWError as e:
        rep.problems.append(f"browser: {str(e).splitlines()[0]}")
    finally:
        ctx.close()
    rep.problems = list(dict.fromkeys(rep.problems))
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("pages", nargs="*", help="pages under --html (default: a chosen list, see above)")
    ap.add_argument("--html", default=str(ROOT / "_build" / "html"), help="the built book (default: _build/html)")
    ap.add_argument("--out", default=None, help="screenshots folder (default: <html>/../screenshots)")
    ap.add_argument("--all", action="store_true", help="check every page under book/")
    ap.add_argument("--width", type=int, default=1280, help="viewport width in px (default 1280)")
    ap.add_argument("--height", type=int, default=900, help="viewport height in px (default 900)")
    ap.add_argument("--chromium", default=None, help="Chromium executable (default: $CHROMIUM or chromium on PATH)")
    ap.add_argument("--allow-network", action="store_true", help="let pages reach other hosts (default: blocked)")
    ap.add_argument("--content", default=".bd-article", help="CSS selector of the content column")
    a = ap.parse_args(argv)
    html = Path(a.html)
    try:
        if not (html / "index.html").is_file() and not a.pages:
            raise SystemExit(f"error: no built book at {html} (no index.html); run `make book` first, or pass --html")
        pages = sorted(str(p.relative_to(html)) for p in (html / "book").glob("*.html")) if a.all else (
            a.pages or default_pages(html))
        missing = [p for p in pages if not (html / p).is_file()]
        if missing:
            raise SystemExit(f"error: not in {html}: {', '.join(missing)}; build the book (`make book`) or name "
                             "pages that exist")
        if a.width < 320:
            raise SystemExit(f"error: --width {a.width} is below 320 px; choose a desktop width such as 1280")
        chromium = find_chromium(a.chromium)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    out = Path(a.out) if a.out else html.parent / "screenshots"
    try:
        reports = check_pages(html, pages, out, chromium, a.width, a.height, a.allow_network, a.content)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    for r in reports:
        head = f"{'ok  ' if r.ok else 'FAIL'} {r.page}: {r.math} formulas, {r.images} images"
        print(head + (f"; screenshot {r.screenshot}" if r.screenshot else ""))
        for p in r.problems:
            print(f"     {p}")
    bad = sum(not r.ok for r in reports)
    print(f"{len(reports) - bad} of {len(reports)} pages passed at {a.width} px" + ("" if a.allow_network else
                                                                                      ", offline"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
