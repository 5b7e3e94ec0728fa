"""Datasets: the containers (:class:`MultiModalData`, :class:`Split`), ``.npz`` reading and validation, the
registry (:func:`load_dataset`, ``python -m umelib list``), and one module per dataset (``synthetic``,
``avmnist``, ``families``, ``emoji``, ``mmimdb``, ``food101``, ``video``: AVE and Kinetics-Sounds), with
``images`` (the decode-once image cache). Code that only builds or prepares data files lives in
:mod:`umelib.datasets.builders` (own data to ``.npz`` among them).

Bottom layer: imports only :mod:`umelib.errors`, :mod:`umelib.files`, :mod:`umelib.config` and
:mod:`umelib.texts` of umelib."""
from .core import LABEL, PRESENT, SPLITS, MultiModalData, Split
from .npz import build_split, load_npz, save_npz
from .registry import DATASETS, DatasetEntry, data_dir, dataset_entry, load_dataset, register_dataset
from . import avmnist, emoji, food101, mmimdb, synthetic, video  # noqa: F401,E402  (register their datasets)

__all__ = ["LABEL", "PRESENT", "SPLITS", "MultiModalData", "Split", "build_split", "load_npz", "save_npz", "DATASETS",
           "DatasetEntry", "data_dir", "dataset_entry", "load_dataset", "register_dataset"]
