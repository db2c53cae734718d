"""The ranks of the process-group tests: fresh processes in one gloo group, torn down so that none can hang at exit.

- **Teardown order.** A DistributedDataParallel model's reducer holds the process group. When the
  reducer is its last holder, the group's gloo threads are joined in the reducer's destructor with
  the GIL held, while a gloo thread still freeing the tensors of the last collective waits for the
  GIL: neither moves again (gdb on a hung rank: ``Reducer::~Reducer`` -> ``~ProcessGroupGloo`` ->
  ``std::thread::join``, and ``~AsyncAllreduceWork`` -> ``TensorImpl::~TensorImpl`` -> ``take_gil``).
  So each rank lets go of every DDP model first (the worker's frames, and a failure's traceback,
  which holds them too) and destroys the group after, which joins the threads with the GIL released.
- **Spawned, not forked.** A fork copies the test process, with the threads and locks that torch
  and earlier tests left in it, into every rank; a spawned rank starts clean, at the cost of
  importing torch and the test module again (a few seconds per test).
- **No orphans.** A rank dies with the test process (``PR_SET_PDEATHSIG``), and ``run_ranks`` kills
  every rank still alive when it returns or raises, so a pytest-timeout of either method (a signal
  raising in the waiting test, or a thread ending the whole run) ends the ranks as well.
"""
from __future__ import annotations

import ctypes
import gc
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

import torch.distributed as dist
import torch.multiprocessing as mp

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(worker: Callable[..., None], *args: Any, nprocs: int = 2) -> None:
    """Run ``worker(rank, *args)`` in ``nprocs`` spawned processes; raises if any rank fails.

    A rank finds its group as under torchrun (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE and
    LOCAL_RANK are set): ``dist.init_process_group("gloo")`` joins it, and so does the trainer.
    A group still initialised when the worker returns is destroyed after it.
    """
    context = mp.start_processes(_rank, args=(worker, args, nprocs, free_port(), os.getpid()), nprocs=nprocs,
                                 join=False, start_method="spawn")
    try:
        while not context.join():
            pass
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
            process.join()


def _rank(rank: int, worker: Callable[..., None], args: tuple, world_size: int, port: int, parent: int) -> None:
    _die_with(parent)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    failure = None
    try:
        worker(rank, *args)
    except Exception as error:
        failure = "".join(traceback.format_exception(error))
    # The worker's frames are gone here, and with them its DDP models; gc.collect() frees any held in a reference cycle.
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()
    if failure is not None:
        raise RuntimeError(f"rank {rank} failed:\n{failure}")


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when the test process ends, however it ends."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the line above took effect
        os._exit(1)
