"""The RGB-D training data sets: embedded synthetic rooms, NYU-Depth V2, and RGB-D folders.

Generated rooms live in the data directory under a name keyed by every generation parameter, so
asking for a different set generates a new file and never reuses a stale one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from crossmodal.config import DataConfig, RoomsConfig
from crossmodal.data.kinds import DataSetKind, data_dir, data_options, register_data_set
from crossmodal.data.nyu import SPLITS, NYUDepthV2
from crossmodal.data.rgbd_folder import RGBDFolder
from crossmodal.data.synthetic.rooms import generate_rooms
from crossmodal.errors import InputError, OptionError
from crossmodal.fileio import atomic_path


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise OptionError(f"option split={split!r} is not one of: {', '.join(SPLITS)}")


@dataclass(frozen=True, kw_only=True)
class SyntheticRoomsOptions:
    """The embedded rooms: how many, at what stored size, from which seed, and which split of them to train on
    ("train" keeps the test rooms unseen for evaluation, as NYU's split does)."""

    num: int = RoomsConfig.num
    size: tuple[int, int] = RoomsConfig.size
    seed: int = RoomsConfig.seed
    split: str = "train"

    def __post_init__(self) -> None:
        if self.num < 1 or min(self.size) < 1:
            raise OptionError(f"options num and size must be positive, got {self.num} and {self.size}")
        _check_split(self.split)

    @property
    def rooms(self) -> RoomsConfig:
        return RoomsConfig(self.num, self.size, self.seed)


@dataclass(frozen=True, kw_only=True)
class NYUOptions:
    """``path``: nyu_depth_v2_labeled.mat or its prepared cache; ``split``: which of its frames to train on."""

    path: str | None = None
    split: str = "train"

    def __post_init__(self) -> None:
        _check_split(self.split)


@dataclass(frozen=True, kw_only=True)
class RGBDFolderOptions:
    """``path``: the folder root (rgb/, depth/, labels/); ``strict``: stop on a truncated file instead of warning."""

    path: str | None = None
    strict: bool = False


def rooms_file(config: DataConfig) -> Path:
    rooms = data_options(config).rooms
    height, width = rooms.size
    return data_dir(config) / f"synthetic-rooms-n{rooms.num}-{height}x{width}-seed{rooms.seed}.mat"


def _prepare_rooms(config: DataConfig, progress: bool) -> None:
    path = rooms_file(config)
    if path.is_file():
        return
    rooms = data_options(config).rooms
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {rooms.num} synthetic rooms into {path} (first use only)")
    with atomic_path(path) as temporary:
        generate_rooms(temporary, rooms, progress=progress)


def _given_path(config: DataConfig, what: str) -> Path:
    """The data set's ``path`` option, which the user must give (``what`` names the file or folder it is)."""
    path = data_options(config).path
    if not path:
        raise InputError(f"data set {config.name!r} needs {what}: --data-path PATH (data.options.path)")
    return Path(path).expanduser()


def _prepare_nyu(config: DataConfig, progress: bool) -> None:
    path = _given_path(config, "the path of nyu_depth_v2_labeled.mat or its cache")
    if not path.exists():
        raise InputError(f"NYU file {path} does not exist (--data-path)")


def _prepare_folder(config: DataConfig, progress: bool) -> None:
    path = _given_path(config, "its root directory")
    if not path.is_dir():
        raise InputError(f"RGB-D folder {path} is not a directory (--data-path)")


def _path_option(config: DataConfig) -> Path:
    return Path(data_options(config).path or "").expanduser()


def _open_rooms(config: DataConfig) -> Dataset:
    return NYUDepthV2(rooms_file(config), split=data_options(config).split)


def _open_nyu(config: DataConfig) -> Dataset:
    return NYUDepthV2(_path_option(config), split=data_options(config).split)


def _open_folder(config: DataConfig) -> Dataset:
    return RGBDFolder(_path_option(config), strict=data_options(config).strict)


SYNTHETIC_ROOMS = register_data_set(DataSetKind(
    "synthetic-rooms", "depth", SyntheticRoomsOptions, _prepare_rooms, _open_rooms, rooms_file, labelled=rooms_file
))
NYU = register_data_set(DataSetKind("nyu", "depth", NYUOptions, _prepare_nyu, _open_nyu, _path_option, labelled=_path_option))
RGBD_FOLDER = register_data_set(DataSetKind("rgbd-folder", "depth", RGBDFolderOptions, _prepare_folder, _open_folder, _path_option))
