"""The book's results page in one place: which paper table each committed run reproduces, on what data and under
which profile, our numbers beside the paper's, the three-valued verdicts, and the tables not reproduced yet.

Everything here reads committed files under ``results/``; nothing trains. The best run of a chapter is its full
profile when committed, else its largest CPU run (``BEST_PROFILES``, in that order)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ..files import load_json
from ..paths import results_root
from . import claims, reference as paper, vl
from .chapters import AVMNIST_COLUMNS, TABLE1_METHODS, TABLE4_METHODS, load_committed, results_path
from .display import book_pandas

BEST_PROFILES = ("full", "cpu-intermediate")
THEOREM_FILE = Path("theory") / "theorem_3_2.json"


@dataclass(frozen=True)
class Pending:
    """A paper table we cannot reproduce yet: what it needs, and the command once that is at hand."""

    item: str
    needs: str
    command: str
    chapter: str | None = None
    done_by: tuple[str, ...] = ()  # the results files (stems under results/) that reproduce it
    part: str | None = None  # ... holding records of this part (``encoders`` = "CNN" / "large") when given


PENDING = [
    Pending("Table 1, AVE and Kinetics-Sounds (CNN encoders)", "the AVE / Kinetics-Sounds videos on local disk",
            "python -m umelib reproduce ave --data-root DIR --profile full", "ave_ks",
            ("ave_full", "kinetics-sounds_full"), "CNN"),
    Pending("Table 2 (large pre-trained encoders on AVE / Kinetics-Sounds)",
            "the videos and local CLIP / audio-transformer weights",
            "python -m umelib reproduce ave --data-root DIR --encoder visual=... --encoder audio=...", "ave_ks",
            ("ave_full", "kinetics-sounds_full"), "large"),
    Pending("Table 4, AVE and Kinetics-Sounds columns; Table 5 on AVE (ViT)",
            "the AVE / Kinetics-Sounds videos and the large encoders' weights",
            "python -m umelib reproduce ave --data-root DIR --encoder visual=... --encoder audio=...", "ave_ks",
            ("ave_full", "kinetics-sounds_full"), "large"),
    Pending("Table 3 and Fig. 3 on MM-IMDB; Fig. 3 on Food-101", "the MM-IMDB and UPMC Food-101 releases",
            "python -m umelib run --dataset mmimdb --data-root DIR --method ume-mma --missing-rates 0 0.5 1", "emoji_missing_text"),
    Pending("Table 1, 4 and 5 on AV-MNIST at the paper's settings (App. B.1.1)", "a GPU (about 23M training samples)",
            "python -m umelib reproduce avmnist --profile full", "avmnist_baselines", ("avmnist_full",)),
]


def best_results(chapter: str, root: str | Path | None = None) -> tuple[str, list[dict]] | None:
    """(profile, results) of the best committed run of ``chapter`` (full, else the largest CPU run), or None."""
    for profile in BEST_PROFILES:
        path = results_path(chapter, profile, root)
        if path.exists():
            return profile, load_committed(path)
    return None


def run_label(results: Iterable[Mapping]) -> str:
    """'cpu-intermediate profile, seeds 0-2, cpu: x86_64 (2 cores), commit ed73075c': where a table comes from."""
    results = list(results)
    seeds = sorted({r["seed"] for r in results})
    p = results[0]["provenance"]
    span = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"{seeds[0]}"
    return f"{results[0]['profile']} profile, seeds {span}, {p['device']}, commit {str(p.get('git'))[:8]}"


def avmnist_tables(results: list[dict]) -> dict[str, object]:
    """AV-MNIST Tables 1, 4 and 5 of one run: ours beside the paper's (Tables 1 and 4), the sweep (Table 5) and
    each table's claims with verdicts (withheld when a uni-modal model is near chance)."""
    t1 = [r for r in results if r["method"] in TABLE1_METHODS]
    t4 = [r for r in results if r["method"] in TABLE4_METHODS]
    out: dict[str, object] = {
        "table1": paper.side_by_side(t1, paper.TABLE1["AV-MNIST"], paper.PAPER_NAMES, AVMNIST_COLUMNS),
        "table1_claims": claims.table1(t1),
        "table4": paper.side_by_side(t4, paper.TABLE4_AVMNIST, paper.TABLE4_NAMES, AVMNIST_COLUMNS),
        "table4_claims": claims.table4(t4 + [r for r in results if r["method"] == "unimodal"]),
    }
    if any("sweep" in r for r in results):
        from .report import sweep_frame

        out["table5"] = sweep_frame(results, ["miss:image", "miss:audio", "complete"]).round(2)
        out["table5_claims"] = claims.sweep(results)
    return out


