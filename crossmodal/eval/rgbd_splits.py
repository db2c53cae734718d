"""Labelled RGB-D data for evaluation: where it is, how its frames are shaped, which ones fit and which are scored.

"test": the NYU-layout file's train split to fit, its test split to score. "validation": the
test split is never opened; every fifth train frame is scored and the other four fifths fit,
so settings can be chosen without the test data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Subset

from crossmodal.config import TrainConfig
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.transforms import PairedTransform
from crossmodal.errors import InputError
from crossmodal.eval.extract import labelled_data

VALIDATION_EVERY = 5
SPLITS = ("test", "validation")


def labelled_data_path(config: TrainConfig, override: str | Path | None = None) -> Path:
    """The NYU-layout file (or cache) holding labels: ``override`` if given, else the run's own data set."""
    path = labelled_data(
        config, override, "labels to evaluate on", "pass --data with an NYU-Depth V2 .mat, its cache or a synthetic rooms file"
    )
    if not path.exists():
        raise InputError(f"labelled data {path} does not exist; pass --data with an NYU-layout file or cache")
    return path


def open_labelled_split(config: TrainConfig, path: Path, split: str, labels: str = "nyu40") -> NYUDepthV2:
    """One split of NYU-layout data through the deterministic eval transform at the run's input size and encoding."""
    transform = PairedTransform(
        size=tuple(config.data.input_size), train=False, depth_encoding=config.data.depth_encoding
    )
    dataset = NYUDepthV2(path, split=split, labels=labels, transform=transform)
    if len(dataset) == 0:
        raise InputError(f"labelled data {path} has no samples in its {split} split")
    return dataset


def extraction_settings(config: TrainConfig, path: Path, split: str, label_key: str) -> dict[str, Any]:
    """What, besides the weights, decides the extracted features: data identity and input shaping."""
    stat = path.stat()
    return {
        "data": str(path.resolve()),
        "data_bytes": stat.st_size,
        "data_mtime_ns": stat.st_mtime_ns,
        "split": split,
        "input_size": list(config.data.input_size),
        "depth_encoding": config.data.depth_encoding,
        "label_key": label_key,
    }


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
