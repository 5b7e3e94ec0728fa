"""The emoji dataset: a build from two tiny tarballs in the emoji-datasource layout (pins overridden), the
loader's options, the text cleaning, the errors; and, when the real build exists, its counts and classes."""
import hashlib
import importlib.util
import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from umelib.datasets import emoji as el
from umelib.datasets import load_dataset, load_npz
from umelib.datasets.builders import emoji as eb
from umelib.errors import UmeError
from umelib.texts import decode_texts

ROOT = Path(__file__).resolve().parents[1]

# (name, short names, category, subcategory): 5 per subcategory so each split gets one or more
EMOJI = [("GRINNING FACE", ["grinning"], "Smileys & Emotion", "face-smiling"),
         ("SMILING FACE WITH OPEN MOUTH", ["smiley"], "Smileys & Emotion", "face-smiling"),
         ("WINKING FACE", ["wink"], "Smileys & Emotion", "face-smiling"),
         ("HUNDRED POINTS SYMBOL", ["100"], "Smileys & Emotion", "face-smiling"),
         ("ROLLING ON THE FLOOR LAUGHING", ["rolling_on_the_floor_laughing", "rofl"], "Smileys & Emotion", "face-smiling"),
         ("DOG FACE", ["dog"], "Animals & Nature", "animal-mammal"),
         ("CAT FACE", ["cat"], "Animals & Nature", "animal-mammal"),
         ("TIGER", ["tiger2"], "Animals & Nature", "animal-mammal"),
         ("HORSE", ["racehorse"], "Animals & Nature", "animal-mammal"),
         ("MAN: LIGHT SKIN TONE", ["man-skin-tone-2"], "Animals & Nature", "animal-mammal"),
         ("Saudi Arabia Flag", ["flag-sa"], "Flags", "country-flag"),
         ("France Flag", ["flag-fr", "fr"], "Flags", "country-flag"),
         ("Japan Flag", ["flag-jp", "jp"], "Flags", "country-flag"),
         ("REGIONAL INDICATOR SYMBOL LETTER Q", ["flag-qq"], "Flags", "country-flag"),
         ("CHEQUERED FLAG", ["checkered_flag"], "Flags", "country-flag"),
         ("EMOJI MODIFIER FITZPATRICK TYPE-1-2", ["skin-tone-2"], "Component", "skin-tone"),
         ("SOLO GOOGLE", ["solo"], "Animals & Nature", "animal-mammal")]  # no twitter image: dropped


