"""torchrun support: process group from the environment, rank-0 decisions, barriers.

``torchrun --nproc_per_node=N -m fastxai bench CONFIG`` sets ``RANK`` / ``WORLD_SIZE`` /
``MASTER_ADDR`` (and multi-node rendezvous); ``init()`` joins the group (gloo on CPU, nccl on
CUDA). Without those variables everything runs as rank 0 of 1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass
class Dist:
    """This process's place in the run."""

    rank: int = 0
    world: int = 1
    started: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0 (writes the store's decisions and the final tables)."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op alone)."""
        if self.world > 1:
            dist.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_ok(self, ok: bool) -> bool:
        """True only if ``ok`` on every rank."""
        if self.world == 1:
            return ok
        t = torch.tensor([0 if ok else 1], dtype=torch.int64)
        dist.all_reduce(t)
        return int(t) == 0

    def close(self) -> None:
        """Leave the process group if this object joined it."""
        if self.started and dist.is_initialized():
            dist.destroy_process_group()


def init(device: str = "cpu") -> Dist:
    """Join the torchrun process group when launched by torchrun, else a 1-process ``Dist``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        return Dist(dist.get_rank(), dist.get_world_size(), started=True)
    return Dist(dist.get_rank(), dist.get_world_size())
