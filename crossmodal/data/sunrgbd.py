"""SUN RGB-D (Song, Lichtenberg, Xiao, CVPR 2015) as a torch Dataset, read from the two official archives as unpacked.

Layout (``SUNRGBD.zip`` and ``SUNRGBDtoolbox.zip`` unpacked side by side; any other place by keyword)::

    <dir>/SUNRGBD/                              root: one folder per sensor, nothing else
        kv1/{NYUdata,b3dodata}/<frame>/
        kv2/{kinect2data,align_kv2}/<frame>/
        realsense/{lg,sa,sh,shr}/<frame>/
        xtion/xtion_align_data/<frame>/
        xtion/sun3ddata/<site>/<sequence>/<frame>/   (two levels deeper in the real data)
    <dir>/SUNRGBDtoolbox/                       toolbox (default: root/../SUNRGBDtoolbox)
        traintestSUNRGBD/allsplit.mat           split_file: alltrain (5285) / alltest (5050), MATLAB v5
        Metadata/SUNRGBDMeta.mat                meta_file: SUNRGBDMeta(i).rgbpath, needed for labels only
        Metadata/SUNRGBD2Dseg.mat               labels_file: 37-class label images, MATLAB v7.3 (HDF5)

    <frame>/image/<name>.jpg   colour          <frame>/intrinsics.txt   9 numbers, row-major 3x3 K
    <frame>/depth/<name>.png   16-bit depth    <frame>/scene.txt        one raw scene name
    <frame>/depth_bfx/<name>.png  refined depth in the same encoding (``depth="depth_bfx"``)

Choices where the sources are silent or UNVERIFIED:

* Frames are the split file's entries (train: alltrain, test: alltest, all: both), sorted by their path relative
  to root (code-point order), so item ``index`` (the memory-bank row) is the same on every machine and never
  depends on directory listing order. Entries carry a machine-specific prefix (``/n/fs/sun3d/data/SUNRGBD/``
  officially, ``/data1/SUNRGBD/`` in a re-saved copy) and, in that copy, mostly a trailing ``/``: an entry's
  frame path starts at its first component that is a sensor followed by one of that sensor's subfolders.
* Depth decodes as the toolbox's ``read3dPoints.m``: a uint16 rotate-right by 3 bits, millimetres to metres,
  values above 8 m set to 8 m (so a value whose low 3 bits are set decodes to 8 m); 0 stays 0 (missing).
  nicr-scene-analysis-datasets shifts without rotating, Open3D truncates at 7 m: neither is followed here.
* Labels: the i-th image of SUNRGBD2Dseg.mat belongs to ``SUNRGBDMeta(i)``; that is how its users pair them
  (ESANet's and nicr's prepare scripts walk SUNRGBDMeta.mat and index ``seglabel`` with the same i). A frame is
  matched to its label image through that entry's ``rgbpath`` (the frame folder two levels up), never through
  an assumed order (the order is said to be alltest then alltrain, UNVERIFIED, and not relied on). The meta
  file is MATLAB v5 (ESANet and nicr read it with scipy): it is read whole, once per process and file, and
  only the frame folders are kept. The label file is never loaded whole (MATLAB needs 64 GB for that): its
  reference table is read once and each item reads one label image through h5py, stored transposed.
* Scene labels index the 19-class protocol list (the paper's categories with more than 80 images; the list
  itself comes from third-party code). A frame whose scene.txt names any other scene has ``scene_label``
  ``OUTSIDE_SCENE`` (-1): the protocol leaves such frames out, so ``scene_labels >= 0`` selects the probe's
  frames. scene.txt is not checked against the 45 raw names.
* Intrinsics are a float64 torch tensor (3 x 3, as in intrinsics.txt, for the image as stored).
* Each frame folder must hold exactly one image in image/ and one PNG in the depth folder; every file's header
  is checked once at open (a few hundred bytes per file) and all problems are reported in one InputError.
"""
from __future__ import annotations

