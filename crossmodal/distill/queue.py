"""CRD's negatives for data too large for a memory bank, or arriving as a stream: MoCo-style key queues.

A memory bank keeps one row per training sample, so it grows with the data set and needs each
sample's index. A queue keeps the last K keys instead, whatever the data size and without indices
(He et al., MoCo, CVPR 2020, which the CRD authors recommend for very large data sets). Keys come
from a momentum copy of each embedding head, ``key = m * key + (1 - m) * head`` before every
training step, so that the keys in the queue drift slowly even while the heads learn fast.
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from crossmodal.distill.memory import random_unit_rows


class NegativeQueue(nn.Module):
    """The last K unit-length keys (K x D), first in, first out; starts as random unit vectors, like a memory bank.

    Under torchrun its owner enqueues the global batch (every rank's keys, gathered in rank order),
    so all ranks hold the same queue.
    """

    synchronises_itself = True
    keys: Tensor
    pointer: Tensor

    def __init__(self, size: int, dim: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.register_buffer("keys", random_unit_rows(size, dim, dtype))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @property
    def num_rows(self) -> int:
        return self.keys.shape[0]

    def score(self, anchor: Tensor, positive_keys: Tensor) -> tuple[Tensor, Tensor]:
        """Positive scores (B: each anchor with its own key) and negative scores (B x K: with every queued key).

        The queue is copied for scoring, since ``enqueue`` rewrites it in place before the backward pass runs.
        """
        positive = (anchor * positive_keys.to(anchor.dtype)).sum(dim=1)
        negative = anchor @ self.keys.to(anchor.dtype, copy=True).T
        return positive, negative

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Replace the oldest entries by ``keys`` (only the newest K of them when there are more than K)."""
        keys = keys[-self.num_rows:]
        positions = (self.pointer + torch.arange(keys.shape[0], device=self.keys.device)) % self.num_rows
        self.keys.index_copy_(0, positions, keys.to(self.keys.dtype))
        self.pointer.copy_((self.pointer + keys.shape[0]) % self.num_rows)


def momentum_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that no optimiser moves (its parameters need no gradient); ``momentum_update`` moves it."""
    twin = copy.deepcopy(module)
    twin.requires_grad_(False)
    return twin


@torch.no_grad()
def momentum_update(twin: nn.Module, source: nn.Module, momentum: float) -> None:
    """``twin = momentum * twin + (1 - momentum) * source``, parameter by parameter."""
    for kept, learned in zip(twin.parameters(), source.parameters()):
        kept.mul_(momentum).add_(learned.detach(), alpha=1 - momentum)
