"""Write the README's generated blocks from the committed results: the verdict table (the claim records of
``python -m umelib claims``, between ``<!-- claims:start -->`` and ``<!-- claims:end -->``), the AV-MNIST CPU run's
Tables 1, 4 and 5 (``avmnist``), the synthetic default's table (``five_minutes``), emoji's Table 3 (``table3``) and
Gamma-hat beside the observed gaps (``gamma_gap``), the fine-tuned emoji run (``finetuned``), the keyword run
(``keywords``) and the theory sweeps (``theory_models``), each between its
``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers. ``--check`` only compares
(exit 1 when the README is out of date); tests/test_claims.py runs the same comparison."""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"unimodal": "uni-modal models", "naive": "naive late fusion", "multitask": "multi-task",
          "missing-detection": "missing detection", "phase1-fused": "phase-1 models fused, no phase 2",
          "ume-mma": "UME-MMA", "only-aug": "only augmentation", "only-pretrain": "only pre-training",
          "ume-mma-frozen": "UME-MMA, frozen encoders", "frozen-heads": "heads only on frozen encoders, no augmentation"}
COLUMNS = {"miss:image": "Miss-V (image missing)", "miss:audio": "Miss-A (audio missing)", "complete": "Complete",
           "avg": "Avg"}


def claims_block() -> str:
    from umelib.paper.overview import claim_records, claims_markdown

    records = claim_records()
    n = Counter(r["verdict"] for r in records)
    return (f"{len(records)} claims: {n['holds']} hold, {n['fails']} fail, {n['inconclusive']} inconclusive"
            + "".join(f", {k} {v}" for k, v in n.items() if k not in ("holds", "fails", "inconclusive"))
            + ".\n\n" + claims_markdown(records))


def _commit(prov: dict) -> str:
    return f"{'a tree with uncommitted changes at ' if prov.get('dirty') else 'clean '}commit {str(prov.get('git'))[:7]}"


def _stale(saved: dict) -> list[str]:
    """The lines that say a committed file is kept with a ``stale`` note (none otherwise)."""
    return [f"**Stale:** {saved['stale']}", ""] if saved.get("stale") else []


def _provenance(path: Path, saved: dict) -> str:
    """Where a committed file comes from: seeds, runs and their summed training time, the command's wall time,
    device, commit, kept epochs, the compute rule."""
    from umelib.experiments.results import compute_rule, fits_kept_last

    res = saved["results"]
    prov = res[0]["provenance"]
    seeds = sorted({r["seed"] for r in res})
    kept = sorted({v["epoch"] for r in res for v in (r["provenance"].get("selected_epoch") or {}).values()
                   if isinstance(v, dict) and v.get("epoch")})
    runs = {json.dumps(r["provenance"], sort_keys=True, default=str): r["provenance"] for r in res}  # rates, sweep aliases share one
    phase1 = {(r["seed"], r["provenance"].get("phase1_shared_s")): r["provenance"].get("phase1_shared_s") or 0.0
              for r in res}
    train_s = sum(p.get("wall_s") or 0.0 for p in runs.values()) + sum(phase1.values())
    last, fits = fits_kept_last(res)
    how = (f"trained {saved['trained']}: {saved.get('wall_s', 0):,.1f} s" if saved.get("trained") else
           f"the command's recorded wall time: {saved.get('wall_s', 0):,.0f} s, less where it reloaded cached pieces")
    return (f"`{path.relative_to(path.parents[1])}`: {len(seeds)} seeds ({', '.join(map(str, seeds))}), "
            f"{len(runs)} runs, {train_s / 60:,.0f} minutes of training summed over them ({how}), on {prov['device']}, from "
            f"{_commit(prov)}; kept epochs {kept[0]}–{kept[-1]} ({last} of {fits} fits kept their last epoch); "
            f"compute: {compute_rule(prov.get('config') or {})}.")


def _markdown(table, columns: dict[str, str]) -> list[str]:
    cols = [c for c in columns if c in table.columns]
    return (["| method | " + " | ".join(columns[c] for c in cols) + " |", "|:--|" + "--:|" * len(cols)]
            + [f"| {LABELS.get(m, m)} | " + " | ".join(str(table.loc[m, c]) for c in cols) + " |" for m in table.index])