import functools
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import scipy.io
import torch
from scipy.io.matlab import MatReadError
from torch.utils.data import Dataset

from crossmodal.data.file_headers import HeaderError, image_header
from crossmodal.data.labelled import IGNORE_INDEX
from crossmodal.data.nyu import damage_is_input_error, open_hdf5
from crossmodal.errors import InputError, first_line, listed

SENSORS: dict[str, tuple[str, ...]] = {
    "kv1": ("NYUdata", "b3dodata"),
    "kv2": ("kinect2data", "align_kv2"),
    "realsense": ("lg", "sa", "sh", "shr"),
    "xtion": ("sun3ddata", "xtion_align_data"),
}
"""Sensor folders directly under root and the subfolders each holds (counted from allsplit.mat)."""
SPLITS = ("train", "test", "all")
SPLIT_FIELDS = {"train": ("alltrain",), "test": ("alltest",), "all": ("alltrain", "alltest")}
LABEL_SETS = ("sun37",)
DEPTH_FOLDERS = ("depth", "depth_bfx")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

SPLIT_FILE = Path("traintestSUNRGBD") / "allsplit.mat"
META_FILE = Path("Metadata") / "SUNRGBDMeta.mat"
LABELS_FILE = Path("Metadata") / "SUNRGBD2Dseg.mat"
META_KEY = "SUNRGBDMeta"
SEG_KEY = "SUNRGBD2Dseg/seglabel"

DEPTH_SCALE = 1000.0
"""Stored depth (after the bit rotation) is millimetres."""
MAX_DEPTH_M = 8.0
"""read3dPoints.m sets every depth above 8 m to 8 m."""

SEG37_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture", "counter",
    "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor_mat", "clothes", "ceiling", "books",
    "fridge", "tv", "paper", "towel", "shower_curtain", "box", "whiteboard", "person", "night_stand", "toilet", "sink",
    "lamp", "bathtub", "bag",
)
"""seg37list.mat: stored id k (1..37) is ``SEG37_CLASSES[k - 1]``; 0 is void."""
SCENE19_CLASSES = (
    "bathroom", "bedroom", "classroom", "computer_room", "conference_room", "corridor", "dining_area", "dining_room",
    "discussion_area", "furniture_store", "home_office", "kitchen", "lab", "lecture_theatre", "library", "living_room",
    "office", "rest_space", "study_space",
)
OUTSIDE_SCENE = -1
"""``scene_label`` of a frame whose scene is not one of the 19 (left out of the scene protocol)."""

SEG37_TABLE = np.array([IGNORE_INDEX, *range(len(SEG37_CLASSES))], dtype=np.int64)
"""Stored id -> label: void 0 -> 255, k -> k - 1."""

MAT5_DAMAGE = (ValueError, TypeError, OSError, IndexError, KeyError, EOFError, NotImplementedError, MatReadError, zlib.error, struct.error)
"""What scipy.io.loadmat raises on a file that is not a MATLAB v5 file or is cut short (v7.3: NotImplementedError)."""


def decode_depth(raw: np.ndarray) -> np.ndarray:
    """Stored uint16 values -> float32 metres, as read3dPoints.m: rotate right by 3 bits, /1000, above 8 m -> 8 m."""
    wide = raw.astype(np.uint32)
    millimetres = (wide >> 3) | ((wide << 13) & 0xFFFF)
    return np.minimum(millimetres.astype(np.float32) / np.float32(DEPTH_SCALE), np.float32(MAX_DEPTH_M))


def frame_path(entry: str) -> str | None:
    """The frame folder of a split or meta path, relative to root, whatever its machine prefix; None if it has none."""
    parts = [part for part in entry.replace("\\", "/").split("/") if part not in ("", ".")]
    for i in range(len(parts) - 2):
        if parts[i] in SENSORS and parts[i + 1] in SENSORS[parts[i]]:
            return "/".join(parts[i:])
    return None


