"""The NYU-Depth V2 labeled set as a torch Dataset, read from the original .mat or from a cache.

The original file (nyu_depth_v2_labeled.mat, MATLAB v7.3) stores every axis reversed and
holds full 480 x 640 frames; ``crossmodal.data.nyu_cache`` writes a cache directory of frames
resized once, which this module reads with identical item semantics. Files are opened lazily
in each process because h5py handles do not survive ``fork`` into DataLoader workers.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from crossmodal.data.hha import scaled_intrinsics
from crossmodal.data.matlab import read_cell_strings
from crossmodal.data.nyu_meta import IGNORE_INDEX, NUM_RAW_CLASSES, load_meta
from crossmodal.errors import HDF5_DAMAGE, InputError, first_line

SPLITS = ("train", "test", "all")
LABEL_SETS = ("nyu40", "nyu13", "raw")
DEPTH_KEYS = ("depths", "rawDepths")
MAT_KEYS = ("images", "depths", "rawDepths", "labels", "sceneTypes")

CACHE_FRAMES_FILE = "frames.h5"
CACHE_META_FILE = "meta.json"
CACHE_FORMAT = "crossmodal-nyu-cache"
CACHE_VERSION = 1
CACHE_KEYS = ("rgb", "depths", "rawDepths", "labels", "scenes")
HHA_KEY = "hha"
"""The cache's HHA planes of each frame (N x h x w x 3 uint8), where it was prepared with them."""
SCENE_NAMES_KEY = "scene_names"
"""The cache's copy of the .mat's ``scenes`` (each frame's recording), where the source has them."""

# Official split sizes; files of any other length get an even spread with the same test fraction.
OFFICIAL_TRAIN, OFFICIAL_TEST = 795, 654
OFFICIAL_FRAMES = OFFICIAL_TRAIN + OFFICIAL_TEST


class Frames(Protocol):
    """A frame store: frames in natural orientation, whatever the file layout."""

    path: Path
    num_frames: int
    height: int
    width: int
    scenes: list[str]
    scene_names: list[str] | None
    """The recording each frame was taken from (``kitchen_0004``), None where the file does not say."""

    def read_rgb(self, index: int) -> np.ndarray:
        """H x W x 3 uint8."""
        ...

    def read_depth(self, index: int, key: str) -> np.ndarray:
        """H x W float metres from "depths" or "rawDepths", as stored."""
        ...

    def read_labels(self, index: int) -> np.ndarray:
        """H x W raw label ids."""
        ...

    def read_hha(self, index: int) -> np.ndarray | None:
        """H x W x 3 uint8 HHA planes where the store holds them, else None."""
        ...


