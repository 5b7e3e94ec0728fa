"""Audio-visual clips (AVE, Kinetics-Sounds) decoded once with PyAV into memory-mappable arrays.

Per clip (one pass over the file, PyAV's bundled FFmpeg, no system ffmpeg):

- **frames** at 1 fps, as OGM-GE's extraction: for ``k < frames`` (default ``FRAMES`` = 10, AVE's 10 s) the first
  decoded frame at or after ``(k + 0.5) * step`` s (times counted from the first frame), ``step`` = 1 s, or
  duration / ``frames`` for a clip longer than ``frames`` seconds (so a smaller ``frames`` still spans the clip);
  the shorter side resized to ``size`` (default ``SIZE`` = 224, swscale bicubic), the centre ``size`` x ``size``
  square cropped, RGB ``uint8`` (frames, 3, size, size). A clip shorter than ``frames`` seconds repeats its last
  frame to fill the array (as OGM-GE's extraction loops the last second); ``frame_count`` says how many frames
  are real. The duration is the container's (else the video stream's; else 1 fps is assumed). Pixel aspect ratio
  and rotation metadata are ignored.
- **waveform** for AudioNet (Tian & Xu 2021): the whole audio track resampled to ``AUDIO_RATE`` = 11,025 Hz mono
  (swresample; stereo is downmixed by its default matrix), centre-cropped or zero-padded (centred) to
  ``AUDIO_SAMPLES`` = 65,535 samples (5.94 s), clipped to [-1, 1], ``float32``.
- **spectrogram** for 2-D audio encoders, of that same waveform: |STFT| with a periodic Hann window of
  ``N_FFT`` = 512 samples (46 ms), hop ``HOP`` = 256 (23 ms), centred frames (reflect padding) -> 257 bins
  (0-5,512 Hz, low to high) x 256 frames; in dB relative to full scale (0 dB = a full-scale sine), floored at
  -80 dB and mapped linearly onto [-1, 1] (silence -> -1); ``float32`` (1, 257, 256).

Skipped, named and counted, never fatal: a listed clip whose file is absent (``absent``), a file FFmpeg cannot
open or decode (``unreadable (...)``), one without a video or an audio stream, one whose streams decode to
nothing. A decoding error after some frames and audio were read keeps what was read (``truncated`` in the
manifest).

:func:`prepare` decodes every clip into ``<out>/.shards/<settings>/<id>-<hash>.npz`` (one shard per clip, written
atomically; the hash covers the file's path, size and mtime, so a changed file is decoded again), in ``workers``
processes, then assembles per split ``<out>/<split>/{frames,frame_count,waveform,spectrogram,labels}.npy`` and
``ids.txt``, then ``<out>/manifest.json`` (written last: its presence marks a complete build). A rerun skips
finished shards (an interrupted run resumes) and does nothing at all when the manifest matches the inputs and
settings. Shards are deleted after a successful assembly unless ``keep_clips`` (they double the disk use; without
them a rerun with *changed* inputs decodes every clip again).

Nothing it did not write is deleted or replaced: ``<out>`` must be absent, empty, or a folder of its own for the same
dataset (its ``manifest.json``, or the ``.prepare.json`` it writes first, so an interrupted run resumes), unless
``force`` (then files of the output names are replaced; nothing else is touched)."""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ...errors import UmeError
from ...files import atomic_write, check_folder, file_digest

