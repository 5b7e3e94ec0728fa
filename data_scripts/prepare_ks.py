"""Prepare Kinetics-Sounds from a local Kinetics-400 copy into memory-mapped arrays for umelib.

    python data_scripts/prepare_ks.py --root KINETICS_DIR [--out data/kinetics-sounds] [--workers N]
                                      [--size 224] [--frames 10] [--classes FILE] [--annotations DIR]
                                      [--val-fraction 0.1] [--val-seed 0] [--keep-clips]

KINETICS_DIR holds the usual layout of the Kinetics downloaders:

    KINETICS_DIR/train/<class>/<youtube_id>_<start>_<end>.mp4
    KINETICS_DIR/val/<class>/...        (or validate/)
    KINETICS_DIR/test/...               not used

Only the classes of --classes (default data_scripts/kinetics_sounds_classes.txt: the 32 classes of
Arandjelovic & Zisserman 2017 as Kinetics-400 names them; its header says why not OGM-GE's 31) are kept; class
folders are matched case-insensitively with '_' read as a space. Labels: those classes sorted alphabetically,
so label i is manifest["classes"][i]. Video files: .mp4 .mkv .webm .avi .mov .m4v; the clip id is the file stem.

Splits (as the paper's App. B.1, which trains on 22,728 and reports on 1,593 validation videos): Kinetics'
validation split is the test split; the validation split is --val-fraction (10%) of the training clips,
stratified by class, drawn with --val-seed (0) as umelib's MultiModalData.with_validation draws it (the draw
uses the listed clips, before decoding, so skipped clips leave it a little under 10% in some classes). The test/
folder is not used (the paper has no Kinetics test labels).

--annotations DIR (optional): the Kinetics-400 CSV files (train.csv and validate.csv or val.csv; columns label,
youtube_id, time_start, time_end, ...). Then the CSV rows of the kept classes are the clips, matched to files by
(youtube_id, start, end) in any class folder of their split; a listed clip without its file is skipped as
"absent" and counted, so the manifest says how much of the dataset is missing. Without it, the files found are
the clips.

Per clip (umelib.datasets.builders.video): 10 frames at 1 fps, shorter side to --size then a centre crop, uint8;
the audio as an 11,025 Hz mono waveform of 65,535 samples and its log spectrogram (1, 257, 256). Broken clips and
clips without audio are skipped, named and counted in <out>/manifest.json. Resumable (see prepare_ave.py).
Then: `python -m umelib run --dataset kinetics-sounds --data-root OUT ...`.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.datasets.builders import video  # noqa: E402
from umelib.datasets.food101 import stratified_validation  # noqa: E402
from umelib.datasets.registry import data_dir  # noqa: E402
from umelib.errors import UmeError, exit_code  # noqa: E402

CLASSES_FILE = Path(__file__).resolve().parent / "kinetics_sounds_classes.txt"
EXTS = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v"}
HINT = "pass --root the Kinetics folder holding train/<class>/ and val/<class>/ (or validate/<class>/)"


def norm(name: str) -> str:
    """A class name as matched: lower case, '_' and runs of spaces read as one space."""
    return re.sub(r"[\s_]+", " ", name.strip().lower())


def read_classes(f: Path) -> list[str]:
    try:
        lines = f.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UmeError(f"cannot read the class list {f} ({e.strerror}); pass --classes FILE (one class per "
                       "line)") from None
    names = sorted({norm(x.split("#", 1)[0]) for x in lines if x.split("#", 1)[0].strip()})
    if len(names) < 2:
        raise UmeError(f"the class list {f} names {len(names)} class(es); it needs one class per line")
    return names


def clip_key(stem: str) -> tuple[str, int, int] | None:
    """(youtube_id, start, end) of a ``<youtube_id>_<start>_<end>`` stem (zero-padded or not)."""
    m = re.fullmatch(r"(.+)_(\d+)_(\d+)", stem)
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def scan(folder: Path, classes: list[str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(class, id, path) of every video under ``folder/<class>/`` of a kept class; the kept classes without a
    folder."""
    found, seen = [], set()
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        c = norm(d.name)
        if c not in classes:
            continue
        seen.add(c)
        found += [(c, f.stem, str(f)) for f in sorted(d.iterdir()) if f.suffix.lower() in EXTS and f.is_file()]
    return found, [c for c in classes if c not in seen]


def read_csv(f: Path, classes: list[str]) -> list[tuple[str, tuple[str, int, int]]]:
    """(class, (youtube_id, start, end)) of the rows of a Kinetics CSV whose label is a kept class."""
    try:
        with f.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error) as e:
        raise UmeError(f"cannot read the Kinetics annotations {f} ({type(e).__name__}); pass --annotations the "
                       "folder holding train.csv and validate.csv") from None
    out = []
    for r in rows:
        try:
            c = norm(r["label"])
            key = (r["youtube_id"].strip(), int(float(r["time_start"])), int(float(r["time_end"])))
        except (KeyError, TypeError, ValueError):
            raise UmeError(f"{f} lacks the columns label, youtube_id, time_start, time_end") from None
        if c in classes:
            out.append((c, key))
    return out


