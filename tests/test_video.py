"""AVE and Kinetics-Sounds: preparation from tiny generated videos in both published layouts, then the loaders."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from umelib.datasets import load_dataset  # noqa: E402
from umelib.datasets.builders import video  # noqa: E402
from umelib.datasets.registry import dataset_entry  # noqa: E402
from umelib.datasets.video import frame_indices  # noqa: E402
from umelib.errors import UmeError  # noqa: E402
from umelib.files import file_digest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
S, F = 40, 3  # small frames keep the test fast


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "data_scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_clip(path: Path, seconds: float = 3.5, tone: float = 440.0, audio: bool = True, fps: int = 4) -> None:
    """A tiny H.264 + AAC clip: red = time (frame k has red 40 * k / fps), a green bar, a sine at ``tone``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 48, 32, "yuv420p"
        aus = c.add_stream("aac", rate=8000) if audio else None
        for i in range(int(seconds * fps)):
            img = np.zeros((32, 48, 3), np.uint8)
            img[..., 0] = min(255, 40 * i // fps)
            img[:, 20:28, 1] = 200
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if aus is not None:
            x = (0.5 * np.sin(2 * np.pi * tone * np.arange(int(seconds * 8000)) / 8000)).astype(np.float32)
            for s in range(0, len(x), 1024):
                fr = av.AudioFrame.from_ndarray(x[None, s:s + 1024].copy(), format="fltp", layout="mono")
                fr.sample_rate, fr.pts = 8000, s
                for p in aus.encode(fr):
                    c.mux(p)
            for p in aus.encode():
                c.mux(p)


CATS = ["Bark", "Accordion", "Church bell"]  # AVE-style names (sorted: Accordion, Bark, Church bell)


@pytest.fixture(scope="module")
def ave_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("AVE_Dataset")
    lists = {"trainSet.txt": [], "valSet.txt": [], "testSet.txt": []}
    for j, cat in enumerate(CATS):
        for k in range(2):
            lists["trainSet.txt"].append((cat, f"tr{j}{k}", 2.5 if k else 3.5))
        lists["valSet.txt"].append((cat, f"va{j}", 3.5))
        lists["testSet.txt"].append((cat, f"te{j}", 3.5))
    for name, rows in lists.items():
        for cat, vid, sec in rows:
            make_clip(root / "AVE" / f"{vid}.mp4", sec, tone=300 + 200 * CATS.index(cat))
    make_clip(root / "AVE" / "mute.mp4", audio=False)
    (root / "AVE" / "broken.mp4").write_bytes(b"not a video, only bytes " * 100)
    lists["trainSet.txt"] += [("Bark", "mute", 0), ("Bark", "broken", 0), ("Accordion", "gone", 0)]
    header = "Category&VideoID&Quality&StartTime&EndTime\n"
    for name, rows in lists.items():
        body = "".join(f"{c}&{v}&good&0&10\n" for c, v, _ in rows)
        (root / name).write_text((header if name == "trainSet.txt" else "") + body)
    (root / "Annotations.txt").write_text(header + "".join(f"{c}&{v}&good&0&10\n" for rows in lists.values()
                                                           for c, v, _ in rows))
    return root


@pytest.fixture(scope="module")
def ave_out(ave_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ave-out")
    rc = script("prepare_ave").main(["--root", str(ave_root), "--out", str(out), "--workers", "2", "--size", str(S),
                                     "--frames", str(F)])
    assert rc == 0
    return out


def test_ave_prepare(ave_out):
    m = json.loads((ave_out / "manifest.json").read_text())
    assert m["classes"] == ["Accordion", "Bark", "Church bell"]
    assert {s: v["clips"] for s, v in m["splits"].items()} == {"train": 6, "val": 3, "test": 3}
    assert m["splits"]["train"]["per_class"] == {"Accordion": 2, "Bark": 2, "Church bell": 2}
    assert m["skipped_counts"] == {"no audio stream": 1, "unreadable": 1, "absent": 1}
    assert {d["id"]: d["reason"] for d in m["skipped"]}.keys() == {"mute", "broken", "gone"}
    assert m["settings"]["size"] == S and m["settings"]["audio_samples"] == 65535 and m["wall_s"] > 0
    for name, rec in m["files"].items():
        assert file_digest(ave_out / name) == rec["sha256"], name
    fr = np.load(ave_out / "train" / "frames.npy", mmap_mode="r")
    assert fr.shape == (6, F, 3, S, S) and fr.dtype == np.uint8
    n = np.load(ave_out / "train" / "frame_count.npy")
    assert sorted(n.tolist()) == [2, 2, 2, 3, 3, 3]  # 2.5-s clips reach t = 0.5, 1.5 s only
    short = int(np.flatnonzero(n == 2)[0])
    assert np.array_equal(fr[short, 2], fr[short, 1])  # the last real frame is repeated
    red = fr[:, :, 0, S // 2, 2].astype(int)  # red grows with time: frames at t = 0.5, 1.5 (, 2.5) s
    assert (np.diff(red[n == 3], axis=1) > 20).all()
    assert (fr[:, 0, 1, S // 2, S // 2] > 150).all() and (fr[:, 0, 1, S // 2, 2] < 60).all()  # bar centred
    w = np.load(ave_out / "train" / "waveform.npy")
    sp = np.load(ave_out / "train" / "spectrogram.npy")
    y = np.load(ave_out / "train" / "labels.npy")
    assert w.shape == (6, 65535) and w.dtype == np.float32 and np.abs(w).max() <= 1.0
    assert sp.shape == (6, 1, 257, 256) and sp.dtype == np.float32 and sp.min() >= -1 and sp.max() <= 1
    for i in range(6):  # the tone of the clip's class: 300 / 500 / 700 Hz for Bark / Accordion / Church bell
        tone = 300 + 200 * CATS.index(m["classes"][y[i]])
        peak = np.abs(np.fft.rfft(w[i])).argmax() * 11025 / 65535
        assert abs(peak - tone) < 5 and abs(sp[i, 0, :, 128].argmax() * 11025 / 512 - tone) < 25
    assert (ave_out / "train" / "ids.txt").read_text().split() == ["tr00", "tr01", "tr10", "tr11", "tr20", "tr21"]
    assert not (ave_out / ".shards").exists()  # shards removed after assembly


def test_ave_rerun_resume_and_workers(ave_root, ave_out, tmp_path):
    rows, classes, _ = script("prepare_ave").read_rows(ave_root)
    kw = dict(classes=classes, dataset="ave", size=S, frames=F, log=None)
    again = video.prepare(rows, ave_out, workers=2, **kw)
    assert again["up_to_date"] and again["decoded"] == 0
    one = video.prepare(rows, tmp_path, workers=1, keep_clips=True, **kw)
    assert one["decoded"] == 14 and not one["up_to_date"]  # 12 clips + the mute and the broken one
    m2 = json.loads((ave_out / "manifest.json").read_text())
    assert {k: v["sha256"] for k, v in one["files"].items()} == {k: v["sha256"] for k, v in m2["files"].items()}
    (tmp_path / "manifest.json").unlink()  # as if interrupted before the assembly ended
    next((tmp_path / ".shards").rglob("va1-*.npz")).unlink()
    resumed = video.prepare(rows, tmp_path, workers=1, keep_clips=True, **kw)
    assert resumed["decoded"] == 1 and resumed["files"] == one["files"]


def test_ave_loader(ave_out):
    d = load_dataset("ave", root=ave_out)
    assert d.modalities == ["audio", "visual"] and d.num_classes == 3 and d.task == "multiclass"
    assert (len(d.train), len(d.val), len(d.test)) == (6, 3, 3)
    assert d.train.x["visual"].shape == (6, 1, 3, S, S) and d.train.x["visual"].dtype == torch.uint8
    assert d.train.x["audio"].shape == (6, 65535) and d.train.x["audio"].dtype == torch.float32
    full = np.load(ave_out / "test" / "frames.npy")
    assert np.array_equal(d.test.x["visual"].numpy()[:, 0], full[:, 1])  # the middle of 3 frames
    assert d.train.present.all() and d.train.y.tolist() == [1, 1, 0, 0, 2, 2]
    d3 = load_dataset("ave", root=ave_out, frames=3, audio="spectrogram")
    assert d3.train.x["visual"].shape == (6, 3, 3, S, S) and d3.test.x["audio"].shape == (3, 1, 257, 256)
    assert d.sha256() != d3.sha256() and len(d.sha256()) == 64
    assert load_dataset("ave", root=ave_out, limit=3).train.x["visual"].shape[0] == 3
    with pytest.raises(UmeError, match="frames must lie in 1..3"):
        load_dataset("ave", root=ave_out, frames=4)
    with pytest.raises(UmeError, match="audio must be one of"):
        load_dataset("ave", root=ave_out, audio="mel")
    with pytest.raises(UmeError, match=r"not prepared in .*python data_scripts/prepare_ave.py --root AVE_DIR"):
        load_dataset("ave", root=ave_out / "nowhere")
    assert dataset_entry("kinetics-sounds").encoders == {"audio": "audionet", "visual": "frames:3,3,crop:resnet18"}


def test_ave_batches_run_through_the_registered_encoders(ave_out):
    pytest.importorskip("umelib.models.audio")  # AudioNet and frames:SPEC
    from umelib.models.fusion import LateFusion

    torch.manual_seed(0)
    for frames in (1, 3):
        d = load_dataset("ave", root=ave_out, frames=frames)
        model = LateFusion.build(d.input_shapes(), d.num_classes, dataset_entry("ave").encoders).eval()
        with torch.no_grad():
            assert model(d.train.batch(torch.tensor([0, 3]))).shape == (2, 3)


def test_frame_indices():
    pick = lambda n, k: list(range(n))[frame_indices(n, k)]  # noqa: E731
    assert pick(10, 1) == [4] and pick(10, 3) == [1, 4, 7] and pick(10, 10) == list(range(10)) and pick(3, 1) == [1]


def test_kinetics_sounds(tmp_path, capsys):
    ks = script("prepare_ks")
    classes = ks.read_classes(ks.CLASSES_FILE)
    assert len(classes) == 32 and "playing bagpipes" in classes and classes == sorted(classes)
    root, kept = tmp_path / "k400", ["playing bagpipes", "tapping pen", "shoveling snow"]
    csvs = {"train": [], "validate": []}
    for j, c in enumerate(kept):
        for k in range(4):
            make_clip(root / "train" / c.replace(" ", "_") / f"yt{j}{k}_{k:06d}_{k + 10:06d}.mp4", 2.5, 300 + 100 * j)
            csvs["train"].append(f"{c},yt{j}{k},{k},{k + 10},train")
        make_clip(root / "validate" / c / f"v{j}_000003_000013.mp4", 2.5, 300 + 100 * j)
        csvs["validate"].append(f"{c},v{j},3.0,13.0,val")
    make_clip(root / "train" / "juggling_balls" / "x_000000_000010.mp4", 1.0)  # not a Kinetics-Sounds class
    make_clip(root / "train" / "tapping_pen" / "mute_000000_000010.mp4", audio=False)
    (root / "validate" / "tapping pen" / "bad_000000_000010.mp4").write_bytes(b"not a video")
    csvs["train"] += ["tapping pen,mute,0,10,train", "tapping pen,gone,0,10,train", "juggling balls,x,0,10,train"]
    csvs["validate"].append("tapping pen,bad,0,10,val")
    (root / "ann").mkdir()
    for name, rows in csvs.items():
        (root / "ann" / f"{name}.csv").write_text("label,youtube_id,time_start,time_end,split\n" + "\n".join(rows))
    out = tmp_path / "ks"
    for ann in ([], ["--annotations", str(root / "ann")]):
        rc = ks.main(["--root", str(root), "--out", str(out), "--workers", "2", "--size", str(S), "--frames", str(F),
                      "--val-fraction", "0.2", *ann])
        assert rc == 0
        m = json.loads((out / "manifest.json").read_text())
        n = {s: v["clips"] for s, v in m["splits"].items()}
        assert n["train"] + n["val"] == 12 and n["val"] in (2, 3) and n["test"] == 3 and len(m["classes"]) == 32
        assert m["notes"]["listed"] == {"train": 10 + bool(ann), "val": 3, "test": 4}
    assert m["skipped_counts"] == {"no audio stream": 1, "unreadable": 1, "absent": 1}
    assert m["notes"]["listing"] == "annotation CSV files" and m["notes"]["test"] == "Kinetics validate/ split"
    d = load_dataset("kinetics-sounds", root=out, frames=3)
    assert d.num_classes == 32 and d.train.x["visual"].shape == (n["train"], 3, 3, S, S) and len(d.val) == n["val"]
    assert set(d.test.y.tolist()) == {d.info["classes"].index(c) for c in kept}
    assert "seed 0" in d.info["validation"]
    with pytest.raises(UmeError, match="python data_scripts/prepare_ks.py"):
        load_dataset("kinetics-sounds", root=tmp_path / "none")
    assert ks.main(["--root", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "Kinetics folder" in capsys.readouterr().err


def test_decode_clip_spans_a_long_clip(tmp_path):
    p = tmp_path / "long.mp4"
    make_clip(p, seconds=10.0, fps=2)  # red = 20 * frame index, capped at 255
    d3, d10 = video.decode_clip(p, size=16, frames=3), video.decode_clip(p, size=16, frames=10)
    assert int(d3["frame_count"]) == 3 and int(d10["frame_count"]) == 10  # 3 frames spread, or 1 fps
    red3, red10 = d3["frames"][:, 0, 8, 1].astype(int), d10["frames"][:, 0, 8, 1].astype(int)
    assert abs(red3[0] - 80) < 12 and abs(red3[1] - 200) < 12  # t = 1.67 s -> frame 4; t = 5 s -> frame 10
    assert (np.diff(red10[:6]) > 25).all()  # t = 0.5, 1.5, ... s -> frames 1, 3, 5, ...: +40 each


@pytest.mark.slow  # ResNet-18 / every table trained on video clips
def test_ave_smoke_training_runs_end_to_end(ave_out):
    """Phase 1 (AudioNet on the waveform, ResNet-18 on the frames) and UME-MMA on the generated clips, through the
    suite: a pipeline check of the whole chain (prepare -> load -> train -> protocol), not a result."""
    pytest.importorskip("umelib.models.audio")
    from umelib.experiments.suite import run

    tiny = {"phase1.epochs": 1, "phase2.epochs": 1, "phase1.batch_size": 4, "phase2.batch_size": 4}
    res = run("ave", ["unimodal", "ume-mma"], "smoke", seeds=0, settings=tiny, data_kw={"root": ave_out})
    assert [r["method"] for r in res] == ["unimodal", "ume-mma"]
    assert set(res[1]["metrics"]) == {"complete", "miss:audio", "miss:visual", "avg"}
    assert all(0 <= v <= 100 for r in res for v in r["metrics"].values())
    assert res[1]["provenance"]["config"]["encoders"] == {"audio": "audionet", "visual": "frames:3,3,crop:resnet18"}


@pytest.mark.slow  # ResNet-18 / every table trained on video clips
def test_reproduce_ave_runs_every_table_in_one_command(ave_out, tmp_path, monkeypatch):
    """`python -m umelib reproduce ave --data-root OUT [--encoder ...]`: Tables 1 and 4 (CNN: AudioNet + ResNet-18
    on 3 random frames) and, with both large encoders given, Tables 2, 4 (ViT) and 5 under App. B.1.2, from one
    call (here smoke, 1 epoch, small stand-ins for every encoder: an MLP on the waveform and a LeNet per frame in
    place of AudioNet and the ResNet-18, which test_ave_smoke_training_runs_end_to_end trains)."""
    pytest.importorskip("umelib.models.audio")
    from umelib.paper import chapters
    from umelib.paper.chapters import VIDEO_CNN, chapter_results, results_path

    assert chapters.video_cnn() == (VIDEO_CNN, "random (no ImageNet weights file given)")
    small_cnn = {"audio": "mlp", "visual": "frames:3,3,crop:lenet"}
    monkeypatch.setattr(chapters, "video_cnn", lambda weights=None: (small_cnn, "random (no ImageNet weights file given)"))

    tiny = {"phase1.epochs": 1, "phase2.epochs": 1, "phase1.batch_size": 4, "phase2.batch_size": 4}
    enc = {"visual": "frames:3,1:lenet", "audio": "mlp"}
    res = chapter_results("ave", "smoke", retrain=True, save=True, root=tmp_path, data_kw={"root": ave_out},
                          settings={**tiny, "encoders": enc})
    cnn = [r for r in res if r["encoders"] == "CNN"]
    large = [r for r in res if r["encoders"] == "large"]
    assert {r["method"] for r in cnn} == {"unimodal", "naive", "multitask", "missing-detection", "phase1-fused", "ume-mma",
                                         "only-aug", "only-pretrain", "ume-mma-frozen", "frozen-heads"}
    assert {r["visual_init"] for r in cnn} == {"random (no ImageNet weights file given)"}
    assert cnn[0]["provenance"]["config"]["encoders"] == small_cnn
    assert cnn[0]["provenance"]["config"]["phase1"]["optimizer"] == "sgd"
    assert {r["method"] for r in large} == {"unimodal", "naive", "multitask", "ume-mma", "only-aug", "only-pretrain",
                                           "ume-mma-frozen", "frozen-heads", "ume-mma@p=0", "ume-mma@p=0.5"}
    cfg = large[0]["provenance"]["config"]
    assert cfg["phase1"]["optimizer"] == "adamw" and cfg["phase2"]["lr"] == 1e-5 and cfg["encoders"] == enc
    assert results_path("ave", "smoke", tmp_path).exists()
    # ave-large: the large part alone, from the cache; refused without both encoders
    again = chapter_results("ave-large", "smoke", retrain=True, root=tmp_path, data_kw={"root": ave_out},
                            settings={**tiny, "encoders": enc})
    assert [r["metrics"] for r in again] == [r["metrics"] for r in large]
    with pytest.raises(UmeError, match="need both encoders"):
        chapter_results("ave-large", "smoke", retrain=True, root=tmp_path, data_kw={"root": ave_out},
                        settings={"encoders": {"visual": "frames:lenet"}})


def test_frame_encoder_draws_random_frames_in_training_and_the_middle_one_at_test():
    """frames:3,1:SPEC: 3 distinct frames per clip, in time order, drawn anew at each training step; the middle
    frame at test; clips with fewer frames use all of theirs."""
    from umelib.models.encoders import check_weights, make_encoder

    enc = make_encoder("frames:3,1:mlp", (10, 1, 1, 1))
    clips = torch.arange(10.0).repeat(64, 1).reshape(64, 10, 1, 1, 1)
    enc.train()
    a, b = enc.pick(clips).flatten(1), enc.pick(clips).flatten(1)
    assert a.shape == (64, 3) and (a.diff(dim=1) > 0).all()  # distinct, sorted
    assert not torch.equal(a, b) and len({tuple(r.tolist()) for r in a}) > 20  # anew per step, per clip
    assert set(a.unique().tolist()) == set(range(10))
    enc.eval()
    assert enc.pick(clips).flatten(1).unique().tolist() == [4.0]  # stored 10 -> frame 4 (t = 4.5 s)
    assert make_encoder("frames:3,1:mlp", (2, 1, 1, 1)).train().pick(clips[:, :2]).shape[1] == 2
    assert enc(clips).shape == (64, enc.out_dim)
    check_weights("frames:3,1:resnet18")
    with pytest.raises(UmeError, match="weights for"):
        check_weights("frames:3,1:torchvision:resnet18@/nonexistent.pth")


def test_loader_all_frames(ave_out):
    from umelib.datasets import load_dataset

    d = load_dataset("ave", root=ave_out, frames="all")
    assert d.input_shapes()["visual"][0] == int(json.loads((ave_out / "manifest.json").read_text())["settings"]["frames"])
    assert "every stored frame" in d.info["visual"]
    with pytest.raises(UmeError, match="or be 'all'"):
        load_dataset("ave", root=ave_out, frames="some")


def _rec(method: str, seed: int, part: str, base: float, **extra) -> dict:
    m = {"complete": base + 10, "miss:audio": base + 5, "miss:visual": base - 20}
    m["avg"] = sum(m.values()) / 3
    return {"method": method, "seed": seed, "encoders": part, "metrics": m, **extra}


def test_video_tables_put_ours_beside_the_papers_and_fall_back_to_the_papers_alone():
    from umelib.paper.avtables import video_tables

    paper_only = video_tables([], "ave")
    assert set(paper_only) == {"Table 1 (CNN encoders)", "Table 2 (large encoders)", "Table 4 (ablations)",
                               "Table 5 (drop probability, large encoders)"}
    assert paper_only["Table 1 (CNN encoders)"].loc["UME-MMA (ours)", "Avg"] == 62.75
    assert "Table 5 (drop probability, large encoders)" not in video_tables([], "kinetics-sounds")
    recs = [_rec(m, s, "CNN", 50 + s) for m in ("unimodal", "naive", "ume-mma", "only-aug") for s in (0, 1, 2)]
    recs += [_rec("ume-mma", s, "large", 80) for s in (0, 1)]
    recs += [_rec(f"ume-mma@p={p:g}", s, "large", 70 + 10 * p, sweep={"drop_p": p}) for p in (0.0, 0.5) for s in (0, 1)]
    t = video_tables(recs, "ave")
    t1 = t["Table 1 (CNN encoders)"]
    assert t1.loc["ours: ume-mma", "Miss-V"] == "31.00 ± 1.00" and t1.loc["paper: UME-MMA (ours)", "Miss-V"] == "36.32"
    assert "ours: ume-mma" in t["Table 2 (large encoders)"].index
    t4 = t["Table 4 (ablations)"]
    assert t4.loc["Only Missing-Aug", "ours, CNN encoders"] == "31.0 / 56.0"
    assert t4.loc["UME-MMA", "paper, ViT encoders"] == "86.9 / 88.1"
    t5 = t["Table 5 (drop probability, large encoders)"]
    assert t5.loc["ours: Complete", "p=0.5"] == 85.0 and t5.loc["ours: Complete", "p=0.3"] == "/"
