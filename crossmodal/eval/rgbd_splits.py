"""Which labelled RGB-D frames an evaluation learns from and which it scores.

"test": the NYU-layout file's train split to fit, its test split to score. "validation": the
test split is never opened; every fifth train frame is scored and the other four fifths fit,
so settings can be chosen without the test data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset, Subset

from crossmodal.config import TrainConfig
from crossmodal.errors import InputError
from crossmodal.eval.extract import open_labelled_split

VALIDATION_EVERY = 5
SPLITS = ("test", "validation")


def rgbd_eval_splits(config: TrainConfig, path: Path, split: str, labels: str) -> tuple[Dataset, Dataset, list[str], list[str]]:
    """(fit set, scored set, segmentation class names, scene class names) of the labelled file at ``path``."""
    if split not in SPLITS:
        raise InputError(f"evaluation split {split!r} must be one of: {', '.join(SPLITS)}")
    train_set = open_labelled_split(config, path, "train", labels)
    class_names, scene_classes = list(train_set.class_names), list(train_set.scene_classes)
    if split == "test":
        return train_set, open_labelled_split(config, path, "test", labels), class_names, scene_classes
    held_out = np.arange(len(train_set)) % VALIDATION_EVERY == VALIDATION_EVERY - 1
    if not held_out.any():
        raise InputError(f"the train split of {path} has fewer than {VALIDATION_EVERY} frames, too few to hold out a validation part")
    fit = Subset(train_set, np.flatnonzero(~held_out).tolist())
    return fit, Subset(train_set, np.flatnonzero(held_out).tolist()), class_names, scene_classes
