"""The experiments behind each chapter, defined once: the chapter and ``python -m umelib reproduce`` both call
:func:`chapter_results`, which loads the committed results of a profile if they exist, else trains."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..config import (DROP_PS, INTERMEDIATE_DROP_PS, SMOKE_DROP_PS, TABLE2_SETTINGS, VIDEO_CNN, VIDEO_CNN_IMAGENET,
                      VIDEO_DATA)
from ..errors import UmeError
from ..experiments.suite import run
from ..files import load_json, save_json
from ..paths import cache_root, results_root

# the paper's Table 1 rows, and ours: the fused phase-1 models without phase 2 (isolates what each phase adds)
TABLE1_METHODS = ["unimodal", "naive", "multitask", "missing-detection", "phase1-fused", "ume-mma"]
TABLE4_METHODS = ["only-aug", "only-pretrain", "ume-mma-frozen", "frozen-heads", "ume-mma"]  # Table 4 (+ frozen heads)

def _theory_models(profile: str, **kw: Any) -> list[dict]:
    """Both families' knob sweeps, for each seed of the profile (full: 5; a seed draws the data and the training)."""
    from .complementary import sweep

    return [r for seed in _seeds(profile) for fam in ("discrete", "gaussian") for r in sweep(fam, profile, seed, **kw)]


def _avmnist(profile: str, **kw: Any) -> list[dict]:
    from ..experiments.suite import run_suite

    if profile == "full":  # cached pieces: a run stopped by a time limit resumes where it was
        return run_suite("avmnist", "full", [0, 1, 2, 3, 4], TABLE1_METHODS + TABLE4_METHODS, DROP_PS,
                         cache_dir=cache_root(), **kw)
    return run_suite("avmnist-small", profile, [0], TABLE1_METHODS + TABLE4_METHODS, SMOKE_DROP_PS, **kw)


MISSING_RATES = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]  # Fig. 3: the share of test samples whose text is blank (eta = 1 - rate)
FIG3_METHODS = ["unimodal", "naive", "multitask", "missing-detection", "phase1-fused", "ume-mma"]
TEXT_ENCODERS = {"pre-trained": "frozen:minilm", "from scratch": "bag"}  # the emoji text encoders compared
TRAIN_TEXT = [0.1, 0.2, 1.0]  # Table 3: the fraction of training samples that keep their text


def _seeds(profile: str) -> list[int]:
    return [0, 1, 2, 3, 4] if profile == "full" else [0]


# The broken-sensor case (issue 19): is missing detection's edge over UME-MMA on emoji the constant substitute's? The
# same sweep with the missing text's features replaced by Gaussian noise (training mean and std, drawn per sample).
NOISE_LABEL = "pre-trained, noise substitute"
NOISE_METHODS = ["unimodal", "naive", "missing-detection", "ume-mma"]


def _emoji_missing_text(profile: str, **kw: Any) -> list[dict]:
    """Fig. 3 on emoji: every method trained on complete data, tested with a share (the missing rate) of the test texts blank;
    with the pre-trained text encoder (frozen all-MiniLM-L6-v2 features) and with one trained from scratch; and with
    the pre-trained encoder and a noise substitute for the missing text (:data:`NOISE_LABEL`)."""
    from ..experiments.suite import run_suite

    out = []
    parts = [(label, FIG3_METHODS if label == "pre-trained" else ["unimodal", "naive", "ume-mma"],
              {"encoders": {"text": spec}}) for label, spec in TEXT_ENCODERS.items()]
    parts.append((NOISE_LABEL, NOISE_METHODS,
                  {"encoders": {"text": TEXT_ENCODERS["pre-trained"]}, "substitute": {"text": "noise"}}))
    for label, methods, settings in parts:
        res = run_suite("emoji", profile, _seeds(profile), methods, drop_ps=[], missing_rates=MISSING_RATES,
                        settings=settings, cache_dir=cache_root(), **kw)
        out += [dict(r, text_encoder=label) for r in res]
    return out