class LazyHDF5:
    """Per-process h5py datasets, opened on first use (handles are not fork-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: h5py.File | None = None
        self._datasets: dict[str, h5py.Dataset] = {}
        self._present: dict[str, bool] = {}
        self._pid = -1

    def __getitem__(self, key: str) -> h5py.Dataset:
        if key not in self._datasets or self._pid != os.getpid():
            self._datasets[key] = self._opened()[key]
        return self._datasets[key]

    def __contains__(self, key: str) -> bool:
        """Whether the file holds ``key`` (asked once per process: a lookup in the file costs as much as a small read)."""
        if key not in self._present or self._pid != os.getpid():
            self._present[key] = key in self._opened()
        return self._present[key]

    def _opened(self) -> h5py.File:
        if self._handle is None or self._pid != os.getpid():
            self._handle, self._datasets, self._present, self._pid = h5py.File(self.path, "r"), {}, {}, os.getpid()
        return self._handle

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle, self._datasets, self._present = None, {}, {}

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_handle": None, "_datasets": {}, "_present": {}, "_pid": -1}


def open_hdf5(path: Path, what: str = "", expected: str = "MATLAB v7.3 .mat or NYU cache expected") -> h5py.File:
    """Open an existing HDF5 file for reading, or raise InputError saying why it cannot be (``what`` names the file's role)."""
    named = f"{what} {path}".strip()
    if not path.is_file():
        raise InputError(f"{named} does not exist" if not path.exists() else f"{named} is not a file")
    if not h5py.is_hdf5(path):
        raise InputError(f"{named} is not an HDF5 file ({expected})")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise InputError(f"{named} could not be opened as HDF5 ({first_line(error)})") from None


@contextmanager
def damage_is_input_error(path: Path, what: str) -> Iterator[None]:
    """h5py's errors on a damaged file become one sentence naming the file and ``what`` was being read."""
    try:
        yield
    except InputError:
        raise
    except HDF5_DAMAGE as error:
        raise InputError(f"{path} is damaged: reading {what} failed ({first_line(error)})") from None


def _dataset(file: h5py.File, key: str, path: Path) -> h5py.Dataset:
    item = file[key]
    if not isinstance(item, h5py.Dataset):
        raise InputError(f"{path}: '{key}' is an HDF5 group, not a dataset")
    return item


def _check_plane(file: h5py.File, key: str, shape: tuple[int, ...], kinds: str, path: Path) -> None:
    data = _dataset(file, key, path)
    if data.shape != shape or data.dtype.kind not in kinds:
        kind = "floating" if kinds == "f" else "integer"
        raise InputError(f"{path}: '{key}' is {data.shape} {data.dtype}, expected {kind} values of shape {shape}")


def _require_keys(file: h5py.File, keys: tuple[str, ...], path: Path, expected: str) -> None:
    missing = [key for key in keys if key not in file]
    if missing:
        raise InputError(f"{path} lacks {', '.join(repr(k) for k in missing)}, so it is not {expected}")


class MatFrames:
    """Frames of nyu_depth_v2_labeled.mat; h5py sees images as N x 3 x W x H and planes as N x W x H."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open_hdf5(self.path) as file, damage_is_input_error(self.path, "its layout"):
            _require_keys(file, MAT_KEYS, self.path, "the NYU-Depth V2 labeled .mat")
            images = _dataset(file, "images", self.path)
            if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8:
                raise InputError(
                    f"{self.path}: 'images' is {images.shape} {images.dtype}, expected uint8 of shape N x 3 x W x H"
                )
            self.num_frames, _, self.width, self.height = images.shape
            plane = (self.num_frames, self.width, self.height)
            for key in DEPTH_KEYS:
                _check_plane(file, key, plane, "f", self.path)
            _check_plane(file, "labels", plane, "ui", self.path)
            self.scenes = self._read_scenes(file)
            self.scene_names = self._read_scene_names(file)
        self._file = LazyHDF5(self.path)

    def _read_scenes(self, file: h5py.File) -> list[str]:
        scenes = self._read_cell(file, "sceneTypes")
        assert scenes is not None  # a required key, checked above
        return scenes

    def _read_scene_names(self, file: h5py.File) -> list[str] | None:
        return self._read_cell(file, "scenes")

    def _read_cell(self, file: h5py.File, key: str) -> list[str] | None:
        """The cell array of strings ``key``, one per frame; None when the file has no such key."""
        if key not in file:
            return None
        try:
            strings = read_cell_strings(file, key)
        except (TypeError, ValueError, KeyError, OSError):
            raise InputError(f"{self.path}: '{key}' is not a MATLAB cell array of strings") from None
        if len(strings) != self.num_frames:
            raise InputError(f"{self.path}: '{key}' has {len(strings)} entries for {self.num_frames} frames")
        return strings

    def read_rgb(self, index: int) -> np.ndarray:
        return self._file["images"][index].transpose(2, 1, 0)

    def read_depth(self, index: int, key: str) -> np.ndarray:
        return self._file[key][index].T

    def read_labels(self, index: int) -> np.ndarray:
        return self._file["labels"][index].T

    def read_hha(self, index: int) -> np.ndarray | None:
        return None


class CacheFrames:
    """Frames of a cache directory written by ``prepare_nyu_cache`` (natural N x H x W layout)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.meta = self._read_meta()
        self.path = self.directory / CACHE_FRAMES_FILE
        with open_hdf5(self.path) as file, damage_is_input_error(self.path, "its layout"):
            _require_keys(file, CACHE_KEYS, self.path, "an NYU cache")
            rgb = _dataset(file, "rgb", self.path)
            count = self.meta.get("count")
            if rgb.ndim != 4 or rgb.shape[3] != 3 or rgb.dtype != np.uint8 or rgb.shape[0] != count:
                expected = f"expected uint8 of shape {count} x H x W x 3"
                raise InputError(f"{self.path}: 'rgb' is {rgb.shape} {rgb.dtype}, {expected}")
            self.num_frames, self.height, self.width = rgb.shape[:3]
            plane = (self.num_frames, self.height, self.width)
            for key in DEPTH_KEYS:
                _check_plane(file, key, plane, "f", self.path)
            _check_plane(file, "labels", plane, "ui", self.path)
            self.scenes = [str(scene) for scene in _dataset(file, "scenes", self.path).asstr()[()]]
            names = _dataset(file, SCENE_NAMES_KEY, self.path).asstr()[()] if SCENE_NAMES_KEY in file else None
            self.has_hha = HHA_KEY in file
            self.scene_names = None if names is None else [str(name) for name in names]
        for key, values in (("scenes", self.scenes), (SCENE_NAMES_KEY, self.scene_names)):
            if values is not None and len(values) != self.num_frames:
                raise InputError(f"{self.path}: '{key}' has {len(values)} entries for {self.num_frames} frames")
        self._file = LazyHDF5(self.path)

    def _read_meta(self) -> dict[str, Any]:
        meta_path = self.directory / CACHE_META_FILE
        if not meta_path.is_file():
            missing = f"no {CACHE_META_FILE}; make one with crossmodal-prepare nyu"
            raise InputError(f"{self.directory} is not a complete NYU cache ({missing})")
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{meta_path} is not valid JSON") from None
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT or meta.get("version") != CACHE_VERSION:
            raise InputError(f"{meta_path} does not describe a version {CACHE_VERSION} NYU cache; prepare it again")
        return meta

    def read_rgb(self, index: int) -> np.ndarray:
        return self._file["rgb"][index]

    def read_depth(self, index: int, key: str) -> np.ndarray:
        return self._file[key][index]

    def read_labels(self, index: int) -> np.ndarray:
        return self._file["labels"][index]

    def read_hha(self, index: int) -> np.ndarray | None:
        return self._file[HHA_KEY][index] if self.has_hha else None


def open_frames(path: str | Path) -> Frames:
    """A cache directory is read as a cache; anything else as the original .mat file."""
    path = Path(path)
    return CacheFrames(path) if path.is_dir() else MatFrames(path)


def nyu_camera(height: int, width: int) -> np.ndarray:
    """NYU's colour camera matrix (toolbox convention, 1-based pixels) for frames stored at ``height`` x ``width``."""
    k = load_meta().camera_intrinsics
    matrix = np.array([[k["fx"], 0.0, k["cx"]], [0.0, k["fy"], k["cy"]], [0.0, 0.0, 1.0]])
    return scaled_intrinsics(matrix, (480, 640), (height, width))


def test_scene_names(path: str | Path) -> set[str]:
    """The recordings (``kitchen_0004``) of the test split's frames of an NYU-layout file or cache: what training on
    NYU's raw recordings leaves out, so no test scene is seen in training."""
    frames = open_frames(path)
    if frames.scene_names is None:
        raise InputError(
            f"{frames.path} does not name the scene of each frame ('scenes'), so the test split's scenes cannot be left out of training; "
            "use nyu_depth_v2_labeled.mat itself (or a cache of it prepared now)"
        )
    return {frames.scene_names[index] for index in split_indices(frames.num_frames, "test")}


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"unknown NYU {option} {value!r}; choose one of: {', '.join(choices)}")


