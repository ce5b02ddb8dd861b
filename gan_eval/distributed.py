"""Multi-process evaluation under `torchrun`: shard the inputs, reduce the statistics, rank 0 speaks.

Launched as `torchrun --nproc_per_node=K -m gan_eval fid|stats|report ...`
(multi-node with torchrun's usual `--nnodes`, `--node_rank`,
`--rdzv_endpoint` flags), every process runs the same command. Each input is
split into K contiguous shards in its sorted order; rank r extracts shard r.
The mergeable float64 statistics (count, sum, outer-product sum) are summed
across ranks with `all_reduce`; per-sample features are gathered, in rank
order (= the input's order), only when a metric needs them. Every rank then
holds what a single process would have and computes the metrics; only rank 0
prints, shows progress and writes files (`is_primary`). The backend is NCCL
when the extractor runs on CUDA and gloo otherwise; each process takes the
GPU `LOCAL_RANK`.

An error on one rank (a bad image file) reaches every rank before any
collective that would wait for it, so all processes stop with the same
one-line error.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

from gan_eval.errors import GanEvalError


def launched() -> bool:
    """True when this process was started by torchrun (or another launcher) as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True when a process group is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if active() else 1


def is_primary() -> bool:
    """True on the process that prints and writes (rank 0, or the only process)."""
    return rank() == 0


def init_from_env(device: str | None = None) -> None:
    """Join the process group described by torchrun's environment (no-op for a single process).

    `device`: the requested device; NCCL is used when it (or the default) is CUDA.
    """
    if not launched() or active():
        return
    if not dist.is_available():
        raise GanEvalError("this PyTorch build has no torch.distributed: run a single process")
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    except (RuntimeError, ValueError) as exc:
        raise GanEvalError(f"cannot join the torchrun process group: {exc}") from None


def shutdown() -> None:
    """Leave the process group (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_bounds(n: int, ranks: int | None = None, index: int | None = None) -> tuple[int, int]:
    """`[start, stop)` of shard `index` of `n` items split into `ranks` contiguous near-equal parts."""
    ranks = world_size() if ranks is None else ranks
    index = rank() if index is None else index
    return index * n // ranks, (index + 1) * n // ranks


def all_gather_objects(value: Any) -> list[Any]:
    """`value` from every rank, in rank order (ranks' own Python objects, never user files)."""
    if not active():
        return [value]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


def raise_if_any(error: str | None) -> None:
    """Raise the first rank's error message on every rank, if any rank had one."""
    errors = [e for e in all_gather_objects(error) if e]
    if errors:
        raise GanEvalError(errors[0])
