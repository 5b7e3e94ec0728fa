"""Audio-visual encoders (AudioNet, frames:SPEC, hf-audio:PATH) and per-modality learning rates (App. B.1.1).

Everything is built locally: tiny random AST and CLAP models saved with ``save_pretrained`` to a temporary folder
stand in for the real checkpoints (nothing is downloaded). Two tests need patches to existing modules, named in
their docstrings: the registry lines in ``umelib/models/encoders.py`` and the check in ``param_groups``."""
import importlib.util

import pytest
import torch
from torch import nn

from umelib.errors import UmeError
from umelib.models.audio import AudioNet, FrameEncoder, HFAudio, audionet, frames, hf_audio
from umelib.models.encoders import make_encoder
from umelib.models.fusion import LateFusion
from umelib.training.trainer import param_groups

needs_transformers = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                        reason="hf-audio needs transformers (pip install -e '.[vl]')")
SHAPES = {"audio": (8000,), "visual": (3, 3, 32, 32)}


def av_model(**kw) -> LateFusion:
    torch.manual_seed(0)
    encs = {"audio": audionet(SHAPES["audio"]), "visual": frames(SHAPES["visual"], "lenet", make_encoder)}
    return LateFusion(encs, 5, SHAPES, **kw)


# ---------------------------------------------------------------- AudioNet

def test_audionet_shapes_for_the_paper_length_and_others():
    torch.manual_seed(0)
    net = audionet((65535,))
    assert isinstance(net, AudioNet) and net.out_dim == 512
    with torch.no_grad():
        assert net(torch.randn(2, 65535) * 0.1).shape == (2, 512)
        assert net(torch.randn(2, 1, 8000) * 0.1).shape == (2, 512)
        assert net(torch.zeros(2, 1, 3)).shape == (2, 512)  # any length, even shorter than the total stride
        assert net.features(torch.randn(2, 1, 65535)).shape == (2, 512, 16)
        pcm = (torch.randn(2, 8000) * 3000).to(torch.int16)
        assert torch.allclose(net.eval()(pcm), net(pcm.float() / 32768), atol=1e-6)
    assert AudioNet.out_length(65535) == 16
    with pytest.raises(UmeError, match="audionet"):
        audionet((3, 32, 32))


def test_audionet_layers_follow_the_spec():
    net = AudioNet()
    mods = list(net.features)
    convs = [m for m in mods if isinstance(m, nn.Conv1d)]
    assert len(convs) == 8 and sum(isinstance(m, nn.BatchNorm1d) for m in mods) == 8
    assert sum(isinstance(m, nn.ReLU) for m in mods) == 8
    assert [(c.in_channels, c.out_channels) for c in convs] == list(zip((1, 64, 64, 128, 128, 256, 256, 512),
                                                                       (64, 64, 128, 128, 256, 256, 512, 512)))
    assert all(c.kernel_size == (3,) and c.stride == (2,) and c.padding == (1,) for c in convs)
    pools = [i for i, m in enumerate(mods) if isinstance(m, nn.MaxPool1d)]
    assert len(pools) == 4 and all(isinstance(mods[i - 1], nn.ReLU) for i in pools)
    assert sum(p.numel() for p in net.parameters()) == 1_566_528


def test_audionet_gradients_reach_every_layer():
    torch.manual_seed(0)
    net = AudioNet()
    net(torch.randn(4, 8000)).pow(2).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert all(m.weight.grad.abs().sum() > 0 for m in net.features if isinstance(m, nn.Conv1d))


# ---------------------------------------------------------------- frames

def test_frame_encoder_is_the_mean_of_per_frame_features():
    torch.manual_seed(0)
    enc = frames((3, 3, 32, 32), "lenet", make_encoder).eval()
    assert isinstance(enc, FrameEncoder) and enc.out_dim == 128
    x = torch.randint(0, 256, (2, 3, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        out = enc(x)
        manual = torch.stack([enc.backbone(x[:, i]) for i in range(x.shape[1])], 1).mean(1)
        assert out.shape == (2, 128) and torch.allclose(out, manual, atol=1e-5)
        assert enc(x[:, 0]).shape == (2, 128)  # (N, C, H, W): one frame
        assert torch.allclose(enc(x[:, 0]), enc(x[:, :1]), atol=1e-6)
    assert FrameEncoder(nn.Flatten(), (3, 4, 4)).out_dim == 48  # measured when the backbone has no out_dim
    with pytest.raises(UmeError, match="clips of frames"):
        frames((8000,), "lenet", make_encoder)


def test_audio_visual_late_fusion_runs():
    model = av_model()
    batch = {"audio": torch.randn(2, 8000) * 0.1, "visual": torch.randint(0, 256, (2, 3, 3, 32, 32), dtype=torch.uint8)}
    assert model(batch).shape == (2, 5)


# ---------------------------------------------------------------- hf-audio

@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory):
    import transformers

    d = tmp_path_factory.mktemp("ast")
    torch.manual_seed(0)
    cfg = transformers.ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                 num_mel_bins=32, max_length=64)
    transformers.ASTModel(cfg).save_pretrained(d)
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(d)
    return d


