"""What a suite keeps of each fused model beside its metrics, for the claims and the mechanism:

- ``items``: per protocol setting, which test items the model got right (multiclass), packed as bits in base64, and
  the items' groups (items that share content, e.g. the two designs of one emoji), so that the claims can add the
  test set's own sampling variation to the variation over seeds (:func:`umelib.verdicts.item_variance`).
- ``heads``: per modality m of a late-fusion model, what its head does when m is missing and replaced by the
  substitute: how often it changes the prediction the other heads make alone (``flipped``), how often that turns a
  right answer wrong (``harmed``) or a wrong one right (``helped``), and how loudly it speaks (spread of its logits
  on the substitute over their mean spread on real inputs). The paper's mechanism, read on real data.
- ``probes`` (with ``cfg.probes``): per modality, the test accuracy of a linear probe on the model's frozen encoder
  features (fitted on the training split's present samples) and of the modality's own head alone: do encoders
  trained together learn less than encoders trained alone (the modality-laziness argument of Du et al. 2023)?
"""
from __future__ import annotations

import base64
import zlib
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch

from ..datasets.core import MultiModalData, Split
from ..evaluate import predict
from ..training.augment import Noise, substitute_like
from ..verdicts import PIPELINE, Diff, item_variance
from ..training.trainer import autocast


def pack(correct: torch.Tensor) -> str:
    """A bool vector as base64 of its packed bits."""
    return base64.b64encode(np.packbits(correct.cpu().numpy().astype(bool)).tobytes()).decode()


def unpack(text: str, n: int) -> np.ndarray:
    """:func:`pack` undone: a bool array of length ``n``."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


def test_groups(data: MultiModalData) -> list[str] | None:
    """The test items' groups where items share content (emoji: the code points, one group per emoji's two
    designs), else None (every item its own group)."""
    meta = (data.info.get("meta") or {}).get("test") or {}
    ids = meta.get("unified")
    return [str(u) for u in ids] if ids is not None and len(ids) == len(data.test) else None


def _group_ids(groups: list[str]) -> str:
    """Dense group ids (first appearance order) as int32, zlib-compressed, base64 with a ``z:`` prefix."""
    codes = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    raw = np.asarray([codes[g] for g in groups], dtype=np.int32).tobytes()
    return "z:" + base64.b64encode(zlib.compress(raw, 9)).decode()


def group_ids(items: Mapping) -> np.ndarray | None:
    """The integer group of every test item of an ``items`` record (None: every item its own group); reads the
    compressed form (``z:``) and the plain base64 int32 of files written before it."""
    g = items.get("groups")
    if g is None:
        return None
    raw = zlib.decompress(base64.b64decode(g[2:])) if g.startswith("z:") else base64.b64decode(g)
    return np.frombuffer(raw, dtype=np.int32)


def items_record(predictions: Mapping[str, torch.Tensor], y: torch.Tensor, groups: list[str] | None) -> dict:
    """``items`` of a record from each setting's predicted classes."""
    out = {"n": int(len(y)), "correct": {s: pack(p.cpu() == y.cpu()) for s, p in predictions.items()}}
    if groups is not None:
        out["groups"] = _group_ids(groups)
    return out


@torch.no_grad()
def head_effects(model, test: Split, seed: int = 0, batch_size: int = 1024) -> dict[str, dict] | None:
    """``heads`` of a multiclass late-fusion model with two or more modalities (None for anything else): per modality m,
    every test item missing m, the fused prediction (m's head on the substitute) against the other heads alone.
    One pass over the test set: a constant substitute's head logits are computed once."""
    heads = getattr(model, "heads", None)
    mods = list(getattr(model, "modalities", []))
    if heads is None or len(mods) < 2 or not hasattr(model, "forward_all") or test.y.dim() != 1:
        return None  # multi-label: no single predicted class to flip
    model.eval()
    dev = next(model.parameters()).device
    c = model.num_classes
    y = test.y.cpu()
    acc = {m: {"fused": [], "rest": [], "sub": [], "real": []} for m in mods}
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        for i in range(0, len(test), batch_size):
            b = {k: v.to(dev) for k, v in test.batch(slice(i, i + batch_size)).items()}
            with autocast(dev):
                real = {k: v.float() for k, v in model.forward_all(b)["uni"].items()}
            for m in mods:
                fill = test.fill.get(m, 0.0)
                x = b[m] if isinstance(fill, Noise) else b[m][:1]
                with autocast(dev):
                    z = model.heads[m](model.encoders[m](substitute_like(x, fill))).float()
                z = z.expand(len(b[m]), -1)
                uni = {**real, m: z}
                a = acc[m]
                a["fused"].append(model.fuse(uni)[:, :c].argmax(1).cpu())
                a["rest"].append(torch.stack([real[k][:, :c] for k in mods if k != m]).mean(0).argmax(1).cpu())
                a["sub"].append((z[:, :c].amax(1) - z[:, :c].amin(1)).cpu())
                a["real"].append((real[m][:, :c].amax(1) - real[m][:, :c].amin(1)).cpu())
    out = {}
    for m, a in acc.items():
        f, r = torch.cat(a["fused"]), torch.cat(a["rest"])
        ss, rs = float(torch.cat(a["sub"]).mean()), float(torch.cat(a["real"]).mean())
        out[m] = {"flipped": round(100 * float((f != r).float().mean()), 3),
                  "harmed": round(100 * float(((r == y) & (f != y)).float().mean()), 3),
                  "helped": round(100 * float(((r != y) & (f == y)).float().mean()), 3),
                  "spread_ratio": round(ss / rs, 4) if rs > 0 else None}
    return out


