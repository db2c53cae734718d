"""Labelled RGB-D frames for evaluation, found through the data-set catalog and shaped as the student was trained.

Where they come from: the data set named by ``data_set`` (with ``path`` as its path option), else
an NYU-layout file at ``path`` (the labelled .mat, its cache, or a synthetic rooms file), else the
run's own training data set. Which frames fit and which are scored is the data set's
``eval_splits`` (``crossmodal.data.labelled``): "test" scores its test part; "validation" never
opens it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from crossmodal.config import TrainConfig
from crossmodal.data.catalog import DATA_SETS
from crossmodal.data.labelled import LabelledSplits
from crossmodal.data.transforms import PairedTransform
from crossmodal.errors import InputError

NYU_LAYOUT = "nyu"
"""The data set a labelled path given alone is read as."""


def labelled_splits(
    config: TrainConfig, data_set: str | None, path: Path | None, split: str, labels: str | None, transform: Any = None
) -> LabelledSplits:
    """The fit and scored frames through ``transform`` (default: the deterministic eval view at the run's input size and encoding)."""
    data = config.data
    if data_set is not None or path is not None:
        options = {"path": str(path)} if path is not None else {}
        data = dataclasses.replace(config.data, name=data_set or NYU_LAYOUT, options=options)
    kind = DATA_SETS.get(data.name)
    if kind.eval_splits is None:
        raise InputError(
            f"data set {data.name!r} brings no labelled frames to evaluate on; pass --data with an NYU-Depth V2 .mat, "
            "its cache or a synthetic rooms file"
        )
    if transform is None:
        transform = PairedTransform(size=tuple(config.data.input_size), train=False, depth_encoding=config.data.depth_encoding)
    return kind.eval_splits(data, split, labels, transform)


def extraction_settings(config: TrainConfig, splits: LabelledSplits, part: str, label_key: str) -> dict[str, Any]:
    """What, besides the weights, decides the extracted features: the frames' identity and the input shaping."""
    return {
        **splits.identity,
        "split": part,
        "input_size": list(config.data.input_size),
        "depth_encoding": config.data.depth_encoding,
        "label_key": label_key,
    }
