"""The timing the benchmark scripts share: a step's median wall time, the device drained around each."""
from __future__ import annotations

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
