"""Own-data defaults on small public tabular datasets split into two modalities (scikit-learn ships them).

    python bench/own_data.py [--out results/bench/own_data_cpu.json] [--seeds 0 1 2]

For each dataset: a well-tuned linear model per modality (standardized features, logistic regression with C
chosen by 5-fold cross-validation on the training split), then umelib's uni-modal models and UME-MMA under two
configs on the same .npz: ``old`` (the code of :data:`OLD_REF` itself, whose `full` profile gave any data the App. B
schedule: SGD lr 1e-2, 10 epochs, phase-2 lr 1e-4, no validation split, last epoch) and ``new`` (the current `full` default for own data: each phase
trained until the validation score stops improving, best epoch kept). Reports test accuracy, the gaps the
targets name (uni-modal vs linear: within 2 points; UME-MMA with a modality missing vs the uni-modal model
of the other: within 3 points) and the wall time of one `python -m umelib run` call.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import umelib  # noqa: E402
from umelib.files import save_json  # noqa: E402
from umelib.provenance import provenance  # noqa: E402

OLD_REF = "85dadad"  # the last commit before own data trained to convergence (its `full` = App. B for any data)
OLD_RUN = """
import json, sys
import umelib
res = umelib.run(sys.argv[1], ["unimodal", "ume-mma"], "full", [int(s) for s in sys.argv[2].split(",")])
print(json.dumps(res))
"""


def run_old(path: Path, seeds: list[int], tmp: Path) -> list[dict]:
    """The old defaults, run by the old code itself: ``umelib`` of :data:`OLD_REF` unpacked with ``git archive``."""
    src = tmp / "old-umelib"
    if not src.exists():
        src.mkdir()
        tar = subprocess.run(["git", "archive", OLD_REF, "umelib"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=tar, check=True)
    out = subprocess.run([sys.executable, "-c", OLD_RUN, str(path), ",".join(map(str, seeds))], cwd=src, check=True,
                         capture_output=True, text=True, env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def datasets() -> dict[str, tuple[dict[str, np.ndarray], np.ndarray, str]]:
    """name -> (modalities, labels, how the features were split)."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    d = load_digits()
    img = d.images.reshape(len(d.images), 8, 8)
    out = {"digits": ({"top": img[:, :4].reshape(-1, 32), "bottom": img[:, 4:].reshape(-1, 32)}, d.target,
                      "8x8 digit images: rows 0-3 vs rows 4-7 (2 x 32 features)")}
    b = load_breast_cancer()
    out["breast_cancer"] = ({"mean": b.data[:, :10], "rest": b.data[:, 10:]}, b.target,
                            "the 10 'mean' features vs the 20 'error' and 'worst' features")
    w = load_wine()
    out["wine"] = ({"a": w.data[:, :6], "b": w.data[:, 6:]}, w.target, "features 0-5 vs 6-12")
    return out


def split_npz(mods: dict[str, np.ndarray], y: np.ndarray, path: Path, seed: int = 0) -> dict:
    """A stratified 75/25 train/test split written as an own-data .npz (no validation split: umelib carves one)."""
    from sklearn.model_selection import train_test_split

    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=seed)
    arrays = {"num_classes": np.array(int(y.max()) + 1)}
    for s, idx in (("train", idx_tr), ("test", idx_te)):
        arrays[f"{s}/y"] = y[idx].astype(np.int64)
        for m, a in mods.items():
            arrays[f"{s}/{m}"] = a[idx].astype(np.float32)
    np.savez(path, **arrays)
    return arrays


def linear(arrays: dict, m: str) -> float:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=np.logspace(-3, 3, 13), cv=5, max_iter=5000))
    clf.fit(arrays[f"train/{m}"], arrays["train/y"])
    return 100 * float(clf.score(arrays[f"test/{m}"], arrays["test/y"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "own_data_cpu.json"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--configs", nargs="+", default=["old", "new"])
    a = ap.parse_args()
    rows, t_start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (mods, y, how) in datasets().items():
            path = Path(tmp) / f"{name}.npz"
            arrays = split_npz(mods, y, path)
            lin = {m: linear(arrays, m) for m in mods}
            for cfg_name in a.configs:
                t0 = time.perf_counter()
                res = (run_old(path, a.seeds, Path(tmp)) if cfg_name == "old"
                       else umelib.run(str(path), ["unimodal", "ume-mma"], "full", a.seeds))
                wall = time.perf_counter() - t0
                uni = [r for r in res if r["method"] == "unimodal"]
                ume = [r for r in res if r["method"] == "ume-mma"]
                mean = lambda rs, s: float(np.mean([r["metrics"][s] for r in rs]))
                a_, b_ = list(mods)
                row = {"dataset": name, "modalities": how, "n_train": len(arrays["train/y"]),
                       "n_test": len(arrays["test/y"]), "config": cfg_name, "seeds": a.seeds,
                       "linear": lin, "unimodal": {a_: mean(uni, f"miss:{b_}"), b_: mean(uni, f"miss:{a_}")},
                       "ume_mma": {s: mean(ume, s) for s in ("complete", f"miss:{a_}", f"miss:{b_}", "avg")},
                       "selected_epoch": [r["provenance"].get("selected_epoch") for r in ume],
                       "wall_s_all_seeds": round(wall, 1)}
                row["gap_unimodal_vs_linear"] = {m: row["unimodal"][m] - lin[m] for m in mods}
                row["gap_ume_missing_vs_unimodal"] = {f"miss:{a_}": row["ume_mma"][f"miss:{a_}"] - row["unimodal"][b_],
                                                      f"miss:{b_}": row["ume_mma"][f"miss:{b_}"] - row["unimodal"][a_]}
                if name == "digits":  # what a user waits for: one CLI call, ume-mma, one seed
                    cmd = [sys.executable, "-m", "umelib", "run", "--dataset", str(path), "--profile", "full", "--quiet"]
                    cwd = Path(tmp) / "old-umelib" if cfg_name == "old" else ROOT
                    t1 = time.perf_counter()
                    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd,
                                   env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})
                    row["cli_wall_s"] = round(time.perf_counter() - t1, 1)
                rows.append(row)
                print(f"{name:14s} {cfg_name:4s} linear {lin} uni {row['unimodal']} ume {row['ume_mma']} "
                      f"({wall:.1f} s{', CLI ' + str(row.get('cli_wall_s')) + ' s' if 'cli_wall_s' in row else ''})",
                      flush=True)
    out = {"bench": "own_data", "rows": rows, "old_ref": OLD_REF,
           "new_settings": umelib.get_config("full", "own.npz").to_dict(),
           "provenance": provenance(None, "cpu", time.perf_counter() - t_start, sklearn=__import__("sklearn").__version__)}
    save_json(out, a.out, overwrite=True)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
