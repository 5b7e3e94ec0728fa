import numpy as np
import pytest
import torch

import umelib
from umelib import UmeError, load_npz, save_npz


def test_npz_round_trip_with_presence(tmp_path):
    data = umelib.load_dataset("synthetic-3m").subsample(200, 100)
    data.train.present[:10, 1] = False
    save_npz(data, tmp_path / "d.npz")
    back = load_npz(tmp_path / "d.npz")
    assert back.modalities == data.modalities and back.num_classes == 10
    assert torch.equal(back.train.present, data.train.present)
    for m in data.modalities:
        assert torch.equal(back.test.x[m], data.test.x[m])


def test_presence_without_any_modality_is_rejected(tmp_path):
    arr = {"train/a": np.zeros((4, 2), np.float32), "train/b": np.zeros((4, 2), np.float32), "train/y": np.arange(4),
           "test/a": np.zeros((2, 2), np.float32), "test/b": np.zeros((2, 2), np.float32), "test/y": np.arange(2),
           "train/present": np.array([[1, 1], [0, 0], [1, 0], [0, 1]], bool)}
    np.savez(tmp_path / "d.npz", **arr)
    with pytest.raises(UmeError, match="no modality at all"):
        load_npz(tmp_path / "d.npz")


def test_subsample_is_seeded():
    d = umelib.load_dataset("synthetic")
    a, b = d.subsample(100, 50, seed=1), d.subsample(100, 50, seed=1)
    assert torch.equal(a.train.y, b.train.y) and len(a.train) == 100 and len(a.test) == 50


def test_config_profiles():
    assert umelib.get_config("full").phase1.batch_size == 64  # App. B.1.1
    assert umelib.get_config("full", "ave").phase1.lr == {"audio": 1e-3, "visual": 1e-4, "head": 1e-3}  # + Tian & Xu
    with pytest.raises(UmeError, match="unknown config keys"):
        umelib.get_config("smoke", learning_rate=3)


def test_single_class_training_is_allowed_with_a_warning(tmp_path):
    arr = {"train/a": np.zeros((4, 2), np.float32), "train/b": np.ones((4, 2), np.float32), "train/y": np.zeros(4, int),
           "test/a": np.zeros((2, 2), np.float32), "test/b": np.zeros((2, 2), np.float32), "test/y": np.zeros(2, int)}
    np.savez(tmp_path / "d.npz", **arr)
    with pytest.warns(UserWarning, match="single class"):
        d = load_npz(tmp_path / "d.npz")
    assert d.num_classes == 2  # a two-way head: the metrics need two classes