# The text encoder fine-tuned (all-MiniLM-L6-v2 unfrozen at a small rate), so that the paper's mechanism (encoders
# under-trained by joint training) can show itself on text: AdamW, text 2e-5 in both phases (App. B.2 keeps one rate
# for BERT), image and heads 1e-3 then 1e-4; at most 5 epochs of 2,048 samples per phase, patience 3, and methods
# trained from scratch (naive) get the 10 epochs of both phases (equal compute; a 2-core CPU runs a seed in about
# 20 minutes). Every fused model keeps linear probes of its encoders (``probes``): the paper's mechanism on a
# fine-tuned text encoder.
FINETUNED_TEXT = {"encoders": {"text": "minilm"}, "equal_compute": True, "probes": True,
                  "phase1.lr": {"text": 2e-5, "image": 1e-3, "head": 1e-3},
                  "phase2.lr": {"text": 2e-5, "image": 1e-4, "head": 1e-4},
                  **{f"{ph}.{k}": v for ph in ("phase1", "phase2") for k, v in
                     {"epochs": 5, "patience": 3, "plateau": 2}.items()}}
FINETUNED_METHODS = ["unimodal", "naive", "phase1-fused", "ume-mma"]


def _emoji_text_finetuned(profile: str, **kw: Any) -> list[dict]:
    """Fig. 3 on emoji with the text encoder fine-tuned (:data:`FINETUNED_TEXT`), 5 seeds, missing rates 0, 50,
    100%. Smoke: 200 training samples, 1 + 1 epochs (a pipeline check)."""
    from ..experiments.suite import run_suite

    settings = dict(FINETUNED_TEXT) if profile == "full" else {
        **FINETUNED_TEXT, "n_train": 200, "n_test": 200, "phase1.epochs": 1, "phase2.epochs": 1}
    res = run_suite("emoji", profile, _seeds(profile), FINETUNED_METHODS, drop_ps=[], missing_rates=[0.0, 0.5, 1.0],
                    settings=settings, cache_dir=cache_root(), **kw)
    return [dict(r, text_encoder="fine-tuned") for r in res]


KEYWORD_METHODS = ["unimodal", "naive", "multitask", "phase1-fused", "ume-mma"]  # missing detection is multiclass-only


def _emoji_keywords(profile: str, **kw: Any) -> list[dict]:
    """A multi-label run on real data: emoji with emojilib's 20 most frequent keywords as labels (F1-Macro, the
    headline, and F1-Micro recorded), the pre-trained text encoder, 5 seeds."""
    from ..experiments.suite import run_suite

    return run_suite("emoji", profile, _seeds(profile), KEYWORD_METHODS, drop_ps=[], data_kw={"label": "keywords"},
                     cache_dir=cache_root(), **kw)


def _emoji_train_missing(profile: str, **kw: Any) -> list[dict]:
    """Table 3 on emoji: text kept by a fraction of the training samples; UME-MMA with the others treated as
    augmented (Sec. 3.3) and fine-tuned on the complete ones only (the option of Sec. 4.2), beside naive late fusion."""
    from ..experiments.suite import run_suite

    out = []
    for frac in TRAIN_TEXT:
        for variant, extra in (("augmented", {}), ("complete only", {"phase2_complete_only": True})):
            methods = ["unimodal", "naive", "ume-mma"] if variant == "augmented" else ["ume-mma"]
            res = run_suite("emoji", profile, _seeds(profile), methods, drop_ps=[],
                            settings={"train_available": {"text": frac}, **extra}, cache_dir=cache_root(), **kw)
            out += [dict(r, train_text=frac, phase2=variant) for r in res]
    return out


PROTOCOL_METHODS = ["naive", "multitask", "missing-detection", "ume-mma"]
PROTOCOL_RATE = 0.7  # train-test at MAP's headline rate: 70% of the samples miss the modality everywhere
BEYOND_DROP_PS = [0.1, 0.3, 0.5]  # "beyond the training rate": UME-MMA trained at each, tested at every missing rate


