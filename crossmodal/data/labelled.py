"""What a data set gives an evaluation protocol: frames to fit on, frames to score, and what their labels mean.

A data set kind that brings labelled frames implements ``eval_splits(config, split, labels,
transform) -> LabelledSplits``. ``split`` is "test" (fit on the training part, score the test part)
or "validation" (the test part is never opened: every fifth training frame is scored, the rest
fit), so settings can be chosen without the test data. ``labels`` names one of the set's label sets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Subset

from crossmodal.errors import InputError

EVAL_SPLITS = ("test", "validation")
VALIDATION_EVERY = 5
IGNORE_INDEX = 255
"""The label id of pixels that are not scored (unlabelled, or of no class of the label set)."""


@dataclass
class LabelledSplits:
    """Frames to fit a probe or head on and frames to score, as raw items through the protocol's transform.

    Items carry "seg" (H x W class ids of ``class_names``, ``ignore_index`` unscored) and, when the set
    has scene labels, "scene_label" (an index into ``scene_names``; empty: no scene labels).
    ``location``: where the frames live, for reports. ``identity``: what, besides the split, decides the
    frames (for keying cached features).
    """

    fit: Dataset
    scored: Dataset
    class_names: list[str]
    scene_names: list[str]
    location: str
    identity: dict[str, Any] = field(default_factory=dict)
    ignore_index: int = IGNORE_INDEX


def check_eval_split(split: str) -> None:
    if split not in EVAL_SPLITS:
        raise InputError(f"evaluation split {split!r} must be one of: {', '.join(EVAL_SPLITS)}")


def validation_parts(train: Dataset, size: int, where: str) -> tuple[Dataset, Dataset]:
    """(fit, scored) of the training part alone: every fifth frame scored, the other four fifths fit."""
    held_out = np.arange(size) % VALIDATION_EVERY == VALIDATION_EVERY - 1
    if not held_out.any():
        raise InputError(f"the train split of {where} has fewer than {VALIDATION_EVERY} frames, too few to hold out a validation part")
    return Subset(train, np.flatnonzero(~held_out).tolist()), Subset(train, np.flatnonzero(held_out).tolist())
