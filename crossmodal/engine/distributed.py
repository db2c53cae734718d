"""torchrun support: process-group setup, and keeping module buffers (memory banks, Z, BN stats) in step.

Under DDP gradients are averaged by DDP itself, but buffers that an objective changes in its
forward pass (CRD's memory banks and normalisers) change differently on every rank: each rank
refreshes only the bank rows of its own batch. ``merge_buffer_updates`` makes every rank apply
every rank's changes after each step, which is what one process would have done with the
combined batch: a row refreshed on one rank gets that rank's value everywhere (ranks see
disjoint rows, as DistributedSampler shards the data), rows refreshed on several ranks get the
mean, and small buffers (Z, BN running statistics, counters) take the mean of the ranks' changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

ROW_BUFFER_MIN_DIM = 2


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


def snapshot_buffers(module: nn.Module) -> dict[str, Tensor]:
    """Copies of every buffer, taken before a step so the step's changes can be found afterwards."""
    return {name: buffer.detach().clone() for name, buffer in module.named_buffers()}


@torch.no_grad()
def merge_buffer_updates(module: nn.Module, before: dict[str, Tensor]) -> None:
    """Apply every rank's buffer changes since ``before`` on every rank (see the module docstring)."""
    for name, buffer in module.named_buffers():
        old = before[name]
        if buffer.dtype == torch.bool:
            merged = buffer.to(torch.uint8)
            dist.all_reduce(merged, op=dist.ReduceOp.MAX)
            buffer.copy_(merged.bool())
        elif buffer.dim() >= ROW_BUFFER_MIN_DIM:
            _merge_changed_rows(buffer, old)
        else:
            _merge_mean_change(buffer, old)


def _merge_mean_change(buffer: Tensor, old: Tensor) -> None:
    delta = buffer.double() - old.double()
    changed = (delta != 0).double()
    dist.all_reduce(delta)
    dist.all_reduce(changed)
    merged = old.double() + delta / changed.clamp(min=1)
    buffer.copy_(merged.round() if not buffer.is_floating_point() else merged)


def _merge_changed_rows(buffer: Tensor, old: Tensor) -> None:
    rows = (buffer != old).flatten(1).any(dim=1).nonzero().flatten()
    world_size = dist.get_world_size()
    counts = [torch.zeros(1, dtype=torch.long, device=buffer.device) for _ in range(world_size)]
    dist.all_gather(counts, torch.tensor([rows.numel()], device=buffer.device))
    longest = int(max(count.item() for count in counts))
    if longest == 0:
        return
    padded_rows = torch.full((longest,), -1, dtype=torch.long, device=buffer.device)
    padded_rows[: rows.numel()] = rows
    padded_values = buffer.new_zeros((longest, *buffer.shape[1:]))
    padded_values[: rows.numel()] = buffer[rows]
    all_rows = [torch.empty_like(padded_rows) for _ in range(world_size)]
    all_values = [torch.empty_like(padded_values) for _ in range(world_size)]
    dist.all_gather(all_rows, padded_rows)
    dist.all_gather(all_values, padded_values)
    gathered_rows = torch.cat(all_rows)
    keep = gathered_rows >= 0
    gathered_rows, gathered_values = gathered_rows[keep], torch.cat(all_values)[keep]
    sums = torch.zeros_like(buffer, dtype=torch.float64).index_add_(0, gathered_rows, gathered_values.double())
    hits = torch.zeros(buffer.shape[0], dtype=torch.float64, device=buffer.device)
    hits.index_add_(0, gathered_rows, torch.ones_like(gathered_rows, dtype=torch.float64))
    touched = hits > 0
    shape = (-1,) + (1,) * (buffer.dim() - 1)
    buffer[touched] = (sums[touched] / hits[touched].view(shape)).to(buffer.dtype)
