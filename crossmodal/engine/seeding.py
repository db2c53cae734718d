"""Seeding and RNG snapshots, so a resumed run draws the same random numbers as an uninterrupted one.

Snapshots hold only tensors, ints and lists, so checkpoints stay loadable with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all CUDA devices included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders (and seeds the loader workers of) one epoch.

    Derived from (seed, epoch) alone, so an epoch's data order does not depend on how many
    epochs ran before it in this process.
    """
    generator = torch.Generator()
    generator.manual_seed(seed * 1_000_003 + epoch)
    return generator


def augment_generator(seed: int, epoch: int, rank: int) -> torch.Generator:
    """The generator that draws one epoch's batch augmentation on one rank (``data.augment_on: device``).

    Derived from (seed, epoch, rank) alone, like ``epoch_generator``, so a resumed epoch draws what an uninterrupted
    one would, and ranks augment their different samples independently.
    """
    generator = torch.Generator()
    generator.manual_seed((seed * 1_000_003 + epoch) * 1_009 + rank + 1)
    return generator


def capture_rng_state() -> dict[str, Any]:
    """The state of every global RNG the training loop draws from."""
    version, mt_state, gauss_next = random.getstate()
    kind, np_keys, np_pos, np_has_gauss, np_cached = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss_next": gauss_next},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo ``capture_rng_state``: every global RNG continues exactly where the snapshot was taken."""
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss_next"]))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