def read_rows(root: Path, classes: list[str], annotations: Path | None, fraction: float,
              seed: int) -> tuple[list[video.Clip], dict]:
    if not root.is_dir():
        raise UmeError(f"Kinetics folder {root} not found; {HINT}")
    folders = {"train": root / "train", "test": next((root / n for n in ("val", "validate") if (root / n).is_dir()),
                                                     root / "val")}
    for s, d in folders.items():
        if not d.is_dir():
            raise UmeError(f"Kinetics {'validation' if s == 'test' else 'training'} folder {d} is missing; {HINT}")
    rows, notes = {}, {"missing_class_folders": {}, "not_listed_files": {}}
    for s, d in folders.items():
        found, missing = scan(d, classes)
        notes["missing_class_folders"][d.name] = missing
        if annotations is None:
            rows[s] = found
            continue
        names = ("train.csv",) if s == "train" else ("validate.csv", "val.csv")
        f = next((annotations / n for n in names if (annotations / n).is_file()), None)
        if f is None:
            raise UmeError(f"no {' or '.join(names)} in {annotations}; pass --annotations the Kinetics-400 CSV folder")
        files = {clip_key(i): (i, p) for _, i, p in found}
        listed = read_csv(f, classes)
        keys = {k for _, k in listed}
        notes["not_listed_files"][d.name] = sum(1 for k in files if k not in keys)
        rows[s] = []
        for c, k in listed:  # a listed clip without its file keeps the downloaders' name, to be reported absent
            stem = f"{k[0]}_{k[1]:06d}_{k[2]:06d}"
            rows[s].append((c, *files[k]) if k in files else (c, stem, str(d / c.replace(" ", "_") / f"{stem}.mp4")))
    train = rows["train"]
    y = np.array([classes.index(c) for c, _, _ in train], dtype=np.int64)
    is_val = np.zeros(len(train), dtype=bool)
    is_val[stratified_validation(y, fraction, seed)] = True
    clips = [video.Clip("val" if v else "train", i, p, c) for (c, i, p), v in zip(train, is_val)]
    clips += [video.Clip("test", i, p, c) for c, i, p in rows["test"]]
    listed = Counter(c.split for c in clips)
    if not listed["train"] or not listed["test"]:
        raise UmeError(f"no video of the {len(classes)} Kinetics-Sounds classes under {folders['train']} or "
                       f"{folders['test']}; {HINT}")
    notes.update({"listed": dict(listed), "paper_counts": {"train": 22728, "test (Kinetics val)": 1593},
                  "labels": "class list sorted alphabetically", "test": f"Kinetics {folders['test'].name}/ split",
                  "validation": f"{fraction:.0%} of the training clips, stratified by class, seed {seed}",
                  "listing": "annotation CSV files" if annotations else "the video files found"})
    return clips, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the Kinetics folder (train/<class>/, val/<class>/)")
    ap.add_argument("--out", default=None, help="output folder (default: data/kinetics-sounds, or under $UME_DATA)")
    ap.add_argument("--classes", default=str(CLASSES_FILE), help="class list, one per line (default: the 32 classes)")
    ap.add_argument("--annotations", default=None, help="folder of the Kinetics-400 CSVs (train.csv, validate.csv)")
    ap.add_argument("--val-fraction", type=float, default=0.1, help="share of training clips kept for validation")
    ap.add_argument("--val-seed", type=int, default=0, help="seed of the validation draw")
    video.add_prepare_options(ap)
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else data_dir() / "kinetics-sounds"

    def go() -> None:
        video.check_out_dir(out, "kinetics-sounds", a.force)  # before any work: never writes over others' files
        if not 0 < a.val_fraction < 1:
            raise UmeError(f"--val-fraction must lie in (0, 1), got {a.val_fraction}")
        classes = read_classes(Path(a.classes))
        clips, notes = read_rows(Path(a.root), classes, Path(a.annotations) if a.annotations else None,
                                 a.val_fraction, a.val_seed)
        notes["class_list"] = str(Path(a.classes).resolve())
        print(f"Kinetics-Sounds: {len(classes)} classes; listed "
              + ", ".join(f"{s} {n}" for s, n in notes["listed"].items()))
        video.prepare(clips, out, classes=classes, dataset="kinetics-sounds", workers=a.workers, size=a.size,
                      frames=a.frames, keep_clips=a.keep_clips, source=str(Path(a.root).resolve()), notes=notes,
                      force=a.force)

    return exit_code(go)


if __name__ == "__main__":
    raise SystemExit(main())
