"""Data-parallel training under ``torchrun``: process group, rank facts, metric reduction.

``torchrun --nproc_per_node N -m tssd train CONFIG`` sets RANK / WORLD_SIZE / LOCAL_RANK; the
trainer then wraps its training step in :class:`~torch.nn.parallel.DistributedDataParallel`
(NCCL on GPUs, gloo on CPU), shards each epoch's sample order across ranks, reduces metrics and
lets rank 0 alone write files. ``data.batch_size`` stays the *global* batch.

Batch norm: on GPUs the network's BatchNorm layers become SyncBatchNorm, so N processes see the
statistics of the global batch like one process would. SyncBatchNorm is GPU-only in PyTorch; on CPU
(gloo) each rank normalises with its own half-batch statistics, which is why a CPU multi-process
run matches a one-process run only within a tolerance (see tests/test_distributed.py).
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """Where this process stands in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False
    """True when this module initialised the process group (and must destroy it)."""

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and prints progress."""
        return self.rank == 0


def setup(device_name: str) -> tuple[DistInfo, torch.device | None]:
    """Join the job torchrun started (if any); return the rank facts and the device to use
    (``None`` = decide from ``runtime.device`` as in a single-process run)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), None
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name != "cpu"
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    owns = False
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return DistInfo(rank, world, local, owns), device


def teardown(info: DistInfo) -> None:
    """Destroy the process group if :func:`setup` created it.

    Collect garbage first so DDP's reducer (and the gloo work it holds) is gone, and meet at a
    barrier so no rank closes its connections while another still uses them: otherwise gloo's
    threads can outlive the group and abort the process at exit (PyTorch PR 179291 describes the
    race; measured here: 1 in 8 two-process CPU runs ended with SIGABRT without this).
    """
    if info.owns_group and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def all_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum a list of floats over all ranks (identity for one process)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if info.enabled:
        dist.barrier()


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's boolean, on every rank (used to stop all ranks when rank 0 sees a NaN)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