def _protocols(profile: str, **kw: Any) -> list[dict]:
    """The Protocols chapter on emoji: ``train-test`` at rate 0.7 for text, image and both (four methods), and
    UME-MMA trained at each drop probability of :data:`BEYOND_DROP_PS` (naive fusion beside it) tested at every
    missing rate. Smoke: text only, two drop probabilities (a pipeline check)."""
    from ..experiments.masking import ProtocolSpec
    from ..experiments.suite import run_suite

    full = profile == "full"
    out = []
    for mod in ("text", "image", "both") if full else ("text",):
        res = run_suite("emoji", profile, _seeds(profile), PROTOCOL_METHODS, drop_ps=[],
                        protocol=ProtocolSpec("train-test", PROTOCOL_RATE, mod), cache_dir=cache_root(), **kw)
        out += [dict(r, part="train-test") for r in res]
    ps = BEYOND_DROP_PS if full else BEYOND_DROP_PS[::2]
    res = run_suite("emoji", profile, _seeds(profile), ["naive"], drop_ps=ps, missing_rates=MISSING_RATES,
                    cache_dir=cache_root(), **kw)
    return out + [dict(r, part="beyond") for r in res]


def _gamma_gap(profile: str, device: str | None = None, **kw: Any) -> list[dict]:
    """Gamma of every modality of each dataset with a committed run (:data:`~umelib.paper.complementary.GAP_DATASETS`),
    estimated on the run's own data (training and validation splits only), for each seed of the profile (full: 5);
    smoke: synthetic only, seed 0."""
    from .complementary import GAP_DATASETS, gamma_rows

    if profile == "full":
        return [r for seed in _seeds(profile) for r in gamma_rows(seed, device, cache_dir=cache_root())]
    return gamma_rows(0, device, {"synthetic": (("synthetic", profile, {}), None)})


TABLE2_METHODS = ["unimodal", "naive", "multitask", "ume-mma"]
LARGE_HINT = ("--encoder visual=frames:3,3:openclip:ViT-B-16@FILE --encoder audio=hf-audio:PATH (weights from local "
              "files; see python -m umelib list)")
RESNET18_HINT = ("the ResNet-18 of Tian & Xu starts from ImageNet weights, which no package ships: save them where you "
                 "have network (torch.save(torchvision.models.resnet18(weights='DEFAULT').state_dict(), 'resnet18.pth'))"
                 " and pass --resnet18-weights resnet18.pth")


def video_cnn(resnet18_weights: str | None = None) -> tuple[dict[str, str], str]:
    """The CNN encoders of App. B.1.1 and how the ResNet-18 starts: ImageNet weights from ``resnet18_weights`` (a
    torchvision state dict; ImageNet normalisation), else random init, with a printed warning."""
    if resnet18_weights:
        from ..models.encoders import check_weights

        enc = dict(VIDEO_CNN, visual=VIDEO_CNN_IMAGENET.format(file=resnet18_weights))
        check_weights(enc["visual"])
        return enc, f"imagenet ({Path(resnet18_weights).name})"
    print("warning: ResNet-18 from random init, not Tian & Xu's ImageNet start; " + RESNET18_HINT)
    return dict(VIDEO_CNN), "random (no ImageNet weights file given)"


def _video_tables(dataset: str, profile: str, data_kw: dict | None, settings: dict | None, cnn: bool, large: bool,
                  resnet18_weights: str | None = None, **kw: Any) -> list[dict]:
    """The paper's video tables on a prepared folder, 3 seeds, phase 1 shared, pieces cached in ``runs/cache``
    (an interrupted command resumes). ``cnn``: Tables 1 and 4 (CNN column) with AudioNet + ResNet-18 on frames,
    App. B.1.1. ``large``: Table 2, Table 4 (ViT column) and Table 5 (drop probability) with the encoders in
    ``settings["encoders"]`` (both modalities) under App. B.1.2. Records carry ``encoders`` = "CNN" or "large", and
    the CNN records ``visual_init`` (ImageNet weights from ``resnet18_weights``, or random)."""
    from ..errors import UmeError
    from ..experiments.suite import run_suite

    settings = dict(settings or {})
    given = dict(settings.pop("encoders", {}) or {})
    if large and set(given) != {"audio", "visual"}:
        raise UmeError("the large-encoder tables (2, 4 ViT, 5) need both encoders: " + LARGE_HINT)
    data_kw = {**VIDEO_DATA, **dict(data_kw or {})}
    seeds, out = _seeds(profile)[:3], []
    if cnn:
        enc, init = video_cnn(resnet18_weights)
        res = run_suite(dataset, profile, seeds, TABLE1_METHODS + TABLE4_METHODS, drop_ps=[], data_kw=data_kw,
                        settings={**settings, "encoders": enc}, cache_dir=cache_root(), **kw)
        out += [dict(r, encoders="CNN", visual_init=init) for r in res]
    if large:
        res = run_suite(dataset, profile, seeds, TABLE2_METHODS + TABLE4_METHODS,
                        drop_ps=DROP_PS if profile == "full" else [0.0, 0.5], data_kw=data_kw,
                        settings={**TABLE2_SETTINGS, **settings, "encoders": given},
                        cache_dir=cache_root(), **kw)
        out += [dict(r, encoders="large") for r in res]
    return out