def theorem_claims(path: str | Path | None = None):
    """Theorem 3.2's inequalities as claims: 'holds' with no violation in any trial, else 'fails' (an exact
    computation over random distributions and edge cases, so no interval)."""
    pd = book_pandas()

    saved = load_json(Path(path or results_root() / THEOREM_FILE))
    rows, recs = [], []
    for name, v in saved["inequalities"].items():
        rows.append({"claim": name, "ours": f"{v['violations']} violations in {v['trials']:,} distributions",
                     claims.DIFF: f"smallest slack {v['min_slack']:.3g} (exact, no interval)",
                     "paper": "not in the paper: our corrected bound" if "corrected" in name else "Theorem 3.2",
                     "test": "exact", "verdict": "holds" if v["violations"] == 0 else "fails"})
        recs.append({"claim": name, "test": "exact", "ours": rows[-1]["ours"], "paper": rows[-1]["paper"],
                     "n_seeds": None, "comparisons": [], "min_slack": v["min_slack"], "trials": v["trials"],
                     "violations": v["violations"], "verdict": rows[-1]["verdict"], "level": None})
    df = pd.DataFrame(rows).set_index("claim")
    df.attrs["records"] = recs
    return df


def claim_sets(root: str | Path | None = None) -> dict[str, tuple[str, object]]:
    """Every claims table we can draw from committed results: key -> (run label, claims frame). Keys:
    ``avmnist-table1``, ``avmnist-table4``, ``avmnist-table5``, ``fig3-pretrained``, ``fig3-scratch``,
    ``fig3-finetuned``, ``table3``, ``theorem``."""
    out: dict[str, tuple[str, object]] = {}

    def put(key: str, label: str, table, run: str) -> None:
        table.attrs["run"] = run  # the results file the claims were checked on
        out[key] = (label, table)

    best = best_results("avmnist", root)
    if best:
        tables = avmnist_tables(best[1])
        label = run_label(best[1])
        for key in ("table1", "table4", "table5"):
            if f"{key}_claims" in tables:
                put(f"avmnist-{key}", label, tables[f"{key}_claims"], results_path("avmnist", best[0], root).name)
    best = best_results("emoji_missing_text", root)
    if best:
        for key, enc in (("fig3-pretrained", "pre-trained"), ("fig3-scratch", "from scratch")):
            part = [r for r in best[1] if r.get("text_encoder") == enc]
            if part:
                put(key, run_label(part), vl.fig3_claims(part), results_path("emoji_missing_text", best[0], root).name)
    best = best_results("emoji_text_finetuned", root)
    if best:
        put("fig3-finetuned", run_label(best[1]), vl.fig3_claims(best[1]),
            results_path("emoji_text_finetuned", best[0], root).name)
    best = best_results("emoji_train_missing", root)
    if best:
        put("table3", run_label(best[1]), vl.table3_claims(best[1]), results_path("emoji_train_missing", best[0], root).name)
    theorem = Path(root or results_root()) / THEOREM_FILE
    if theorem.exists():
        p = load_json(theorem)["provenance"]
        put("theorem", f"exact check, {p['device']}, commit {str(p['git'])[:8]}", theorem_claims(theorem), str(THEOREM_FILE))
    return out


