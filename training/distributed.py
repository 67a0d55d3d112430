"""Distributed training under ``torchrun``: process-group set-up and a sampler that resumes mid-epoch.

Nothing else in a trainer changes between one process and many: under ``torchrun`` the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...) says so, :func:`init_distributed` joins
the group (NCCL on GPUs, gloo on the CPU), the models are wrapped in DistributedDataParallel and the
sampler gives each rank its share of every global batch.

>>> s = ResumableDistributedSampler(10, num_replicas=1, rank=0, shuffle=False)
>>> s.set_position(epoch=0, start=4)
>>> list(s)
[4, 5, 6, 7, 8, 9]
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the process group torchrun set up (if any) and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local if world > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def finish_distributed(info: DistInfo) -> None:
    """Wait until every rank has reached the end of a run (a collective; call it only on success)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # modules caught in reference cycles may still hold the group's work objects
        dist.destroy_process_group()


def all_ranks_true(flag: bool, info: DistInfo) -> bool:
    """True only if ``flag`` holds on every rank (a collective; every rank must call it)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


class ResumableDistributedSampler(DistributedSampler):
    """:class:`DistributedSampler` (same permutation per epoch for every world size: seed + epoch) that
    can start part-way into an epoch, so a resumed run reads the same examples in the same order.

    With one process and a global batch B, rank r of W processes with batches of B/W reads examples
    ``perm[r::W]``: together the ranks read exactly the single process's batches.
    """

    def __init__(self, dataset_len: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0):
        super().__init__(range(dataset_len), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=True)
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Iterate epoch ``epoch`` from this rank's ``start``-th index on."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self):
        indices = list(super().__iter__())
        return iter(indices[self.start:])

    def __len__(self):
        return self.num_samples - self.start
