import os

import pytest

os.environ.setdefault("UME_PROFILE", "smoke")


@pytest.fixture
def tiny():
    """A small synthetic dataset (2 modalities) for fast training tests."""
    from umelib import make_gaussian

    return make_gaussian(n_train=600, n_val=100, n_test=400, seed=0)


def _tiny_cfg():
    from umelib import PhaseConfig, get_config

    return get_config("smoke", phase1=PhaseConfig(epochs=5, batch_size=64, lr=5e-2),
                      phase2=PhaseConfig(epochs=3, batch_size=64, lr=1e-2), n_train=None, n_test=None)


@pytest.fixture
def tiny_cfg():
    return _tiny_cfg()


@pytest.fixture(scope="session")
def tiny_pretrained():
    """Phase 1 on ``tiny`` with ``tiny_cfg`` (seed 0), trained once per session and shared: pass it as
    ``run_method(..., pretrained=...)``, which copies the models and leaves these unchanged."""
    from umelib import Trainer, make_gaussian
    from umelib.methods import pretrain

    return pretrain(make_gaussian(n_train=600, n_val=100, n_test=400, seed=0), _tiny_cfg(),
                    Trainer("cpu", seed=0, progress=False))