# ------------------------------------------------------------------ linear probes of the encoders

@torch.no_grad()
def features(model, m: str, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    """The frozen encoder features of modality ``m`` (numpy, N x D)."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch):
        with autocast(dev):
            out.append(model.encoders[m](x[i:i + batch].to(dev)).float().flatten(1).cpu())
    return torch.cat(out).numpy()


def _present(split: Split, m: str) -> torch.Tensor:
    return split.present[:, split.modalities.index(m)].cpu().bool()


def probe_accuracy(model, m: str, data: MultiModalData, test_features: np.ndarray | None = None) -> float:
    """Test accuracy (%) of a logistic regression (standardized features, fixed C = 1, no selection) fitted on the
    training split's encoder features of modality ``m`` (its samples that have ``m``); ``test_features``: the test
    split's, when already computed."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    keep = _present(data.train, m)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(features(model, m, data.train.x[m][keep]), data.train.y[keep].cpu().numpy())
    fte = features(model, m, data.test.x[m]) if test_features is None else test_features
    return 100 * float(clf.score(fte, data.test.y.cpu().numpy()))


def head_accuracy(model, m: str, data: MultiModalData, test_features: np.ndarray | None = None) -> float:
    """Test accuracy (%) of modality ``m``'s own head alone (argmax of its logits on real inputs)."""
    dev = next(model.parameters()).device
    fte = features(model, m, data.test.x[m]) if test_features is None else test_features
    with torch.no_grad():
        z = model.heads[m](torch.from_numpy(fte).to(dev)).float()[:, :data.num_classes]
    return 100 * float((z.argmax(1).cpu() == data.test.y.cpu()).float().mean())


def encoder_probes(model, data: MultiModalData) -> dict[str, dict] | None:
    """``probes`` of a multiclass late-fusion model (None for anything else): per modality, ``probe`` (%) and
    ``head`` (%), rounded to 3 decimals; each encoder runs once over the test split for both."""
    if getattr(model, "heads", None) is None or data.task != "multiclass":
        return None
    out = {}
    for m in model.modalities:
        fte = features(model, m, data.test.x[m])
        out[m] = {"probe": round(probe_accuracy(model, m, data, fte), 3),
                  "head": round(head_accuracy(model, m, data, fte), 3)}
    return out


# the encoders of a suite's records (kept with ``cfg.probes``): method -> encoder label; naive's ``probes_init`` is
# "before training" (a random init, or a pre-trained encoder before fine-tuning)
SUITE_ENCODERS = {"naive": "naive (end to end)", "phase1-fused": "uni-modal (phase 1)", "ume-mma": "UME-MMA (phase 2)"}


def suite_probe_rows(results: Iterable[Mapping], dataset: str) -> list[dict]:
    """Probe rows (as :func:`umelib.paper.mechanism.probe_run` gives them) from a suite's records that kept ``probes`` (one record per
    method and seed: probes do not depend on the missing rate), labelled ``dataset``."""
    rows, seen = [], set()
    for r in results:
        if r["method"] not in SUITE_ENCODERS or "probes" not in r or (r["method"], r["seed"]) in seen:
            continue
        seen.add((r["method"], r["seed"]))
        kept = [(SUITE_ENCODERS[r["method"]], r["probes"])]
        if r.get("probes_init"):
            kept.append(("before training", r["probes_init"]))
        for name, probes in kept:
            rows += [{"dataset": dataset, "seed": r["seed"], "modality": m, "encoder": name, "probe (%)": p["probe"],
                      "head alone (%)": None if name == "before training" else p["head"],
                      "Bayes, this modality alone (%)": None, "profile": r.get("profile"),
                      "provenance": r.get("provenance")} for m, p in probes.items()]
    order = ["before training", *SUITE_ENCODERS.values()]
    mods = list(dict.fromkeys(r["modality"] for r in rows))
    return sorted(rows, key=lambda r: (mods.index(r["modality"]), order.index(r["encoder"]), r["seed"]))


# The gaps a probe table is read by: (what, value, minuend encoder, subtrahend encoder)
PROBE_GAPS = [("probe: phase 1 − naive", "probe (%)", "uni-modal (phase 1)", "naive (end to end)"),
              ("head alone: phase 1 − naive", "head alone (%)", "uni-modal (phase 1)", "naive (end to end)"),
              ("probe: phase 2 − phase 1", "probe (%)", "UME-MMA (phase 2)", "uni-modal (phase 1)")]


def probe_gaps(rows: Iterable[Mapping], check_only: Iterable[str] = ()) -> list[dict]:
    """Per dataset and modality, each gap of :data:`PROBE_GAPS` both encoders have: the paired difference over seeds
    (mean, 95% t interval) and its reading ("above 0", "below 0", "not told apart"; datasets in ``check_only``:
    "pipeline check only")."""
    by: dict[tuple, dict] = {}
    for r in rows:
        by.setdefault((r["dataset"], r["modality"]), {}).setdefault(r["encoder"], {})[r["seed"]] = r
    out, check = [], set(check_only)
    for (ds, m), enc in by.items():
        for what, col, a, b in PROBE_GAPS:
            if a not in enc or b not in enc or any(x[col] is None for x in [*enc[a].values(), *enc[b].values()]):
                continue
            d = Diff.of({s: x[col] for s, x in enc[a].items()}, {s: x[col] for s, x in enc[b].items()})
            reading = PIPELINE if ds in check else d.reading()
            out.append({"dataset": ds, "modality": m, "gap": what, "seeds": d.n, "diff": d.mean, "lo": d.lo,
                        "hi": d.hi, "reading": reading})
    return out


def gaps_text(gaps: Iterable[Mapping]) -> str:
    """One sentence per gap of :func:`probe_gaps`: what, modality, mean and interval over seeds, reading."""
    parts = []
    for g in gaps:
        iv = f" [{g['lo']:+.2f}, {g['hi']:+.2f}]" if g["lo"] is not None else ""
        parts.append(f"{g['gap']}, {g['modality']}: {g['diff']:+.2f}{iv} ({g['seeds']} seeds), {g['reading']}")
    return "; ".join(parts) if parts else "no probes kept"


# ------------------------------------------------------------------ the claims read the items

Pick = Callable[[Mapping], bool]
Settings = Iterable[str] | Callable[[Mapping], list[str]]


def method_is(method: str, **fields: Any) -> Pick:
    """A pick of the records of ``method`` whose ``fields`` have these values."""
    return lambda r: r["method"] == method and all(r.get(k) == v for k, v in fields.items())


def item_scores(results: Iterable[Mapping], pick: Pick, settings: Settings) -> tuple[dict[int, "np.ndarray"], Any] | None:
    """Seed -> each test item's score (mean over ``settings`` and over the picked records of the seed of whether
    the model got it right), and the items' groups; None when a picked record kept no ``items`` for a setting."""
    import numpy as np

    per: dict[int, list] = {}
    groups = None
    for r in results:
        if not pick(r):
            continue
        it = r.get("items")
        sets = settings(r) if callable(settings) else list(settings)
        if not it or any(x not in it["correct"] for x in sets):
            return None
        per.setdefault(r["seed"], []).extend(unpack(it["correct"][x], it["n"]) for x in sets)
        groups = group_ids(it) if groups is None else groups
    return ({seed: np.mean(v, axis=0) for seed, v in per.items()}, groups) if per else None


def items_var(results: Iterable[Mapping], a: Pick, b: Pick | None, settings: Settings,
              settings_b: Settings | None = None) -> float:
    """The test items' variance of the paired difference picked by ``a`` minus ``b`` (0 where items were not kept)."""
    results = list(results)
    sa = item_scores(results, a, settings)
    sb = item_scores(results, b, settings if settings_b is None else settings_b) if b is not None else None
    if sa is None or (b is not None and sb is None):
        return 0.0
    return item_variance(sa[0], sb[0] if sb else None, sa[1])


def paired(results: Iterable[Mapping], a: Pick, b: Pick, settings: Settings, va: Mapping[int, float],
           vb: Mapping[int, float], settings_b: Settings | None = None) -> Diff:
    """:meth:`Diff.of` ``va − vb`` (seed -> score) with the test items' variance of the same comparison added."""
    return Diff.of(va, vb, items_var(results, a, b, settings, settings_b))
