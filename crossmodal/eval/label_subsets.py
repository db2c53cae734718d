"""Which labelled frames a label-efficiency run may use: one seeded order whose prefixes are the subsets.

Each fraction's subset is the first ``subset_size(fraction, n)`` frames of one order, so the
subsets are nested (the 5 % subset contains the 1 % one) and a fraction's frames are fixed by the
seed alone. The order is stratified where frames carry classes (systematic sampling): the frames
of class c, shuffled, take the keys (r + u_c) / n_c for their ranks r = 0..n_c-1 and a seeded
offset u_c in [0, 1); sorting all frames by key interleaves the classes in proportion, so every
prefix holds each class close to its share of the whole (within one frame).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from crossmodal.errors import InputError


def subset_size(fraction: float, total: int) -> int:
    """How many of ``total`` frames a fraction keeps: round(fraction * total), at least one."""
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"label fraction {fraction} must be in (0, 1]")
    return max(1, min(total, round(fraction * total)))


def labelled_order(total: int, seed: int, strata: Sequence[int] | None = None) -> list[int]:
    """A seeded order of the frame indices 0..total-1, stratified by ``strata`` (a class per frame) when given."""
    if total < 1:
        raise InputError("there are no labelled training frames to choose a subset from")
    rng = np.random.default_rng(seed)
    if strata is None:
        return [int(index) for index in rng.permutation(total)]
    classes = np.asarray(strata)
    if len(classes) != total:
        raise InputError(f"{len(classes)} class labels for {total} frames")
    keys = np.empty(total)
    for value in np.unique(classes):
        members = rng.permutation(np.flatnonzero(classes == value))
        keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
    tie_breaks = rng.random(total)
    return [int(index) for index in np.lexsort((tie_breaks, keys))]


def nested_subsets(order: Sequence[int], fractions: Sequence[float]) -> dict[float, list[int]]:
    """fraction -> the frames it uses: a prefix of ``order``."""
    return {fraction: list(order[:subset_size(fraction, len(order))]) for fraction in fractions}


def check_fractions(fractions: Sequence[float], anchor: float) -> None:
    """Label fractions must increase, be distinct and lie in (0, 1]; the labels-saved ``anchor`` must be one of them."""
    chosen = list(fractions)
    if not chosen or any(not 0 < f <= 1 for f in chosen) or chosen != sorted(set(chosen)):
        raise InputError(f"label fractions {chosen} must be increasing, distinct and each in (0, 1]")
    if not any(math.isclose(anchor, f) for f in chosen):
        raise InputError(f"the anchor fraction {anchor} must be one of the fractions {chosen}")


def equal_step_epochs(epochs: int, batch_size: int, frames: int, all_frames: int) -> int:
    """The passes over a subset of ``frames`` that take as many steps as ``epochs`` passes over ``all_frames``, so a
    curve measures what more labels give, not what more optimisation gives."""
    def batches(count: int) -> int:
        return count // batch_size if count > batch_size else 1  # as the loader drops a last partial batch

    return math.ceil(epochs * batches(all_frames) / batches(frames))
