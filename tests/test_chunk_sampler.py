"""data.order=chunks: every sample once per epoch, a few chunks read at a time, disjoint shards, an order from (seed, epoch) alone."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from crossmodal.data.chunk_sampler import ChunkShuffleSampler


def epoch_ids(sampler: ChunkShuffleSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("num_samples", [96, 100])  # chunks of 8: a whole number of them, and a short last one
def test_one_rank_reads_every_sample_exactly_once_per_epoch(num_samples):
    sampler = ChunkShuffleSampler(num_samples, chunk_size=8, window_chunks=3, seed=0)
    ids = epoch_ids(sampler, 1)
    assert len(sampler) == num_samples and sorted(ids) == list(range(num_samples))


def test_each_window_of_the_order_reads_at_most_window_chunks_chunks():
    sampler = ChunkShuffleSampler(1000, chunk_size=10, window_chunks=4, seed=1)
    ids = np.array(epoch_ids(sampler, 3))
    windows = ids.reshape(-1, 40) // 10
    assert all(len(set(window)) == 4 for window in windows)
    first = ids[:40]
    assert not np.array_equal(first, np.sort(first)), "samples are shuffled within a window"


def test_ranks_read_disjoint_shards_of_equal_length_that_cover_the_data():
    ranks = [ChunkShuffleSampler(100, chunk_size=8, window_chunks=2, seed=0, rank=r, world_size=3) for r in range(3)]
    shards = [epoch_ids(sampler, 2) for sampler in ranks]
    assert len({len(shard) for shard in shards}) == 1 and len(shards[0]) == len(ranks[0]) == 4 * 8 - 4
    everything = [i for shard in shards for i in shard]
    assert len(set(everything)) == len(everything), "no sample is read by two ranks"
    assert len(everything) >= 100 - 8 - 2 * 4, "at most a chunk per rank is left out"


def test_the_order_follows_the_seed_and_the_epoch_alone():
    sampler = ChunkShuffleSampler(200, chunk_size=8, window_chunks=2, seed=5)
    again = ChunkShuffleSampler(200, chunk_size=8, window_chunks=2, seed=5)
    assert epoch_ids(sampler, 4) == epoch_ids(again, 4)
    assert epoch_ids(sampler, 4) != epoch_ids(sampler, 5)
    assert epoch_ids(sampler, 4) != epoch_ids(ChunkShuffleSampler(200, chunk_size=8, window_chunks=2, seed=6), 4)


def test_the_first_chunk_read_is_uniform_over_the_chunks():
    sampler = ChunkShuffleSampler(80, chunk_size=8, window_chunks=1, seed=0)
    first_chunks = [epoch_ids(sampler, epoch)[0] // 8 for epoch in range(2000)]
    counts = np.bincount(first_chunks, minlength=10)
    assert chisquare(counts).pvalue > 1e-3