VERSION = "v1"
SIZE = 224
FRAMES = 10
AUDIO_RATE = 11025
AUDIO_SAMPLES = 65535
N_FFT, HOP, TOP_DB = 512, 256, 80.0
SPEC_SHAPE = (1, N_FFT // 2 + 1, 1 + AUDIO_SAMPLES // HOP)  # (1, 257, 256)
SPLITS = ("train", "val", "test")
SHARDS, MARKER = ".shards", ".prepare.json"  # the per-clip shards' folder; the mark of a folder this code writes
AV_HINT = "install PyAV with `pip install av` (its wheels bundle FFmpeg; no system ffmpeg is needed)"
_WINDOW = np.hanning(N_FFT + 1)[:-1]  # periodic Hann
_FULL_SCALE = _WINDOW.sum() / 2  # |STFT| of a full-scale sine at its bin


class Clip(NamedTuple):
    """One row to prepare: its split, id (unique within the dataset), video file and class name."""

    split: str
    id: str
    path: str
    label: str


class Skip(Exception):
    """A clip that cannot be used; the message is the reason recorded in the manifest."""


def _av():
    try:
        import av
    except ImportError:
        raise UmeError(f"PyAV is not installed; {AV_HINT}") from None
    return av


def settings(size: int = SIZE, frames: int = FRAMES) -> dict:
    """The transform, as the manifest records it."""
    return {"version": VERSION, "size": size, "frames": frames, "fps": 1,
            "frame_times": "first frame at or after (k + 0.5) * max(1 s, duration / frames), k < frames; a "
                           "clip shorter than frames seconds repeats its last frame",
            "resize": "shorter side to size (swscale bicubic), centre crop size x size, RGB uint8",
            "audio_rate": AUDIO_RATE, "audio_samples": AUDIO_SAMPLES,
            "waveform": "mono, centre crop / centred zero pad, clipped to [-1, 1], float32",
            "spectrogram": {"n_fft": N_FFT, "hop": HOP, "window": "periodic Hann", "center": "reflect",
                            "shape": list(SPEC_SHAPE), "dtype": "float32",
                            "scale": f"dB re full scale, floored at -{TOP_DB:g} dB, mapped linearly to [-1, 1]"}}


# ---------------------------------------------------------------- one clip

def fit_waveform(x: np.ndarray, length: int = AUDIO_SAMPLES) -> np.ndarray:
    """Centre-crop or zero-pad (centred) ``x`` to ``length`` samples, clipped to [-1, 1], float32."""
    x = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    n = len(x)
    if n >= length:
        s = (n - length) // 2
        return np.ascontiguousarray(x[s:s + length])
    out = np.zeros(length, np.float32)
    s = (length - n) // 2
    out[s:s + n] = x
    return out


def log_spectrogram(w: np.ndarray) -> np.ndarray:
    """The (1, 257, 256) float32 log-magnitude spectrogram of a 65,535-sample waveform (see the module doc)."""
    x = np.pad(np.asarray(w, dtype=np.float64), N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    mag = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)).T / _FULL_SCALE
    db = np.clip(20.0 * np.log10(np.maximum(mag, 1e-12)), -TOP_DB, 0.0)
    return (db * (2.0 / TOP_DB) + 1.0).astype(np.float32)[None]


def _rgb(frame, size: int) -> np.ndarray:
    """A decoded frame as uint8 (3, size, size): shorter side to ``size``, centre crop."""
    w, h = frame.width, frame.height
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = frame.reformat(width=nw, height=nh, format="rgb24", interpolation="BICUBIC").to_ndarray()
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(img[top:top + size, left:left + size].transpose(2, 0, 1))


def decode_clip(path: str | Path, size: int = SIZE, frames: int = FRAMES) -> dict[str, np.ndarray]:
    """One clip as arrays ``frames`` uint8 (frames, 3, size, size), ``frame_count``, ``waveform`` (65535,),
    ``spectrogram`` (1, 257, 256) and ``truncated``; raises :class:`Skip` with the reason when it cannot be used."""
    av = _av()
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as e:  # noqa: BLE001 - FFmpeg raises many kinds; none is fatal here
        raise Skip(f"unreadable ({type(e).__name__})") from None
    picked: list[np.ndarray] = []
    chunks: list[np.ndarray] = []
    error = None
    with container:
        if not container.streams.video:
            raise Skip("no video stream")
        if not container.streams.audio:
            raise Skip("no audio stream")
        vs, aus = container.streams.video[0], container.streams.audio[0]
        vs.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        rate = float(vs.average_rate or 25)
        dur = container.duration / 1e6 if container.duration else float((vs.duration or 0) * (vs.time_base or 0))
        step = max(1.0, dur / frames)
        t0, last, seen = None, None, 0
        try:
            for packet in container.demux(vs, aus):
                if packet.stream.index == aus.index:
                    for f in packet.decode():
                        chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(f)]
                elif len(picked) < frames:
                    for f in packet.decode():
                        t = f.time if f.time is not None else seen / rate
                        seen += 1
                        t0 = t if t0 is None else t0
                        img = None
                        while len(picked) < frames and t - t0 >= (len(picked) + 0.5) * step - 1e-3:
                            img = _rgb(f, size) if img is None else img
                            picked.append(img)
                        last = f
            chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
        except Exception as e:  # noqa: BLE001 - a damaged file: keep what was decoded
            error = type(e).__name__
        if not picked and last is not None:
            picked.append(_rgb(last, size))
    wave = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if not picked:
        raise Skip(f"unreadable ({error})" if error else "no video frames")
    if wave.size == 0:
        raise Skip(f"unreadable ({error})" if error else "empty audio stream")
    n = len(picked)
    w = fit_waveform(wave)
    return {"frames": np.stack(picked + [picked[-1]] * (frames - n)), "frame_count": np.array(n, np.int16),
            "waveform": w, "spectrogram": log_spectrogram(w), "truncated": np.array(error is not None)}


