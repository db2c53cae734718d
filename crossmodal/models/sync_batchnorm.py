"""BatchNorm over the global batch under torchrun (``run.sync_batchnorm: true``), on every backend.

With DDP each rank normalises by its own shard's statistics, so a run on W ranks of B samples
each is not the run of one process on W x B samples; small per-rank batches also make the
statistics noisy. Synchronised BatchNorm computes the mean and variance over every rank's
samples. PyTorch's ``nn.SyncBatchNorm`` runs on GPUs only (it refuses CPU tensors, so gloo runs
cannot use it); this one sums each channel's count, sum and sum of squares with one autograd-aware
all-reduce per layer (the backward pass all-reduces their gradients), accumulated in float64
against cancellation, and is plain BatchNorm outside distributed training.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as distributed_functional
from torch import Tensor, nn

from crossmodal.distributed import is_distributed


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A drop-in for BatchNorm1d/2d/3d with the same parameters, buffers and state-dict keys."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (batch x channels ...), got {input.dim()}-D")

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and is_distributed()):
            return super().forward(input)
        self._check_input_dim(input)
        channels = input.shape[1]
        dims = [0, *range(2, input.dim())]
        local = torch.cat([
            input.sum(dims, dtype=torch.float64), input.square().sum(dims, dtype=torch.float64),
            torch.full((1,), input.numel() / channels, dtype=torch.float64, device=input.device),
        ])
        total = distributed_functional.all_reduce(local, op=dist.ReduceOp.SUM)
        count = total[-1]
        mean = total[:channels] / count
        variance = (total[channels:2 * channels] / count - mean.square()).clamp_min(0)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), variance.detach() * count / (count - 1).clamp_min(1))
        shape = [1, channels] + [1] * (input.dim() - 2)
        output = (input - mean.to(input.dtype).view(shape)) * torch.rsqrt(variance + self.eps).to(input.dtype).view(shape)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        return output

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, unbiased_variance: Tensor) -> None:
        assert self.running_mean is not None and self.running_var is not None and self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - momentum).add_(mean.to(self.running_mean.dtype), alpha=momentum)
        self.running_var.mul_(1 - momentum).add_(unbiased_variance.to(self.running_var.dtype), alpha=momentum)


def convert_to_sync_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm layer replaced by a SyncBatchNorm holding the same parameters and statistics."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, SyncBatchNorm):
        synced = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        synced.load_state_dict(module.state_dict())
        synced.train(module.training)
        tensors = [*module.parameters(), *module.buffers()]
        return synced.to(tensors[0].device) if tensors else synced
    for name, child in module.named_children():
        module.add_module(name, convert_to_sync_batchnorm(child))
    return module
