"""NYU-Depth V2's raw Kinect recordings: per-scene folders of timestamped dumps, synchronised and registered.

A scene folder (``bedroom_0001``, ``basement_0001a``) holds ``d-<t>-<n>.pgm`` (raw 11-bit disparity,
640 x 480, its 16-bit samples little-endian, not Netpbm's big-endian), ``r-<t>-<n>.ppm`` (RGB) and
``a-<t>-<n>.dump`` (the accelerometer state), ``<t>`` in Unix seconds. Frames pair as the toolbox's
``get_synched_frames`` pairs them: every depth frame in name order, with the RGB and accelerometer
files nearest in time, found by pointers that only move forward. Depth is registered into the RGB
camera by ``crossmodal.data.kinect_registration``; the RGB is undistorted with its lens, so the two align.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from crossmodal.data.kinect_registration import register_depth, undistort_rgb
from crossmodal.errors import InputError, listed

_DUMP_NAME = re.compile(r"^([dra])-(\d+(?:\.\d+)?)-(\d+)\.(pgm|ppm|dump)$")
_KIND_SUFFIX = {"d": "pgm", "r": "ppm", "a": "dump"}
ACCEL_DUMP_BYTES = 12
"""sizeof(freenect_raw_tilt_state) on x86-64: int16 x, y, z at 0, 2, 4; int8 tilt at 6; int32 status at 8."""
ACCEL_COUNTS_PER_G = 819


class FrameError(InputError):
    """One dump file of a scene cannot be used (missing, truncated, not the format its name says)."""


@dataclass(frozen=True)
class Dump:
    path: Path
    time: float


@dataclass(frozen=True)
class SyncedFrame:
    """One depth frame with the RGB and accelerometer files nearest in time (``accel`` None when the scene has none)."""

    depth: Dump
    rgb: Dump
    accel: Dump | None


def scene_type(scene: str) -> str:
    """get_scene_type_from_scene: the text before the scene's number, ``living_room_0002k`` -> ``living_room``."""
    match = re.search(r"\d", scene)
    return scene[: match.start()].rstrip("_") if match else scene


def scene_base_name(scene: str) -> str:
    """A raw folder's name without the letter that splits one scene into several recordings:
    ``basement_0001a`` -> ``basement_0001``, the name the labelled set's ``scenes`` use."""
    return re.sub(r"(\d)[a-z]$", r"\1", scene)


def list_dumps(folder: Path) -> dict[str, list[Dump]]:
    """The folder's depth ("d"), RGB ("r") and accelerometer ("a") dumps, each list in name order as the toolbox
    sorts them; the timestamp is the first field after the prefix. Other files (INDEX.txt) are ignored."""
    dumps: dict[str, list[Dump]] = {"d": [], "r": [], "a": []}
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        match = _DUMP_NAME.match(path.name)
        if match and _KIND_SUFFIX[match.group(1)] == match.group(4):
            dumps[match.group(1)].append(Dump(path, float(match.group(2))))
    return dumps


def nearest_in_time(times: Sequence[float], targets: Sequence[float]) -> list[int]:
    """For each target time in order, the index of the nearest time, by the toolbox's forward-only pointer:
    it advances while the next time is no farther (ties advance) and never moves back."""
    chosen, pointer = [], 0
    for target in targets:
        gap = abs(target - times[pointer])
        while pointer < len(times) - 1:
            next_gap = abs(target - times[pointer + 1])
            if next_gap > gap:
                break
            gap, pointer = next_gap, pointer + 1
        chosen.append(pointer)
    return chosen


def synchronise(folder: Path) -> list[SyncedFrame]:
    """Every depth frame of a scene folder with its nearest RGB (and accelerometer) dump; a scene without
    depth or RGB dumps cannot be synchronised (InputError naming the folder)."""
    dumps = list_dumps(folder)
    for kind, what in (("d", "depth (d-*.pgm)"), ("r", "RGB (r-*.ppm)")):
        if not dumps[kind]:
            raise InputError(f"scene folder {folder} has no {what} frames")
    depth_times = [dump.time for dump in dumps["d"]]
    rgb = nearest_in_time([dump.time for dump in dumps["r"]], depth_times)
    accel = nearest_in_time([dump.time for dump in dumps["a"]], depth_times) if dumps["a"] else None
    return [
        SyncedFrame(depth, dumps["r"][rgb[i]], dumps["a"][accel[i]] if accel is not None else None)
        for i, depth in enumerate(dumps["d"])
    ]


