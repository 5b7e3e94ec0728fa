"""Choosing UME-MMA's drop probability p on the validation split: phase 2 trained at a few p (phase 1 shared), the
p with the best validation ``avg`` kept, and only its test results returned."""
from __future__ import annotations

from typing import Any, Iterable

from ..datasets.core import MultiModalData
from ..errors import UmeError
from .results import validation_score
from .suite import run_suite


def choose_drop_p(dataset: str | MultiModalData, drop_ps: Iterable[float] = (0.1, 0.2, 0.3, 0.4, 0.5),
                  profile: str | None = None, seeds: Iterable[int] = (0,), **kw: Any) -> dict[str, Any]:
    """``{"drop_p": chosen p, "validation": {p: mean validation avg over seeds}, "results": the chosen p's result
    dicts (one per seed)}``. Selection reads the validation score each run was selected on
    (``provenance.selected_epoch``); the test metrics of the other p are dropped unseen. Ties go to the smaller p.
    ``kw`` goes to :func:`~umelib.experiments.suite.run_suite` (``settings``, ``device``, ``cache_dir``, ...)."""
    ps = sorted({float(p) for p in drop_ps})
    if not ps:
        raise UmeError("choose_drop_p needs at least one drop probability")
    # the plain ume-mma run at the first p is the same training as that sweep point: trained once
    results = run_suite(dataset, profile, list(seeds), ["ume-mma"], ps, drop_p=ps[0], **kw)
    sweep = [r for r in results if "sweep" in r]
    scores: dict[float, list[float]] = {}
    for r in sweep:
        v = validation_score(r)
        if v is None:
            raise UmeError("a run recorded no validation score, so p cannot be chosen on validation; give the data a "
                           "validation split (or let the suite carve one) and keep phase2.select_best on")
        scores.setdefault(float(r["sweep"]["drop_p"]), []).append(v)
    val = {p: sum(v) / len(v) for p, v in sorted(scores.items())}
    best = max(val, key=lambda p: (val[p], -p))
    return {"drop_p": best, "validation": val,
            "results": [r for r in sweep if float(r["sweep"]["drop_p"]) == best]}
