"""The RGB-D training data sets: embedded synthetic rooms, NYU-Depth V2, and RGB-D folders.

Generated rooms live in the data directory under a name keyed by every generation parameter, so
asking for a different set generates a new file and never reuses a stale one.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Subset

from crossmodal.config import DataConfig, RoomsConfig
from crossmodal.data.kinds import DataSetKind, data_dir, data_options, register_data_set
from crossmodal.data.labelled import IGNORE_INDEX, LabelledSplits, check_eval_split, validation_parts
from crossmodal.data.nyu import CACHE_META_FILE, SPLITS, NYUDepthV2
from crossmodal.data.nyu_cache import prepare_nyu_cache
from crossmodal.data.rgbd_folder import RGBDFolder
from crossmodal.data.synthetic.rooms import generate_rooms
from crossmodal.data.transforms import HHA
from crossmodal.errors import InputError, OptionError, first_line, listed
from crossmodal.fileio import atomic_path

Transform = Callable[[dict[str, Any]], Any]
FOLDER_LABELS = "labels"
"""The one label set of an RGB-D folder: the class ids of its labels/ images."""
NYU_DEFAULT_LABELS = "nyu40"
TEST_EVERY = 5
"""Without a test list, every fifth frame of an RGB-D folder (in stem order) is a test frame."""


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
    """``path``: the folder root (rgb/, depth/, labels/); ``strict``: stop on a truncated file instead of warning.

    For evaluation on labels/: ``test_list``, a text file naming the test frames' stems one per line
    (default: every fifth frame in stem order); ``classes``, the names of label ids 0, 1, ... (default:
    "class 0" ... up to the largest id in labels/; 255 is never a class).
    """

    path: str | None = None
    strict: bool = False
    test_list: str | None = None
    classes: tuple[str, ...] = ()


def rooms_file(config: DataConfig) -> Path:
    rooms = data_options(config).rooms
    height, width = rooms.size
    return data_dir(config) / f"synthetic-rooms-n{rooms.num}-{height}x{width}-seed{rooms.seed}.mat"


def rooms_hha_cache(config: DataConfig) -> Path:
    """Where the rooms live with their HHA planes: a cache of the rooms file at its own size."""
    path = rooms_file(config)
    return path.with_name(f"{path.stem}-hha")


def _rooms_frames(config: DataConfig) -> Path:
    """The rooms file, or its HHA cache when the depth is encoded as HHA (computed once, never per step)."""
    return rooms_hha_cache(config) if config.depth_encoding == HHA else rooms_file(config)


def _prepare_rooms(config: DataConfig, progress: bool) -> None:
    path = rooms_file(config)
    if not path.is_file():
        rooms = data_options(config).rooms
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {rooms.num} synthetic rooms into {path} (first use only)")
        with atomic_path(path) as temporary:
            generate_rooms(temporary, rooms, progress=progress)
    cache = rooms_hha_cache(config)
    if config.depth_encoding == HHA and not (cache / CACHE_META_FILE).is_file():
        print(f"encoding the rooms as HHA into {cache} (first use only)")
        prepare_nyu_cache(path, cache, size=None, progress=progress, hha=True)


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


def nyu_layout_splits(path: Path, split: str, labels: str | None, transform: Transform | None) -> LabelledSplits:
    """The NYU-layout file's official train/test split (validation: within its train split), with its label maps
    (``labels``, None: nyu40) and scenes."""
    check_eval_split(split)
    labels = labels or NYU_DEFAULT_LABELS
    if not path.exists():
        raise InputError(f"labelled data {path} does not exist; pass --data with an NYU-layout file or cache")

    def part(name: str) -> NYUDepthV2:
        dataset = NYUDepthV2(path, split=name, labels=labels, transform=transform)
        if len(dataset) == 0:
            raise InputError(f"labelled data {path} has no samples in its {name} split")
        return dataset

    train = part("train")
    fit, scored = (train, part("test")) if split == "test" else validation_parts(train, len(train), str(path))
    stat = path.stat()
    return LabelledSplits(
        fit, scored, list(train.class_names), list(train.scene_classes), str(path),
        identity={"data": str(path.resolve()), "data_bytes": stat.st_size, "data_mtime_ns": stat.st_mtime_ns},
        ignore_index=train.ignore_index,
    )


def _rooms_splits(config: DataConfig, split: str, labels: str | None, transform: Transform | None) -> LabelledSplits:
    return nyu_layout_splits(_rooms_frames(config), split, labels, transform)


def _nyu_splits(config: DataConfig, split: str, labels: str | None, transform: Transform | None) -> LabelledSplits:
    return nyu_layout_splits(_given_path(config, "the path of nyu_depth_v2_labeled.mat or its cache"), split, labels, transform)


def _folder_splits(config: DataConfig, split: str, labels: str | None, transform: Transform | None) -> LabelledSplits:
    """labels/ of an RGB-D folder (its one label set; None asks for it too): its test frames (``test_list``, else every
    fifth), its ids named by ``classes``."""
    check_eval_split(split)
    options: RGBDFolderOptions = data_options(config)
    root = _given_path(config, "its root directory")
    folder = RGBDFolder(root, transform=transform, strict=options.strict)
    if not folder.has_labels:
        raise InputError(f"RGB-D folder {root} has no labels/ subfolder, so it brings no labels to evaluate on; pass --data with an NYU-layout file")
    if labels not in (None, FOLDER_LABELS):
        raise InputError(f"RGB-D folder {root} has one label set, {FOLDER_LABELS!r} (the ids in labels/); evaluate with labels={FOLDER_LABELS}")
    stems = [rgb.stem for rgb, _, _ in folder.samples]
    is_test = _test_frames(stems, options.test_list)
    train_indices, test_indices = np.flatnonzero(~is_test).tolist(), np.flatnonzero(is_test).tolist()
    if not train_indices or not test_indices:
        raise InputError(f"RGB-D folder {root} needs frames in both its train and test parts, got {len(train_indices)} and {len(test_indices)}")
    train = Subset(folder, train_indices)
    fit, scored = (train, Subset(folder, test_indices)) if split == "test" else validation_parts(train, len(train_indices), str(root))
    class_names = _class_names(folder, options.classes)
    return LabelledSplits(
        fit, scored, class_names, [], str(root),
        identity={"data": str(root.resolve()), "frames": len(stems), "test_list": options.test_list, "classes": class_names},
    )


def _test_frames(stems: list[str], test_list: str | None) -> np.ndarray:
    """Which frames are test frames: those ``test_list`` names (every one must exist), else every fifth."""
    if test_list is None:
        return np.arange(len(stems)) % TEST_EVERY == TEST_EVERY - 1
    path = Path(test_list).expanduser()
    try:
        named = {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"test list {path} cannot be read: {first_line(error)}") from None
    absent = sorted(named - set(stems))
    if absent:
        raise InputError(f"test list {path} names frames the folder does not hold: {listed(absent)}")
    return np.array([stem in named for stem in stems])


def _class_names(folder: RGBDFolder, given: tuple[str, ...]) -> list[str]:
    """``given``, checked against every label id in the folder, else "class k" for k up to the largest id (one read of labels/)."""
    largest, where = -1, ""
    for _, _, label_path in folder.samples:
        assert label_path is not None  # a folder with labels/ pairs a label image with every frame
        ids = np.unique(folder.read_labels(label_path))
        ids = ids[ids != IGNORE_INDEX]
        if ids.size and int(ids.max()) > largest:
            largest, where = int(ids.max()), str(label_path)
    if not given:
        return [f"class {k}" for k in range(largest + 1)]
    if largest >= len(given):
        raise InputError(f"label image {where} holds class id {largest}, but data.options.classes names only {len(given)} classes")
    return list(given)


def _path_option(config: DataConfig) -> Path:
    return Path(data_options(config).path or "").expanduser()


def _open_rooms(config: DataConfig) -> Dataset:
    return NYUDepthV2(_rooms_frames(config), split=data_options(config).split, labels=None)


def _open_nyu(config: DataConfig) -> Dataset:
    return NYUDepthV2(_path_option(config), split=data_options(config).split, labels=None)


def _open_folder(config: DataConfig) -> Dataset:
    return RGBDFolder(_path_option(config), strict=data_options(config).strict)


SYNTHETIC_ROOMS = register_data_set(DataSetKind(
    "synthetic-rooms", "depth", SyntheticRoomsOptions, _prepare_rooms, _open_rooms, rooms_file, eval_splits=_rooms_splits
))
NYU = register_data_set(DataSetKind("nyu", "depth", NYUOptions, _prepare_nyu, _open_nyu, _path_option, eval_splits=_nyu_splits))
RGBD_FOLDER = register_data_set(DataSetKind(
    "rgbd-folder", "depth", RGBDFolderOptions, _prepare_folder, _open_folder, _path_option, eval_splits=_folder_splits
))