def _png(rgb, size=64, alpha=255) -> bytes:
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))  # transparent border
    im.paste(Image.new("RGBA", (size // 2, size // 2), (*rgb, alpha)), (size // 4, size // 4))
    b = io.BytesIO()
    im.save(b, format="PNG")
    return b.getvalue()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def make_tarballs(d: Path) -> dict[str, str]:
    """The two tiny packages in ``d``; returns their sha256 pins."""
    d.mkdir(parents=True, exist_ok=True)
    meta = []
    for i, (name, short, cat, sub) in enumerate(EMOJI):
        code = f"{0x1F600 + i:X}"
        meta.append({"name": name, "unified": code, "image": f"{code.lower()}.png", "short_name": short[0],
                     "short_names": short, "category": cat, "subcategory": sub, "sort_order": i,
                     "has_img_google": True, "has_img_twitter": name != "SOLO GOOGLE"})
    pins = {}
    for k, design in enumerate(eb.DESIGNS):
        p = d / eb.TARBALLS[design]
        with tarfile.open(p, "w:gz") as tf:
            _add(tf, "package/package.json", json.dumps({"name": eb.PACKAGES[design]}).encode())
            for j, e in enumerate(meta):
                if e[f"has_img_{design}"]:
                    size = 16 if j == 0 and design == "twitter" else 64  # one small image: resized to 64
                    _add(tf, f"package/img/{design}/64/{e['image']}", _png((40 * j % 256, 100 * k, 200), size))
            _add(tf, "package/img/google/sheets/64.png", b"not used")
            _add(tf, "package/emoji.json", json.dumps(meta).encode())  # after the images, as order may vary
        pins[design] = hashlib.sha256(p.read_bytes()).hexdigest()
    return pins


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("emoji")
    pins = make_tarballs(base / "src")
    man = eb.build_emoji(base / "out", src=base / "src", pins=pins)
    return base, pins, man


def test_build_layout_split_and_counts(built):
    base, pins, man = built
    out = base / "out"
    assert (out / "emoji.npz").is_file() and man["files"]["emoji.npz"]["sha256"]
    assert json.loads((out / "manifest.json").read_text())["counts"] == man["counts"]
    assert man["classes"]["category"] == ["Smileys & Emotion", "Animals & Nature", "Flags"]  # Component dropped
    assert man["dropped"] == {"category Component": 1, "image missing in a design": 1}
    assert {s: c["emoji"] for s, c in man["counts"].items()} == {"train": 9, "val": 3, "test": 3}
    assert man["sources"]["twitter"]["licence"] == "CC-BY-4.0" and "Twemoji graphics" in man["attribution"]
    with np.load(out / "emoji.npz", allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    seen = {}
    for s in ("train", "val", "test"):
        img = a[f"{s}/image"]
        assert img.dtype == np.uint8 and img.shape[1:] == (3, 64, 64)
        assert (img[:, :, 0, 0] == 255).all()  # transparent corners composited on white
        u = a[f"meta/{s}/unified"].tolist()
        assert sorted(a[f"meta/{s}/design"].tolist()) == sorted([0, 1] * (len(u) // 2))
        assert all(u.count(x) == 2 for x in u)  # both designs of an emoji in the same split
        seen[s] = set(u)
    assert not (seen["train"] & seen["val"] or seen["train"] & seen["test"] or seen["val"] & seen["test"])
    data = load_npz(out / "emoji.npz")  # plain load_npz reads it too (meta/* ignored)
    assert data.modalities == ["image", "text"] and data.num_classes == 3


def test_texts_have_no_giveaways(built):
    data = el.emoji(path=built[0] / "out")
    texts = [t for s in ("train", "val", "test") for t in data.info["meta"][s]["text"]]
    assert len(texts) == 30 and all(texts)
    for t in texts:
        assert not re.search(r"flag|skin|tone|regional|indicator|symbol|smiley|fitzpatrick", t), t
    assert "grinning face; grinning" in texts and "saudi arabia; sa" in texts and "france; fr" in texts
    assert "man" in texts and "chequered; checkered" in texts and "hundred points; 100" in texts
    assert decode_texts(data.train.x["text"]) == data.info["meta"]["train"]["text"]


def test_clean_phrase_rules():
    assert eb.emoji_text("GRINNING FACE", ["grinning", "grinning_face"]) == "grinning face; grinning"
    assert eb.emoji_text("THUMBS DOWN SIGN", ["-1", "man-bouncing-ball"]) == "thumbs down sign; -1; man bouncing ball"
    assert eb.clean_phrase("woman: medium-dark skin tone, beard") == "woman, beard"
    assert eb.clean_phrase("put litter in its place symbol") == "put litter"
    assert eb.clean_phrase("flag: united states") == "united states"
    assert eb.emoji_text("FLAG", ["flags"], "1F6A9") == "u+1f6a9"


def test_loader_options(built):
    out = built[0] / "out"
    d = el.emoji(path=out)
    assert d.name == "emoji" and d.num_classes == 3 and d.info["classes"][0] == "Smileys & Emotion"
    assert d.train.x["image"].dtype == torch.uint8 and d.input_shapes()["image"] == (3, 32, 32)
    assert (len(d.train), len(d.val), len(d.test)) == (18, 6, 6)
    assert d.info["licences"]["google"]["licence"] == "Apache-2.0" and "CC-BY 4.0" in d.info["attribution"]
    assert d.info["meta"]["test"]["design"] == ["google", "twitter"] * 3
    full = el.emoji(path=out / "emoji.npz", size=64)
    with np.load(out / "emoji.npz") as z:
        assert (full.train.x["image"].numpy() == z["train/image"]).all()
    small = el.emoji(path=out, size=8).train.x["image"]
    ref = full.train.x["image"].float().reshape(18, 3, 8, 8, 8, 8).mean((3, 5))
    assert small.shape == (18, 3, 8, 8) and (small.float() - ref).abs().max() <= 0.5 + 1e-4  # area average
    sub = el.emoji(path=out, label="subcategory")
    assert sub.num_classes == 3 and sub.info["classes"] == ["face-smiling", "animal-mammal", "country-flag"]
    shift = el.emoji(path=out, test_design="twitter")
    assert shift.info["designs"] == {"train": ["google"], "val": ["google"], "test": ["twitter"]}
    assert (len(shift.train), len(shift.val), len(shift.test)) == (9, 3, 3)
    assert set(shift.info["meta"]["train"]["unified"]).isdisjoint(shift.info["meta"]["test"]["unified"])
    assert load_dataset("emoji", path=out, size=16).input_shapes()["image"] == (3, 16, 16)
    for kw, msg in (({"size": 65}, "size=65"), ({"label": "name"}, "label 'name'"), ({"test_design": "apple"}, "apple")):
        with pytest.raises(UmeError, match=msg):
            el.emoji(path=out, **kw)


def test_not_built_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("UME_DATA", str(tmp_path))
    with pytest.raises(UmeError, match="not built.*python data_scripts/build_emoji.py"):
        el.emoji()


def test_rerun_is_a_noop_and_force_rebuilds(built, tmp_path):
    base, pins, _ = built
    out = tmp_path / "out"
    assert eb.build_emoji(out, src=base / "src", pins=pins) is not None
    mtime = (out / "emoji.npz").stat().st_mtime_ns
    assert eb.build_emoji(out, src=tmp_path / "nowhere", pins=pins) is None  # sources not even needed
    assert (out / "emoji.npz").stat().st_mtime_ns == mtime
    assert eb.build_emoji(out, src=base / "src", pins=pins, force=True) is not None
    with (out / "emoji.npz").open("ab") as f:
        f.write(b"x")
    with pytest.raises(UmeError, match="does not match the checksum.*--force"):
        eb.build_emoji(out, src=base / "src", pins=pins)


def test_checksum_mismatch(built, tmp_path):
    base, pins, _ = built
    with pytest.raises(UmeError, match=r"emoji-datasource-google-16.0.0.tgz has sha256 .* pinned to"):
        eb.build_emoji(tmp_path / "out", src=base / "src", pins={**pins, "google": "0" * 64})
    with pytest.raises(UmeError, match="missing; --src must hold"):
        eb.build_emoji(tmp_path / "out", src=tmp_path)


def test_missing_npm(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(UmeError, match=r"npm is not on PATH.*apt-get install npm.*--src DIR") as e:
        eb.build_emoji(tmp_path / "out")
    assert "\n" not in str(e.value)


def test_cli_script(built, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(eb, "PINS", built[1])  # the CLI uses the pinned checksums
    spec = importlib.util.spec_from_file_location("build_emoji", ROOT / "data_scripts" / "build_emoji.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    base = built[0]
    out = ["--out", str(base / "out"), "--src", str(base / "src")]
    assert mod.main(out) == 0 and "up to date" in capsys.readouterr().out
    assert mod.main(["--out", str(tmp_path), "--src", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


REAL = el.default_out() / el.NPZ_NAME


@pytest.mark.skipif(not REAL.exists(), reason="the real emoji build is absent (python data_scripts/build_emoji.py)")
def test_real_build_counts():
    d = el.emoji()
    assert d.info["classes"] == ["Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink",
                                 "Travel & Places", "Activities", "Objects", "Symbols", "Flags"]
    assert (len(d.train), len(d.val), len(d.test)) == (2304, 754, 754)
    assert d.input_shapes()["image"] == (3, 32, 32)
    assert el.emoji(label="subcategory").num_classes == 98
    man = json.loads((REAL.parent / "manifest.json").read_text())
    assert man["params"]["sha256"] == eb.PINS and sum(c["emoji"] for c in man["counts"].values()) == 1906
    texts = [t for s in ("train", "val", "test") for t in d.info["meta"][s]["text"]]
    assert not [t for t in texts if re.search(r"\bflags?\b|skin tone|regional indicator", t)]
    assert "grinning face; grinning" in texts


def test_keyword_labels_are_the_most_frequent_emojilib_keywords():
    from umelib.datasets.emoji import keyword_targets, top_keywords

    table = {"\U0001F600": ["grinning_face", "face", "smile"], "\U0001F431": ["cat_face", "face", "cat", "pet"],
             "\u2764\ufe0f": ["red_heart", "love"], "\U0001F436": ["dog_face", "face", "pet"]}
    unified = ["1F600", "1F431", "2764", "1F436", "1F436"]  # U+FE0F found either way; an emoji counted once
    assert top_keywords(table, unified, 2) == ["face", "pet"]
    y = keyword_targets(table, unified + ["1F680"], ["face", "pet", "love"])  # an emoji without keywords: no label
    assert y.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 1, 0], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(UmeError, match="keywords=1 must be an int >= 2"):
        top_keywords(table, unified, 1)