def _unit_rows(y: torch.Tensor) -> bool:
    return bool(torch.allclose(y.mean(1), torch.zeros(len(y)), atol=1e-4)
                and torch.allclose(y.std(1, unbiased=False), torch.ones(len(y)), atol=1e-2))


@needs_transformers
def test_hf_audio_ast_pooled_and_scaled(tiny_ast):
    enc = hf_audio((11025,), str(tiny_ast))
    assert isinstance(enc, HFAudio) and enc.out_dim == 32 and (enc.rate, enc.target_rate) == (11025, 16000)
    y = enc(torch.randn(3, 11025) * 0.1)
    assert y.shape == (3, 32) and _unit_rows(y)
    assert enc(torch.zeros(2, 1, 11025)).shape == (2, 32)  # the protocol's substitute: silence
    at16 = hf_audio((16000,), f"{tiny_ast}@16000")
    assert at16.rate == 16000 and at16(torch.randn(2, 16000) * 0.1).shape == (2, 32)


@needs_transformers
def test_hf_audio_clap_audio_tower(tmp_path):
    import transformers

    torch.manual_seed(0)
    audio = dict(spec_size=128, num_mel_bins=64, window_size=4, depths=[1, 1], num_attention_heads=[1, 2],
                 patch_embeds_hidden_size=16, hidden_size=32, projection_dim=16, num_hidden_layers=2)
    text = dict(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                projection_dim=16)
    transformers.ClapModel(transformers.ClapConfig(text_config=text, audio_config=audio, projection_dim=16)
                           ).save_pretrained(tmp_path)
    transformers.ClapFeatureExtractor(feature_size=64, max_length_s=1, truncation="rand_trunc").save_pretrained(tmp_path)
    enc = HFAudio(str(tmp_path))
    y = enc(torch.randn(2, 11025) * 0.1)
    assert enc.projected and enc.target_rate == 48000 and y.shape == (2, 16) and _unit_rows(y)


@needs_transformers
def test_hf_audio_missing_path_is_one_line(tmp_path):
    with pytest.raises(UmeError) as e:
        hf_audio((11025,), str(tmp_path / "nope"))
    msg = str(e.value)
    assert "\n" not in msg and "nope" in msg and "snapshot_download" in msg and "ast-finetuned-audioset" in msg


@needs_transformers
def test_registry_names(tiny_ast, tmp_path):
    """NEEDS THE PATCH to umelib/models/encoders.py (registers audionet, frames, hf-audio; check_weights)."""
    from umelib.models.encoders import check_weights

    assert isinstance(make_encoder("audionet", (65535,)), AudioNet)
    assert isinstance(make_encoder("frames:lenet", (3, 3, 32, 32)), FrameEncoder)
    assert make_encoder(f"hf-audio:{tiny_ast}@16000", (16000,)).rate == 16000
    assert make_encoder("frozen:frames:lenet", (3, 3, 32, 32)).out_dim == 128
    with pytest.raises(UmeError, match="needs an argument"):
        make_encoder("hf-audio", (11025,))
    for spec in (f"hf-audio:{tmp_path / 'nope'}", f"frames:torchvision:resnet18@{tmp_path / 'nope.pth'}"):
        with pytest.raises(UmeError, match="nope"):
            check_weights(spec)
    check_weights(f"hf-audio:{tiny_ast}")
    model = LateFusion.build(SHAPES, 5, {"audio": "audionet", "visual": "frames:lenet"})
    assert isinstance(model.encoders["audio"], AudioNet) and isinstance(model.encoders["visual"], FrameEncoder)


# ---------------------------------------------------------------- per-modality learning rates (App. B.1.1)

def test_param_groups_give_each_modality_its_rate():
    model = av_model(aux_heads=True)
    groups = param_groups(model, {"audio": 1e-3, "visual": 1e-4})
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert len(rate) == sum(1 for _ in model.parameters())  # every parameter once
    for name, p in model.named_parameters():
        want = 1e-3 if name.split(".")[1] == "audio" else 1e-4
        assert rate[id(p)] == want, name
    assert sorted(g["lr"] for g in groups) == [1e-4, 1e-3]  # no third group at a made-up rate


def test_param_groups_reject_a_modality_without_rate():
    """NEEDS THE PATCH to umelib.training.trainer.param_groups (a modality of the model missing from the rate dict
    is an error, not the mean rate). Rates for modalities the model lacks stay allowed: phase 1 builds uni-modal
    models with the run's full per-modality dict."""
    model = av_model(aux_heads=True)
    with pytest.raises(UmeError, match="visual") as e:
        param_groups(model, {"audio": 1e-3})
    assert "\n" not in str(e.value)
    with pytest.raises(UmeError, match="visual"):
        param_groups(model, {"audio": 1e-3, "video": 1e-4})  # a typo: the model's 'visual' has no rate
    uni = LateFusion({"audio": audionet((8000,))}, 5, {"audio": (8000,)})
    assert [g["lr"] for g in param_groups(uni, {"audio": 1e-3, "visual": 1e-4})] == [1e-3]