def _video(dataset: str):
    """``reproduce ave`` / ``kinetics-sounds``: every video table in one command. Without ``--encoder``: Tables 1
    and 4 (CNN); with both large encoders given (``--encoder visual=... --encoder audio=...``): those and Tables 2,
    4 (ViT) and 5."""
    def runner(profile: str, data_kw: dict | None = None, settings: dict | None = None, **kw: Any) -> list[dict]:
        large = bool((settings or {}).get("encoders"))
        if not large:
            print("Tables 2, 4 (ViT) and 5 need the large encoders; add " + LARGE_HINT)
        return _video_tables(dataset, profile, data_kw, settings, cnn=True, large=large, **kw)
    return runner


def _video_large(dataset: str):
    """``reproduce ave-large``: only the large-encoder tables (2, 4 ViT, 5)."""
    def runner(profile: str, data_kw: dict | None = None, settings: dict | None = None, **kw: Any) -> list[dict]:
        kw.pop("resnet18_weights", None)
        return _video_tables(dataset, profile, data_kw, settings, cnn=False, large=True, **kw)
    return runner


# A chapter runs `methods` on `dataset` for `seeds`, or calls its own `runner(profile, device=, progress=)`.
CHAPTERS: dict[str, dict[str, Any]] = {
    "five_minutes": {"dataset": "synthetic", "methods": ["unimodal", "naive", "ume-mma"],
                     "seeds": {"smoke": [0], "full": [0, 1, 2, 3, 4]}},
    # The same methods where the modalities' noise is correlated given y: late fusion is not Bayes-optimal there.
    "five_minutes_dependent": {"dataset": "synthetic-dependent", "methods": ["unimodal", "naive", "ume-mma"],
                               "seeds": {"smoke": [0], "full": [0, 1, 2, 3, 4]}},
    "theory_models": {"runner": _theory_models},
    # Tables 1, 4 and 5 on AV-MNIST: one run feeds the five AV-MNIST chapters.
    "avmnist": {"runner": _avmnist},
    # Fig. 3 and Table 3 of the paper on the offline emoji data (image + text).
    "emoji_missing_text": {"runner": _emoji_missing_text},
    "emoji_train_missing": {"runner": _emoji_train_missing},
    # Multi-label on real data (emojilib keywords as labels): F1-Macro and F1-Micro.
    "emoji_keywords": {"runner": _emoji_keywords},
    # Fig. 3 on emoji with the text encoder fine-tuned (MiniLM unfrozen at a small rate).
    "emoji_text_finetuned": {"runner": _emoji_text_finetuned},
    # Remark 1 across datasets: Gamma of each modality beside the gap its absence leaves in the committed runs.
    "gamma_gap": {"runner": _gamma_gap},
    # Named missing-modality protocols on emoji: train-test at rate 0.7, and the "beyond the training rate" curve.
    "protocols": {"runner": _protocols},
    # Every video table on AVE / Kinetics-Sounds prepared from local videos, one command each:
    # python -m umelib reproduce ave --data-root OUT [--encoder visual=... --encoder audio=...] (see _video)
    "ave": {"runner": _video("ave")},
    "kinetics-sounds": {"runner": _video("kinetics-sounds")},
    # Only the large-encoder tables (2, 4 ViT, 5): python -m umelib reproduce ave-large --data-root OUT --encoder ...
    "ave-large": {"runner": _video_large("ave")},
    "kinetics-sounds-large": {"runner": _video_large("kinetics-sounds")},
}


def results_path(chapter: str, profile: str, root: str | Path | None = None) -> Path:
    return Path(root or results_root()) / f"{chapter}_{profile}.json"


