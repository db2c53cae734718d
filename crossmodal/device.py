"""Which torch device a run or an evaluation uses, from the one setting every command shares (``--device``)."""
from __future__ import annotations

import torch

from crossmodal.errors import InputError


def resolve_device(request: str, local_rank: int = 0) -> torch.device:
    """"auto" -> this rank's CUDA device when there is one, else CPU; explicit CUDA requests are checked."""
    if request == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(request)
    except RuntimeError:
        raise InputError(f"--device {request!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {request} asks for CUDA, but torch finds no CUDA device here")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device
