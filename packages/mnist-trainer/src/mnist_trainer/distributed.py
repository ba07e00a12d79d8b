"""Data-parallel bookkeeping for `torchrun --nproc-per-node N -m mnist_trainer`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. Each process trains on its own shard of
every epoch's shuffled order; DistributedDataParallel averages the gradients. Only rank 0
writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Workers:
    """Who this process is among the data-parallel workers."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def from_environment() -> Workers:
    """Read torchrun's variables; a plain `mnist-train` is one worker."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return Workers(
        rank=int(os.environ.get("RANK", "0")),
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size))),
    )


INIT_METHOD_ENV = "MNIST_TRAINER_INIT_METHOD"


def start(workers: Workers, device: torch.device) -> None:
    """Join the process group (gloo on CPU, nccl on GPU) when there are several workers.

    The workers meet through torchrun's MASTER_ADDR/MASTER_PORT (`env://`) unless
    $MNIST_TRAINER_INIT_METHOD names another rendezvous, e.g. `file:///shared/dir/store`
    (a file every worker can reach: no TCP store, so nothing listens on the network).
    """
    if workers.distributed and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo",
            init_method=os.environ.get(INIT_METHOD_ENV, "env://"),
            rank=workers.rank,
            world_size=workers.world_size,
        )


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def sum_across(values: list[float], workers: Workers, device: torch.device) -> list[float]:
    """Element-wise sum of `values` over all workers (identity for one worker)."""
    if not workers.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_objects(obj: Any, workers: Workers) -> list[Any]:
    """Every worker's `obj`, in rank order (a one-item list for one worker)."""
    if not workers.distributed:
        return [obj]
    out: list[Any] = [None] * workers.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(workers: Workers) -> None:
    if workers.distributed:
        dist.barrier()
