"""Throughput of the AVE / Kinetics-Sounds preparation (umelib.datasets.builders.video) and its size on disk.

    python bench/prepare_video.py                      # 40 clips of 10 s, 320x240 at 25 fps, 44.1 kHz stereo
    python bench/prepare_video.py --clips 80 --workers 4 --out bench/prepare_video_4cores.json

Generates ``--clips`` clips like the real ones (H.264 320x240 at 25 fps with moving content and noise, AAC
stereo at 44.1 kHz, ``--seconds`` long) in the AVE layout in a temporary folder, then times
``data_scripts/prepare_ave.py``'s preparation end to end (decoding, spectrograms, shards, assembly, sha256 of
every output, the manifest) at the default settings (S = 224, 10 frames), once with 1 worker and once with
``--workers``; then a rerun on unchanged inputs (it must decode nothing). Reports clips/s, CPU seconds per clip,
the bytes on disk per clip of the outputs (and of the peak, shards + outputs), extrapolated per 1,000 clips and
to AVE (4,143 clips) and Kinetics-Sounds (~24,300). Writes a JSON atomically (default
bench/prepare_video_cpu.json). The generated videos are not part of the timing.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.datasets.builders import video  # noqa: E402
from umelib.files import save_json  # noqa: E402
from umelib.provenance import provenance  # noqa: E402

CATS = ["Accordion", "Bark", "Church bell", "Rodents"]
GB = 1e9


def make_clip(path: Path, seconds: float, seed: int) -> None:
    """A 320x240 25-fps H.264 clip (a moving gradient, a moving square, noise) with AAC stereo 44.1 kHz audio."""
    import av

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:240, 0:320]
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "23"}
        aus = c.add_stream("aac", rate=44100)
        aus.layout = "stereo"
        for i in range(int(seconds * 25)):
            img = np.empty((240, 320, 3), np.uint8)
            img[..., 0] = (xx + 3 * i) % 256
            img[..., 1] = (yy + 2 * i + seed * 17) % 256
            img[..., 2] = 128
            x0, y0 = (7 * i) % 280, (5 * i) % 200
            img[y0:y0 + 40, x0:x0 + 40] = 255
            img = np.clip(img.astype(np.int16) + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        t = np.arange(int(seconds * 44100)) / 44100
        tone = 0.3 * np.sin(2 * np.pi * (220 + 40 * seed % 600) * t) + 0.05 * rng.standard_normal(len(t))
        x = np.stack([tone, np.roll(tone, 100)]).astype(np.float32)
        for s in range(0, x.shape[1], 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, s:s + 1024]), format="fltp", layout="stereo")
            fr.sample_rate, fr.pts = 44100, s
            for p in aus.encode(fr):
                c.mux(p)
        for p in aus.encode():
            c.mux(p)


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    s = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime + s.ru_utime + s.ru_stime


def run(rows, out: Path, classes, workers: int, keep: bool = False) -> dict:
    cpu, t = child_cpu(), time.perf_counter()
    m = video.prepare(rows, out, classes=classes, dataset="ave", workers=workers, keep_clips=keep, log=None)
    wall, cpu = time.perf_counter() - t, child_cpu() - cpu
    n = len(rows)
    return {"workers": workers, "clips": n, "decoded": m["decoded"], "wall_s": round(wall, 4),
            "clips_per_s": round(n / wall, 2), "cpu_s_per_clip": round(cpu / n, 4), "manifest": m}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "prepare_video_cpu.json"))
    a = ap.parse_args(argv)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="umelib-bench-video-") as tmp:
        src = Path(tmp) / "AVE_Dataset" / "AVE"
        src.mkdir(parents=True)
        t = time.perf_counter()
        rows = []
        for i in range(a.clips):
            p = src / f"clip{i:04d}.mp4"
            make_clip(p, a.seconds, i)
            rows.append(video.Clip("train", p.stem, str(p), CATS[i % len(CATS)]))
        gen_s = time.perf_counter() - t
        src_bytes = du(src)
        one = run(rows, Path(tmp) / "out1", CATS, 1)
        many = run(rows, Path(tmp) / "outN", CATS, a.workers, keep=True)
        peak = du(Path(tmp) / "outN")  # shards kept + outputs: the peak during a build
        again = run(rows, Path(tmp) / "outN", CATS, a.workers, keep=True)
        out_bytes = sum(r["bytes"] for r in many["manifest"]["files"].values())
        per_clip = out_bytes / a.clips
        res = {
            "what": "prepare AVE-layout clips: decode (PyAV), 10 frames at 1 fps -> 224x224 uint8, waveform 11,025 Hz "
                    "x 65,535 float32, log spectrogram (1, 257, 256) float32, shards, assembly, sha256, manifest",
            "clips": a.clips, "clip": {"seconds": a.seconds, "video": "H.264 320x240 25 fps (libx264 veryfast crf 23)",
                                       "audio": "AAC stereo 44.1 kHz"},
            "cpu_count": os.cpu_count(), "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
            "generate_s": round(gen_s, 2), "source_bytes_per_clip": round(src_bytes / a.clips),
            "workers_1": {k: v for k, v in one.items() if k != "manifest"},
            f"workers_{a.workers}": {k: v for k, v in many.items() if k != "manifest"},
            "rerun_unchanged": {"decoded": again["decoded"], "wall_s": again["wall_s"]},
            "output_bytes_per_clip": round(per_clip),
            "output_gb_per_1000_clips": round(per_clip * 1000 / GB, 3),
            "peak_gb_per_1000_clips_with_shards": round(peak / a.clips * 1000 / GB, 3),
            "files_bytes_per_clip": {k.split("/", 1)[1]: round(v["bytes"] / a.clips)
                                     for k, v in many["manifest"]["files"].items()},
            "extrapolated": {name: {"clips": n, "output_gb": round(per_clip * n / GB, 1),
                                    "hours_at_measured_rate": round(n / many["clips_per_s"] / 3600, 2)}
                             for name, n in (("ave", 4143), ("kinetics-sounds", 24321))},
            "settings": video.settings(),
            "provenance": provenance(None, "cpu", time.perf_counter() - t_start,
                                     av=__import__("av").__version__),
        }
    save_json(res, a.out, overwrite=True)
    print(f"{a.clips} clips of {a.seconds:g} s: 1 worker {one['clips_per_s']} clips/s, {a.workers} workers "
          f"{many['clips_per_s']} clips/s; rerun decoded {again['decoded']}; "
          f"{res['output_gb_per_1000_clips']} GB per 1,000 clips -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
