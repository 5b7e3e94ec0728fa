"""Command line: ``python -m umelib run ...``, ``python -m umelib import-data ...`` and ``python -m umelib list``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .errors import UmeError


def _encoders(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise UmeError(f"--encoder takes modality=name (e.g. --encoder audio=lenet), got '{p}'")
        m, name = p.split("=", 1)
        out[m] = name
    return out


def _fractions(pairs: list[str]) -> dict[str, float]:
    out = {}
    for p in pairs:
        m, _, v = p.partition("=")
        try:
            out[m] = float(v)
        except ValueError:
            raise UmeError(f"--train-available takes modality=fraction (e.g. text=0.1), got '{p}'") from None
        if not m or not 0.0 < out[m] <= 1.0:
            raise UmeError(f"--train-available takes modality=fraction with a fraction in (0, 1], got '{p}'")
    return out


def _data_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--data-root`` and ``--data-opt KEY=VALUE`` as the dataset loader's keyword arguments (numbers parsed)."""
    out: dict[str, Any] = {"root": args.data_root} if args.data_root else {}
    for p in args.data_opt:
        k, eq, v = p.partition("=")
        if not k or not eq:
            raise UmeError(f"--data-opt takes KEY=VALUE (e.g. --data-opt frames=all), got '{p}'")
        out[k] = int(v) if v.lstrip("-").isdigit() else v
    return out


SEED_MAX = 2**32 - 1


def _check_seed(seed: int) -> None:
    """Seeds seed numpy and torch alike: 0 .. 2**32 - 1."""
    if not 0 <= seed <= SEED_MAX:
        raise UmeError(f"--seed must lie in 0..{SEED_MAX} (2**32 - 1), got {seed}")


def _check_device(device: str | None) -> None:
    """The device exists here (checked before any data is read)."""
    if device is not None:
        from .training.trainer import pick_device

        pick_device(device)