# ---------------------------------------------------------------- many clips

def _shard_stem(path: str, clip_id: str) -> str | None:
    """``<safe id>-<hash of path, size, mtime>``; None when the file is absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    h = hashlib.sha1(f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', clip_id)[:80]}-{h}"


def _work(job: tuple[str, str, int, int]) -> tuple[str, str | None]:
    """Worker: decode one clip into its shard (or a ``.skip.json`` marker); returns (shard stem path, reason)."""
    path, stem, size, frames = job
    try:
        d = decode_clip(path, size, frames)
    except Skip as e:
        reason = str(e)
        atomic_write(stem + ".skip.json", lambda f: f.write(json.dumps({"reason": reason}).encode()))
        return stem, reason
    except Exception as e:  # noqa: BLE001 - never fatal; not cached, so a rerun tries again
        return stem, f"unreadable ({type(e).__name__}: {e})"[:200]
    atomic_write(stem + ".npz", lambda f: np.savez(f, **d))
    return stem, None


def _decode_all(clips: Sequence[Clip], shard_dir: Path, size: int, frames: int, workers: int,
                log: Callable[[str], None]) -> tuple[dict[int, str], int]:
    """Decode the clips that have no shard yet. Returns {row: shard stem path, or the reason it is skipped} and
    how many clips this call decoded."""
    state: dict[int, str] = {}
    todo: dict[str, list[int]] = {}
    for i, c in enumerate(clips):
        stem = _shard_stem(c.path, c.id)
        if stem is None:
            state[i] = "absent"
            continue
        p = str(shard_dir / stem)
        if os.path.isfile(p + ".npz"):
            state[i] = p
        elif os.path.isfile(p + ".skip.json"):
            state[i] = "skip:" + json.loads(Path(p + ".skip.json").read_text())["reason"]
        else:
            todo.setdefault(p, []).append(i)
    if not todo:
        return state, 0
    shard_dir.mkdir(parents=True, exist_ok=True)
    first = {p: rows[0] for p, rows in todo.items()}
    jobs = [(clips[i].path, p, size, frames) for p, i in first.items()]
    log(f"decoding {len(jobs)} clips with {workers} worker(s)")
    t, every = time.perf_counter(), max(1, len(jobs) // 20)
    if workers > 1 and len(jobs) > 1:
        method = "fork" if "fork" in mp.get_all_start_methods() else None
        pool = mp.get_context(method).Pool(min(workers, len(jobs)))
        results = pool.imap_unordered(_work, jobs, chunksize=1)
    else:
        pool, results = None, map(_work, jobs)
    try:
        for n, (p, reason) in enumerate(results, 1):
            for i in todo[p]:
                state[i] = p if reason is None else "skip:" + reason
            if n % every == 0 or n == len(jobs):
                log(f"  {n}/{len(jobs)} clips, {n / (time.perf_counter() - t):.1f} clips/s")
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return state, len(jobs)


def inputs_digest(clips: Sequence[Clip], classes: Sequence[str], cfg: dict) -> str:
    """A digest of what a build depends on: the settings, the classes, and each row with its file's size and
    mtime (an absent file counts as -1)."""
    h = hashlib.sha256(json.dumps([cfg, list(classes)], sort_keys=True).encode())
    for c in clips:
        try:
            st = os.stat(c.path)
            sig = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            sig = "-1"
        h.update(f"{c.split}\0{c.id}\0{c.label}\0{os.path.abspath(c.path)}\0{sig}\n".encode())
    return h.hexdigest()


def _write_split(folder: Path, rows: list[tuple[Clip, str]], label_of: dict[str, int], size: int,
                 frames: int) -> tuple[dict[str, dict], list[str]]:
    """The arrays of one split from its shards (temporary names, renamed when complete); returns their file
    records and the ids of truncated clips."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(rows)
    specs = {"frames": (np.uint8, (n, frames, 3, size, size)), "frame_count": (np.int16, (n,)),
             "waveform": (np.float32, (n, AUDIO_SAMPLES)), "spectrogram": (np.float32, (n, *SPEC_SHAPE)),
             "labels": (np.int64, (n,))}
    tmp = {k: folder / f".{k}.npy.tmp" for k in specs}
    truncated = []
    try:
        if n == 0:
            for k, (dt, shape) in specs.items():
                np.save(tmp[k], np.zeros(shape, dt))
        else:
            arrs = {k: np.lib.format.open_memmap(tmp[k], mode="w+", dtype=dt, shape=shape)
                    for k, (dt, shape) in specs.items()}
            for r, (clip, stem) in enumerate(rows):
                with np.load(stem + ".npz", allow_pickle=False) as z:
                    for k in ("frames", "frame_count", "waveform", "spectrogram"):
                        arrs[k][r] = z[k]
                    if bool(z["truncated"]):
                        truncated.append(clip.id)
                arrs["labels"][r] = label_of[clip.label]
            for a in arrs.values():
                a.flush()
            del arrs
        for k in specs:
            os.replace(tmp[k], folder / f"{k}.npy")
    finally:
        for p in tmp.values():
            p.unlink(missing_ok=True)
    ids = "".join(f"{c.id}\n" for c, _ in rows).encode()
    atomic_write(folder / "ids.txt", lambda f: f.write(ids))
    out = {f"{folder.name}/ids.txt": {"sha256": file_digest(folder / "ids.txt"), "bytes": len(ids)}}
    for k, (dt, shape) in specs.items():
        p = folder / f"{k}.npy"
        out[f"{folder.name}/{k}.npy"] = {"sha256": file_digest(p), "bytes": p.stat().st_size, "shape": list(shape),
                                         "dtype": np.dtype(dt).name}
    return out, truncated


