"""torchrun support: process-group setup, and per-sample state that every rank updates from the global batch.

DDP averages the gradients. State an objective changes in its forward pass would otherwise drift
apart across ranks, since each rank sees only its shard of the batch. The rule, as DESIGN.md
states it: per-sample state (memory banks) all-gathers the batch's indices and new rows and
applies the same update on every rank (``gather_rows``: O(world x B x D) per step, whatever the
number of rows M); small statistics that must see the global batch (CRD's Z) combine their
per-rank parts (``global_logsumexp``); every other floating-point buffer (BatchNorm running
statistics) is averaged over the ranks after each step, all in one all-reduce
(``average_buffers``). A module kept in step by the first two rules says so with
``synchronises_itself = True`` and is left alone by ``average_buffers``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main rank writes files, logs and shows progress."""
        return self.rank == 0


def init_distributed(device: torch.device) -> DistributedContext:
    """Join the process group torchrun describes (WORLD_SIZE > 1), else a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    context = DistributedContext(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=context.rank, world_size=world_size)
    return context


def close_distributed(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_rows(tensor: Tensor) -> Tensor:
    """Every rank's ``tensor`` (the same shape on each: DistributedSampler with drop_last), concatenated in rank order."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def global_logsumexp(local: Tensor, count: int) -> tuple[Tensor, int]:
    """(log-sum-exp, number of terms) over every rank's terms, from each rank's own log-sum-exp and count."""
    if not is_distributed():
        return local, count
    parts = gather_rows(torch.stack([local.detach().double(), torch.tensor(float(count), dtype=torch.float64, device=local.device)])[None])
    return torch.logsumexp(parts[:, 0], dim=0).to(local.dtype), int(parts[:, 1].sum().item())


@torch.no_grad()
def average_buffers(module: nn.Module) -> None:
    """Average every floating-point buffer over the ranks (in one all-reduce), except those of modules kept in step otherwise."""
    if not is_distributed():
        return
    buffers = [
        buffer for submodule in module.modules() if not getattr(submodule, "synchronises_itself", False)
        for buffer in submodule.buffers(recurse=False) if buffer.is_floating_point()
    ]
    if not buffers:
        return
    flat = torch.cat([buffer.reshape(-1).double() for buffer in buffers])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for buffer in buffers:
        buffer.copy_(flat[offset:offset + buffer.numel()].view_as(buffer))
        offset += buffer.numel()
