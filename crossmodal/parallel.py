"""One rule for how many worker processes a job gets, and one way to start them."""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from multiprocessing.pool import Pool


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_count(requested: int | None, jobs: int) -> int:
    """``requested`` processes (None: one per usable core), at least 1 and no more than there are jobs."""
    wanted = usable_cores() if requested is None else requested
    return max(1, min(wanted, jobs))


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[Pool | None]:
    """A pool of ``workers`` processes, or None for one worker (the caller then runs jobs itself).

    Forked where the platform can: workers run numpy, h5py and PyAV only, and forking spares each
    the seconds a fresh interpreter takes to import torch again.
    """
    if workers <= 1:
        yield None
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        yield pool
