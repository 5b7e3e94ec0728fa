"""Prepare AVE (Tian et al. 2018) from its published layout into memory-mapped arrays for umelib.

    python data_scripts/prepare_ave.py --root AVE_DIR [--out data/ave] [--workers N] [--size 224]
                                       [--frames 10] [--keep-clips]

AVE_DIR is the unzipped release (AVE_Dataset/):

    AVE_DIR/AVE/<VideoID>.mp4        4,143 ten-second YouTube clips
    AVE_DIR/Annotations.txt          Category&VideoID&Quality&StartTime&EndTime (a header line)
    AVE_DIR/trainSet.txt             the same row format: 3,339 rows
    AVE_DIR/valSet.txt / testSet.txt 402 rows each

Labels: the Category of a row; the classes are every category found in Annotations.txt and the three split
files, sorted alphabetically (28 in the release), so label i is manifest["classes"][i]. The whole 10-s clip is
used (StartTime/EndTime mark the event for localization; classification ignores them, as OGM-GE does). A header
line (first field "Category") is skipped wherever it appears; a row that does not parse (fewer than two fields) is
counted in the manifest's notes, the first one shown, and left out; a file with more than MAX_BAD such rows (or
more bad rows than good ones) is refused. With Annotations.txt, a split file's category that it does not list is
refused (a typo would make a class of its own), and so is a row whose fields are swapped (its Category names a
video file in AVE/). A VideoID listed twice in one split is kept once.

Per clip (umelib.datasets.builders.video): 10 frames at 1 fps, shorter side to --size then a centre crop, uint8;
the audio as an 11,025 Hz mono waveform of 65,535 samples and its log spectrogram (1, 257, 256). A clip whose
video is absent, unreadable, or without an audio stream is skipped, named and counted in <out>/manifest.json.
Resumable: decoded clips are kept in <out>/.shards/ until the final assembly, so an interrupted run resumes; a
rerun on unchanged inputs does nothing. An --out folder holding files this script did not write is refused unless
--force (nothing of the user's is ever deleted). Then: `python -m umelib run --dataset ave --data-root OUT ...`.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.datasets.builders import video  # noqa: E402
from umelib.datasets.registry import data_dir  # noqa: E402
from umelib.errors import UmeError, exit_code  # noqa: E402

SPLIT_FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}
LISTED = {"train": 3339, "val": 402, "test": 402}  # the release's counts (the paper's App. B.1)
MAX_BAD = 10  # malformed rows a list file may have before it is refused
HINT = ("pass --root the unzipped AVE release (the folder holding AVE/<VideoID>.mp4, Annotations.txt, trainSet.txt, "
        "valSet.txt and testSet.txt)")


def read_list(f: Path) -> tuple[list[tuple[str, str]], int]:
    """The (category, video id) rows of an AVE list file, and how many malformed rows it has."""
    try:
        lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise UmeError(f"cannot read {f} ({e.strerror}); {HINT}") from None
    rows, bad, first = [], 0, None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("&")]
        if parts[0] == "Category":  # the header
            continue
        if len(parts) < 2 or not parts[0] or not parts[1]:
            bad += 1
            first = first or (no, line.strip()[:60])
            continue
        rows.append((parts[0], parts[1]))
    if bad and (bad > MAX_BAD or bad > len(rows)):
        raise UmeError(f"{f} has {bad} rows that do not parse as Category&VideoID&... (the first, line {first[0]}: "
                       f"'{first[1]}'); fix or restore the file from the AVE release")
    if bad:
        print(f"warning: {f} has {bad} row(s) that do not parse as Category&VideoID&...; left out (the first, line "
              f"{first[0]}: '{first[1]}')", file=sys.stderr)
    return rows, bad


def read_rows(root: Path) -> tuple[list[video.Clip], list[str], dict]:
    """The clips of the three splits, the sorted classes, and notes for the manifest."""
    if not root.is_dir():
        raise UmeError(f"AVE folder {root} not found; {HINT}")
    videos = root / "AVE"
    if not videos.is_dir():
        raise UmeError(f"AVE video folder {videos} is missing; {HINT}")
    lists, bad, dups = {}, Counter(), Counter()
    for s, name in SPLIT_FILES.items():
        f = root / name
        if not f.is_file():
            raise UmeError(f"AVE split file {f} is missing; {HINT}")
        rows, bad[name] = read_list(f)
        seen, kept = set(), []
        for cat, vid in rows:
            if vid in seen:
                dups[name] += 1
                continue
            seen.add(vid)
            kept.append((cat, vid))
        lists[s] = kept
    cats = {c for rows in lists.values() for c, _ in rows}
    ann = root / "Annotations.txt"
    swapped = [(s, c, v) for s, rows in lists.items() for c, v in rows if (videos / f"{c}.mp4").is_file()]
    if swapped:
        s, c, v = swapped[0]
        raise UmeError(f"{SPLIT_FILES[s]} has {len(swapped)} row(s) whose Category is a video id (e.g. '{c}&{v}'): "
                       "the fields are swapped; each row is Category&VideoID&Quality&StartTime&EndTime")
    if ann.is_file():
        rows, bad["Annotations.txt"] = read_list(ann)
        known = {c for c, _ in rows}
        unknown = sorted(cats - known)
        if unknown:
            where = next(SPLIT_FILES[s] for s, r in lists.items() if any(c == unknown[0] for c, _ in r))
            raise UmeError(f"{where} names the category '{unknown[0]}'{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}"
                           f" that Annotations.txt does not list; fix its spelling (the categories: "
                           f"{', '.join(sorted(known)[:5])}{', ...' if len(known) > 5 else ''})")
        cats |= known
    classes = sorted(cats)
    clips = [video.Clip(s, vid, str(videos / f"{vid}.mp4"), cat) for s, rows in lists.items() for cat, vid in rows]
    notes = {"listed": {s: len(r) for s, r in lists.items()}, "release_counts": LISTED,
             "malformed_rows": dict(+bad), "duplicate_ids": dict(+dups),
             "labels": "Category, classes sorted alphabetically", "validation": "the release's valSet.txt",
             "annotations": "Annotations.txt found" if ann.is_file() else "Annotations.txt absent (classes from the "
                                                                         "split files)"}
    return clips, classes, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the unzipped AVE release (holding AVE/ and the list files)")
    ap.add_argument("--out", default=None, help="output folder (default: data/ave, or $UME_DATA/ave)")
    video.add_prepare_options(ap)
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else data_dir() / "ave"

    def go() -> None:
        video.check_out_dir(out, "ave", a.force)  # before any work: never writes over others' files
        clips, classes, notes = read_rows(Path(a.root))
        print(f"AVE: {len(classes)} classes; listed " + ", ".join(f"{s} {n}" for s, n in notes["listed"].items()))
        video.prepare(clips, out, classes=classes, dataset="ave", workers=a.workers, size=a.size, frames=a.frames,
                      keep_clips=a.keep_clips, source=str(Path(a.root).resolve()), notes=notes, force=a.force)

    return exit_code(go)


if __name__ == "__main__":
    raise SystemExit(main())