def claim_records(root: str | Path | None = None) -> list[dict]:
    """Every claim of every committed results file as one JSON record: the table (its family: Holm's levels are
    set within it), the results file, the test, every comparison with its interval, the verdict and the level."""
    out = []
    for key, (label, table) in claim_sets(root).items():
        for rec in claims.records(table):
            if "note" in table.attrs:
                rec = dict(rec, verdict=claims.PIPELINE, why=table.attrs["note"])
            out.append({"table": key, "family": key, "run": table.attrs.get("run"), "run_label": label, **rec})
    return out


def all_claims(sets: Mapping[str, tuple[str, object]]):
    """One long table of every claim: its set, the run it was checked on, and the verdict."""
    pd = book_pandas()

    frames = []
    for key, (label, table) in sets.items():
        df = table.reset_index()
        df.insert(0, "run", label)
        df.insert(0, "table", key)
        if "note" in table.attrs:
            df["verdict"] = claims.PIPELINE
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def verdict_tally(sets: Mapping[str, tuple[str, object]]) -> dict[str, int]:
    """How many claims hold, fail or are inconclusive over all sets (pipeline-only sets are not counted)."""
    tally = {"holds": 0, "fails": 0, "inconclusive": 0}
    for _, table in sets.values():
        if "note" not in table.attrs:
            for v in table["verdict"]:
                tally[v] += 1
    return tally


def pending(root: str | Path | None = None):
    """The paper tables not reproduced yet (their results file absent), with what they need and the command."""
    pd = book_pandas()
    folder = Path(root or results_root())

    def done(p: Pending) -> bool:
        files = [folder / f"{stem}.json" for stem in p.done_by]
        return bool(files) and all(f.exists() and (p.part is None or any(r.get("encoders") == p.part
                                                                         for r in load_committed(f))) for f in files)

    rows = [{"paper table": p.item, "needs": p.needs, "command": p.command} for p in PENDING if not done(p)]
    return pd.DataFrame(rows).set_index("paper table")


def require_best(chapter: str, root: str | Path | None = None) -> tuple[str, list[dict]]:
    """:func:`best_results`, or a clear error naming the command that makes them."""
    from ..errors import UmeError

    best = best_results(chapter, root)
    if best is None:
        raise UmeError(f"no committed results for '{chapter}' under results/ (looked for profiles {', '.join(BEST_PROFILES)}); "
                       f"make them with: python -m umelib reproduce {chapter} --profile full")
    return best


def selected_epochs(results: Iterable[Mapping], phases: Iterable[str] | None = None):
    """Per seed and phase: epochs run, the epoch kept (best validation score) and that score, from the provenance's
    ``selected_epoch`` (the runs record no per-epoch curve; this is what they keep of their training)."""
    pd = book_pandas()

    rows, seen = [], set()
    for r in results:
        for phase, v in (r.get("provenance", {}).get("selected_epoch") or {}).items():
            key = (phase, r["seed"])
            if isinstance(v, Mapping) and key not in seen and (phases is None or phase in phases):
                seen.add(key)
                rows.append({"phase": phase, "seed": r["seed"], "epochs run": v.get("epochs_run"),
                             "epoch kept": v.get("epoch"), "validation score": round(v["val"], 2) if v.get("val") is not None else None})
    return pd.DataFrame(rows).set_index(["phase", "seed"]).sort_index()


def pipeline_labels(table, profile: str, detail: str = ""):
    """``table`` with every row label suffixed by the profile ('naive [smoke: pipeline check]'; ``detail`` goes
    after the profile: 'smoke, 4 epochs: pipeline check'), so a smoke table can never be read as a result."""
    out = table.copy()
    tag = profile + (f", {detail}" if detail else "") + (": pipeline check" if profile == "smoke" else "")
    out.index = [f"{i} [{tag}]" for i in out.index]
    return out


