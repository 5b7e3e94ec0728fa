"""The image+text loaders (MM-IMDB, UPMC Food-101) on small trees in their release layouts, and the image cache."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from umelib.datasets import images as imgmod
from umelib.datasets.core import MultiModalData, Split
from umelib.datasets.food101 import food101, stratified_validation
from umelib.datasets.images import decode_image, load_images
from umelib.datasets.mmimdb import GENRES, mmimdb
from umelib.datasets.registry import DATASETS
from umelib.errors import UmeError
from umelib.texts import decode_texts

S = 8
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (40, 220, 220), (220, 40, 220)]


def _img(path: Path, i: int, fmt: str = "JPEG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = (24 + 4 * (i % 3), 16 + 6 * (i % 2))
    Image.new("RGB", (w, h), COLORS[i % len(COLORS)]).save(path, fmt)


def _count_decodes(monkeypatch) -> list[int]:
    calls = [0]
    real = imgmod.decode_image

    def counted(path, size):
        calls[0] += 1
        return real(path, size)

    monkeypatch.setattr(imgmod, "decode_image", counted)
    return calls


# ---------------------------------------------------------------- MM-IMDB

MOVIES = {  # id -> (plots, genres); None: no json written
    "m01": (["A short one.", "The longest plot of the first movie, with more words."], ["Drama", "Comedy"]),
    "m02": (["Amélie finds a box — ünïcödé."], ["Drama", "Talk-Show"]),
    "m03": (["Spaceships."], ["Sci-Fi", "Action"]),
    "m04": (["Cowboys."], ["Western"]),
    "m05": (["Noir detective."], ["Film-Noir", "Crime", "Mystery"]),
    "m06": (["Kids."], ["Family", "Animation"]),
    "m07": (["A war story."], ["War", "History"]),
    "m08": (["Songs."], ["Music", "Musical"]),
    "m09": (["Ghosts."], ["Horror"]),
    "m10": (["Facts."], ["Documentary", "Biography"]),
    "m11": (["Goals."], ["Sport", "Short"]),
    "m12": (["Magic."], ["Fantasy", "Adventure", "Romance", "Thriller"]),
    "m13": ([], ["Drama"]),            # no plot -> skipped
    "m14": (["No poster."], ["Drama"]),  # no jpeg -> skipped
    "m15": (["Headlines."], ["News"]),   # no kept genre -> skipped
    "m17": (["Broken poster."], ["Comedy"]),  # unreadable jpeg -> skipped
}
SPLIT = {"train": ["m01", "m02", "m03", "m04", "m05", "m06", "m13", "m14"], "dev": ["m07", "m08", "m09", "m15"],
         "test": ["m10", "m11", "m12", "m16", "m17"]}  # m16: no json


@pytest.fixture
def imdb_root(tmp_path: Path) -> Path:
    root = tmp_path / "mmimdb"
    ds = root / "dataset"
    ds.mkdir(parents=True)
    for i, (mid, (plots, genres)) in enumerate(MOVIES.items()):
        doc = {"genres": genres, "title": mid, **({"plot": plots} if plots else {})}
        (ds / f"{mid}.json").write_text(json.dumps(doc), encoding="utf-8")
        if mid == "m17":
            (ds / f"{mid}.jpeg").write_bytes(b"not an image at all")
        elif mid != "m14":
            _img(ds / f"{mid}.jpeg", i)
    (root / "split.json").write_text(json.dumps(SPLIT))
    return root


def test_mmimdb_shapes_labels_texts_and_skips(imdb_root, tmp_path):
    data = mmimdb(root=imdb_root, size=S, cache_dir=tmp_path / "cache")
    assert data.task == "multilabel" and data.num_classes == 23 and data.modalities == ["image", "text"]
    assert [len(data.train), len(data.val), len(data.test)] == [6, 3, 3]
    for _, split in data.splits():
        assert split.x["image"].dtype == torch.uint8 and split.x["image"].shape[1:] == (3, S, S)
        assert split.x["text"].dtype == torch.uint8 and split.x["text"].dim() == 2
        assert split.y.dtype == torch.float32 and split.y.shape[1] == 23 and bool(split.present.all())
    assert data.train.x["text"].shape[1] == data.test.x["text"].shape[1]  # one text width for every split
    texts = decode_texts(data.train.x["text"])
    assert texts[0] == "The longest plot of the first movie, with more words."  # the longest plot is kept
    assert texts[1] == "Amélie finds a box — ünïcödé."
    assert decode_texts(data.test.x["text"]) == ["Facts.", "Goals.", "Magic."]
    y0 = data.train.y[0]
    assert y0.sum() == 2 and y0[GENRES.index("Drama")] == 1 and y0[GENRES.index("Comedy")] == 1
    assert data.train.y[1].sum() == 1  # Talk-Show dropped, Drama kept
    assert data.info["skipped"] == {"no json": 1, "bad json": 0, "no plot": 1, "no image": 1, "no kept genre": 1,
                                    "unreadable image": 1}
    assert data.info["dropped_genres"] == {"Talk-Show": 1, "News": 1}
    # a poster's colour survives decode + resize + crop (JPEG is lossy: a tolerance)
    px = data.train.x["image"][2].float().mean((1, 2))
    assert torch.allclose(px, torch.tensor(COLORS[2], dtype=torch.float32), atol=8)


def test_mmimdb_cache_is_reused_and_memory_mapped(imdb_root, tmp_path, monkeypatch):
    calls = _count_decodes(monkeypatch)
    cache = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no non-writable-array warning from torch.from_numpy
        first = mmimdb(root=imdb_root, size=S, cache_dir=cache, workers=3)
    assert calls[0] == 13  # 12 posters + the unreadable one
    second = mmimdb(root=imdb_root, size=S, cache_dir=cache, workers=1)
    assert calls[0] == 13  # nothing decoded again
    assert torch.equal(first.train.x["image"], second.train.x["image"])
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
    # train and val are back-to-back slices of the one memory-mapped cache (not copies)
    tr, va = first.train.x["image"], first.val.x["image"]
    assert va.data_ptr() == tr.data_ptr() + tr.numel()
    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: the train images' address lies in a mapping of the cache file
        cache_file = first.info["image_cache"]
        spans = [line.split()[0].split("-") for line in maps.read_text().splitlines() if line.endswith(cache_file)]
        assert any(int(a, 16) <= tr.data_ptr() < int(b, 16) for a, b in spans)
    # a changed file gives a new key: decoded again
    jpeg = imdb_root / "dataset" / "m03.jpeg"
    st = jpeg.stat()
    os.utime(jpeg, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    mmimdb(root=imdb_root, size=S, cache_dir=cache)
    assert calls[0] == 26


def test_mmimdb_limit_and_default_cache_dir(imdb_root):
    data = mmimdb(root=imdb_root, size=S, limit=3)  # ids 0, 4, 7 of each list: m01, m05, m14 (no jpeg) in train
    assert len(data.train) == 2 and len(data.val) == 2 and data.info["limit"] == 3
    assert decode_texts(data.train.x["text"])[1] == "Noir detective."
    assert Path(data.info["image_cache"]).parent == imdb_root / ".umelib-cache"


def test_mmimdb_clear_errors(imdb_root, tmp_path):
    with pytest.raises(UmeError, match="not found.*mmimdb.tar.gz"):
        mmimdb(root=tmp_path / "nowhere")
    (imdb_root / "split.json").unlink()
    with pytest.raises(UmeError, match="split.json is missing.*--data-root"):
        mmimdb(root=imdb_root)
    (imdb_root / "split.json").write_text(json.dumps({"train": ["m01"], "test": ["m10"]}))
    with pytest.raises(UmeError, match="no list 'dev'"):
        mmimdb(root=imdb_root)


# ---------------------------------------------------------------- UPMC Food-101

CLASSES = ["ramen", "apple_pie", "baklava"]  # written unsorted


@pytest.fixture
def food_root(tmp_path: Path) -> Path:
    root = tmp_path / "food"
    (root / "texts").mkdir(parents=True)
    k = 0
    for split, n in (("train", 6), ("test", 2)):
        lines = []
        for c in CLASSES:
            for j in range(n):
                name = f"{c}_{j}.jpg"
                _img(root / "images" / split / c / name, k)
                k += 1
                title = f'"{c} number {j}, with a comma"' if (c, j, split) == ("apple_pie", 0, "train") else f"{c} {j}"
                lines.append(f"{name},{title},{c}")
        if split == "train":
            lines.append("ramen_99.jpg,ghost ramen,ramen")  # its image is missing
        (root / "texts" / f"{split}_titles.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_food101_shapes_labels_split_and_skips(food_root, tmp_path):
    data = food101(root=food_root, size=S, cache_dir=tmp_path / "cache", seed=5)
    assert data.task == "multiclass" and data.num_classes == 3 and data.modalities == ["image", "text"]
    assert data.info["classes"] == ["apple_pie", "baklava", "ramen"]
    assert data.info["skipped"] == {"bad row": 0, "no image": 1, "unreadable image": 0}
    assert [len(data.train), len(data.val), len(data.test)] == [15, 3, 6]
    assert sorted(data.val.y.tolist()) == [0, 1, 2]  # stratified: one of each class's six
    assert data.test.y.tolist() == [2, 2, 0, 0, 1, 1]  # CSV order: ramen, apple_pie, baklava
    assert "seed 0" in data.info["validation"]
    for _, split in data.splits():
        assert split.x["image"].dtype == torch.uint8 and split.x["image"].shape[1:] == (3, S, S)
        assert split.y.dtype == torch.int64
    every = decode_texts(torch.cat([data.train.x["text"], data.val.x["text"]]))
    assert "apple_pie number 0, with a comma" in every  # the quoted comma stays in the title
    assert decode_texts(data.test.x["text"]) == ["ramen 0", "ramen 1", "apple_pie 0", "apple_pie 1", "baklava 0",
                                                 "baklava 1"]
    # the validation split does not depend on the run's seed
    other = food101(root=food_root, size=S, cache_dir=tmp_path / "cache", seed=1)
    assert decode_texts(other.val.x["text"]) == decode_texts(data.val.x["text"])


def test_food101_cache_reused(food_root, tmp_path, monkeypatch):
    calls = _count_decodes(monkeypatch)
    food101(root=food_root, size=S, cache_dir=tmp_path / "c", workers=2)
    assert calls[0] == 24
    food101(root=food_root, size=S, cache_dir=tmp_path / "c")
    assert calls[0] == 24


def test_food101_validation_draw_matches_with_validation():
    y = torch.tensor([0] * 12 + [1] * 25 + [2] * 7)[torch.randperm(44, generator=torch.Generator().manual_seed(3))]
    train = Split({"a": torch.arange(44).float()[:, None], "b": torch.zeros(44, 1)}, y, torch.ones(44, 2, dtype=bool))
    ref = MultiModalData("t", train, train, 3).with_validation(0.1, seed=0)
    assert ref.val.x["a"][:, 0].long().tolist() == stratified_validation(y.numpy()).tolist()


def test_food101_clear_errors(food_root, tmp_path):
    with pytest.raises(UmeError, match="not found.*--data-root"):
        food101(root=tmp_path / "nowhere")
    (food_root / "texts" / "test_titles.csv").unlink()
    with pytest.raises(UmeError, match="test_titles.csv is missing"):
        food101(root=food_root)


# ---------------------------------------------------------------- the image cache itself

def test_decode_resizes_shorter_side_then_crops_centre(tmp_path):
    im = Image.new("RGB", (20, 40), (255, 0, 0))  # w=20, h=40: top half red, bottom half blue
    im.paste((0, 0, 255), (0, 20, 20, 40))
    im.save(tmp_path / "a.png")
    x = decode_image(tmp_path / "a.png", 10)  # -> 10 x 20, rows 5..15 kept
    assert x.shape == (3, 10, 10) and x.dtype == np.uint8
    assert (x[0, :4] > 200).all() and (x[2, 6:] > 200).all()
    Image.new("L", (12, 12), 128).save(tmp_path / "g.png")  # greyscale -> RGB
    assert decode_image(tmp_path / "g.png", 6).shape == (3, 6, 6)


def test_load_images_bad_files_and_workers(tmp_path):
    paths = []
    for i in range(4):
        _img(tmp_path / f"{i}.jpg", i)
        paths.append(tmp_path / f"{i}.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(UmeError, match="bad.jpg"):
        load_images(paths + [tmp_path / "bad.jpg"], S, tmp_path / "c1")
    got = load_images(paths + [tmp_path / "bad.jpg"], S, tmp_path / "c2", workers=1, skip_bad=True)
    assert got.ok.tolist() == [True] * 4 + [False] and got.decoded == 5
    assert int(got.images[4].sum()) == 0
    with pytest.raises(UmeError, match="bad.jpg"):  # a cached bad file still refuses without skip_bad
        load_images(paths + [tmp_path / "bad.jpg"], S, tmp_path / "c2")
    par = load_images(paths, S, tmp_path / "c3", workers=4)
    assert torch.equal(par.images, got.images[:4])
    assert load_images(paths, S, tmp_path / "c3").decoded == 0


def test_registered():
    assert DATASETS["mmimdb"].task == "multilabel" and DATASETS["mmimdb"].metric == "f1_macro"
    assert DATASETS["food101"].task == "multiclass" and DATASETS["food101"].metric == "accuracy"
    assert DATASETS["mmimdb"].encoders == {"image": "lenet", "text": "bag"}


def test_the_checksum_reads_no_pixels_but_sees_text_and_labels(imdb_root, tmp_path):
    """info['sha256'] comes from the cache key and the small arrays: set, stable, and changed by a plot's text."""
    from umelib.datasets.images import light_digest

    data = mmimdb(root=imdb_root, size=16, cache_dir=tmp_path / "c")
    assert data.info["sha256"] == data.sha256()
    splits = {"train": data.train, "val": data.val, "test": data.test}
    assert light_digest(data.info["image_cache"], splits) == data.info["sha256"]
    data.train.x["text"][0, 0] ^= 1
    assert light_digest(data.info["image_cache"], splits) != data.info["sha256"]
