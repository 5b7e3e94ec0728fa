"""Control flow of the CUDA-graph step, on the CPU: a stand-in graph that replays the captured step on its
static inputs (what a CUDA graph does) checks warm-up, static buffers, recapture and fallbacks."""
import contextlib

import pytest
import torch

from umelib.training import graphs


class FakeGraph:
    active = None

    def __init__(self):
        self.fn = None

    def replay(self):
        self.fn()


@pytest.fixture
def fake_cuda(monkeypatch):
    calls = {"captured": 0}

    @contextlib.contextmanager
    def graph(g):
        FakeGraph.active = g
        yield
        FakeGraph.active = None

    class Stream:
        def wait_stream(self, other):
            pass

    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", graph)
    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: Stream())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    return calls


def _setup():
    w = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    seen = []

    def step(x):
        seen.append(x.clone())
        if FakeGraph.active is not None:  # record what a capture would record: the step on the static input
            FakeGraph.active.fn = lambda: step_eager(x)
            return torch.zeros(())
        return step_eager(x)

    def step_eager(x):
        opt.zero_grad(set_to_none=True)
        loss = ((w - x.mean()) ** 2).sum()
        loss.backward()
        opt.step()
        return loss.detach()

    return w, opt, step, seen


def test_warmup_then_capture_then_replay_on_fresh_inputs(fake_cuda):
    w, opt, step, seen = _setup()
    g = graphs.StepGraph(step, opt, warmup=2)
    ref = torch.zeros(3, requires_grad=True)
    ropt = torch.optim.SGD([ref], lr=0.1)
    for i in range(6):
        x = torch.full((3,), float(i))
        g(x)
        ropt.zero_grad()
        ((ref - x) ** 2).sum().backward()
        ropt.step()
    assert g.captures == 1 and g.failed is None
    assert torch.allclose(w, ref)  # replays used each call's input, copied into the static buffer
    opt.param_groups[0]["lr"] = 0.01  # a StepLR step: captured again
    g(torch.ones(3))
    assert g.captures == 2
    g(torch.ones(2))  # another shape (last batch): eager, no capture
    assert g.captures == 2


def test_capture_failure_falls_back_to_eager(fake_cuda, monkeypatch):
    w, opt, step, seen = _setup()

    def broken(g):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(torch.cuda, "graph", broken)
    g = graphs.StepGraph(step, opt, warmup=1)
    with pytest.warns(UserWarning, match="capture failed"):
        for i in range(4):
            g(torch.full((3,), 1.0))
    assert g.failed.startswith("RuntimeError") and g.captures == 0
    assert torch.allclose(w, torch.full((3,), 1 - 0.8 ** 4))  # all four steps ran, eagerly


def test_graphs_only_on_cuda(monkeypatch):
    monkeypatch.setenv("UME_CUDA_GRAPHS", "1")
    assert not graphs.graphs_wanted(None, torch.device("cpu"))
    assert graphs.graphs_wanted(None, torch.device("cuda"))
    assert not graphs.graphs_wanted(False, torch.device("cuda"))
    monkeypatch.delenv("UME_CUDA_GRAPHS")
    assert not graphs.graphs_wanted(None, torch.device("cuda"))
