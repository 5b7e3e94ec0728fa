"""CUDA graphs for the training step of small models: with a LeNet pair at batch 64 a GPU step is bound by
Python and kernel launches, not by arithmetic; replaying a captured step removes most of that.

Opt-in (``Trainer(graphs=True)``, ``MultiTrainer(graphs=True)`` or ``UME_CUDA_GRAPHS=1``); on the CPU, or
when a capture fails, the step runs eagerly and the trainer notes it in its history.
"""
from __future__ import annotations

import os
import warnings
from typing import Callable

import torch


def graphs_wanted(flag: bool | None, device: torch.device) -> bool:
    """``flag`` if given, else ``$UME_CUDA_GRAPHS == "1"``; never on a device other than CUDA."""
    if device.type != "cuda":
        return False
    return flag if flag is not None else os.environ.get("UME_CUDA_GRAPHS", "0") == "1"


class StepGraph:
    """Runs ``step(*tensors) -> loss`` (zero_grad, forward, backward, optimizer step): the first ``warmup``
    calls eagerly on a side stream (they are real steps: optimizer state and cuDNN plans get made), then
    captured once and replayed, its inputs copied into static buffers. A call with other input shapes (the
    last, smaller batch) runs eagerly. The learning rates are baked into the captured kernels, so the step is
    captured again when they change (a StepLR step)."""

    def __init__(self, step: Callable[..., torch.Tensor], optimizer: torch.optim.Optimizer, warmup: int = 3) -> None:
        self.step = step
        self.opt = optimizer
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: list[torch.Tensor] = []
        self.out: torch.Tensor | None = None
        self.lrs: list[float] | None = None
        self.failed: str | None = None
        self.captures = 0

    def _eager(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.step(*inputs)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.failed is not None:
            return self._eager(*inputs)
        if self.calls < self.warmup:
            self.calls += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self.step(*inputs)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.static and [tuple(s.shape) for s in self.static] != [tuple(x.shape) for x in inputs]:
            return self._eager(*inputs)
        lrs = [float(g["lr"]) for g in self.opt.param_groups]
        if self.graph is None or lrs != self.lrs:
            try:
                self._capture(inputs, lrs)
            except Exception as e:  # noqa: BLE001  (any capture failure: fall back to eager steps)
                self.failed = f"{type(e).__name__}: {e}".splitlines()[0]
                self.graph = None
                warnings.warn(f"CUDA graph capture failed, training eagerly instead ({self.failed})")
                torch.cuda.synchronize()
                return self._eager(*inputs)
        for s, x in zip(self.static, inputs):
            s.copy_(x)
        self.graph.replay()
        return self.out

    def _capture(self, inputs: tuple[torch.Tensor, ...], lrs: list[float]) -> None:
        torch.cuda.synchronize()
        self.static = [x.clone() for x in inputs]
        self.opt.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.out = self.step(*self.static)
        self.graph, self.lrs = graph, lrs
        self.captures += 1
