"""The RGB-D training data sets: embedded synthetic rooms, NYU-Depth V2, and RGB-D folders.

Generated rooms live in the data directory under a name keyed by every generation parameter, so
asking for a different set generates a new file and never reuses a stale one.
"""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from crossmodal.config import DataConfig
from crossmodal.data.kinds import DataSetKind, data_dir, register_data_set
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.rgbd_folder import RGBDFolder
from crossmodal.data.synthetic.rooms import generate_rooms
from crossmodal.errors import InputError
from crossmodal.fileio import atomic_path


def rooms_file(config: DataConfig) -> Path:
    rooms = config.rooms
    height, width = rooms.size
    return data_dir(config) / f"synthetic-rooms-n{rooms.num}-{height}x{width}-seed{rooms.seed}.mat"


def _prepare_rooms(config: DataConfig, progress: bool) -> None:
    path = rooms_file(config)
    if path.is_file():
        return
    if config.rooms.num < 1 or min(config.rooms.size) < 1:
        raise InputError(f"data.rooms needs a positive num and size, got {config.rooms.num} and {config.rooms.size}")
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {config.rooms.num} synthetic rooms into {path} (first use only)")
    with atomic_path(path) as temporary:
        generate_rooms(temporary, config.rooms, progress=progress)


def _prepare_nyu(config: DataConfig, progress: bool) -> None:
    if not config.nyu:
        raise InputError("data set 'nyu' needs the path of nyu_depth_v2_labeled.mat or its cache: --nyu PATH")
    if not Path(config.nyu).expanduser().exists():
        raise InputError(f"NYU file {config.nyu} does not exist (--nyu)")


def _prepare_folder(config: DataConfig, progress: bool) -> None:
    if not config.folder:
        raise InputError("data set 'rgbd-folder' needs its root directory: --folder PATH")
    if not Path(config.folder).expanduser().is_dir():
        raise InputError(f"RGB-D folder {config.folder} is not a directory (--folder)")


def _nyu_path(config: DataConfig) -> Path:
    return Path(config.nyu or "").expanduser()


def _open_rooms(config: DataConfig) -> Dataset:
    return NYUDepthV2(rooms_file(config), split=config.split)


def _open_nyu(config: DataConfig) -> Dataset:
    return NYUDepthV2(_nyu_path(config), split=config.split)


def _open_folder(config: DataConfig) -> Dataset:
    return RGBDFolder(Path(config.folder or "").expanduser(), strict=config.strict)


SYNTHETIC_ROOMS = register_data_set(DataSetKind("synthetic-rooms", "depth", _prepare_rooms, _open_rooms, rooms_file, labelled=rooms_file))
NYU = register_data_set(DataSetKind("nyu", "depth", _prepare_nyu, _open_nyu, lambda config: config.nyu, labelled=_nyu_path))
RGBD_FOLDER = register_data_set(DataSetKind("rgbd-folder", "depth", _prepare_folder, _open_folder, lambda config: config.folder))
