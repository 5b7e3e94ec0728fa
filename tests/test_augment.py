import pytest
import torch

from umelib import MissingModalityAugmentation, UmeError
from umelib.training.augment import replace

N = 100_000


def test_one_mode_rates_over_1e5_samples():
    aug = MissingModalityAugmentation(p={"a": 0.3, "b": 0.2, "c": 0.1})
    g = torch.Generator().manual_seed(0)
    drop = aug.sample_missing(torch.ones(N, 3, dtype=torch.bool), ["a", "b", "c"], g)
    rates = drop.float().mean(0)
    assert torch.allclose(rates, torch.tensor([0.3, 0.2, 0.1]), atol=0.01)
    assert not drop.all(1).any()
    assert abs((~drop.any(1)).float().mean().item() - 0.4) < 0.01  # complete fraction = 1 - sum(p)
    assert (drop.sum(1) <= 1).all()


def test_default_two_modalities():
    aug = MissingModalityAugmentation()
    drop = aug.sample_missing(torch.ones(N, 2, dtype=torch.bool), ["x", "z"], torch.Generator().manual_seed(1))
    assert torch.allclose(drop.float().mean(0), torch.tensor([0.3, 0.3]), atol=0.01)
    assert abs((~drop.any(1)).float().mean().item() - 0.4) < 0.01
    assert not drop.all(1).any()


def test_independent_mode_never_drops_everything():
    aug = MissingModalityAugmentation(p=0.5, mode="independent")
    drop = aug.sample_missing(torch.ones(N, 2, dtype=torch.bool), ["x", "z"], torch.Generator().manual_seed(2))
    assert not drop.all(1).any()
    # 1/4 of samples lose both and get one back: each rate is 0.5 - 0.125
    assert torch.allclose(drop.float().mean(0), torch.tensor([0.375, 0.375]), atol=0.01)


def test_presence_mask_counts_as_augmented():
    present = torch.ones(1000, 2, dtype=torch.bool)
    present[:300, 0] = False
    drop = MissingModalityAugmentation(p=0.3).sample_missing(present, ["x", "z"], torch.Generator().manual_seed(0))
    assert drop[:300, 0].all() and not drop[:300, 1].any()  # the present modality of such samples is never dropped
    assert 0.2 < drop[300:, 0].float().mean() < 0.4


def test_substitutes_replace_inputs_and_keep_others():
    batch = {"x": torch.ones(4, 3), "z": torch.full((4, 2, 2), 5.0), "label": torch.arange(4)}
    miss = torch.tensor([[True, False], [False, True], [False, False], [False, False]])
    out = replace(batch, miss, ["x", "z"], {"z": torch.full((2, 2), -1.0)})
    assert (out["x"][0] == 0).all() and (out["x"][1:] == 1).all()
    assert (out["z"][1] == -1).all() and (out["z"][[0, 2, 3]] == 5).all()
    assert (out["present"] == ~miss).all() and batch["x"][0].sum() == 3  # input batch untouched


def test_bad_probabilities():
    with pytest.raises(UmeError, match="sum to <= 1"):
        MissingModalityAugmentation(p=0.6).probs(["x", "z"])
    with pytest.raises(UmeError, match="unknown modalities"):
        MissingModalityAugmentation(p={"q": 0.1}).probs(["x", "z"])
