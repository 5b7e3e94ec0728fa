"""UME-MMA in plain PyTorch, for vector inputs: the book shows this file and the tests check umelib against it."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

Inputs = dict[str, torch.Tensor]  # modality -> (N, D) float inputs


class LateFusion(nn.Module):
    """Per modality an MLP encoder and a linear head; the output is the mean of the heads' logits."""

    def __init__(self, dims: dict[str, int], classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.enc = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                                   nn.ReLU()) for m, d in dims.items()})
        self.head = nn.ModuleDict({m: nn.Linear(hidden, classes) for m in dims})

    def forward(self, xs: Inputs) -> torch.Tensor:
        return torch.stack([self.head[m](self.enc[m](xs[m])) for m in self.head]).mean(0)


def drop(xs: Inputs, p: float, g: torch.Generator) -> Inputs:
    """Per sample, modality j is replaced by zeros with probability p, at most one per sample (never all)."""
    u = torch.rand(len(next(iter(xs.values()))), generator=g)
    return {m: torch.where(((u >= j * p) & (u < (j + 1) * p))[:, None], 0.0, x) for j, (m, x) in enumerate(xs.items())}


def accuracy(model: nn.Module, xs: Inputs, y: torch.Tensor) -> float:
    with torch.no_grad():
        return 100 * (model(xs).argmax(1) == y).float().mean().item()


def protocol(model: nn.Module, xs: Inputs, y: torch.Tensor) -> dict[str, float]:
    """complete; miss:<m> (m replaced by zeros, the model is not told); avg, their mean."""
    out = {"complete": accuracy(model, xs, y)}
    out |= {f"miss:{m}": accuracy(model, {k: torch.zeros_like(x) if k == m else x for k, x in xs.items()}, y) for m in xs}
    return out | {"avg": sum(out.values()) / len(out)}


def fit(model: nn.Module, xs: Inputs, y: torch.Tensor, score, epochs: int, lr: float, batch: int = 128,
        p: float = 0.0, seed: int = 0) -> nn.Module:
    """SGD with momentum; keeps the epoch with the best validation ``score(model)``."""
    opt, g, best = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), torch.Generator().manual_seed(seed), None
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch):
            b = {m: x[idx] for m, x in xs.items()}
            loss = F.cross_entropy(model(drop(b, p, g) if p else b), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        s = score(model)
        best = (s, copy.deepcopy(model.state_dict())) if best is None or s > best[0] else best
    model.load_state_dict(best[1])
    return model


def ume_mma(train: tuple[Inputs, torch.Tensor], val: tuple[Inputs, torch.Tensor], classes: int, epochs=(4, 4),
            lr=(5e-2, 1e-2), batch: int = 128, p: float = 0.3, seed: int = 0) -> tuple[dict, LateFusion]:
    """Phase 1: one model per modality, trained alone. Phase 2: their late fusion, fine-tuned with drop(p) at the
    lower rate. Returns (the phase-1 models, the fused model)."""
    (xs, y), (vx, vy) = train, val
    torch.manual_seed(seed)
    uni = {m: fit(LateFusion({m: x.shape[1]}, classes), {m: x}, y, lambda f, m=m: accuracy(f, {m: vx[m]}, vy),
                  epochs[0], lr[0], batch, seed=seed) for m, x in xs.items()}
    fused = LateFusion({m: x.shape[1] for m, x in xs.items()}, classes)
    fused.load_state_dict({k: v for u in uni.values() for k, v in u.state_dict().items()})  # start from phase 1
    return uni, fit(fused, xs, y, lambda f: protocol(f, vx, vy)["avg"], epochs[1], lr[1], batch, p, seed)


def naive(train: tuple[Inputs, torch.Tensor], val: tuple[Inputs, torch.Tensor], classes: int, epochs: int = 4,
          lr: float = 5e-2, batch: int = 128, seed: int = 0) -> LateFusion:
    """Late fusion trained end to end from scratch on complete data (phase 1's settings, no augmentation)."""
    (xs, y), (vx, vy) = train, val
    torch.manual_seed(seed)
    model = LateFusion({m: x.shape[1] for m, x in xs.items()}, classes)
    return fit(model, xs, y, lambda f: protocol(f, vx, vy)["avg"], epochs, lr, batch, seed=seed)
