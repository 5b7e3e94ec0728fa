"""The paper's audio-visual tables for AVE and Kinetics-Sounds (Tables 1, 2, 4, 5) beside ours, from the records of
``python -m umelib reproduce ave|kinetics-sounds`` (each carries ``encoders`` = "CNN" or "large"). Without records of
a part, the paper's table alone, labelled as the paper's."""
from __future__ import annotations

from typing import Iterable, Mapping

from . import reference as paper
from .chapters import TABLE1_METHODS, TABLE2_METHODS
from .display import book_pandas
from .report import mean_metrics

PAPER_DATASET = {"ave": "AVE", "kinetics-sounds": "Kinetics-Sound"}
COLUMNS = {"miss:visual": "miss-v", "miss:audio": "miss-a", "complete": "complete", "avg": "avg"}
MISSING = {"miss-v": "miss:visual", "miss-a": "miss:audio"}
TABLE4_METHODS = list(paper.TABLE4_NAMES)  # the paper's Table 4 rows (our frozen-heads extra is left out)


def part(results: Iterable[Mapping], encoders: str, methods: Iterable[str] | None = None) -> list[Mapping]:
    """The records of one part ("CNN" or "large"), of ``methods`` when given."""
    keep = set(methods) if methods is not None else None
    return [r for r in results if r.get("encoders") == encoders and (keep is None or r["method"] in keep)]


def _table4(results: list[Mapping], dataset: str):
    pd = book_pandas()

    name = PAPER_DATASET[dataset]
    cols: dict[str, dict[str, str]] = {}
    for family, ours in (("ViT", "large"), ("CNN", "CNN")):
        rows = part(results, ours, TABLE4_METHODS)
        if rows:
            cols[f"ours, {ours} encoders"] = {
                paper.TABLE4_NAMES[m]: " / ".join(f"{mean_metrics(rows, m)[s]:.1f}" for s in MISSING.values())
                for m in TABLE4_METHODS if any(r["method"] == m for r in rows)}
        if name in paper.TABLE4[family]:
            cols[f"paper, {family} encoders"] = {k: f"{v['miss-v']:.1f} / {v['miss-a']:.1f}"
                                                 for k, v in paper.TABLE4[family][name].items()}
    df = pd.DataFrame(cols).fillna("/")
    df.index.name = f"Table 4, {name} (miss-v / miss-a, %)"
    return df


def _table5(results: list[Mapping]):
    pd = book_pandas()

    rows = [r for r in part(results, "large") if "sweep" in r]
    df = paper.table5()
    df.index = [f"paper: {i}" for i in df.index]
    if rows:
        ps = sorted({r["sweep"]["drop_p"] for r in rows})
        ours = {f"p={p:g}": {f"ours: {COLUMNS[s].title()}": mean_metrics(rows, f"ume-mma@p={p:g}")[s]
                             for s in ("miss:visual", "miss:audio", "complete")} for p in ps}
        df = pd.concat([pd.DataFrame(ours).round(1), df]).astype(object).fillna("/")
    df.index.name = "Table 5, AVE (%)"
    return df


def video_tables(results: Iterable[Mapping], dataset: str) -> dict[str, object]:
    """Tables 1, 2, 4 (and 5 for AVE) for ``dataset`` ("ave" or "kinetics-sounds"): our mean ± std over seeds
    beside the paper's rows where we have records, else the paper's table alone."""
    results = list(results)
    name = PAPER_DATASET[dataset]
    cnn = part(results, "CNN", TABLE1_METHODS)
    large = part(results, "large", TABLE2_METHODS)
    out: dict[str, object] = {
        "Table 1 (CNN encoders)": (paper.side_by_side(cnn, paper.TABLE1[name], paper.PAPER_NAMES, COLUMNS) if cnn
                                   else paper.table1(name)),
        "Table 2 (large encoders)": (paper.side_by_side(large, paper.TABLE2[name], paper.PAPER_NAMES, COLUMNS)
                                     if large else paper.table2(name)),
        "Table 4 (ablations)": _table4(results, dataset),
    }
    if dataset == "ave":
        out["Table 5 (drop probability, large encoders)"] = _table5(results)
    return out
