"""Speech to spectrograms for the AV-MNIST builders: .wav reading, trimming, loudness, colored noise, mixing
at a drawn SNR, and the 112 x 112 log-mel spectrogram (torchaudio, on any device)."""
from __future__ import annotations

import wave
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ...errors import UmeError

# spectrogram: 112 mel bands x 112 frames of a fixed window
SAMPLE_RATE = 22050
N_FFT = 1024
HOP = 200
N_MELS = 112
N_FRAMES = 112
F_MIN = 20.0
TOP_DB = 80.0
WINDOW = HOP * (N_FRAMES - 1)  # 22200 samples (1.007 s): centered STFT frames -> 112 frames

DEFAULT_SNR_DB = (-10.0, 2.0)  # SNR of speech to noise, drawn uniformly per sample


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


def spectrogram_info() -> dict:
    return {"sample_rate": SAMPLE_RATE, "window_samples": WINDOW, "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS,
            "f_min": F_MIN, "f_max": SAMPLE_RATE / 2, "frames": N_FRAMES, "top_db": TOP_DB,
            "scale": "dB relative to the per-sample peak, floored at -80 dB, mapped to [-1, 1]"}
