"""Reference numbers from the paper (top-1 test accuracy, %), for labelled side-by-side tables only.

Table 1 columns: Miss-V (visual missing), Miss-A (audio missing), Complete, Avg.
"""
from __future__ import annotations

from .display import book_pandas

TABLE1: dict[str, dict[str, dict[str, float | None]]] = {
    "AV-MNIST": {
        "Uni-Modal Models": {"miss-v": 95.84, "miss-a": 97.29, "complete": None, "avg": None},
        "Naive Baseline": {"miss-v": 66.75, "miss-a": 17.10, "complete": 99.10, "avg": 60.98},
        "Multi-task Training": {"miss-v": 92.17, "miss-a": 26.32, "complete": 99.51, "avg": 72.67},
        "Missing Detection": {"miss-v": 94.45, "miss-a": 95.99, "complete": 99.74, "avg": 96.73},
        "UME-MMA (ours)": {"miss-v": 95.24, "miss-a": 97.21, "complete": 99.77, "avg": 97.41},
    },
    "AVE": {
        "Uni-Modal Models": {"miss-v": 35.16, "miss-a": 73.30, "complete": None, "avg": None},
        "Naive Baseline": {"miss-v": 13.10, "miss-a": 63.10, "complete": 77.45, "avg": 51.22},
        "Multi-task Training": {"miss-v": 13.60, "miss-a": 58.29, "complete": 76.94, "avg": 49.61},
        "Missing Detection": {"miss-v": 23.80, "miss-a": 66.25, "complete": 70.56, "avg": 53.54},
        "UME-MMA (ours)": {"miss-v": 36.32, "miss-a": 72.12, "complete": 79.80, "avg": 62.75},
    },
    "Kinetics-Sound": {
        "Uni-Modal Models": {"miss-v": 26.76, "miss-a": 62.78, "complete": None, "avg": None},
        "Naive Baseline": {"miss-v": 17.08, "miss-a": 57.52, "complete": 69.25, "avg": 47.95},
        "Multi-task Training": {"miss-v": 21.98, "miss-a": 58.02, "complete": 70.12, "avg": 50.04},
        "Missing Detection": {"miss-v": 20.90, "miss-a": 62.35, "complete": 66.71, "avg": 49.97},
        "UME-MMA (ours)": {"miss-v": 27.34, "miss-a": 62.88, "complete": 70.23, "avg": 53.49},
    },
}


def _block(table: dict, dataset: str, label: str):
    pd = book_pandas()

    df = pd.DataFrame(table[dataset]).T.rename(columns=str.title)
    df.index.name = f"{label}, {dataset}"
    return df.astype(object).fillna("/")


def table1(dataset: str):
    """The paper's Table 1 block for ``dataset`` as a DataFrame (labelled as the paper's)."""
    return _block(TABLE1, dataset, "paper")

# Table 2 (large pre-trained encoders: OpenCLIP ViT-B on frames, ImageBind's audio encoder), same columns as Table 1.
TABLE2: dict[str, dict[str, dict[str, float | None]]] = {
    "AVE": {
        "Uni-Modal Models": {"miss-v": 85.60, "miss-a": 88.89, "complete": None, "avg": None},
        "Naive Baseline": {"miss-v": 63.89, "miss-a": 84.09, "complete": 94.95, "avg": 80.98},
        "Multi-task Training": {"miss-v": 54.29, "miss-a": 85.35, "complete": 93.43, "avg": 77.69},
        "UME-MMA (ours)": {"miss-v": 86.87, "miss-a": 88.13, "complete": 94.70, "avg": 89.90},
    },
    "Kinetics-Sound": {
        "Uni-Modal Models": {"miss-v": 69.62, "miss-a": 84.31, "complete": None, "avg": None},
        "Naive Baseline": {"miss-v": 61.71, "miss-a": 79.60, "complete": 89.27, "avg": 76.86},
        "Multi-task Training": {"miss-v": 62.02, "miss-a": 79.10, "complete": 88.76, "avg": 76.63},
        "UME-MMA (ours)": {"miss-v": 71.06, "miss-a": 82.93, "complete": 89.71, "avg": 81.23},
    },
}


def table2(dataset: str):
    """The paper's Table 2 block for ``dataset`` ("AVE" or "Kinetics-Sound") as a DataFrame."""
    return _block(TABLE2, dataset, "paper Table 2")