def split_indices(num_frames: int, split: str) -> np.ndarray:
    """Frame indices (0-based, ascending) of ``split`` in a file of ``num_frames`` frames.

    With 1449 frames (the labeled set) this is the official 795/654 split of splits.mat. Any
    other length (synthetic rooms, subsets) uses an even spread with the official test
    fraction: frame i is a test frame when floor((i+1)·654/1449) > floor(i·654/1449), so
    floor(N·654/1449) frames are test frames, evenly interleaved, with no randomness.
    """
    _check_choice("split", split, SPLITS)
    frames = np.arange(num_frames, dtype=np.int64)
    if split == "all":
        return frames
    if num_frames == OFFICIAL_FRAMES:
        meta = load_meta()
        return np.sort(meta.train_indices if split == "train" else meta.test_indices)
    is_test = (frames + 1) * OFFICIAL_TEST // OFFICIAL_FRAMES > frames * OFFICIAL_TEST // OFFICIAL_FRAMES
    return frames[is_test if split == "test" else ~is_test]


def clean_depth(depth: np.ndarray) -> np.ndarray:
    """float32 metres with every NaN, infinite or non-positive value set to 0 (missing)."""
    depth = depth.astype(np.float32, copy=False)
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0))


def check_raw_labels(labels: np.ndarray, path: Path, frame: int) -> None:
    """Raise InputError unless every id is a raw NYU id (0..894)."""
    if labels.size and not 0 <= int(labels.min()) <= int(labels.max()) <= NUM_RAW_CLASSES:
        raise InputError(f"{path}: frame {frame} has label ids outside 0..{NUM_RAW_CLASSES}")


