"""What a training data set is to the rest of the program: how to make sure it exists, open it, and name it.

Each format module's data sets are described by one DataSetKind; a modality lists the kinds it
trains on (``crossmodal.modalities``), and ``data.build`` asks the modality, never the name.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from crossmodal.config import DataConfig

DATA_DIR_ENV = "CROSSMODAL_DATA"


def data_dir(config: DataConfig) -> Path:
    """Where generated data lives: data.root, else $CROSSMODAL_DATA, else ./data."""
    return Path(config.root or os.environ.get(DATA_DIR_ENV) or "data").expanduser()


def num_items(dataset: Dataset) -> int:
    """How many items a data set holds: every one here has a length, which torch's Dataset type leaves undeclared."""
    return len(dataset)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DataSetKind:
    """One training data set.

    ``prepare(config, progress)``: generate or cache what is missing and check user paths (runs in
    one process before any other opens the data). ``open(config)``: the raw items, dicts with "rgb"
    and the modality's item key. ``location(config)``: where it lives, for messages.
    ``labelled(config)``: the labelled evaluation data that comes with the set (e.g. the NYU-layout
    file itself, or the sound set generated with synthetic videos), None when it brings none.
    """

    name: str
    prepare: Callable[[DataConfig, bool], None]
    open: Callable[[DataConfig], Dataset]
    location: Callable[[DataConfig], Path | str | None]
    labelled: Callable[[DataConfig], Path | None] = lambda config: None