# Table 4 (ablations): accuracy with (visual / audio) missing, by encoder family and dataset.
TABLE4: dict[str, dict[str, dict[str, dict[str, float]]]] = {
    "ViT": {
        "AVE": {"Only Missing-Aug": {"miss-v": 83.1, "miss-a": 85.6}, "Only Pre-Training": {"miss-v": 85.1, "miss-a": 86.4},
                "UME-MMA (Freeze Encs)": {"miss-v": 86.4, "miss-a": 87.6}, "UME-MMA": {"miss-v": 86.9, "miss-a": 88.1}},
        "Kinetics-Sound": {"Only Missing-Aug": {"miss-v": 65.5, "miss-a": 80.7},
                           "Only Pre-Training": {"miss-v": 67.5, "miss-a": 81.6},
                           "UME-MMA (Freeze Encs)": {"miss-v": 69.0, "miss-a": 82.0},
                           "UME-MMA": {"miss-v": 71.1, "miss-a": 82.9}},
    },
    "CNN": {
        "AVE": {"Only Missing-Aug": {"miss-v": 23.8, "miss-a": 66.3}, "Only Pre-Training": {"miss-v": 18.9, "miss-a": 66.5},
                "UME-MMA (Freeze Encs)": {"miss-v": 35.7, "miss-a": 72.5}, "UME-MMA": {"miss-v": 36.3, "miss-a": 72.1}},
        "Kinetics-Sound": {"Only Missing-Aug": {"miss-v": 20.1, "miss-a": 61.5},
                           "Only Pre-Training": {"miss-v": 21.9, "miss-a": 57.5},
                           "UME-MMA (Freeze Encs)": {"miss-v": 25.3, "miss-a": 62.5},
                           "UME-MMA": {"miss-v": 27.3, "miss-a": 62.9}},
        "AV-MNIST": {"Only Missing-Aug": {"miss-v": 95.2, "miss-a": 95.1}, "Only Pre-Training": {"miss-v": 23.9, "miss-a": 90.0},
                     "UME-MMA (Freeze Encs)": {"miss-v": 94.2, "miss-a": 97.3}, "UME-MMA": {"miss-v": 95.2, "miss-a": 97.2}},
    },
}
TABLE4_AVMNIST = TABLE4["CNN"]["AV-MNIST"]


def table4(dataset: str):
    """The paper's Table 4 for ``dataset``: one column per encoder family it was run with, cells 'miss-v / miss-a'."""
    pd = book_pandas()

    cols = {f"{enc} encoders": {row: f"{v['miss-v']:.1f} / {v['miss-a']:.1f}" for row, v in by_ds[dataset].items()}
            for enc, by_ds in TABLE4.items() if dataset in by_ds}
    df = pd.DataFrame(cols)
    df.index.name = f"paper Table 4, {dataset} (miss-v / miss-a)"
    return df


def table5():
    """The paper's Table 5 (AVE, ViT encoders: accuracy by the augmentation's drop probability)."""
    pd = book_pandas()

    df = pd.DataFrame(TABLE5_AVE).rename(index=str.title)
    df.columns = [f"p={p:g}" for p in df.columns]
    df.index.name = "paper Table 5, AVE (ViT)"
    return df


# Table 5 (AVE, ViT encoders): drop probability of the augmentation.
TABLE5_AVE: dict[float, dict[str, float]] = {
    0.0: {"miss-v": 85.1, "miss-a": 86.4, "complete": 95.0}, 0.1: {"miss-v": 84.8, "miss-a": 86.6, "complete": 94.9},
    0.2: {"miss-v": 86.4, "miss-a": 87.4, "complete": 94.4}, 0.3: {"miss-v": 86.9, "miss-a": 88.1, "complete": 94.7},
    0.4: {"miss-v": 86.1, "miss-a": 88.3, "complete": 94.9}, 0.5: {"miss-v": 85.9, "miss-a": 86.1, "complete": 93.4},
}

# Table 3 (MM-IMDB, F1 micro): the fraction of training samples with text. * = from Ma et al. (2021).
TABLE3_MMIMDB: dict[str, dict[float, float | None]] = {
    "AE*": {0.1: 44.8, 0.2: 50.7, 1.0: None}, "GAN*": {0.1: 44.6, 0.2: 51.0, 1.0: None},
    "SMIL*": {0.1: 49.5, 0.2: 54.6, 1.0: None}, "UME-MMA (Res)": {0.1: 45.3, 0.2: 61.0, 1.0: 66.9},
    "UME-MMA (ViT-B)": {0.1: 57.5, 0.2: 65.8, 1.0: 68.4}, "UME-MMA (ViT-L)": {0.1: 60.1, 0.2: 66.3, 1.0: 69.4},
}

# Fig. 3 (MM-IMDB, Food-101; the axis eta% is the share of test samples WITH text, Ma et al.'s convention) is a figure without printed numbers; its claims, checked
# on our runs: UME-MMA holds up as text goes missing (at or above naive late fusion at every rate), and with the text
# gone entirely it keeps what the image alone gives.

# Our method names -> the paper's row names.
PAPER_NAMES = {"unimodal": "Uni-Modal Models", "naive": "Naive Baseline", "multitask": "Multi-task Training",
               "missing-detection": "Missing Detection", "ume-mma": "UME-MMA (ours)"}
TABLE4_NAMES = {"only-aug": "Only Missing-Aug", "only-pretrain": "Only Pre-Training",
                "ume-mma-frozen": "UME-MMA (Freeze Encs)", "ume-mma": "UME-MMA"}


def side_by_side(results, paper_rows: dict, names: dict, columns: dict[str, str]):
    """Our mean ± std beside the paper's numbers: rows 'ours: <method>' and 'paper: <row>', columns
    renamed by ``columns`` (ours -> the paper's keys, e.g. {"miss:image": "miss-v"})."""
    pd = book_pandas()

    from .report import summary

    ours = summary(results)
    rows = {}
    for method in ours.index:
        rows[f"ours: {method}"] = {columns[c]: ours.loc[method, c] for c in columns if c in ours.columns}
        if method in names and names[method] in paper_rows:
            ref = paper_rows[names[method]]
            rows[f"paper: {names[method]}"] = {v: ("/" if ref.get(v) is None else f"{ref[v]:.2f}") for v in columns.values()}
    return pd.DataFrame(rows).T.rename(columns=str.title).fillna("/")