def avmnist_block() -> str:
    """Provenance, Tables 1 and 4 (mean ± std over seeds) and the drop-probability sweep of the committed AV-MNIST
    cpu-intermediate run."""
    from umelib.files import load_json
    from umelib.paper.chapters import TABLE1_METHODS, TABLE4_METHODS, results_path
    from umelib.paper.report import summary, sweep_frame

    path = results_path("avmnist", "cpu-intermediate")
    saved = load_json(path)
    res = saved["results"]
    rows = [r for r in res if "sweep" not in r and r["method"] in TABLE1_METHODS + TABLE4_METHODS]
    lines = [_provenance(path, saved) + " Accuracy %, mean ± std over the seeds:", "",
             *_stale(saved), *_markdown(summary(rows), COLUMNS)]
    if any("sweep" in r for r in res):
        sw = sweep_frame(res, ["miss:image", "miss:audio", "complete"])
        pts = [f"{sw.loc[p, ('miss:image', 'mean')]:.2f} / {sw.loc[p, ('miss:audio', 'mean')]:.2f} / "
               f"{sw.loc[p, ('complete', 'mean')]:.2f} at p = {p:g}" for p in sw.index]
        lines += ["", "Drop probability (Table 5's question), Miss-V / Miss-A / Complete, mean over the seeds: "
                  + ", ".join(pts) + "."]
    return "\n".join(lines)


def five_minutes_block() -> str:
    """The synthetic default's committed full run beside the exact Bayes optimum, and how far each method is from it."""
    from umelib.files import load_json
    from umelib.paper.chapters import results_path
    from umelib.paper.report import mean_metrics, summary

    path = results_path("five_minutes", "full")
    saved = load_json(path)
    res = saved["results"]
    bayes = res[0]["reference"]["bayes"]
    settings = [s for s in bayes if s != "avg"]
    ume, naive = mean_metrics(res, "ume-mma"), mean_metrics(res, "naive")
    worst_seed = max(((bayes[s] - r["metrics"][s], s) for r in res if r["method"] == "ume-mma" for s in settings))
    worst = max(settings, key=lambda s: bayes[s] - naive[s])
    table = summary(res, {"Bayes optimum (exact, Monte Carlo 10^6)": bayes})
    return "\n".join([
        _provenance(path, saved) + f" Test accuracy (%) on {res[0]['provenance']['n_test']:,} test samples, "
        "mean ± std over the seeds:", "", *_markdown(table, {c: c for c in table.columns if not c.startswith("only:")}), "",
        f"UME-MMA is within {max(bayes[s] - ume[s] for s in settings):.2f} points of the Bayes optimum in every setting "
        f"on average (worst single seed: {worst_seed[0]:.2f}, {worst_seed[1]}); naive fusion is "
        f"{bayes[worst] - naive[worst]:.1f} points under it when `{worst.split(':')[-1]}` is missing."])


def table3_block() -> str:
    """Table 3 on emoji (text kept by a fraction of the training samples): our rows, mean ± std over seeds."""
    from umelib.files import load_json
    from umelib.paper import vl
    from umelib.paper.chapters import results_path

    path = results_path("emoji_train_missing", "full")
    saved = load_json(path)
    table = vl.table3(saved["results"], digits=2)
    ours = table[[i.startswith("ours") for i in table.index]]
    ours.index = [i.split("): ", 1)[1] for i in ours.index]
    return "\n".join([_provenance(path, saved) + " Accuracy (%) on the complete test set, mean ± std over the seeds:",
                       "", *_stale(saved),
                       *_markdown(ours, {c: c for c in ours.columns})])


def gamma_gap_block() -> str:
    """Gamma-hat of each modality (the committed gamma_gap run) beside UME-MMA's complete - missing gap on the
    committed runs of :data:`~umelib.paper.complementary.GAP_DATASETS`, and their rank correlation."""
    from umelib.files import load_json
    from umelib.paper import complementary
    from umelib.paper.chapters import results_path
    from umelib.paths import results_root

    path = results_path("gamma_gap", "full")
    saved = load_json(path)
    runs = {}
    for name, (_, (file, part)) in complementary.GAP_DATASETS.items():
        res = load_json(results_root() / file)["results"]
        runs[name] = [r for r in res if part is None or r.get("text_encoder") == part]
    frame = complementary.gap_frame(saved["results"], complementary.observed_gaps(runs))
    rho, n = complementary.gap_spearman(frame)
    prov = saved["results"][0]["provenance"]
    seeds = sorted({r["seed"] for r in saved["results"]})
    how = f"trained {saved['trained']}" if saved.get("trained") else f"{saved.get('wall_s', 0):,.0f} s"
    mean = " (their mean; its se adds the seeds' spread to the bootstrap's)" if len(seeds) > 1 else ""
    lines = [f"`{path.relative_to(path.parents[1])}`: Γ̂ from seed{'s' if len(seeds) > 1 else ''} "
             f"{', '.join(map(str, seeds))}{mean}, {_commit(prov)}, {how}; the gaps from "
             + ", ".join(f"`{f}`" for _, (f, _) in complementary.GAP_DATASETS.values()) + ":", "",
             *_stale(saved),
             "| dataset | missing | Γ̂ (nats, ± se) | Γ̂ seeds | gap (points) [95%] | gap seeds |",
             "|:--|:--|--:|--:|--:|--:|"]
    for (ds, m), r in frame.iterrows():
        lines.append(f"| {ds} | {m} | {r['gamma_hat']:.3f} ± {r['se']:.3f} | {int(r['gamma_seeds'])} | {r['gap']:.1f} "
                     f"[{r['gap_lo']:.1f}, {r['gap_hi']:.1f}] | {int(r['n_seeds'])} |".replace("[-", "[−").replace(" -", " −"))
    lines += ["", f"Spearman's rank correlation of Γ̂ and the gap over the {n} points (point estimates): {rho:+.2f}; "
                  f"{complementary.discordant_text(complementary.gap_discordant(frame))}."]
    return "\n".join(lines)


