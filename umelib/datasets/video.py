"""AVE and Kinetics-Sounds: audio-visual clips prepared once into memory-mapped arrays, modalities ``audio`` and
``visual`` (the names the App. B settings in :mod:`umelib.config` key their per-modality learning rates by).

Prepare them first (PyAV decodes the videos; see :mod:`umelib.datasets.builders.video` for the transform)::

    python data_scripts/prepare_ave.py --root AVE_DIR --out data/ave
    python data_scripts/prepare_ks.py --root KINETICS_DIR --out data/kinetics-sounds

Here ``root`` (``--data-root`` on the CLI) is that *prepared* folder (default ``data_dir() / "ave"`` or
``"kinetics-sounds"``), not the raw release. Choices (recorded in ``data.info``):

- **visual**: ``uint8`` (N, frames, 3, S, S), memory-mapped, S = the prepared size (224 by default). Each clip
  stores F frames at 1 fps (t = k + 0.5 s, F = 10 by default); ``frames`` = k picks k evenly spaced ones, the
  same for every clip and split: the strided slice of :func:`frame_indices` (F = 10: k = 1 -> frame 4, t = 4.5 s,
  the middle one; k = 3 -> frames 1, 4, 7, t = 1.5, 4.5, 7.5 s); ``frames="all"`` keeps every stored frame, for
  the random frames per training step of App. B.1.2 (OGM-GE's loader): the encoder draws them,
  ``frames:3,3,crop:SPEC`` (3 random frames per clip at every training step, 3 evenly spaced at test, Tian & Xu's
  crop and flip in training; see :class:`umelib.models.audio.FrameEncoder`), since a :class:`Split` is a static
  tensor. A strided slice keeps the array memory-mapped (no copy).
- **audio**: ``"waveform"``: float32 (N, 65535), 11,025 Hz mono in [-1, 1], for AudioNet (Tian & Xu 2021, the
  registered default encoder); ``"spectrogram"``: float32 (N, 1, 257, 256), log |STFT| in [-1, 1], for 2-D
  audio encoders (pass one, e.g. ``--encoder audio=resnet18``). Both memory-mapped.
- **encoders** (App. B.1.1, :data:`umelib.config.VIDEO_CNN`): ``audionet`` for ``audio``,
  ``frames:3,3,crop:resnet18`` for ``visual`` (a ResNet-18 on each frame, features averaged over the frames: the
  clip is (frames, 3, S, S) even for one frame).
- **splits**: the ones the preparation wrote: AVE's own train / val / test (3,339 / 402 / 402 listed); for
  Kinetics-Sounds, Kinetics' validation split as test and a stratified 10% of its training split (seed 0) as
  validation. The data do not depend on ``seed``.
- **sha256**: a digest of the manifest's per-file sha256 and of the loader's options (``audio``, ``frames``,
  ``limit``), so each view of the data has its own checksum without reading gigabytes again.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from ..config import VIDEO_CNN
from ..errors import UmeError
from .core import MultiModalData, Split
from .npz import check_labels
from .registry import data_dir, register_dataset

AUDIO = ("waveform", "spectrogram")
ENCODERS = VIDEO_CNN  # AudioNet + a ResNet-18 on 3 frames per clip (App. B.1.1; see umelib.config)
AVE_HINT = ("run `python data_scripts/prepare_ave.py --root AVE_DIR --out {root}` (AVE_DIR: the unzipped AVE "
            "release holding AVE/<VideoID>.mp4, Annotations.txt and trainSet.txt / valSet.txt / testSet.txt), or pass "
            "--data-root the folder a preparation wrote")
KS_HINT = ("run `python data_scripts/prepare_ks.py --root KINETICS_DIR --out {root}` (KINETICS_DIR: Kinetics-400 "
           "videos as <split>/<class>/<youtube_id>_<start>_<end>.mp4), or pass --data-root the folder a preparation "
           "wrote")


def frame_indices(stored: int, k: int | str) -> slice:
    """The ``k`` evenly spaced frames of ``stored``, centred, as a slice (step ``stored // k``); ``"all"``: every
    stored frame."""
    if k == "all":
        return slice(0, stored, 1)
    if isinstance(k, str) and k.isdigit():
        k = int(k)
    if not isinstance(k, int) or not 1 <= k <= stored:
        raise UmeError(f"frames must lie in 1..{stored} (the frames stored per clip) or be 'all', got {k!r}")
    step = stored // k
    start = (stored - 1 - step * (k - 1)) // 2
    return slice(start, start + step * (k - 1) + 1, step)


def _manifest(root: Path, name: str, hint: str) -> dict:
    f = root / "manifest.json"
    if not f.is_file():
        raise UmeError(f"{name} is not prepared in {root} (no manifest.json); " + hint.format(root=root))
    try:
        m = json.loads(f.read_text())
        if not (m["classes"] and isinstance(m["splits"], dict) and isinstance(m["files"], dict)
                and int(m["settings"]["frames"]) >= 1):
            raise ValueError("empty")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UmeError(f"{f} is unreadable or incomplete ({type(e).__name__}); prepare {name} again: "
                       + hint.format(root=root)) from None
    return m


def _load(root: Path, split: str, key: str, name: str, hint: str) -> np.ndarray:
    f = root / split / f"{key}.npy"
    try:
        return np.load(f, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UmeError(f"cannot read {f} ({type(e).__name__}); prepare {name} again: "
                       + hint.format(root=root)) from None


def _spread(n: int, limit: int | None) -> np.ndarray | None:
    if limit is None or limit >= n:
        return None
    if limit < 1:
        raise UmeError(f"limit must be >= 1 (or None for every clip), got {limit}")
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def load_prepared(name: str, root: Path, hint: str, audio: str = "waveform", frames: int | str = 1,
                  limit: int | None = None) -> MultiModalData:
    """A prepared audio-visual dataset (see the module doc) as :class:`MultiModalData`."""
    if audio not in AUDIO:
        raise UmeError(f"audio must be one of {', '.join(AUDIO)}, got '{audio}'")
    m = _manifest(root, name, hint)
    classes, stored = list(m["classes"]), int(m["settings"]["frames"])
    pick = frame_indices(stored, frames)
    splits: dict[str, Split] = {}
    for s in ("train", "val", "test"):
        if s not in m["splits"]:
            continue
        n = int(m["splits"][s]["clips"])
        if n == 0:
            if s == "val":
                continue
            raise UmeError(f"{name}: the {s} split has no usable clip (skipped: {m.get('skipped_counts')}); check the "
                           "videos and prepare again: " + hint.format(root=root))
        vis = _load(root, s, "frames", name, hint)
        aud = _load(root, s, audio, name, hint)
        y = np.asarray(_load(root, s, "labels", name, hint))
        if len(vis) != n or len(aud) != n or len(y) != n:
            raise UmeError(f"{root / s} holds arrays of {len(vis)}/{len(aud)}/{len(y)} clips but the manifest says "
                           f"{n}; prepare again: " + hint.format(root=root))
        vis = vis[:, pick]
        rows = _spread(n, limit)
        if rows is not None:
            vis, aud, y = vis[rows], aud[rows], y[rows]
        yt = torch.as_tensor(y.astype(np.int64))
        splits[s] = Split({"audio": torch.from_numpy(aud), "visual": torch.from_numpy(vis)}, yt,
                          torch.ones(len(yt), 2, dtype=torch.bool))
    if "train" not in splits or "test" not in splits:
        raise UmeError(f"{root / 'manifest.json'} lists no train or no test split; prepare {name} again: "
                       + hint.format(root=root))
    check_labels(splits, "multiclass")
    h = hashlib.sha256(f"audio={audio};frames={frames};limit={limit}\n".encode())
    for f, rec in sorted(m["files"].items()):
        h.update(f"{f}:{rec.get('sha256')}\n".encode())
    times = [i + 0.5 for i in range(stored)][pick]
    size = m["settings"].get("size")
    val_note = (m.get("notes") or {}).get("validation", "the release's split")
    info = {"source": str(root), "sha256": h.hexdigest(), "classes": classes,
            "visual": f"uint8 (N, {len(times)}, 3, {size}, {size}): frames at t = {times} s of {stored} stored at 1 fps "
                      + ("(every stored frame: an encoder frames:K,T:SPEC draws K at random per training step)"
                         if frames == "all" else "(fixed, evenly spaced)"),
            "audio": audio + (" float32 (N, 65535), 11,025 Hz mono in [-1, 1]" if audio == "waveform"
                              else " float32 (N, 1, 257, 256), log |STFT| (n_fft 512, hop 256) in [-1, 1]"),
            "skipped": dict(m.get("skipped_counts", {})), "prepared": m.get("created"),
            "validation": (f"given ({len(splits['val'])} clips: {val_note})" if "val" in splits else "none"),
            "kinds": {"visual": "video", "audio": "audio" if audio == "waveform" else "spectrogram"},
            **({"limit": limit} if limit is not None else {})}
    return MultiModalData(name, splits["train"], splits["test"], len(classes), splits.get("val"), "multiclass", info)


@register_dataset("ave", "AVE (Tian et al. 2018): 10-s YouTube clips of 28 audio-visual events, audio + video frames",
                  build="python data_scripts/prepare_ave.py --root AVE_DIR --out data/ave", encoders=ENCODERS, paper=True)
def ave(seed: int = 0, root: str | Path | None = None, audio: str = "waveform", frames: int | str = 1,
        limit: int | None = None) -> MultiModalData:
    """AVE prepared by ``data_scripts/prepare_ave.py`` in ``root`` (default ``data_dir() / "ave"``): modalities
    ``audio`` (``audio`` = "waveform" or "spectrogram") and ``visual`` (``frames`` per clip, or ``"all"``); the release's
    train / val / test split. ``limit``: at most that many clips per split (evenly spaced; copied into memory).
    The data do not depend on ``seed``."""
    r = Path(root) if root is not None else data_dir() / "ave"
    return load_prepared("ave", r, AVE_HINT, audio, frames, limit)


@register_dataset("kinetics-sounds", "Kinetics-Sounds (Arandjelovic & Zisserman 2017): Kinetics-400 clips of "
                  "audible actions, audio + video frames", build="python data_scripts/prepare_ks.py --root "
                  "KINETICS_DIR --out data/kinetics-sounds", encoders=ENCODERS, paper=True)
def kinetics_sounds(seed: int = 0, root: str | Path | None = None, audio: str = "waveform", frames: int | str = 1,
                    limit: int | None = None) -> MultiModalData:
    """Kinetics-Sounds prepared by ``data_scripts/prepare_ks.py`` in ``root`` (default
    ``data_dir() / "kinetics-sounds"``): as :func:`ave`; test = Kinetics' validation split, validation = a
    stratified 10% of its training split drawn at preparation (seed 0)."""
    r = Path(root) if root is not None else data_dir() / "kinetics-sounds"
    return load_prepared("kinetics-sounds", r, KS_HINT, audio, frames, limit)