def _up_to_date(out: Path, digest: str) -> dict | None:
    try:
        m = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("inputs_sha256") != digest:
        return None
    for name, rec in m.get("files", {}).items():
        p = out / name
        if not p.is_file() or p.stat().st_size != rec.get("bytes"):
            return None
    return m


def _owner(out: Path) -> str | None:
    """The dataset a preparation wrote ``out`` for (its manifest, else its start mark), or None."""
    for name, key in (("manifest.json", "inputs_sha256"), (MARKER, "prepared_by")):
        try:
            m = json.loads((out / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and key in m and isinstance(m.get("dataset"), str):
            return m["dataset"]
    return None


def check_out_dir(out_dir: str | Path, dataset: str, force: bool = False) -> Path:
    """Check ``--out`` before any work: a folder (not a file, not under one) that is absent, empty, or prepared by
    this code for ``dataset``; any other folder only with ``force``. One :class:`UmeError` line otherwise."""
    out = check_folder(out_dir, "--out")
    if not out.is_dir() or force:
        return out
    owner = _owner(out)
    if owner == dataset:
        return out
    items = sorted(p.name for p in out.iterdir())
    if not items:
        return out
    what = (f"a prepared '{owner}'" if owner else f"files this script did not write ({', '.join(items[:3])}"
            f"{', ...' if len(items) > 3 else ''})")
    raise UmeError(f"--out {out} already holds {what}; choose a new or empty folder, or pass --force to write "
                   "into it (files of the output names are replaced, nothing else is touched)")


def prepare(rows: Sequence[Clip], out_dir: str | Path, *, classes: Sequence[str], dataset: str, workers: int = 1,
            size: int = SIZE, frames: int = FRAMES, keep_clips: bool = False, source: str | None = None,
            notes: dict | None = None, log: Callable[[str], None] | None = print, force: bool = False) -> dict:
    """Decode ``rows`` (:class:`Clip`) and write the arrays and ``manifest.json`` under ``out_dir`` (see the module
    doc). Label ``i`` is ``classes[i]``. Returns the manifest, with ``decoded`` (clips decoded by this call) and
    ``up_to_date`` (True when nothing had to be done) added."""
    log = log or (lambda s: None)
    if size < 1 or frames < 1:
        raise UmeError(f"size and frames must be >= 1, got size={size}, frames={frames}")
    label_of = {c: i for i, c in enumerate(classes)}
    bad = sorted({c.label for c in rows if c.label not in label_of})
    if bad:
        raise UmeError(f"{len(bad)} label(s) are not among the classes, e.g. '{bad[0]}'")
    bad = sorted({c.split for c in rows} - set(SPLITS))
    if bad:
        raise UmeError(f"unknown split '{bad[0]}'; use {', '.join(SPLITS)}")
    out = check_out_dir(out_dir, dataset, force)
    _av()
    cfg = settings(size, frames)
    digest = inputs_digest(rows, classes, cfg)
    done = _up_to_date(out, digest)
    if done is not None:
        log(f"{out / 'manifest.json'} is up to date ({sum(s['clips'] for s in done['splits'].values())} clips); "
            "nothing to do")
        return {**done, "decoded": 0, "up_to_date": True}
    start = time.perf_counter()
    mark = {"prepared_by": "umelib.datasets.builders.video", "dataset": dataset}
    atomic_write(out / MARKER, lambda f: f.write(json.dumps(mark).encode()))
    shard_dir = out / SHARDS / f"S{size}-F{frames}-{VERSION}"
    state, decoded = _decode_all(rows, shard_dir, size, frames, max(1, int(workers)), log)
    (out / "manifest.json").unlink(missing_ok=True)
    skipped, kept = [], {s: [] for s in SPLITS}
    for i, c in enumerate(rows):
        st = state[i]
        if st == "absent" or st.startswith("skip:"):
            skipped.append({"split": c.split, "id": c.id, "path": c.path, "reason": st.removeprefix("skip:")})
        else:
            kept[c.split].append((c, st))
    files: dict[str, dict] = {}
    splits, truncated = {}, []
    for s in SPLITS:
        if not any(c.split == s for c in rows):
            continue
        log(f"assembling {s}: {len(kept[s])} clips")
        recs, trunc = _write_split(out / s, kept[s], label_of, size, frames)
        files.update(recs)
        truncated += trunc
        per = Counter(c.label for c, _ in kept[s])
        splits[s] = {"clips": len(kept[s]), "per_class": {k: per.get(k, 0) for k in classes}}
    reasons = Counter(re.sub(r" \(.*", "", d["reason"]) for d in skipped)
    manifest = {"dataset": dataset, "source": source, "classes": list(classes), "settings": cfg,
                "splits": splits, "skipped_counts": dict(reasons), "skipped": skipped, "truncated": truncated,
                "files": files, "inputs_sha256": digest, "decoded_this_build": decoded, "workers": workers,
                "wall_s": round(time.perf_counter() - start, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **({"notes": notes} if notes else {})}
    atomic_write(out / "manifest.json", lambda f: f.write((json.dumps(manifest, indent=1) + "\n").encode()))
    if not keep_clips:
        shutil.rmtree(out / SHARDS, ignore_errors=True)
    log(f"wrote {out}: " + ", ".join(f"{s} {v['clips']}" for s, v in splits.items())
        + f"; skipped {len(skipped)} ({dict(reasons)}); {manifest['wall_s']} s")
    return {**manifest, "decoded": decoded, "up_to_date": False}


def add_prepare_options(ap) -> None:
    """The options every preparation script shares (an ``argparse.ArgumentParser``): --workers, --size, --frames,
    --keep-clips, matching :func:`prepare`'s keyword arguments."""
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="decoding processes")
    ap.add_argument("--size", type=int, default=SIZE, help=f"frame side S in pixels (default {SIZE})")
    ap.add_argument("--frames", type=int, default=FRAMES, help=f"frames kept per clip at 1 fps (default {FRAMES})")
    ap.add_argument("--keep-clips", action="store_true", help="keep the per-clip shards (<out>/.shards) after assembly")
    ap.add_argument("--force", action="store_true", help="write into an --out folder that holds other files (files "
                    "of the output names are replaced; nothing else is touched)")
