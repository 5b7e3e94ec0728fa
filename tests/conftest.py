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


# ---------------------------------------------------------------- hand-made result records (claims, tables, pages)

def fake_result(method: str, seed: int = 0, v: float | None = None, a: float | None = None, c: float | None = None, *,
                profile: str | None = None, p: float | None = None, **extra) -> dict:
    """A result record on AV-MNIST's settings: Miss-V ``v``, Miss-A ``a``, and with ``c`` complete and avg; ``p``
    makes it a drop-probability sweep point; ``profile`` adds a profile and a provenance."""
    metrics = {"miss:image": v, "miss:audio": a}
    if c is not None:
        metrics.update(complete=c, avg=(v + a + c) / 3)
    r = {"method": method, "seed": seed, "metrics": metrics, "num_classes": 10}
    if profile is not None:
        r.update(profile=profile, provenance={"device": "cpu: test", "git": "0123456789abcdef"})
    if p is not None:
        r["sweep"] = {"drop_p": p}
    return {**r, **extra}


def seeds_of(method: str, jitter=(0.0, 0.3, -0.3), **m) -> list[dict]:
    """One record per seed s, with ``jitter[s]`` added to each of ``v``, ``a`` and ``c``."""
    return [fake_result(method, s, **{k: (x + j if k in ("v", "a", "c") else x) for k, x in m.items()})
            for s, j in enumerate(jitter)]
