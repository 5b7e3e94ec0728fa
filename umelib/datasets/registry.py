"""The dataset registry: one :class:`DatasetEntry` per named dataset, and :func:`load_dataset`.

An entry says what a dataset is and how to get it: its loader, the command that builds or prepares it,
the task, the default encoder per modality, the headline metric, and whether the data depends on the seed
(the suite loads a seed-independent dataset once, not once per seed)."""
from __future__ import annotations

import inspect

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UmeError
from .core import MultiModalData, headline_metric
from ..config import FIXED_SCHEDULE
from ..paths import data_root
from .npz import load_npz

def data_dir() -> Path:
    """Where built datasets live: ``$UME_DATA`` if set, else ``data/`` of the checkout (or working folder)."""
    return data_root()


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset. ``loader(seed=0, **kw) -> MultiModalData``."""

    name: str
    description: str
    loader: Callable[..., MultiModalData]
    build: str | None = None  # the command that builds or prepares it (None: generated in memory)
    task: str = "multiclass"
    encoders: dict[str, str] = field(default_factory=dict)  # modality -> default encoder spec
    metric: str = "accuracy"
    seed_dependent: bool = False  # True: the loader draws the data from the seed
    paper: bool = False  # one of the paper's datasets: `full` keeps its App. B schedule (else: train to convergence)
    # reference values for a run's report, ``reference(data, missing_rate=1.0, masks=None) -> dict | None`` (e.g. the Bayes
    # optimum of synthetic data); None: no reference
    reference: Callable[..., dict | None] | None = None

    def row(self) -> dict[str, str]:
        """The entry as strings, for ``python -m umelib list``."""
        enc = ", ".join(f"{m}={e}" for m, e in self.encoders.items()) or "by shape"
        return {"name": self.name, "description": self.description, "task": self.task, "metric": self.metric,
                "encoders": enc, "seed": "per seed" if self.seed_dependent else "fixed",
                "build": self.build or "generated in memory"}


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(name: str, description: str = "", *, build: str | None = None, task: str = "multiclass",
                     encoders: dict[str, str] | None = None, metric: str | None = None,
                     seed_dependent: bool = False, paper: bool = False,
                     reference: Callable[..., dict | None] | None = None) -> Callable:
    """Decorator: register a loader ``fn(seed=0, **kw) -> MultiModalData`` under ``name``."""
    def deco(fn: Callable[..., MultiModalData]) -> Callable[..., MultiModalData]:
        DATASETS[name] = DatasetEntry(name, description, fn, build, task, dict(encoders or {}),
                                      metric or headline_metric(task), seed_dependent, paper, reference)
        if paper:
            FIXED_SCHEDULE.add(name)
        return fn
    return deco


def dataset_entry(name: str) -> DatasetEntry:
    """The registry entry of ``name``; one clear error if there is none."""
    if name not in DATASETS:
        raise UmeError(f"unknown dataset '{name}'; choose one of {', '.join(sorted(DATASETS))} or pass a path to an .npz file")
    return DATASETS[name]


def is_path(name_or_path: str) -> bool:
    return name_or_path.endswith(".npz") or bool(Path(name_or_path).suffix)


def load_dataset(name_or_path: str, seed: int = 0, **kw) -> MultiModalData:
    """A registered dataset by name, or an .npz file by path."""
    if is_path(name_or_path):
        return load_npz(name_or_path)
    loader = dataset_entry(name_or_path).loader
    params = inspect.signature(loader).parameters
    known = [k for k, p in params.items() if k != "seed" and p.kind is not p.VAR_KEYWORD]
    unknown = sorted(set(kw) - set(params))
    bad = lambda names: UmeError(f"dataset '{name_or_path}' has no option {', '.join(names)}; its options: "
                                 f"{', '.join(known) or 'none named'}")
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise bad(unknown)
    try:
        return loader(seed=seed, **kw)
    except TypeError as e:  # an option a **kw loader passes on and its callee does not take
        if unknown and "unexpected keyword argument" in str(e):
            raise bad(unknown) from None
        raise


def seed_dependent(name_or_path: str) -> bool:
    """Whether loading ``name_or_path`` with another seed gives other data (files never do)."""
    return not is_path(name_or_path) and dataset_entry(name_or_path).seed_dependent


def reference_for(data: MultiModalData) -> Callable[..., dict | None] | None:
    """The ``reference`` hook of the entry ``data`` was loaded from (by name, else by its ``info["family"]``, e.g.
    Gaussian data drawn with :func:`~umelib.datasets.synthetic.make_gaussian`); None when it has none."""
    entry = DATASETS.get(data.name) or DATASETS.get(str(data.info.get("family", "")))
    return entry.reference if entry else None
