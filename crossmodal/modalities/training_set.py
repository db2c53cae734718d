"""The paired training set a config asks for: its kind from the data-set catalog, its transform from the target's modality.

Each data set kind knows how to make sure its files exist and how to open them
(``crossmodal.data.catalog``); the modality knows how a pair becomes a training sample. This
module only asks both and checks that the pairing makes sense.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from crossmodal.config import DataConfig
from crossmodal.data.catalog import DATA_SETS
from crossmodal.data.kinds import DataSetKind, num_items
from crossmodal.errors import InputError
from crossmodal.modalities.base import MODALITIES, all_data_sets

SOURCES = ("rgb",)
Transform = Callable[[dict[str, Any]], dict[str, Any]]


def data_set_kind(config: DataConfig) -> DataSetKind:
    """Source must be RGB (the teachers are RGB networks); the target's modality must train on the data set."""
    if config.source not in SOURCES:
        raise InputError(f"source {config.source!r} is not supported; the teachers are RGB networks, so use --source rgb")
    if config.target not in MODALITIES:
        raise InputError(f"target {config.target!r} is not supported yet; supported targets: {', '.join(MODALITIES)}")
    known = {kind.name: modality for modality, kind in all_data_sets()}
    if config.name in DATA_SETS and DATA_SETS.get(config.name).open is None:
        kind = DATA_SETS.get(config.name)
        raise InputError(
            f"data set {config.name!r} holds labelled {kind.modality} for evaluation only, with no rgb to pair it with; "
            f"train on: {', '.join(name for name, modality in known.items() if modality == kind.modality)}"
        )
    if config.name not in known:
        raise InputError(f"unknown data set {config.name!r}; choose one of: {', '.join(known)}")
    if known[config.name] != config.target:
        fitting = ", ".join(kind.name for kind in MODALITIES.get(config.target).data_sets)
        raise InputError(
            f"data set {config.name!r} pairs rgb with {known[config.name]} and has no {config.target}, "
            f"so for --target {config.target} use --data {fitting}"
        )
    return DATA_SETS.get(config.name)


def prepare_data(config: DataConfig, progress: bool = True) -> None:
    """Make sure the data exists: generate embedded data and cache videos if needed, check user paths.

    Run this in one process before others open the data (it writes files).
    """
    data_set_kind(config).prepare(config, progress)


def open_items(config: DataConfig) -> Dataset:
    """The data set of raw items (dicts with "rgb" and the target's key)."""
    kind = data_set_kind(config)
    assert kind.open is not None  # data_set_kind admits only sets with training pairs
    items = kind.open(config)
    if num_items(items) == 0:
        raise InputError(f"data set {describe(config)} has no samples")
    return items


def build_train_dataset(config: DataConfig, augment: bool = True, transform: Transform | None = None) -> Dataset:
    """Paired samples ("source", "target", "index", ...) for training; ``augment=False`` gives the
    deterministic view (what a cached teacher sees); ``transform`` replaces the modality's per-sample one (the
    device path's compact step, ``crossmodal.data.batch_augment``)."""
    raw = open_items(config)
    first = raw[0]
    if config.target not in first or "rgb" not in first:
        missing = "rgb" if config.target in first else config.target
        raise InputError(f"data set {describe(config)} has no {missing!r} modality, so it cannot train rgb -> {config.target}")
    raw.transform = transform or MODALITIES.get(config.target).transform(config, train=augment)  # type: ignore[attr-defined]  # every kind's items take one
    return raw


def describe(config: DataConfig) -> str:
    """The data set and where it lives, for messages."""
    return f"{config.name!r} at {data_set_kind(config).location(config)}"
