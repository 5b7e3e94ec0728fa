"""The recipes' augmentations: Tian & Xu's frame crop and audio volume (App. B.1.1), the random resized crop of the
large encoders (App. B.1.2), the classifier rate, all in training only."""
import pytest
import torch
from torch import nn

from umelib.models.image_aug import random_resized_crop, zoom_crop


def test_zoom_crop_keeps_the_size_and_differs_per_sample():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32).expand(16, -1, -1, -1).contiguous()  # one image, 16 times
    y = zoom_crop(x)
    assert y.shape == x.shape
    assert len({round(float(v), 4) for v in y.flatten(1).sum(1)}) > 8  # windows and flips drawn per sample
    z = zoom_crop(x, zoom=1.0, flip=False)
    assert torch.allclose(z, x, atol=1e-5)  # no zoom, no flip: the image itself


def test_random_resized_crop_gives_the_size_and_a_part_of_the_image():
    torch.manual_seed(0)
    x = torch.zeros(8, 3, 64, 64)
    x[:, :, :, :32] = 1.0  # left half white
    y = random_resized_crop(x, 24, flip=False)
    assert y.shape == (8, 3, 24, 24)
    share = y.mean((1, 2, 3))
    assert float(share.min()) >= 0 and float(share.max()) <= 1 and float(share.std()) > 0.05  # windows differ
    full = random_resized_crop(x, 64, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)
    assert torch.allclose(full, x, atol=1e-5)


def test_frame_crop_and_audio_volume_apply_in_training_only():
    from umelib.models.audio import AudioNet, FrameEncoder

    class Mean(nn.Module):
        out_dim = 1

        def forward(self, x):
            return x.float().mean((1, 2, 3)).unsqueeze(1)

    torch.manual_seed(0)
    clips = torch.rand(4, 3, 3, 16, 16)
    enc = FrameEncoder(Mean(), (3, 16, 16), crop=True)
    assert torch.allclose(enc.eval()(clips), clips.mean((1, 2, 3, 4)).unsqueeze(1))
    assert not torch.allclose(enc.train()(clips), enc.eval()(clips))
    net = AudioNet()
    net.features = nn.Identity()  # what reaches the CNN: the waveform times the volume factor
    wave = torch.ones(64, 100)
    assert torch.equal(net.eval()(wave), torch.ones(64, 1))
    scaled = net.train()(wave).squeeze(1)
    assert 0.5 <= float(scaled.min()) < 0.7 and 1.3 < float(scaled.max()) <= 1.5


def test_the_classifiers_get_the_head_rate():
    from umelib import LateFusion
    from umelib.training.trainer import param_groups

    model = LateFusion.build({"audio": (8,), "visual": (8,)}, 3, {"audio": "mlp", "visual": "mlp"})
    groups = param_groups(model, {"audio": 1e-3, "visual": 1e-4, "head": 1e-2})
    rates = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert all(rates[id(p)] == 1e-2 for p in model.heads.parameters())
    assert all(rates[id(p)] == 1e-3 for p in model.encoders["audio"].parameters())
    assert all(rates[id(p)] == 1e-4 for p in model.encoders["visual"].parameters())


def test_the_video_recipe_is_tian_and_xus():
    from umelib.experiments.suite import resolve_config

    for profile in ("smoke", "full"):
        cfg = resolve_config("ave", profile)
        assert cfg.phase1.lr == {"audio": 1e-3, "visual": 1e-4, "head": 1e-3} and cfg.phase1.weight_decay == 1e-4
        assert cfg.phase2.lr == 1e-4 and cfg.phase2.weight_decay == 1e-4 and cfg.phase1.optimizer == "sgd"
        assert cfg.encoders["visual"] == "frames:3,3,crop:resnet18"
    assert resolve_config("ave", "full").phase1.batch_size == 48


def test_reproduce_says_how_the_resnet_starts(capsys, tmp_path):
    from umelib.errors import UmeError
    from umelib.paper.chapters import video_cnn

    enc, init = video_cnn(None)
    assert init.startswith("random") and "resnet18.pth" in capsys.readouterr().out
    with pytest.raises(UmeError, match="not found"):
        video_cnn(str(tmp_path / "missing.pth"))
