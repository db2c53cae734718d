"""The paired training set a config asks for: embedded synthetic rooms (default), NYU-Depth V2, or an RGB-D folder.

Synthetic rooms are generated on first use into the data directory ($CROSSMODAL_DATA, else
./data) under a file name keyed by scene count, size and seed, so asking for a different set
generates a new file and never reuses a stale one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from crossmodal.config import DataConfig
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.rgbd_folder import RGBDFolder
from crossmodal.data.synthetic.rooms import generate_rooms
from crossmodal.data.transforms import PairedTransform
from crossmodal.errors import InputError

DATA_SETS = ("synthetic-rooms", "nyu", "rgbd-folder")
SOURCES = ("rgb",)
TARGET_CHANNELS = {"depth": 1}
"""Supported target modalities (the item key of the same name) and their channel count."""
DATA_DIR_ENV = "CROSSMODAL_DATA"


def check_modalities(config: DataConfig) -> None:
    """Source must be RGB (the teachers are RGB networks); the target must be a supported modality."""
    if config.source not in SOURCES:
        raise InputError(f"source {config.source!r} is not supported; the teachers are RGB networks, so use --source rgb")
    if config.target not in TARGET_CHANNELS:
        raise InputError(
            f"target {config.target!r} is not supported yet; supported targets: {', '.join(TARGET_CHANNELS)}"
        )
    if config.name not in DATA_SETS:
        raise InputError(f"unknown data set {config.name!r}; choose one of: {', '.join(DATA_SETS)}")


def data_dir(config: DataConfig) -> Path:
    """Where generated data lives: data.root, else $CROSSMODAL_DATA, else ./data."""
    return Path(config.root or os.environ.get(DATA_DIR_ENV) or "data").expanduser()


def rooms_file(config: DataConfig) -> Path:
    rooms = config.rooms
    height, width = rooms.size
    return data_dir(config) / f"synthetic-rooms-n{rooms.num}-{height}x{width}-seed{rooms.seed}.mat"


def prepare_data(config: DataConfig, progress: bool = True) -> None:
    """Make sure the data exists: generate synthetic rooms if needed, check user paths exist.

    Run this in one process before others open the data (it writes files).
    """
    check_modalities(config)
    if config.name == "synthetic-rooms":
        path = rooms_file(config)
        if not path.is_file():
            if config.rooms.num < 1 or min(config.rooms.size) < 1:
                raise InputError(f"data.rooms needs a positive num and size, got {config.rooms.num} and {config.rooms.size}")
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"generating {config.rooms.num} synthetic rooms into {path} (first use only)")
            temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
            try:
                generated = generate_rooms(
                    temporary, config.rooms.num, size=tuple(config.rooms.size), seed=config.rooms.seed,
                    progress=progress, workers=None,
                )
                os.replace(generated, path)
            finally:
                temporary.unlink(missing_ok=True)
    elif config.name == "nyu":
        if not config.nyu:
            raise InputError("data set 'nyu' needs the path of nyu_depth_v2_labeled.mat or its cache: --nyu PATH")
        if not Path(config.nyu).expanduser().exists():
            raise InputError(f"NYU file {config.nyu} does not exist (--nyu)")
    elif config.name == "rgbd-folder":
        if not config.folder:
            raise InputError("data set 'rgbd-folder' needs its root directory: --folder PATH")
        if not Path(config.folder).expanduser().is_dir():
            raise InputError(f"RGB-D folder {config.folder} is not a directory (--folder)")


def open_items(config: DataConfig, transform: Any = None) -> Dataset:
    """The data set of raw items (dicts with "rgb", "depth", ...), ``transform`` applied per item."""
    check_modalities(config)
    if config.name == "synthetic-rooms":
        items: Dataset = NYUDepthV2(rooms_file(config), split=config.split, transform=transform)
    elif config.name == "nyu":
        items = NYUDepthV2(Path(config.nyu or "").expanduser(), split=config.split, transform=transform)
    else:
        items = RGBDFolder(Path(config.folder or "").expanduser(), transform=transform)
    if len(items) == 0:
        raise InputError(f"data set {describe(config)} has no samples")
    return items


def build_train_dataset(config: DataConfig, augment: bool = True) -> Dataset:
    """Paired samples ("source", "target", "index", ...) for training; ``augment=False`` gives the
    deterministic centre-crop view (what a cached teacher sees)."""
    transform = PairedTransform(size=tuple(config.input_size), train=augment, depth_encoding=config.depth_encoding)
    raw = open_items(config)
    first = raw[0]
    if config.target not in first or "rgb" not in first:
        missing = "rgb" if config.target in first else config.target
        raise InputError(f"data set {describe(config)} has no {missing!r} modality, so it cannot train rgb -> {config.target}")
    raw.transform = transform
    return raw


def describe(config: DataConfig) -> str:
    """The data set and where it lives, for messages."""
    location = {"synthetic-rooms": rooms_file(config), "nyu": config.nyu, "rgbd-folder": config.folder}[config.name]
    return f"{config.name!r} at {location}"
