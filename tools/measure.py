"""What the benchmark scripts measure the same way: a step's median wall time, the device drained
around each, and the peak memory of this process."""
from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable

import torch

CPU = torch.device("cpu")


def median_seconds(step: Callable[[], object], repeats: int, device: torch.device = CPU, warmup: int = 2) -> float:
    """Median seconds of ``step`` over ``repeats`` calls after ``warmup`` untimed ones; on CUDA the
    clock starts and stops with the device idle, so queued kernels are counted in the step that queued them."""

    def timed() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    for _ in range(warmup):
        timed()
    return statistics.median(timed() for _ in range(repeats))


def peak_mib(device: torch.device = CPU) -> float:
    """MiB at the peak: on CUDA what PyTorch allocated on ``device`` since its last reset, else this process's resident peak."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
