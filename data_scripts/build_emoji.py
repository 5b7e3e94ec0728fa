"""Build the emoji dataset: Noto Color Emoji and Twemoji images (64 px) paired with their cleaned names.

    python data_scripts/build_emoji.py [--out data/emoji] [--src DIR] [--force]

Sources: the npm packages emoji-datasource-google@16.0.0 (Noto Color Emoji, Apache-2.0) and
emoji-datasource-twitter@16.0.0 (Twemoji, CC-BY-4.0; emoji.json MIT), fetched with `npm pack` into
<out>/src/ unless --src names a folder holding the two .tgz files; both are pinned by sha256. The keyword
labels (label='keywords', multi-label) come from emojilib@4.0.3 (MIT), fetched and pinned the same way, written to
<out>/keywords.json.
Output: <out>/emoji.npz and <out>/manifest.json (checksums, counts, licences, text-cleaning rules).
A rerun with an up-to-date manifest does nothing; --force rebuilds. See umelib/datasets/builders/emoji.py
for every choice (samples, image compositing, text cleaning, the split by emoji).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.datasets import emoji as el  # noqa: E402
from umelib.datasets.builders import emoji as eb  # noqa: E402
from umelib.errors import UmeError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output folder (default: data/emoji, or $UME_DATA/emoji)")
    ap.add_argument("--src", default=None, help="folder holding the two emoji-datasource .tgz files (default: "
                                                "<out>/src, fetched there with npm pack when absent)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the manifest is up to date, and replace "
                                                         "a file that does not match it")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else el.default_out()
    t0 = time.perf_counter()
    try:
        man = eb.build_emoji(out, a.src, a.force)
        kw = eb.build_keywords(out, a.src)
    except UmeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{kw}: emoji keywords (emojilib@4.0.3, MIT) for label='keywords'")
    if man is None:
        print(f"{out / el.NPZ_NAME}: up to date (manifest matches; --force rebuilds)")
        return 0
    c = man["counts"]
    sizes = ", ".join(f"{s} {c[s]['emoji']} emoji / {c[s]['samples']} samples" for s in c)
    print(f"{out / el.NPZ_NAME}: {len(man['classes']['category'])} categories, "
          f"{len(man['classes']['subcategory'])} subcategories; {sizes}; built in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