def cmd_list(args: argparse.Namespace) -> int:
    from .datasets import DATASETS
    from .methods import METHODS
    from .models.encoders import ENCODERS

    print("datasets:")
    for e in DATASETS.values():
        r = e.row()
        print(f"  {r['name']:20s} {r['description']}")
        print(f"  {'':20s} task {r['task']}, metric {r['metric']}, encoders {r['encoders']}, data {r['seed']}")
        print(f"  {'':20s} get it: {r['build']}")
    for title, reg in (("methods", {k: v.help for k, v in METHODS.items()}),
                       ("encoders", {k: v.help for k, v in ENCODERS.items()})):
        print(f"{title}:")
        for k, h in reg.items():
            print(f"  {k:20s} {h}")
    from .protocols import PROTOCOLS

    print("protocols (python -m umelib masks; rate = share of samples without the modality):")
    for p in PROTOCOLS.values():
        print(f"  {p.name:20s} {p.help} (used by: {p.used_by})")
    print("own data: pass --dataset PATH.npz (arrays train/<modality>, train/y, test/<modality>, test/y); "
          "build one with import-data")
    return 0


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The config changes of a ``run`` call as dotted keys, in the order they apply: ``--config FILE``, then
    ``--epochs``/``--batch-size`` (both phases), ``--lr`` (phase 1 and every from-scratch method),
    ``--phase2-lr``, ``--drop-p``, ``--encoder``, then ``--set key=value`` (last wins)."""
    from .config import load_settings, parse_value

    out: dict[str, Any] = dict(load_settings(args.config)) if args.config else {}
    for flag, keys in (("epochs", ("phase1.epochs", "phase2.epochs")), ("batch_size", ("phase1.batch_size", "phase2.batch_size")),
                       ("lr", ("phase1.lr",)), ("phase2_lr", ("phase2.lr",)), ("drop_p", ("drop_p",))):
        v = getattr(args, flag)
        if v is not None:
            out.update({k: v for k in keys})
    if args.encoder:
        out["encoders"] = {**out.get("encoders", {}), **_encoders(args.encoder)}
    if getattr(args, "train_available", None):
        out["train_available"] = {**out.get("train_available", {}), **_fractions(args.train_available)}
    if getattr(args, "phase2_complete_only", False):
        out["phase2_complete_only"] = True
    for item in args.set:
        if "=" not in item or not item.split("=", 1)[0]:
            raise UmeError(f"--set takes key=value (e.g. --set phase1.epochs=5), got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = parse_value(v)
    return out


def _say(*args: Any) -> None:
    """print, on rank 0 only under torchrun."""
    from .training import distributed

    if distributed.is_main():
        print(*args)


def cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import apply_settings
    from .datasets.registry import is_path
    from .experiments.results import format_table
    from .experiments.suite import resolve_config, run
    from .files import check_out, save_json
    from .models.encoders import check_weights
    from .training import distributed

    _check_seed(args.seed)
    settings = settings_from_args(args)
    for m, name in settings.get("encoders", {}).items():
        check_weights(name)  # the spec parses and its weights are on disk: fail before any data is read
    name = Path(args.dataset).stem if is_path(args.dataset) else args.dataset
    # own data trains to convergence unless a profile is asked for (here or by $UME_PROFILE)
    profile = args.profile or os.environ.get("UME_PROFILE") or ("full" if is_path(args.dataset) else "smoke")
    cfg = resolve_config(name, profile, None)
    cfg = apply_settings(cfg, settings)  # checks every key and value before any data is read
    from .experiments.masking import spec_from_options

    spec = spec_from_options(args.protocol, args.rate, args.modality, args.masks)
    if not args.print_config:
        if args.out:
            check_out(args.out, args.overwrite)  # a result is never lost after training for want of a place to go
        _check_device(args.device)  # before any data is read
    chosen = _chosen_encoders(args.dataset, cfg)
    if args.print_config:
        print(json.dumps({"dataset": args.dataset, "profile": profile, "overrides": settings,
                          "encoders": chosen, "config": cfg.to_dict()}, indent=2))
        return 0
    _say("encoders: " + ", ".join(f"{m}={e['encoder']} ({e['kind']}, {e['by']})" for m, e in chosen.items()))
    data_kw = _data_options(args)
    if args.missing_rates:
        from .experiments.suite import run_suite

        if any(not 0.0 <= e <= 1.0 for e in args.missing_rates):
            raise UmeError(f"--missing-rates must lie in [0, 1], got {args.missing_rates}")
        results = run_suite(args.dataset, profile, [args.seed], [args.method], drop_ps=[], device=args.device,
                            progress=not args.quiet, missing_rates=args.missing_rates, settings=settings,
                            data_kw=data_kw, protocol=spec)
        _say(format_table(results))
        if args.out and distributed.is_main():
            save_json({"results": results}, args.out, overwrite=args.overwrite)
            _say(f"wrote {args.out} ({len(results)} records, one per missing rate)")
        return 0
    results = run(args.dataset, args.method, profile, args.seed, device=args.device,
                  progress=not args.quiet, missing_rate=args.missing_rate, settings=settings, data_kw=data_kw,
                  protocol=spec)
    r = results[0]
    if "protocol" in r:
        p = r["protocol"]
        _say(f"protocol {p['name']}" + (f", rate {p['rate']:g} ({p['modality']}), masks {p['masks']}, sha256 "
                                        f"{p['masks_sha256']}" if "masks_sha256" in p else ""))
    extra = {}
    if "reference" in r:
        extra = {"Bayes optimum (MC)": r["reference"]["bayes"], "Bayes on this test set": r["reference"]["bayes_test"]}
    ranks = f" / {r['provenance']['world_size']} ranks" if r["provenance"].get("world_size", 1) > 1 else ""
    _say(f"{r['dataset']} / {r['method']} / profile {r['profile']} / {r['metric']} (%) / {r['provenance']['device']}"
         f"{ranks} / {r['provenance']['wall_s']:.1f} s")
    _say(format_table(results, extra))
    if args.out and distributed.is_main():  # only rank 0 writes (atomically)
        save_json(r, args.out, overwrite=args.overwrite)
        _say(f"wrote {args.out}")
    return 0


def _chosen_encoders(dataset: str, cfg: Any) -> dict[str, dict[str, str]]:
    """Per modality of an .npz: its kind, the encoder a run gives it and why ('given', or 'default for its kind');
    for a registered dataset, the encoders its config names."""
    from .datasets.npz import load_npz
    from .datasets.registry import is_path
    from .experiments.suite import default_encoders

    if not is_path(dataset):
        return {m: {"encoder": e, "kind": "-", "by": "dataset default or given"} for m, e in cfg.encoders.items()}
    data = load_npz(dataset, digest=False)
    from .experiments.suite import check_modality_names

    check_modality_names(cfg, data.modalities)
    defaults = default_encoders(data, cfg)
    return {m: {"encoder": cfg.encoders.get(m) or defaults[m], "kind": k,
                "by": "given" if m in cfg.encoders else "default for its kind"} for m, k in data.kinds.items()}


def cmd_import(args: argparse.Namespace) -> int:
    """Build an .npz from a CSV (``--csv``) or from folders (``--folders``), checked as the Python builders check."""
    from .datasets.builders.own import from_csv, from_image_folders

    kinds = {}
    for p in args.kind:
        m, eq, k = p.partition("=")
        if not m or not eq:
            raise UmeError(f"--kind takes modality=kind (e.g. --kind caption=text), got '{p}'")
        kinds[m] = k
    common = {"out": args.out, "seed": args.seed, "overwrite": args.overwrite, "kinds": kinds}
    if bool(args.csv) == bool(args.folders):
        raise UmeError("import-data takes one source: --csv FILE (with --label and --modality) or --folders DIR")
    if args.folders:
        if args.modality or args.label:
            raise UmeError("--modality and --label go with --csv; folders name modalities and classes themselves")
        data = from_image_folders(args.folders, size=args.size, gray=args.gray, skip_unreadable=args.skip_unreadable,
                                  **common)
    else:
        if not args.label:
            raise UmeError("--csv needs --label COLUMN (the class column)")
        if not args.modality:
            raise UmeError("--csv needs --modality NAME=COLUMN[,COLUMN...] for each modality (at least 2)")
        mods: dict[str, Any] = {}
        for p in args.modality:
            m, eq, cols = p.partition("=")
            if not m or not eq or not cols:
                raise UmeError(f"--modality takes NAME=COLUMN (text or one number) or NAME=COL1,COL2,... (a vector), "
                               f"got '{p}'")
            names = [c.strip() for c in cols.split(",")]
            mods[m] = names[0] if len(names) == 1 else names
        data = from_csv(args.csv, mods, args.label, label_sep=args.label_sep, split=args.split_column or (0.7, 0.1, 0.2),
                        **common)
    print(f"wrote {args.out}: {data!r}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .paper.chapters import chapter_results, results_path
    from .models.encoders import check_weights
    from .experiments.results import format_table

    from .files import check_folder

    if args.results_dir:
        os.environ["UME_RESULTS"] = str(check_folder(args.results_dir, "--results-dir"))
    if args.cache_dir:
        os.environ["UME_CACHE"] = str(check_folder(args.cache_dir, "--cache-dir"))
    from .paths import cache_root, results_root

    check_folder(results_root(), "the results folder ($UME_RESULTS)")
    check_folder(cache_root(), "the cache folder ($UME_CACHE)")
    _check_device(args.device)
    data_kw = _data_options(args)
    kw: dict[str, Any] = {"data_kw": data_kw} if data_kw else {}
    if args.encoder:
        for spec in _encoders(args.encoder).values():
            check_weights(spec)
        kw["settings"] = {"encoders": _encoders(args.encoder)}
    if args.resnet18_weights:
        if args.chapter not in ("ave", "kinetics-sounds"):
            raise UmeError(f"--resnet18-weights is for the CNN tables of ave and kinetics-sounds, not '{args.chapter}'")
        kw["resnet18_weights"] = args.resnet18_weights
    res = chapter_results(args.chapter, args.profile, retrain=True, save=True, overwrite=args.overwrite,
                          device=args.device, progress=not args.quiet, **kw)
    if "metrics" in res[0]:
        extra = {"Bayes optimum (MC)": res[0]["reference"]["bayes"]} if "reference" in res[0] else {}
        _say(format_table(res, extra))
    else:
        keys = [k for k, v in res[0].items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
        _say("\n".join("  ".join(f"{k}={r[k]:.4g}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in keys)
                       for r in res))
    _say(f"wrote {results_path(args.chapter, args.profile)}")
    return 0


def cmd_masks(args: argparse.Namespace) -> int:
    from .config import VAL_FRACTION
    from .datasets.registry import load_dataset
    from .files import check_out
    from .protocols import make_masks, protocol, save_masks

    protocol(args.protocol)
    check_out(args.out, args.overwrite)
    if not 0 <= args.seed < 2 ** 32:
        raise UmeError(f"--seed must lie in 0..4294967295 (2**32 - 1), got {args.seed}")
    data = load_dataset(args.dataset, **_data_options(args))
    sha = data.sha256()
    data = data.with_validation(VAL_FRACTION)  # the splits a run sees before any subsample (see prepare)
    modality = args.modality or ("both" if len(data.modalities) > 1 else data.modalities[0])
    sizes = {s: len(sp) for s, sp in data.splits()}
    masks = make_masks(sizes, data.modalities, sha, args.protocol, args.rate, modality, args.seed)
    meta = {"dataset": args.dataset, "data_sha256": sha, "protocol": args.protocol, "rate": args.rate,
            "modality": modality, "seed": args.seed, "modalities": ",".join(data.modalities)}
    digest = save_masks(args.out, masks, meta)
    for s, m in masks.items():
        miss = {mod: int((~m[:, j]).sum()) for j, mod in enumerate(data.modalities)}
        _say(f"{s}: {len(m)} samples, missing {miss}")
    _say(f"wrote {args.out} (sha256 {digest})")
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from .files import save_json
    from .paper.overview import claim_records

    from .files import check_out

    if args.out:
        check_out(args.out, args.overwrite)
    if args.results_dir:
        os.environ["UME_RESULTS"] = args.results_dir
    recs = claim_records()
    if not recs:
        raise UmeError("no committed results to check claims on; run `python -m umelib reproduce CHAPTER` first "
                       "or pass --results-dir DIR")
    counts: dict[str, int] = {}
    for r in recs:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        _say(f"{r['table']:<16} {r['verdict']:<20} {r['claim']}")
    _say(", ".join(f"{n} {v}" for v, n in sorted(counts.items())) + f" (of {len(recs)} claims)")
    if args.out:
        save_json({"claims": recs}, args.out, overwrite=args.overwrite)
        _say(f"wrote {args.out}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m umelib", description="UME-MMA: robust multi-modal models under missing modalities",
                                epilog="scale out: torchrun --nproc_per_node N -m umelib run ... trains one run data-parallel "
                                       "on N processes; torchrun ... -m umelib reproduce ... spreads its jobs over the "
                                       "ranks; only rank 0 writes (README: Scaling out)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list datasets, methods and encoders").set_defaults(fn=cmd_list)
    r = sub.add_parser("run", help="train a method and evaluate it under the missing-modality protocol")
    r.add_argument("--dataset", required=True, help="a registered name (see 'list') or a path to an .npz")
    r.add_argument("--method", default="ume-mma", help="a method (see 'list'); default ume-mma")
    r.add_argument("--profile", default=None, help="smoke (CPU, seconds) or full (the paper's settings on its datasets, "
                   "training to convergence on validation elsewhere); default $UME_PROFILE, else full for an .npz "
                   "and smoke for a named dataset")
    r.add_argument("--data-root", default=None, metavar="DIR", help="where a public dataset lies in its release layout "
                   "(mmimdb, food101); default $UME_DATA/<name>")
    r.add_argument("--data-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the dataset's loader, e.g. frames=all (ave), label=subcategory (emoji)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default=None, help="write the result JSON here (refuses to overwrite)")
    r.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    r.add_argument("--encoder", action="append", default=[], metavar="MODALITY=NAME", help="encoder per modality")
    r.add_argument("--drop-p", type=float, default=None, help="drop probability per modality for the augmentation")
    r.add_argument("--train-available", action="append", default=[], metavar="MODALITY=FRACTION",
                   help="keep the modality in only this seeded fraction of the training samples (paper Table 3), "
                        "e.g. text=0.1")
    r.add_argument("--phase2-complete-only", action="store_true",
                   help="with --train-available: phase 2 fine-tunes on the complete training samples only")
    o = r.add_argument_group("config overrides (applied in this order; each lands in the result's provenance)")
    o.add_argument("--config", default=None, metavar="FILE", help="JSON or YAML file with fields of RunConfig "
                   "(phase1/phase2 nested or dotted), applied first")
    o.add_argument("--epochs", type=int, default=None, help="epochs of both phases")
    o.add_argument("--batch-size", type=int, default=None, help="batch size of both phases")
    o.add_argument("--lr", type=float, default=None, help="learning rate of phase 1 (and of every method trained from scratch)")
    o.add_argument("--phase2-lr", type=float, default=None, help="learning rate of phase 2 (methods that start from phase 1)")
    o.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config field, applied last: e.g. phase1.epochs=5, phase2.optimizer=adamw, "
                        "'phase1.lr={\"audio\": 1e-3, \"visual\": 1e-4}', n_train=1000")
    o.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    r.add_argument("--missing-rate", type=float, default=1.0, metavar="R",
                   help="share of test samples that miss the modality in each miss:<m> setting (default 1; the paper's "
                        "Fig. 3 axis is eta = 1 - R, the share that keeps it)")
    r.add_argument("--missing-rates", type=float, nargs="+", default=None, metavar="R",
                   help="evaluate the trained model at each of these missing rates (Fig. 3); --out then holds one "
                        "record per rate, each with missing_rate and eta = 1 - missing_rate")
    r.add_argument("--eta", "--etas", dest="old_eta", nargs="+", default=None, help=argparse.SUPPRESS)
    pr = r.add_argument_group("a named missing-modality protocol (see 'list'; masks drawn per --seed, sha256 recorded)")
    pr.add_argument("--protocol", default=None, help="test-only, train-test, train-only or any-subset")
    pr.add_argument("--rate", type=float, default=None, metavar="R", help="share of samples WITHOUT the modality")
    pr.add_argument("--modality", default=None, help="the modality that goes missing, or both (default both)")
    pr.add_argument("--masks", default=None, metavar="FILE.npz", help="fixed masks written by 'masks' instead")
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(fn=cmd_run)
    i = sub.add_parser("import-data", help="build an .npz from a CSV (a column or columns per modality, a label column, "
                       "an optional split column) or from folders root/<modality>/<class>/<sample>.<ext>")
    i.add_argument("--csv", default=None, metavar="FILE", help="a CSV file with a header row")
    i.add_argument("--label", default=None, metavar="COLUMN", help="with --csv: the class column")
    i.add_argument("--label-sep", default=None, metavar="SEP", help="with --csv: a multi-label column, labels split by SEP")
    i.add_argument("--modality", action="append", default=[], metavar="NAME=COLUMN[,COLUMN...]",
                   help="with --csv: a modality from one column (text or a number) or several (a vector)")
    i.add_argument("--split-column", default=None, metavar="COLUMN", help="with --csv: train/val/test per row "
                   "(default: 70/10/20, stratified by class)")
    i.add_argument("--folders", default=None, metavar="DIR", help="root/<modality>/<class>/<sample>.<ext>: images, "
                   ".txt or .npy")
    i.add_argument("--size", type=int, default=32, help="with --folders: images resized to SIZE x SIZE (default 32)")
    i.add_argument("--gray", action="store_true", help="with --folders: gray images (1 channel)")
    i.add_argument("--skip-unreadable", action="store_true", help="with --folders: leave out (and count) images "
                   "that cannot be read instead of stopping")
    i.add_argument("--kind", action="append", default=[], metavar="MODALITY=KIND",
                   help="a modality's kind (text, image, audio, spectrogram, video, vector); default: inferred")
    i.add_argument("--seed", type=int, default=0, help="seed of the stratified split")
    i.add_argument("--out", required=True, metavar="FILE.npz")
    i.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    i.set_defaults(fn=cmd_import)
    c = sub.add_parser("reproduce", help="rerun a chapter's experiments and write <results dir>/<chapter>_<profile>.json")
    c.add_argument("chapter")
    c.add_argument("--profile", default="full")
    c.add_argument("--overwrite", action="store_true",
                   help="replace <results dir>/<chapter>_<profile>.json when it exists (refused otherwise, before training)")
    c.add_argument("--data-root", default=None, metavar="DIR", help="for ave / kinetics-sounds: the prepared folder")
    c.add_argument("--data-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the dataset's loader (e.g. frames=3 for ave / kinetics-sounds)")
    c.add_argument("--encoder", action="append", default=[], metavar="MODALITY=SPEC",
                   help="for ave / kinetics-sounds (adds Tables 2, 4 ViT, 5) and ave-large / kinetics-sounds-large: "
                        "the large encoders")
    c.add_argument("--resnet18-weights", default=None, metavar="FILE",
                   help="for ave / kinetics-sounds: torchvision's ImageNet ResNet-18 state dict, Tian & Xu's start "
                        "(without it the ResNet-18 starts from random init, with a warning; records say which)")
    c.add_argument("--results-dir", default=None, metavar="DIR", help="where the results file goes (default "
                   "$UME_RESULTS, else results/ of the checkout, or of the working folder for an installed umelib)")
    c.add_argument("--cache-dir", default=None, metavar="DIR", help="where phase-1 weights and finished runs are cached "
                   "(default $UME_CACHE, else runs/cache beside results/)")
    c.add_argument("--device", default=None)
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(fn=cmd_reproduce)
    mk = sub.add_parser("masks", help="fixed, seeded presence masks of a named missing-modality protocol, with their sha256")
    mk.add_argument("--dataset", required=True, help="a registered name or a path to an .npz")
    mk.add_argument("--protocol", required=True, help="test-only, train-test, train-only (see 'list')")
    mk.add_argument("--rate", type=float, required=True, help="the share of samples WITHOUT the modality (eta = 1 - rate)")
    mk.add_argument("--modality", default=None, help="the modality that goes missing, or both (split evenly; default "
                    "both)")
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--data-root", default=None, metavar="DIR", help="where a public dataset lies (as for run)")
    mk.add_argument("--data-opt", action="append", default=[], metavar="KEY=VALUE", help="an option of the dataset's loader")
    mk.add_argument("--out", required=True, help="the .npz to write (refuses to overwrite)")
    mk.add_argument("--overwrite", action="store_true")
    mk.set_defaults(fn=cmd_masks)
    k = sub.add_parser("claims", help="every claim of the paper checked on the committed results, one JSON record each")
    k.add_argument("--out", default=None, help="write the records here (refuses to overwrite)")
    k.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    k.add_argument("--results-dir", default=None, metavar="DIR", help="the results to read (default $UME_RESULTS, "
                   "else results/ of the checkout or working folder)")
    k.set_defaults(fn=cmd_claims)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a command; under torchrun (``WORLD_SIZE`` > 1) join the process group first: ``run`` trains its one run
    data-parallel, ``reproduce`` spreads its jobs over the ranks; only rank 0 prints tables and writes files."""
    args = parser().parse_args(argv)
    distributed = None
    try:
        if args.cmd in ("run", "reproduce"):
            from .training import distributed

            distributed.init()
        if getattr(args, "old_eta", None):
            raise UmeError("--eta and --etas were renamed: pass --missing-rate R / --missing-rates R ... (R: the share of "
                           "test samples that miss the modality; the paper's eta is 1 - R, the share that keeps it)")
        if not 0.0 <= getattr(args, "missing_rate", 1.0) <= 1.0:
            raise UmeError(f"--missing-rate must lie in [0, 1], got {args.missing_rate}")
        return args.fn(args)
    except UmeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if distributed is not None:
            distributed.close()