def metrics_frame(named: Mapping[str, Mapping[str, Mapping[str, float]]], metric: str = "accuracy"):
    """Rows = names, columns = protocol settings, values = ``metric`` from :func:`umelib.evaluate.evaluate`-style
    dicts (setting -> {metric: value}), e.g. a live run's ``RunOutput.metrics``."""
    pd = book_pandas()

    return pd.DataFrame({name: {s: v[metric] for s, v in m.items()} for name, m in named.items()}).T.round(2)


def plot_history(history: Iterable[Mapping], axes=None, title: str = ""):
    """Learning curves from a :class:`~umelib.training.trainer.Trainer`'s ``history``: the mean training loss and the
    validation score per epoch, one line per phase (the epoch kept is the one with the best validation score)."""
    import matplotlib.pyplot as plt
    pd = book_pandas()

    df = pd.DataFrame(list(history))
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for phase, d in df.groupby("phase", sort=False):
        axes[0].plot(d["epoch"], d["loss"], marker="o", label=phase)
        if "val" in d:
            axes[1].plot(d["epoch"], d["val"], marker="o", label=phase)
    axes[0].set(xlabel="epoch", ylabel="training loss (mean over the epoch)")
    axes[1].set(xlabel="epoch", ylabel="validation score (%)")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(fontsize=8, frameon=False)
    axes[0].figure.suptitle(title)
    return axes


def committed_curves(results: Iterable[Mapping], phases: Iterable[str] | None = None) -> list[dict]:
    """The learning curves a run's results keep (``provenance.selected_epoch[phase]["curve"]``) as history rows for
    :func:`plot_history`, one line per phase and seed; empty for results recorded before curves were kept."""
    rows, seen = [], set()
    keep = set(phases) if phases is not None else None
    for r in results:
        for phase, v in (r.get("provenance", {}).get("selected_epoch") or {}).items():
            c = v.get("curve") if isinstance(v, Mapping) else None
            if not c or (phase, r["seed"]) in seen or (keep is not None and phase not in keep):
                continue
            seen.add((phase, r["seed"]))
            rows += [{"phase": f"{phase}, seed {r['seed']}", "epoch": i + 1, "loss": loss,
                      **({"val": val} if val is not None else {})} for i, (loss, val) in enumerate(zip(c["loss"], c["val"]))]
    return rows


def claims_markdown(records: Iterable[Mapping]) -> str:
    """The claim records as a Markdown table (the README's verdict table is this, between its markers)."""
    records = list(records)
    lines = ["| table | claim | test (level) | difference(s) [interval at the claim's level] | verdict |",
             "|:--|:--|:--|:--|:--|"]
    for r in records:
        comps = r.get("comparisons") or []
        if comps:
            diff = "; ".join((f"vs {c['vs']}: " if len(comps) > 1 else "") + f"{c['diff']:+.2f}" +
                             (f" [{c['lo']:+.2f}, {c['hi']:+.2f}]" if c["lo"] is not None else "") for c in comps)
        else:
            diff = r.get("note") or (f"smallest slack {r['min_slack']:.3g}" if "min_slack" in r else "")
        test = r["test"] + (f" ({r['level']:.3g})" if r.get("level") else "")
        if r["test"] == "non-inferiority":
            test = f"non-inferiority, margin {-r['threshold']:g} ({r['level']:.3g})"
        if any(c.get("uncertainty") == "seeds + test items" for c in comps):
            diff += " (seeds + test items)"
        verdict = r["verdict"]
        lines.append(f"| {r['table']} | {r['claim'].replace('|', chr(92) + '|')} | {test} | {diff} | "
                     f"{'**' + verdict + '**' if verdict in ('holds', 'fails') else verdict} |")
    compute = {r["table"]: r["compute"] for r in records if r.get("compute")}
    if compute:
        lines += ["", "How each table's methods were given compute:", ""]
        lines += [f"- {t}: {c}" for t, c in compute.items()]
    return "\n".join(lines)
