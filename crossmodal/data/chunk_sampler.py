"""An epoch order that reads storage in contiguous chunks, shards across ranks, and follows only (seed, epoch).

A uniform shuffle reads one sample here and the next anywhere else: on a video cache of
thousands of per-video HDF5 files, or a large chunked HDF5 file that does not fit the page
cache, nearly every read opens another file or decompresses another chunk. ``data.order: chunks``
shuffles instead the order of contiguous chunks of ``data.chunk_size`` samples, and then the
samples within each window of ``data.window_chunks`` consecutive chunks of that order (as
WebDataset's shard shuffle and shuffle buffer do): reads stay within a few chunks at a time,
while each batch still mixes ``window_chunks`` places of the data. Under torchrun each rank
takes every world-th chunk of the order, all ranks trimmed to the same count (DDP needs the
same number of steps everywhere). The order depends on the seed and the epoch alone, so a
resumed run reads what the uninterrupted one read.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

ORDERS = ("shuffle", "chunks")


class ChunkShuffleSampler(Sampler[int]):
    """Sample ids for one rank and one epoch (``set_epoch``); ``len`` is the same on every rank."""

    def __init__(
        self, num_samples: int, chunk_size: int, window_chunks: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if chunk_size < 1 or window_chunks < 1:
            raise ValueError(f"chunk_size ({chunk_size}) and window_chunks ({window_chunks}) must be positive")
        self.num_samples, self.chunk_size, self.window_chunks = num_samples, chunk_size, window_chunks
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _chunk_sizes(self) -> list[int]:
        full, rest = divmod(self.num_samples, self.chunk_size)
        return [self.chunk_size] * full + ([rest] if rest else [])

    def __len__(self) -> int:
        """What every rank can give in any epoch: its fewest chunks, one of them the short last chunk."""
        sizes = self._chunk_sizes()
        per_rank = len(sizes) // self.world_size
        return max(0, per_rank * self.chunk_size - (self.chunk_size - sizes[-1] if sizes else 0)) if per_rank else 0

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        sizes = self._chunk_sizes()
        order = torch.randperm(len(sizes), generator=generator).tolist()
        mine = order[self.rank::self.world_size]
        ids: list[int] = []
        for start in range(0, len(mine), self.window_chunks):
            window = torch.cat([torch.arange(c * self.chunk_size, c * self.chunk_size + sizes[c]) for c in mine[start:start + self.window_chunks]])
            ids += window[torch.randperm(len(window), generator=generator)].tolist()
        return iter(ids[:len(self)])