def _label_set(labels: str) -> tuple[np.ndarray, tuple[str, ...], int]:
    """(raw id -> label lookup, class names indexed by label, ignore index)."""
    _check_choice("label set", labels, LABEL_SETS)
    meta = load_meta()
    if labels == "raw":
        return np.arange(NUM_RAW_CLASSES + 1), ("unlabeled", *meta.raw_class_names), 0
    if labels == "nyu13":
        return meta.raw_to_nyu13, meta.nyu13_class_names, IGNORE_INDEX
    return meta.raw_to_nyu40, meta.nyu40_class_names, IGNORE_INDEX


class NYUDepthV2(Dataset):
    """NYU-Depth V2 labeled frames as dict items.

    Items: "rgb" uint8 3 x H x W (480 x 640 for the original file), "depth" float32 1 x H x W
    metres (0 = missing, never NaN), "seg" int64 H x W, "scene" str, "scene_label" int
    (10-class protocol), "index" (position in this dataset, i.e. the memory-bank row).
    ``path`` is the .mat file or a cache directory from ``prepare_nyu_cache``.

    ``labels``: "nyu40" (0..39) and "nyu13" (0..12) mark unlabeled pixels 255; "raw" keeps the
    file's ids (1..894, 0 = unlabeled, so ``ignore_index`` is 0 and ``class_names[0]`` is
    "unlabeled"). ``depth``: "depths" (in-painted, dense) or "rawDepths" (sensor, with holes).
    ``split``: see ``split_indices``. ``labels=None``: items carry no "seg" and the labels are not read (training
    takes none; mapping 307k ids per frame costs a loader worker a third of its time).
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        labels: str | None = "nyu40",
        transform: Callable[[dict[str, Any]], Any] | None = None,
        depth: str = "depths",
    ) -> None:
        _check_choice("split", split, SPLITS)
        _check_choice("depth", depth, DEPTH_KEYS)
        self.label_table: np.ndarray | None = None
        self.class_names: tuple[str, ...] = ()
        self.ignore_index = IGNORE_INDEX
        if labels is not None:
            self.label_table, self.class_names, self.ignore_index = _label_set(labels)
        self.frames = open_frames(path)
        self.frame_indices = split_indices(self.frames.num_frames, split)
        self.split, self.labels, self.depth_key, self.transform = split, labels, depth, transform
        self.scene_classes = load_meta().scene_classes
        self.num_classes = len(self.class_names)
        self.num_scene_classes = len(self.scene_classes)

    def __len__(self) -> int:
        return len(self.frame_indices)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} frames")
        frame = int(self.frame_indices[index])
        with damage_is_input_error(self.frames.path, f"frame {frame}"):
            raw_labels = self.frames.read_labels(frame) if self.label_table is not None else None
            rgb = self.frames.read_rgb(frame)
            depth = self.frames.read_depth(frame, self.depth_key)
            hha = self.frames.read_hha(frame)
        scene = self.frames.scenes[frame]
        item = {
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
            "depth": torch.from_numpy(clean_depth(depth)[None]),
            "scene": scene,
            "scene_label": load_meta().scene_label(scene),
            "index": index,
        }
        if raw_labels is not None and self.label_table is not None:
            check_raw_labels(raw_labels, self.frames.path, frame)
            item["seg"] = torch.from_numpy(self.label_table[raw_labels].astype(np.int64))
        if hha is not None:
            item["hha"] = torch.from_numpy(np.ascontiguousarray(hha.transpose(2, 0, 1)))
        return self.transform(item) if self.transform is not None else item