def _diff_text(d) -> str:
    iv = f" [{d.lo:+.2f}, {d.hi:+.2f}]" if d.lo is not None else ""
    return f"{d.mean:+.2f}{iv}".replace("-", "−")


CI_COLUMN = "difference [CI at the claim's level]"


def finetuned_block() -> str:
    """The emoji run with the text encoder fine-tuned: provenance, Fig. 3's rates (text blank), its claims, and the
    linear probes of its encoders (phase 1 against naive fusion's, UME-MMA's against phase 1's)."""
    from umelib.files import load_json
    from umelib.paper import mechanism, vl
    from umelib.paper.chapters import results_path

    path = results_path("emoji_text_finetuned", "full")
    saved = load_json(path)
    res = saved["results"]
    table = vl.rate_table(res, digits=2)
    lines = [_provenance(path, saved) + " Accuracy (%) with a share of the test texts blank, mean ± half-width of the "
             "95% t interval over seeds:", "", *_stale(saved),
             "| method (texts blank →) | " + " | ".join(table.columns) + " |", "|:--|" + "--:|" * len(table.columns),
             *[f"| {i} | " + " | ".join(str(v) for v in table.loc[i]) + " |" for i in table.index], ""]
    claims = vl.fig3_claims(res)
    for claim, c in claims.iterrows():
        lines.append(f"- {claim}: **{c['verdict']}** ({c['ours']}; {c['test']}: "
                     f"{c[CI_COLUMN]})")
    probes = mechanism.suite_probe_rows(res, "emoji, text fine-tuned")
    gaps = mechanism.probe_gaps(probes)
    lines += ["", "Linear probes of the encoders (test accuracy %, paired over seeds, 95% t interval, seeds only): "
              + (mechanism.gaps_text(gaps) if probes else "this run kept no probes") + "."]
    if probes:
        above = lambda what: ", ".join(g["modality"] for g in gaps if g["gap"] == what and g["reading"] == "above 0")
        lines += ["", "Read: encoders whose phase-1 probe is above naive fusion's (under-trained when trained jointly): "
                  f"{above('probe: phase 1 − naive') or 'none'}; heads better trained alone (phase 1) than jointly: "
                  f"{above('head alone: phase 1 − naive') or 'none'}."]
    return "\n".join(lines)


KEYWORD_SETTINGS = {"complete": "complete", "miss:text": "text missing", "miss:image": "image missing", "avg": "avg"}


