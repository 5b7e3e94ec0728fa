import pytest
import torch
from torch import nn

from umelib import LateFusion, UmeError
from umelib.models.encoders import ENCODERS, default_encoder_name, make_encoder


@pytest.mark.parametrize("name,shape", [("mlp", (7,)), ("lenet", (28, 28)), ("lenet", (1, 112, 112)),
                                        ("lenet", (3, 32, 32)), ("resnet18", (1, 32, 32)), ("resnet18", (3, 32, 32))])
def test_registered_encoders_produce_features(name, shape):
    enc = make_encoder(name, shape).eval()
    with torch.no_grad():
        out = enc(torch.randn(2, *shape))
    assert out.shape == (2, enc.out_dim)


def test_default_by_shape():
    assert default_encoder_name((16,)) == "mlp" and default_encoder_name((1, 28, 28)) == "lenet"
    assert {"mlp", "lenet", "resnet18"} <= set(ENCODERS)


def test_any_module_plugs_in_and_unknown_names_fail():
    custom = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))  # no out_dim: measured by a dummy pass
    model = LateFusion({"a": custom, "b": make_encoder("mlp", (3,))}, 4, {"a": (3, 4), "b": (3,)})
    logits = model({"a": torch.randn(6, 3, 4), "b": torch.randn(6, 3)})
    assert logits.shape == (6, 4)
    with pytest.raises(UmeError, match="unknown encoder"):
        make_encoder("vit-huge", (3, 224, 224))
