"""What a training data set is to the rest of the program: how to make sure it exists, open it, and name it.

Each format module describes its data sets with one DataSetKind each and registers them in
``DATA_SETS`` (as detectron2's DatasetCatalog); ``crossmodal.data.catalog`` imports the built-in
formats, so looking a name up there finds every kind. A kind names the modality it pairs with
RGB, so a modality's data sets are the catalog's kinds that name it. Its options are one frozen
keyword-only dataclass: the fields are what ``data.options`` may set, the defaults its defaults,
and ``__post_init__`` rejects values out of range with an OptionError.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir
from torch.utils.data import Dataset

from crossmodal.config import DataConfig, replace_checked
from crossmodal.data.labelled import LabelledSplits
from crossmodal.errors import InputError, OptionError
from crossmodal.registry import Registry

DATA_DIR_ENV = "CROSSMODAL_DATA"


def default_data_dir() -> Path:
    """Where generated data and caches live when neither data.root nor $CROSSMODAL_DATA says: the user's cache
    directory (``~/.cache/crossmodal`` on Linux), shared by runs from every working directory."""
    return Path(os.environ.get(DATA_DIR_ENV) or user_cache_dir("crossmodal", appauthor=False)).expanduser()


def data_dir(config: DataConfig) -> Path:
    """Where generated data lives: data.root, else $CROSSMODAL_DATA, else the user's cache directory."""
    return Path(config.root).expanduser() if config.root else default_data_dir()


def num_items(dataset: Dataset) -> int:
    """How many items a data set holds: every one here has a length, which torch's Dataset type leaves undeclared."""
    return len(dataset)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DataSetKind:
    """One training data set, pairing RGB with ``modality``, with its ``options`` dataclass.

    Each function below reads the set's options with ``data_options(config)``. ``prepare(config,
    progress)``: generate or cache what is missing and check user paths (runs in one process before
    any other opens the data). ``open(config)``: the raw items, dicts with "rgb"
    and the modality's item key; None for a set that holds labelled data for evaluation only. ``location(config)``: where it lives, for messages.
    ``eval_splits(config, split, labels, transform)``: its labelled frames to fit on and to score
    (``crossmodal.data.labelled``), None when it brings none. ``labelled(config)``: the labelled data
    a fold protocol reads (the sound set generated with synthetic videos), None when it brings none.
    """

    name: str
    modality: str
    options: type[Any]
    prepare: Callable[[DataConfig, bool], None]
    open: Callable[[DataConfig], Dataset] | None
    location: Callable[[DataConfig], Path | str | None]
    eval_splits: Callable[..., LabelledSplits] | None = None
    labelled: Callable[[DataConfig], Path | None] = lambda config: None


DATA_SETS: Registry[DataSetKind] = Registry("data set")


def register_data_set(kind: DataSetKind) -> DataSetKind:
    """Add ``kind`` to the catalog under its name (a name registered twice is an error)."""
    return DATA_SETS.register(kind.name)(kind)


def data_options(config: DataConfig) -> Any:
    """The chosen data set's options: its options dataclass with ``config.options`` applied, every key, type and range checked."""
    kind = DATA_SETS.get(config.name)
    known = [field.name for field in fields(kind.options)]
    unknown = sorted(set(config.options) - set(known))
    if unknown:
        raise InputError(
            f"data set {config.name!r} has no option {', '.join(map(repr, unknown))}; its options are: {', '.join(known) or 'none'}"
        )
    try:
        return replace_checked(kind.options(), config.options, origin=f"the options of data set {config.name!r}")
    except OptionError as error:
        raise InputError(f"data set {config.name!r} {error}") from None
