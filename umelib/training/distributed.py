"""Scale-out helpers on ``torch.distributed``: start from torchrun's environment, rank and world size, which
process writes, shards of a global batch, all-reduce and gather.

Two ways to use N processes (``torchrun --nproc_per_node N``):

- **data-parallel** (the default under torchrun): one run trained by every rank with
  :class:`~torch.nn.parallel.DistributedDataParallel`; each rank takes its slice of each global batch of the
  shared permutation (see :func:`shard`), gradients are averaged, only rank 0 writes;
- **jobs over ranks** (inside :func:`train_alone`): each rank trains whole runs by itself (a suite's jobs,
  round-robin), and the results are gathered.

Above nothing of umelib but :mod:`umelib.errors`."""
from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any, Iterator

import torch
import torch.distributed as dist

from ..errors import UmeError

_ALONE = [False]  # inside train_alone(): this process trains whole runs; no data parallelism


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher that sets ``WORLD_SIZE``) with > 1 rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(backend: str | None = None, timeout_s: float = 1800) -> bool:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``PORT``); NCCL when
    CUDA is available, else gloo; on CUDA each rank takes GPU ``LOCAL_RANK``. Returns whether a group with more
    than one rank is active. Does nothing (False) outside a launcher or with one rank; idempotent."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if not launched():
        return False
    if not dist.is_available():
        raise UmeError("torch was built without torch.distributed; run in one process (python -m umelib ...)")
    cuda = torch.cuda.is_available()
    backend = backend or os.environ.get("UME_DIST_BACKEND") or ("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise UmeError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPUs are visible; start at most "
                           "that many processes per node (--nproc_per_node)")
        torch.cuda.set_device(local)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return dist.get_world_size() > 1


def close() -> None:
    """Leave the process group (if one is active)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    """A process group with more than one rank is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Processes in the group (1 without one)."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Whether this process writes files and prints (rank 0, or the only process)."""
    return rank() == 0


def data_parallel() -> bool:
    """Whether a run trained here is data-parallel over the group (not inside :func:`train_alone`)."""
    return active() and not _ALONE[0]


def train_world_size() -> int:
    """How many processes train one run: the group's size when data-parallel, else 1 (provenance ``world_size``)."""
    return world_size() if data_parallel() else 1


def writes() -> bool:
    """Whether this process writes a run's files: always when it trains runs alone, else rank 0 only."""
    return not data_parallel() or is_main()


@contextlib.contextmanager
def train_alone() -> Iterator[None]:
    """Within: runs trained by this process use it alone (jobs spread over ranks), whatever the group."""
    old, _ALONE[0] = _ALONE[0], True
    try:
        yield
    finally:
        _ALONE[0] = old


def barrier() -> None:
    if active():
        dist.barrier()


def shard(idx: torch.Tensor, r: int | None = None, n: int | None = None) -> torch.Tensor:
    """Rank ``r``'s contiguous slice of a global batch ``idx`` (or of any tensor, by rows), of ``n`` ranks; slices
    differ in size by at most one, in rank order, so that concatenated they give ``idx`` back."""
    r = rank() if r is None else r
    n = world_size() if n is None else n
    return torch.tensor_split(idx, n)[r] if n > 1 else idx


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of ``x`` over ranks (``x`` itself alone); ``x`` is left unchanged."""
    if not active():
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over ranks."""
    return all_reduce_sum(x) / world_size()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank (``[obj]`` alone)."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def peak_memory(device: torch.device | str | None = None) -> dict[str, float]:
    """This process's peak resident memory (MiB) and, on CUDA, the peak memory allocated by torch (MiB)."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    out = {"peak_rss_mib": round(rss / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)}
    if device is not None and torch.device(device).type == "cuda":
        out["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated(device) / (1 << 20), 1)
    return out