def keywords_block() -> str:
    """The multi-label emoji run: F1-Macro / F1-Micro per method and setting (mean ± std over seeds), and UME-MMA
    against naive fusion and multi-task training per setting (F1-Macro, paired over seeds)."""
    from statistics import mean, stdev

    from umelib.files import load_json
    from umelib.paper.chapters import results_path
    from umelib.verdicts import Diff

    path = results_path("emoji_keywords", "full")
    saved = load_json(path)
    res = saved["results"]
    val: dict = {}
    for r in res:
        for s, ms in r["all_metrics"].items():
            for k in ("f1_macro", "f1_micro"):
                if ms.get(k) is not None:
                    val.setdefault((r["method"], s, k), {})[r["seed"]] = ms[k]
    fmt = lambda v: f"{mean(v):.1f} ± {stdev(v):.1f}" if len(v) > 1 else f"{mean(v):.1f}"
    lines = [_provenance(path, saved) + " F1-Macro / F1-Micro (%), mean ± std over the seeds (missing detection is "
             "multiclass-only):", "", *_stale(saved),
             "| method | " + " | ".join(KEYWORD_SETTINGS.values()) + " |", "|:--|" + "--:|" * len(KEYWORD_SETTINGS)]
    for m in dict.fromkeys(r["method"] for r in res):
        cells = []
        for s in KEYWORD_SETTINGS:
            a, b = val.get((m, s, "f1_macro")), val.get((m, s, "f1_micro"))
            cells.append(f"{fmt(a.values())} / {fmt(b.values())}" if a and b else "/")
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    lines += ["", "UME-MMA minus each other method, F1-Macro, paired over seeds (95% t interval, seeds only; not a "
              "claim of the paper):", ""]
    for other in ("naive", "multitask", "phase1-fused"):
        parts = []
        for s in ("complete", "miss:text", "miss:image"):
            if ("ume-mma", s, "f1_macro") in val and (other, s, "f1_macro") in val:
                d = Diff.of(val[("ume-mma", s, "f1_macro")], val[(other, s, "f1_macro")])
                parts.append(f"{KEYWORD_SETTINGS[s]} {_diff_text(d)} ({d.reading()})")
        if parts:
            lines.append(f"- against {LABELS.get(other, other)}: " + "; ".join(parts))
    return "\n".join(lines)


def theory_models_block() -> str:
    """The knob sweeps behind *From bounds to models*: per setting the exact Gamma_Z and the estimate from trained
    models (mean over seeds, worst relative error), the Bayes error with Z missing and the two recipes' (means), and
    what each recipe loses beyond the Bayes error, paired by seed."""
    from statistics import mean

    from umelib.files import load_json
    from umelib.paper.chapters import results_path
    from umelib.paper.complementary import excess_errors

    path = results_path("theory_models", "full")
    saved = load_json(path)
    res = saved["results"]
    prov = res[0]["provenance"]
    seeds = sorted({r["seed"] for r in res})
    lines = [f"`{path.relative_to(path.parents[1])}` (`{saved.get('command')}`): {len(seeds)} seed(s) "
             f"({', '.join(map(str, seeds))}), {_commit(prov)}, {saved.get('wall_s', 0):,.0f} s on {prov['device']}. "
             "Test errors, mean over the seeds:", "",
             *_stale(saved),
             "| family | knob | Γ_Z exact | Γ̂_Z from models | worst rel. error | Bayes, Z missing | naive, Z missing | "
             "UME-MMA, Z missing |", "|:--|--:|--:|--:|--:|--:|--:|--:|"]
    for key in dict.fromkeys((r["family"], r["knob"]) for r in res):
        g = [r for r in res if (r["family"], r["knob"]) == key]
        m = lambda k: mean(r[k] for r in g)
        worst = max((r["rel_error"] for r in g if r["rel_error"] is not None), key=abs)
        lines.append(f"| {key[0]} | {key[1]:g} | {m('gamma_Z'):.3f} | {m('est_gamma_hat'):.3f} | {100 * worst:+.1f}% | "
                     f"{m('Pe_miss_z'):.3f} | {m('naive_miss_z'):.3f} | {m('ume_miss_z'):.3f} |")
    lines += ["", "Beyond the Bayes error with Z missing (points, mean over a family's knobs, paired by seed, 95% t "
              "interval): " + "; ".join(
                  f"{e['family']}, {e['difference']}: {e['points']:+.2f}"
                  + (f" [{e['lo']:+.2f}, {e['hi']:+.2f}]" if e["lo"] is not None else "") + f" ({e['reading']})"
                  for e in excess_errors(res)) + "."]
    return re.sub(r"(?<=[\s\[])-(?=\d)", "−", "\n".join(lines))  # minus signs of numbers only


BLOCKS = {"claims": claims_block, "avmnist": avmnist_block, "five_minutes": five_minutes_block,
          "table3": table3_block, "gamma_gap": gamma_gap_block, "finetuned": finetuned_block,
          "keywords": keywords_block, "theory_models": theory_models_block}


def replaced(text: str, table: str, name: str = "claims") -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 when the README is out of date")
    args = ap.parse_args(argv)
    readme = ROOT / "README.md"
    text = new = readme.read_text()
    for name, make in BLOCKS.items():
        if f"<!-- {name}:start -->" not in text or f"<!-- {name}:end -->" not in text:
            print(f"error: README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block", file=sys.stderr)
            return 2
        new = replaced(new, make(), name)
    if args.check:
        return 0 if new == text else 1
    if new != text:
        tmp = readme.with_suffix(".md.tmp")
        tmp.write_text(new)
        tmp.replace(readme)
    print("README.md: generated blocks up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