def _netpbm(path: Path, magic: bytes, channels: int) -> tuple[np.ndarray, int]:
    """The samples of a binary PGM/PPM as (H x W x channels raw bytes view, maxval), every header field checked."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FrameError(f"{path} cannot be read: {error.strerror or error}") from None
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:
        match = re.compile(rb"(?:\s|#[^\n]*\n)*(\S+)").match(data, position)
        if match is None:
            raise FrameError(f"{path} ends inside its header")
        fields.append(match.group(1))
        position = match.end()
    if fields[0] != magic:
        raise FrameError(f"{path} is not a binary {'PGM' if magic == b'P5' else 'PPM'} (starts with {fields[0][:8]!r})")
    try:
        width, height, maxval = (int(field) for field in fields[1:])
    except ValueError:
        raise FrameError(f"{path} has a malformed header") from None
    if width < 1 or height < 1 or not 0 < maxval < 65536:
        raise FrameError(f"{path} has a malformed header ({width} x {height}, maxval {maxval})")
    position += 1  # the single whitespace byte after maxval
    sample_bytes = 2 if maxval > 255 else 1
    expected = width * height * channels * sample_bytes
    if len(data) - position < expected:
        raise FrameError(f"{path} is truncated: {len(data) - position} of {expected} sample bytes")
    samples = np.frombuffer(data, dtype=np.uint8, count=expected, offset=position)
    return samples.reshape(height, width, channels * sample_bytes), maxval


def read_raw_depth(path: Path) -> np.ndarray:
    """H x W uint16 raw disparity of a ``d-*.pgm``: 16-bit samples read little-endian, as the toolbox's
    swapbytes after imread does (the files' bytes are swapped against the Netpbm convention)."""
    samples, maxval = _netpbm(path, b"P5", 1)
    if maxval <= 255:
        raise FrameError(f"{path} holds 8-bit samples (maxval {maxval}); a raw depth frame holds 16-bit disparities")
    return np.ascontiguousarray(samples).view("<u2")[..., 0].astype(np.uint16)


def read_rgb(path: Path) -> np.ndarray:
    """H x W x 3 uint8 of an ``r-*.ppm``."""
    samples, maxval = _netpbm(path, b"P6", 3)
    if maxval > 255:
        raise FrameError(f"{path} holds 16-bit samples (maxval {maxval}); an RGB frame holds 8-bit ones")
    return np.array(samples, dtype=np.uint8)


def read_accel(path: Path) -> np.ndarray:
    """[x, y, z, tilt] raw counts of an ``a-*.dump`` as get_accel_data returns them (x86 little-endian presumed;
    ACCEL_COUNTS_PER_G counts per g; tilt in half degrees)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FrameError(f"{path} cannot be read: {error.strerror or error}") from None
    if len(data) != ACCEL_DUMP_BYTES:
        raise FrameError(f"{path} holds {len(data)} bytes; an accelerometer dump holds {ACCEL_DUMP_BYTES}")
    x, y, z = np.frombuffer(data, dtype="<i2", count=3)
    tilt = np.frombuffer(data, dtype="i1", count=1, offset=6)[0]
    return np.array([x, y, z, tilt], dtype=np.float64)


def synced_item(frame: SyncedFrame) -> dict[str, Any]:
    """A synchronised frame decoded and registered: "rgb" (undistorted, H x W x 3 uint8), "depth" (float32 metres
    in the RGB camera, 0 = missing), "accel" (4 raw values, NaN without a dump), "times" (depth, RGB) seconds."""
    raw = read_raw_depth(frame.depth.path)
    rgb = read_rgb(frame.rgb.path)
    if rgb.shape[:2] != raw.shape:
        raise FrameError(f"{frame.rgb.path} is {rgb.shape[0]}x{rgb.shape[1]} but {frame.depth.path.name} is {raw.shape[0]}x{raw.shape[1]}")
    return {
        "rgb": undistort_rgb(rgb),
        "depth": register_depth(raw),
        "accel": read_accel(frame.accel.path) if frame.accel is not None else np.full(4, np.nan),
        "times": np.array([frame.depth.time, frame.rgb.time]),
    }


def scene_folders(root: Path) -> list[Path]:
    """The scene folders directly under ``root`` in name order: those holding at least one dump."""
    if not root.is_dir():
        raise InputError(f"NYU raw root {root} is not a directory")
    folders = [path for path in sorted(root.iterdir(), key=lambda p: p.name) if path.is_dir() and any(list_dumps(path).values())]
    if not folders:
        raise InputError(f"NYU raw root {root} holds no scene folder with d-*.pgm / r-*.ppm dumps")
    return folders


class NYURawScenes(Dataset):
    """Every synchronised frame of every scene folder under ``root``, decoded and registered on each access.

    Items: "rgb" uint8 3 x 480 x 640 (undistorted), "depth" float32 1 x 480 x 640 metres in the RGB camera
    (0 = missing), "scene" (the type, ``bedroom``), "scene_name" (the folder), "index", "times" (depth and
    RGB timestamps, seconds) and "accel". Registration costs tens of milliseconds a frame: train from the
    cache ``crossmodal-prepare nyu-raw`` writes. Scene folders that cannot be synchronised are an error
    naming them all (the prepare step skips and counts them instead).
    """

    def __init__(self, root: str | Path, transform: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.root = Path(root)
        self.frames: list[tuple[str, SyncedFrame]] = []
        problems = []
        for folder in scene_folders(self.root):
            try:
                self.frames += [(folder.name, frame) for frame in synchronise(folder)]
            except InputError as error:
                problems.append(str(error))
        if problems:
            raise InputError(f"NYU raw root {self.root} has scenes that cannot be synchronised: {listed(problems)}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Any:
        scene, frame = self.frames[index]
        decoded = synced_item(frame)
        item = {
            "rgb": torch.from_numpy(np.ascontiguousarray(decoded["rgb"].transpose(2, 0, 1))),
            "depth": torch.from_numpy(decoded["depth"][None]),
            "scene": scene_type(scene),
            "scene_name": scene,
            "index": index,
            "times": decoded["times"],
            "accel": decoded["accel"],
        }
        return self.transform(item) if self.transform is not None else item
