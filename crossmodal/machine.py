"""The kind of machine a run trained on, recorded beside its numbers.

Seeded CPU training repeats bit for bit on one kind of processor but not across kinds: the float
kernels of the convolutions differ with the instruction set, and training amplifies the last bits.
A table is reproducible only by someone who knows which kind made it.
"""
from __future__ import annotations

import platform
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")
UNRECORDED = "not recorded"
"""The machine of epochs trained before runs recorded it."""


def cpu_model() -> str:
    """The processor's model name (Linux's /proc/cpuinfo, else what the platform module knows)."""
    if CPUINFO.is_file():
        for line in CPUINFO.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown processor"


def machine_description(device: torch.device) -> str:
    """What computes on ``device`` and torch's version: 'AMD EPYC, AVX512 kernels, torch 2.9.1' on a CPU, the GPU's name on CUDA."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}, torch {torch.__version__}"
    return f"{cpu_model()}, {torch.backends.cpu.get_cpu_capability()} kernels, torch {torch.__version__}"
