"""Generated clips in the published AVE layout, for the book's pipeline check and for tests: no real video is
shipped by any registry, so the chapter on AVE and Kinetics-Sounds runs the real preparation, loaders and
models on these. Each class has its own tone (audio) and its own coloured shape (video), both with noise, so a
model can learn them; they are a pipeline check, never results.

    write_ave_tree(root, classes=("Accordion", "Bark", "Church bell"), per_split={"train": 8, "val": 2, "test": 2})
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ...errors import UmeError

LIST_FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}
HEADER = "Category&VideoID&Quality&StartTime&EndTime\n"


def write_clip(path: str | Path, label: int, n_classes: int, seconds: float = 4.0, fps: int = 5, size: int = 64,
               rate: int = 16_000, seed: int = 0) -> None:
    """One H.264 + AAC clip: a square of class colour at a random place on a noisy background; a tone whose pitch
    is set by the class (300 Hz + 150 Hz per class) in noise."""
    try:
        import av
    except ImportError:
        raise UmeError("writing clips needs PyAV: pip install av==18.1.0 (in the project's 'data' extra)") from None
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hue = np.array([np.cos(2 * np.pi * label / n_classes), np.sin(2 * np.pi * label / n_classes), 0.0])
    colour = (127 + 120 * np.array([hue[0], hue[1], -hue[0]])).clip(0, 255)
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size, size, "yuv420p"
        aus = c.add_stream("aac", rate=rate)
        x0, y0 = rng.integers(0, size // 2, 2)
        for _ in range(int(seconds * fps)):
            img = rng.integers(0, 90, (size, size, 3)).astype(np.uint8)
            img[y0:y0 + size // 3, x0:x0 + size // 3] = colour
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        t = np.arange(int(seconds * rate)) / rate
        x = 0.3 * np.sin(2 * np.pi * (300 + 150 * label) * t) + 0.2 * rng.standard_normal(len(t))
        x = x.astype(np.float32).clip(-1, 1)
        for s in range(0, len(x), 1024):
            fr = av.AudioFrame.from_ndarray(x[None, s:s + 1024].copy(), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = rate, s
            for p in aus.encode(fr):
                c.mux(p)
        for p in aus.encode():
            c.mux(p)


def write_ave_tree(root: str | Path, classes: Sequence[str] = ("Accordion", "Bark", "Church bell"),
                   per_split: Mapping[str, int] | None = None, seconds: float = 4.0, seed: int = 0) -> Path:
    """An AVE-layout folder (``AVE/<id>.mp4``, ``Annotations.txt``, ``trainSet.txt`` / ``valSet.txt`` /
    ``testSet.txt``) with ``per_split[s]`` clips per class and split; plus one clip listed but absent and one
    broken file, which the preparation must skip and count. Returns ``root``."""
    root = Path(root)
    per_split = dict(per_split or {"train": 8, "val": 2, "test": 2})
    rows: dict[str, list[str]] = {s: [] for s in LIST_FILES}
    k = 0
    for split, n in per_split.items():
        for j, cat in enumerate(classes):
            for i in range(n):
                vid = f"{split}{j:02d}{i:03d}"
                write_clip(root / "AVE" / f"{vid}.mp4", j, len(classes), seconds, seed=seed * 100_003 + k)
                rows[split].append(f"{cat}&{vid}&good&0&10\n")
                k += 1
    (root / "AVE" / "broken.mp4").write_bytes(b"not a video " * 64)
    rows["train"] += [f"{classes[0]}&broken&good&0&10\n", f"{classes[0]}&absent&good&0&10\n"]
    for split, name in LIST_FILES.items():
        (root / name).write_text(HEADER + "".join(rows[split]))
    (root / "Annotations.txt").write_text(HEADER + "".join(r for s in LIST_FILES for r in rows[s]))
    return root