def load_committed(path: Path) -> list[dict]:
    """The results of a committed file; a file kept although the code has moved on carries a ``stale`` note,
    printed here so that every chapter showing it says so."""
    saved = load_json(path)
    if saved.get("stale"):
        print(f"note on {path.name}: {saved['stale']}")
    return saved["results"]


def chapter_results(chapter: str, profile: str, retrain: bool = False, save: bool = False,
                    root: str | Path | None = None, overwrite: bool = False, **kw: Any) -> list[dict]:
    """Results of ``chapter`` under ``profile``: committed ones when present (unless ``retrain``), else a fresh
    run; ``save`` writes them atomically, and refuses before any training to replace an older file for the same
    chapter and profile unless ``overwrite``."""
    if chapter not in CHAPTERS:
        raise UmeError(f"unknown chapter '{chapter}'; choose one of {', '.join(CHAPTERS)}")
    spec = CHAPTERS[chapter]
    path = results_path(chapter, profile, root)
    if path.exists() and not retrain:
        return load_committed(path)
    if save and path.exists() and not overwrite:
        raise UmeError(f"{path} exists (committed results or an earlier run); pass --overwrite to replace it "
                       "(git keeps a committed file) or --results-dir DIR to write elsewhere")
    t0 = time.perf_counter()
    if "runner" in spec:
        res = spec["runner"](profile, **kw)
    else:
        res = run(spec["dataset"], spec["methods"], profile, spec["seeds"].get(profile, [0]), **kw)
    from ..training import distributed

    if save and distributed.is_main():  # under torchrun every rank holds every result; rank 0 writes
        save_json({"chapter": chapter, "profile": profile, "wall_s": round(time.perf_counter() - t0, 1),
                   "command": f"python -m umelib reproduce {chapter} --profile {profile}", "results": res},
                  path, overwrite=overwrite)
    return res


AVMNIST_COLUMNS = {"miss:image": "miss-v", "miss:audio": "miss-a", "complete": "complete", "avg": "avg"}


def avmnist_results(profile: str, methods: list[str], drop_ps: list[float] = (), retrain: bool = False,
                    device: str | None = None) -> list[dict]:
    """What an AV-MNIST chapter shows: with ``full``, the committed ``results/avmnist_full.json`` (unless
    ``retrain``), filtered to ``methods`` and the sweep; otherwise a run of just these pieces of the suite on the
    small build, cached in ``runs/cache`` so the five chapters train each piece once."""
    from ..experiments.suite import run_suite

    wanted = set(methods) | {f"ume-mma@p={p:g}" for p in drop_ps}
    path = results_path("avmnist", profile)
    if path.exists() and not retrain:
        return [r for r in load_committed(path) if r["method"] in wanted]
    dataset, seeds = ("avmnist", [0, 1, 2, 3, 4]) if profile == "full" else ("avmnist-small", [0])
    return run_suite(dataset, profile, seeds, methods, drop_ps, device=device, cache_dir=cache_root())


def avmnist_cpu_intermediate(out: str | Path | None = None, seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> list[dict]:
    """Tables 1, 4 and 5 on the AV-MNIST build at a size a 2-core CPU finishes in about an hour: 5,000 training
    and 5,000 test samples (seeded subsamples), SGD batch 64 lr 1e-2 (App. B.1.1) for 5 epochs per phase,
    phase-2 lr 1e-3, every method given the epochs of both phases (``equal_compute``), the epoch with the best score
    on 1,000 validation samples kept, five seeds, drop probabilities ``INTERMEDIATE_DROP_PS``. Pieces are cached in
    ``runs/cache``, so an interrupted run resumes. Writes ``results/avmnist_cpu-intermediate.json``."""
    from ..experiments.suite import run_suite

    t0 = time.perf_counter()
    res = run_suite("avmnist", "cpu-intermediate", list(seeds), TABLE1_METHODS + TABLE4_METHODS, INTERMEDIATE_DROP_PS,
                    cache_dir=cache_root())
    save_json({"chapter": "avmnist", "profile": "cpu-intermediate", "wall_s": round(time.perf_counter() - t0, 1),
               "command": 'python -c "from umelib.paper.chapters import avmnist_cpu_intermediate as f; f()"',
               "results": res}, out or results_path("avmnist", "cpu-intermediate"), overwrite=True)
    return res
