"""Checkpoints: written atomically, read back with ``weights_only=True``.

A checkpoint is a plain dict:

    format        CHECKPOINT_FORMAT
    epoch         epochs finished (the next epoch to run is epoch + 1)
    global_step   optimiser steps taken
    finished      True once every scheduled epoch is done
    config        the resolved TrainConfig as a nested dict
    student_spec  {"name", "in_channels", "width", "num_classes"}: enough to rebuild the student
    student       student state_dict
    objective     objective state_dict (embedding heads, memory banks, Z)
    optimizer, scheduler, grad_scaler   their state_dicts (grad_scaler: {} when unused)
    rng           crossmodal.engine.seeding.capture_rng_state()
    wandb_id      the wandb run id, so a resumed run continues the same wandb run (None if off)
    world_size    processes that trained it (torchrun); a resume must use as many
    checksum      BLAKE2b of everything above, added by ``save_checkpoint``: torch's zip reader checks no
                  CRC, so without it a flipped byte in a tensor would load as a silently different weight
"""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from crossmodal.errors import InputError, first_line
from crossmodal.fileio import atomic_path

CHECKPOINT_FORMAT = "crossmodal-train/1"
LAST_CHECKPOINT = "last.pt"
RUN_FILES = ("config.yaml", "metrics.jsonl")
"""What a run directory holds from its start, before its first checkpoint."""


CHECKSUM_KEY = "checksum"


def state_checksum(value: Any) -> str:
    """A digest of a nested state (dicts, lists, tensors, numbers, strings) that any changed byte changes."""
    digest = hashlib.blake2b(digest_size=16)

    def visit(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            tensor = item.detach().cpu().contiguous()
            digest.update(f"tensor{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(item, dict):
            digest.update(f"dict{len(item)}".encode())
            for key in sorted(item, key=repr):
                digest.update(repr(key).encode())
                visit(item[key])
        elif isinstance(item, (list, tuple)):
            digest.update(f"{type(item).__name__}{len(item)}".encode())
            for element in item:
                visit(element)
        else:
            digest.update(repr(item).encode())

    visit(value)
    return digest.hexdigest()


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``state`` and its checksum to a temporary file, flush it to disk, then rename it over ``path``.

    The rename is atomic, so ``path`` always holds either the previous checkpoint or the new
    one in full, whenever the process dies.
    """
    body = {key: value for key, value in state.items() if key != CHECKSUM_KEY}  # a state read back still holds one
    state = {**body, CHECKSUM_KEY: state_checksum(body)}
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())


def checkpoint_path(run_or_file: str | os.PathLike[str]) -> Path:
    """A run directory means its ``last.pt``; a file is taken as is. Missing -> InputError."""
    path = Path(run_or_file)
    if path.is_dir():
        path = path / LAST_CHECKPOINT
        if not path.is_file():
            if not any((path.parent / name).is_file() for name in RUN_FILES):
                raise InputError(f"{path.parent} is not a crossmodal run directory (it holds no {LAST_CHECKPOINT} or {' or '.join(RUN_FILES)})")
            raise InputError(f"run directory {path.parent} has no {LAST_CHECKPOINT}; it finished no epoch yet")
    elif not path.is_file():
        raise InputError(f"checkpoint or run directory {path} does not exist")
    return path


def _unreadable(path: Path, error: Exception) -> str:
    """Why torch.load could not read ``path``: not its format at all, objects it refuses to unpickle, or a cut or damaged file."""
    with open(path, "rb") as handle:
        zipped = handle.read(4) == b"PK\x03\x04"  # torch.save's format is a zip archive
    if not zipped:
        return "is not a checkpoint (not a file torch.save wrote)"
    if isinstance(error, pickle.UnpicklingError):
        return "holds objects other than tensors and plain values, so it is refused unread"
    return f"is truncated or damaged: it cannot be read ({type(error).__name__}: {first_line(error)})"


def load_checkpoint(run_or_file: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint safely (``weights_only=True``); unreadable or foreign files -> InputError."""
    path = checkpoint_path(run_or_file)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch.load raises many types for unreadable files
        raise InputError(f"checkpoint {path} {_unreadable(path, error)}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path} is not a crossmodal-train checkpoint (format {CHECKPOINT_FORMAT})")
    stored = state.pop(CHECKSUM_KEY, None)
    if stored is not None and stored != state_checksum(state):
        raise InputError(f"checkpoint {path} is damaged: its contents no longer match the checksum written with them")
    return state