def scene_label(scene: str) -> int:
    """Index of ``scene`` in the 19-class protocol list, or OUTSIDE_SCENE."""
    return SCENE19_CLASSES.index(scene) if scene in SCENE19_CLASSES else OUTSIDE_SCENE


def _choice(option: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        raise InputError(f"unknown SUN RGB-D {option} {value!r}; choose one of: {', '.join(map(str, choices))}")


def _cell_strings(cell: object) -> list[str]:
    """A MATLAB cell array of char rows, as scipy reads it, as Python strings; ValueError for anything else."""
    if not isinstance(cell, np.ndarray) or cell.dtype != object:
        raise ValueError("not a cell array")
    strings = []
    for element in cell.reshape(-1, order="F"):
        text = np.asarray(element)
        if text.dtype.kind != "U" or text.size > 1:
            raise ValueError("not a cell array of strings")
        strings.append(str(text.item()) if text.size else "")
    return strings


def _load_mat5(path: Path, names: list[str], what: str) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist" if not path.exists() else f"{what} {path} is not a file")
    try:
        return scipy.io.loadmat(path, variable_names=names)
    except MAT5_DAMAGE as error:
        raise InputError(f"{what} {path} cannot be read as a MATLAB v5 .mat file ({first_line(error)})") from None


def read_split(path: Path) -> dict[str, list[str]]:
    """alltrain and alltest of allsplit.mat as frame paths relative to root, in file order."""
    mat = _load_mat5(path, list(SPLIT_FIELDS["all"]), "split file")
    fields: dict[str, list[str]] = {}
    for field in SPLIT_FIELDS["all"]:
        if field not in mat:
            raise InputError(f"split file {path} lacks '{field}', so it is not SUN RGB-D's allsplit.mat")
        try:
            entries = _cell_strings(mat[field])
        except ValueError:
            raise InputError(f"split file {path}: '{field}' is not a cell array of strings") from None
        frames = [frame_path(entry) for entry in entries]
        unknown = [repr(entry) for entry, frame in zip(entries, frames) if frame is None]
        if unknown:
            counted = _count(len(unknown), f"'{field}' entry", f"'{field}' entries") + (" names" if len(unknown) == 1 else " name")
            raise InputError(f"split file {path}: {counted} no sensor folder of SUN RGB-D: {listed(unknown, 3)}")
        fields[field] = [frame for frame in frames if frame is not None]
    both = sorted(set(fields["alltrain"]) & set(fields["alltest"]))
    if both:
        raise InputError(f"split file {path} lists {_count(len(both), 'frame')} in both alltrain and alltest: {listed(both, 3)}")
    return fields


@functools.lru_cache(maxsize=2)
def _meta_frames(path: Path, size: int, mtime_ns: int) -> tuple[str | None, ...]:
    """Frame path of every SUNRGBDMeta entry, in file order (cached per file version: the file is large)."""
    mat = _load_mat5(path, [META_KEY], "meta file")
    meta = mat.get(META_KEY)
    if not isinstance(meta, np.ndarray) or meta.dtype.names is None or "rgbpath" not in meta.dtype.names:
        raise InputError(f"meta file {path} has no struct array '{META_KEY}' with an 'rgbpath' field")
    try:
        rgb_paths = _cell_strings(meta["rgbpath"])
    except ValueError:
        raise InputError(f"meta file {path}: '{META_KEY}.rgbpath' is not a string in every entry") from None
    return tuple(frame_path(rgb_path.rsplit("/", 2)[0]) for rgb_path in rgb_paths)


def read_meta_frames(path: Path) -> tuple[str | None, ...]:
    """The frame folder (relative to root) of each SUNRGBDMeta.mat entry, None where its rgbpath names none."""
    stat = path.stat() if path.is_file() else None
    return _meta_frames(path, stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1)


def open_labels(path: Path) -> h5py.File:
    """SUNRGBD2Dseg.mat opened for reading, or InputError saying why it cannot be."""
    return open_hdf5(path, "label file", "SUNRGBD2Dseg.mat is MATLAB v7.3")


def label_refs(file: h5py.File, path: Path) -> np.ndarray:
    """The flat table of object references to the label images (MATLAB's 1 x N struct array reads as N x 1)."""
    if SEG_KEY not in file or not isinstance(file[SEG_KEY], h5py.Dataset):
        raise InputError(f"label file {path} lacks '{SEG_KEY}', so it is not SUN RGB-D's SUNRGBD2Dseg.mat")
    table = file[SEG_KEY]
    if h5py.check_dtype(ref=table.dtype) is not h5py.Reference or table.ndim > 2 or (table.ndim == 2 and min(table.shape) != 1):
        raise InputError(f"label file {path}: '{SEG_KEY}' is {table.shape} {table.dtype}, expected a 1 x N array of object references")
    return np.asarray(table[()]).reshape(-1)


class _LazyLabels:
    """Per-process handle on the label file (h5py handles do not survive a fork into DataLoader workers)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: h5py.File | None = None
        self._refs: np.ndarray | None = None
        self._pid = -1

    def read(self, entry: int) -> np.ndarray:
        """Label image ``entry`` (0-based) in natural H x W orientation."""
        if self._file is None or self._refs is None or self._pid != os.getpid():
            self._file = open_labels(self.path)
            self._refs, self._pid = label_refs(self._file, self.path), os.getpid()
        return np.asarray(self._file[self._refs[entry]][()]).T

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_file": None, "_refs": None, "_pid": -1}


@dataclass(frozen=True)
class SunFrame:
    """One frame as found at open: where its files are and what its small files say."""

    path: str
    """Frame folder relative to root, e.g. kv1/NYUdata/NYU0001."""
    sensor: str
    rgb: Path
    depth: Path
    size: tuple[int, int]
    """(height, width) of image and depth, from their headers."""
    intrinsics: np.ndarray
    scene: str
    label_entry: int | None
    """0-based index into SUNRGBD2Dseg.mat (and SUNRGBDMeta.mat); None without labels."""


class SUNRGBD(Dataset):
    """SUN RGB-D frames as dict items, like every RGB-D data set of the package (layout and choices: module docstring).

    Items: "rgb" uint8 3 x H x W (RGB order), "depth" float32 1 x H x W metres (0 = missing, never NaN),
    "intrinsics" float64 3 x 3 tensor, "scene" (scene.txt), "scene_label" (index into ``scene_classes``,
    OUTSIDE_SCENE for other scenes), "sensor", "index", and with ``labels="sun37"`` "seg" int64 H x W
    (``class_names`` ids, 255 = void). H x W varies between sensors.

    Files: ``toolbox`` (default root/../SUNRGBDtoolbox) holds the split, meta and label files at their toolbox
    places, or each is given by ``split_file``, ``meta_file``, ``labels_file``; with ``labels=None`` only the split
    file is read. ``sensors``: a sensor name or several (default: all four) to keep only their frames. ``depth``: "depth"
    (the sensor's, what the toolbox reads) or "depth_bfx" (refined). ``strict=False`` warns about files that
    end early (a cut JPEG still decodes, grey below the cut) instead of refusing them.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        labels: str | None = "sun37",
        transform: Callable[[dict[str, Any]], Any] | None = None,
        sensors: str | Iterable[str] | None = None,
        *,
        toolbox: str | Path | None = None,
        split_file: str | Path | None = None,
        meta_file: str | Path | None = None,
        labels_file: str | Path | None = None,
        depth: str = "depth",
        strict: bool = True,
    ) -> None:
        _choice("split", split, SPLITS)
        _choice("label set", labels, (*LABEL_SETS, None))
        _choice("depth folder", depth, DEPTH_FOLDERS)
        chosen = (sensors,) if isinstance(sensors, str) else tuple(SENSORS if sensors is None else sensors)
        for sensor in chosen:
            _choice("sensor", sensor, tuple(SENSORS))
        self.root = Path(root)
        toolbox_dir = self.root.parent / "SUNRGBDtoolbox" if toolbox is None else Path(toolbox)
        self.split_file = Path(split_file) if split_file is not None else toolbox_dir / SPLIT_FILE
        self.meta_file = Path(meta_file) if meta_file is not None else toolbox_dir / META_FILE
        self.labels_file = Path(labels_file) if labels_file is not None else toolbox_dir / LABELS_FILE
        self.split, self.labels, self.depth_folder, self.transform = split, labels, depth, transform
        self.sensors = tuple(sorted(set(chosen)))
        self.class_names = SEG37_CLASSES
        self.scene_classes = SCENE19_CLASSES
        self.ignore_index = IGNORE_INDEX
        self.num_classes, self.num_scene_classes = len(SEG37_CLASSES), len(SCENE19_CLASSES)

        self._check_root()
        paths = self._split_frames()
        entries = self._label_entries(paths) if labels is not None else {}
        self.frames = self._scan(paths, entries, strict)
        if labels is not None:
            self._check_label_sizes()
        self.scene_labels = np.array([scene_label(frame.scene) for frame in self.frames], dtype=np.int64)
        """Per item, without reading any image: ``np.flatnonzero(scene_labels >= 0)`` are the protocol's frames."""
        self._labels = _LazyLabels(self.labels_file)

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise InputError(f"SUN RGB-D folder {self.root} does not exist" if not self.root.exists() else f"SUN RGB-D folder {self.root} is not a folder")
        strangers = sorted(f"{path.name}/" for path in self.root.iterdir() if path.is_dir() and path.name not in SENSORS and not path.name.startswith("."))
        if strangers:
            which = "is not a sensor folder" if len(strangers) == 1 else "are not sensor folders"
            raise InputError(f"SUN RGB-D folder {self.root} holds {', '.join(strangers)}, which {which} (expected only {', '.join(SENSORS)})")

    def _split_frames(self) -> list[str]:
        """The split's frames of the chosen sensors, sorted; all of them must be under root."""
        fields = read_split(self.split_file)
        paths = sorted({path for field in SPLIT_FIELDS[self.split] for path in fields[field] if path.split("/", 1)[0] in self.sensors})
        absent = [path for path in paths if not (self.root / path).is_dir()]
        if absent:
            raise InputError(f"split file {self.split_file} names {_count(len(absent), 'frame folder')} absent under {self.root}: {listed(absent, 3)}")
        return paths

    def _label_entries(self, paths: list[str]) -> dict[str, int]:
        """Frame path -> its 0-based entry in SUNRGBDMeta.mat, i.e. its label image in SUNRGBD2Dseg.mat."""
        meta = read_meta_frames(self.meta_file)
        with open_labels(self.labels_file) as file, damage_is_input_error(self.labels_file, "its reference table"):
            count = len(label_refs(file, self.labels_file))
        if count != len(meta):
            raise InputError(
                f"label file {self.labels_file} holds {_count(count, 'label image')} "
                f"but meta file {self.meta_file} describes {_count(len(meta), 'frame')}"
            )
        entries: dict[str, int] = {}
        for entry, path in enumerate(meta):
            if path is not None:
                entries.setdefault(path, entry)
        missing = [path for path in paths if path not in entries]
        if missing:
            counted = _count(len(missing), "frame")
            raise InputError(f"meta file {self.meta_file} has no entry, so no label image, for {counted} of the split: {listed(missing, 3)}")
        return {path: entries[path] for path in paths}

    def _scan(self, paths: list[str], entries: dict[str, int], strict: bool) -> list[SunFrame]:
        """Every frame's files checked by header and small files read: all problems in one InputError."""
        frames: list[SunFrame] = []
        problems: list[str] = []
        truncated: list[str] = []
        for path in paths:
            frame = self._scan_frame(path, entries.get(path), problems, truncated)
            if frame is not None:
                frames.append(frame)
        if strict:
            problems += [f"{name} ends early (truncated)" for name in truncated]
        if problems:
            raise InputError(f"SUN RGB-D folder {self.root} has {_count(len(problems), 'unusable file')}: {listed(problems)}")
        if truncated:
            warnings.warn(
                f"SUN RGB-D folder {self.root}: {len(truncated)} files end early (truncated) and decode with missing pixels: {listed(truncated)}",
                stacklevel=3,
            )
        return frames

    def _scan_frame(self, path: str, entry: int | None, problems: list[str], truncated: list[str]) -> SunFrame | None:
        found = len(problems)
        intrinsics = self._read_intrinsics(path, problems)
        scene = self._read_scene(path, problems)
        rgb = self._only_file(path, "image", IMAGE_SUFFIXES, problems)
        depth = self._only_file(path, self.depth_folder, (".png",), problems)
        sizes: dict[str, tuple[int, int]] = {}
        for role, file in (("rgb", rgb), ("depth", depth)):
            if file is None:
                continue
            name = f"{path}/{file.parent.name}/{file.name}"
            try:
                header = image_header(file)
            except (HeaderError, OSError) as error:
                problems.append(f"{name} {error}")
                continue
            if role == "depth" and (header.channels != 1 or header.bits != 16):
                problems.append(f"{name} must be a single-channel 16-bit PNG, got {header.bits}-bit with {_count(header.channels, 'channel')}")
                continue
            if not header.complete:
                truncated.append(name)
            sizes[role] = (header.height, header.width)
        if rgb is not None and depth is not None and "rgb" in sizes and "depth" in sizes and sizes["rgb"] != sizes["depth"]:
            rgb_name, depth_name = f"{path}/image/{rgb.name}", f"{path}/{self.depth_folder}/{depth.name}"
            problems.append(f"{rgb_name} is {_size(sizes['rgb'])} but {depth_name} is {_size(sizes['depth'])}")
        if len(problems) > found or rgb is None or depth is None or intrinsics is None or scene is None:
            return None
        return SunFrame(path, path.split("/", 1)[0], rgb, depth, sizes["rgb"], intrinsics, scene, entry)

    def _read_intrinsics(self, path: str, problems: list[str]) -> np.ndarray | None:
        file = self.root / path / "intrinsics.txt"
        name = f"{path}/intrinsics.txt"
        if not file.is_file():
            problems.append(f"{name} is missing")
            return None
        try:
            tokens = file.read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError):
            problems.append(f"{name} is unreadable (not a text file of numbers)")
            return None
        try:
            values = np.array([float(token) for token in tokens], dtype=np.float64)
        except ValueError:
            problems.append(f"{name} is unreadable: it holds {next(t for t in tokens if not _is_number(t))!r}, which is not a number")
            return None
        if values.size != 9 or not np.isfinite(values).all():
            what = f"{values.size} numbers" if values.size != 9 else "a number that is not finite"
            problems.append(f"{name} is unreadable: it holds {what}, expected the 9 finite entries of a row-major 3x3 matrix")
            return None
        return values.reshape(3, 3)

    def _read_scene(self, path: str, problems: list[str]) -> str | None:
        file = self.root / path / "scene.txt"
        if not file.is_file():
            problems.append(f"{path}/scene.txt is missing")
            return None
        try:
            return file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            problems.append(f"{path}/scene.txt is unreadable (not a UTF-8 text file)")
            return None

    def _only_file(self, path: str, sub: str, suffixes: tuple[str, ...], problems: list[str]) -> Path | None:
        folder = self.root / path / sub
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes) if folder.is_dir() else []
        kind = "/".join(suffixes)
        if len(files) != 1:
            problems.append(f"{path}/{sub}/ holds {len(files)} {kind} files, expected one" if folder.is_dir() else f"{path}/{sub}/ is missing")
            return None
        return files[0]

    def _check_label_sizes(self) -> None:
        """Each label image's shape against its frame's image, from the HDF5 metadata alone."""
        problems = []
        with open_labels(self.labels_file) as file, damage_is_input_error(self.labels_file, "the label images' shapes"):
            refs = label_refs(file, self.labels_file)
            for frame in self.frames:
                assert frame.label_entry is not None
                stored = file[refs[frame.label_entry]]
                if not isinstance(stored, h5py.Dataset):
                    found = "an HDF5 group"
                elif stored.ndim != 2 or tuple(reversed(stored.shape)) != frame.size or stored.dtype.kind not in "uif":
                    found = f"{_size(tuple(reversed(stored.shape)))} {stored.dtype}"
                else:
                    continue
                problems.append(f"image {frame.label_entry + 1} (for {frame.path}) is {found}, expected {_size(frame.size)} numbers")
        if problems:
            counted = "1 label image that does not fit its frame" if len(problems) == 1 else f"{len(problems)} label images that do not fit their frames"
            raise InputError(f"label file {self.labels_file} has {counted}: {listed(problems)}")

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} frames")
        frame = self.frames[index]
        rgb = self._read_rgb(frame.rgb)
        depth = self._read_depth(frame.depth)
        for array, file in ((rgb, frame.rgb), (depth, frame.depth)):
            if array.shape[:2] != frame.size:
                raise InputError(f"{file} is {_size(array.shape[:2])} now but was {_size(frame.size)} when the data set was opened")
        item: dict[str, Any] = {
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
            "depth": torch.from_numpy(depth)[None],
            "intrinsics": torch.from_numpy(frame.intrinsics.copy()),
            "scene": frame.scene,
            "scene_label": int(self.scene_labels[index]),
            "sensor": frame.sensor,
            "index": index,
        }
        if self.labels is not None:
            item["seg"] = torch.from_numpy(self._read_seg(frame))
        return self.transform(item) if self.transform is not None else item

    def _read_rgb(self, file: Path) -> np.ndarray:
        bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"image {file} cannot be decoded")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _read_depth(self, file: Path) -> np.ndarray:
        raw = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise InputError(f"depth image {file} cannot be decoded")
        if raw.ndim != 2 or raw.dtype != np.uint16:
            channels = _count(1 if raw.ndim == 2 else raw.shape[2], 'channel')
            raise InputError(f"depth image {file} must be a single-channel 16-bit PNG, got {raw.dtype} with {channels}")
        return decode_depth(raw)

    def _read_seg(self, frame: SunFrame) -> np.ndarray:
        entry = frame.label_entry
        assert entry is not None
        with damage_is_input_error(self.labels_file, f"label image {entry + 1} (for {frame.path})"):
            stored = self._labels.read(entry)
        where = f"label file {self.labels_file}: image {entry + 1} (for {frame.path})"
        if stored.shape != frame.size or stored.dtype.kind not in "uif":
            raise InputError(f"{where} is {_size(stored.shape)} {stored.dtype} now, expected {_size(frame.size)} numbers")
        ids = stored.astype(np.int64)
        if not np.array_equal(ids, stored) or ids.min() < 0 or ids.max() >= len(SEG37_TABLE):
            bad = stored[(ids != stored) | (ids < 0) | (ids >= len(SEG37_TABLE))]
            raise InputError(f"{where} holds {bad.size} values that are not class ids 0..{len(SEG37_CLASSES)}, e.g. {bad.flat[0]!r}")
        return SEG37_TABLE[ids]


def _size(size: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in size)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
