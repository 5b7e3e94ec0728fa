"""Models: encoders by name (``mlp``, ``lenet``, ``resnet18``, ``audionet``, ``frames:SPEC``, ``hf-audio:PATH``,
pre-trained wrappers, or any ``nn.Module``) and late fusion (a head per modality, logits averaged).

Bottom layer: imports only :mod:`umelib.errors` of umelib."""
from .encoders import ENCODERS, default_encoder_name, feature_dim, make_encoder, register_encoder
from .fusion import LateFusion

__all__ = ["ENCODERS", "default_encoder_name", "feature_dim", "make_encoder", "register_encoder", "LateFusion"]
