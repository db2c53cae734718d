"""SUN RGB-D decoded once into one cache of equal-sized frames, and the data set over it.

The four sensors store images of four sizes; the cache centre-crops each frame to the aspect ratio of the
cached size and resizes it (area RGB, valid-only depth averaging, nearest labels), and moves the intrinsics
with it, so frames batch together and depth keeps its geometry for HHA. Layout of a cache directory::

    frames.h5   rgb N x h x w x 3 uint8; depth N x h x w uint16 millimetres (0 = missing); seg N x h x w uint8
                (37-class ids, 255 = void) when prepared with labels; intrinsics N x 3 x 3 (for the cached
                frame, MATLAB's 1-based pixel convention as intrinsics.txt); hha N x h x w x 3 uint8 when prepared
                with it (from the frame's own depth, 0 where it has none); scene_labels (19-scene index or -1);
                scenes, sensors, paths (strings); test (bool: in alltest)
    meta.json   format, version, source, size, counts: written last, so a directory without it is unfinished
"""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from crossmodal.data.hha import encode_hha, moved_intrinsics
from crossmodal.data.nyu import HHA_KEY, LazyHDF5
from crossmodal.data.resize import centre_crop_box, resize_depth, resize_labels, resize_rgb
from crossmodal.data.sunrgbd import IGNORE_INDEX, SCENE19_CLASSES, SEG37_CLASSES, SPLITS, SUNRGBD, read_split
from crossmodal.errors import HDF5_DAMAGE, InputError, first_line
from crossmodal.fileio import atomic_path, write_json_atomically
from crossmodal.parallel import process_pool, worker_count

CACHE_FORMAT = "crossmodal-sunrgbd-cache"
CACHE_VERSION = 1
FRAMES_FILE, META_FILE = "frames.h5", "meta.json"
DEFAULT_SIZE = (240, 320)
MILLIMETRES = 1000.0


def is_cache(path: Path) -> bool:
    return (path / META_FILE).is_file()


def fitted_frame(item: dict[str, Any], size: tuple[int, int], hha: bool = False) -> dict[str, np.ndarray]:
    """A SUN RGB-D item centre-cropped to the aspect of ``size`` and resized to it, intrinsics moved along; ``hha``:
    with the HHA planes of the whole frame at its own resolution (its own intrinsics), cropped and resized as RGB."""
    rgb = item["rgb"].numpy().transpose(1, 2, 0)
    height, width = rgb.shape[:2]
    top, left, crop_h, crop_w = centre_crop_box(height, width, size)
    rows, cols = slice(top, top + crop_h), slice(left, left + crop_w)
    frame = {
        "rgb": resize_rgb(np.ascontiguousarray(rgb[rows, cols]), size),
        "depth": resize_depth(item["depth"][0].numpy()[rows, cols], size),
        "intrinsics": moved_intrinsics(item["intrinsics"].numpy(), top, left, size[0] / crop_h, size[1] / crop_w),
    }
    if hha:
        planes = encode_hha(item["depth"][0].numpy(), item["intrinsics"].numpy())
        frame["hha"] = resize_rgb(np.ascontiguousarray(planes[rows, cols]), size)
    if "seg" in item:
        frame["seg"] = resize_labels(np.ascontiguousarray(item["seg"].numpy()[rows, cols].astype(np.uint8)), size)
    return frame


_SOURCE: SUNRGBD | None = None


def _fitted(index: int, size: tuple[int, int], hha: bool) -> dict[str, np.ndarray]:
    assert _SOURCE is not None  # set before the pool forks
    return fitted_frame(_SOURCE[index], size, hha)


def prepare_sunrgbd_cache(
    root: str | Path,
    out: str | Path,
    size: tuple[int, int] = DEFAULT_SIZE,
    labels: bool = True,
    workers: int | None = None,
    progress: bool = True,
    hha: bool = False,
    depth: str = "depth",
    **files: Any,
) -> Path:
    """Cache every frame of the official split (train and test) of the SUN RGB-D folder ``root`` into ``out``.

    ``depth``: the frames' depth folder, "depth" (the sensor's, what the toolbox reads) or "depth_bfx" (refined, fewer
    holes). ``files``: where the toolbox's files are when not at their usual places (``toolbox``, ``split_file``,
    ``meta_file``, ``labels_file``, see ``SUNRGBD``); ``labels=False`` leaves the 37-class labels out (and needs
    neither the meta nor the label file). Written under a temporary name and renamed, so a failed run leaves an
    existing cache as it was.
    """
    global _SOURCE
    if len(size) != 2 or min(size) < 1:
        raise InputError(f"--size must be two positive integers, got {size}")
    source = SUNRGBD(root, split="all", labels="sun37" if labels else None, depth=depth, **files)
    test = set(read_split(source.split_file)["alltest"])
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory, so it cannot hold a SUN RGB-D cache")
    out.mkdir(parents=True, exist_ok=True)
    n = len(source)
    _SOURCE = source
    try:
        with atomic_path(out / FRAMES_FILE) as temporary, h5py.File(temporary, "w") as file, \
                process_pool(worker_count(workers, n)) as pool:
            planes = {"rgb": ((*size, 3), np.uint8), "depth": (size, np.uint16), "intrinsics": ((3, 3), np.float64)}
            if labels:
                planes["seg"] = (size, np.uint8)
            if hha:
                planes[HHA_KEY] = ((*size, 3), np.uint8)
            data = {key: file.create_dataset(key, shape=(n, *shape), dtype=dtype, chunks=(1, *shape)) for key, (shape, dtype) in planes.items()}
            frames = source.frames
            file.create_dataset("scene_labels", data=source.scene_labels.astype(np.int16))
            for key, values in (("scenes", [f.scene for f in frames]), ("sensors", [f.sensor for f in frames]),
                                ("paths", [f.path for f in frames])):
                file.create_dataset(key, data=values, dtype=h5py.string_dtype())
            file.create_dataset("test", data=np.array([f.path in test for f in frames]))
            fit = partial(_fitted, size=size, hha=hha)
            fitted = pool.imap(fit, range(n), chunksize=8) if pool else map(fit, range(n))
            for i, frame in enumerate(tqdm(fitted, total=n, desc=f"caching SUN RGB-D into {out}", unit="frame", disable=not progress)):
                data["rgb"][i] = frame["rgb"]
                data["depth"][i] = np.clip(np.rint(frame["depth"] * MILLIMETRES), 0, np.iinfo(np.uint16).max).astype(np.uint16)
                data["intrinsics"][i] = frame["intrinsics"]
                for key in ("seg", HHA_KEY):
                    if key in data:
                        data[key][i] = frame[key]
            (out / META_FILE).unlink(missing_ok=True)
    finally:
        _SOURCE = None
    write_json_atomically(out / META_FILE, {
        "format": CACHE_FORMAT, "version": CACHE_VERSION, "source": str(Path(root).resolve()), "size": list(size),
        "count": n, "test": int(sum(f.path in test for f in source.frames)), "labels": "sun37" if labels else None,
        "hha": hha, "depth": depth,
    })
    return out


class SUNRGBDCache(Dataset):
    """Frames of a cache ``prepare_sunrgbd_cache`` wrote, items as ``SUNRGBD``'s ("seg" when it was prepared with labels),
    ``split`` "train", "test" or "all" of the official split."""

    def __init__(self, cache: str | Path, split: str = "train", transform: Callable[[dict[str, Any]], Any] | None = None) -> None:
        if split not in SPLITS:
            raise InputError(f"unknown SUN RGB-D split {split!r}; choose one of: {', '.join(SPLITS)}")
        self.cache, self.split, self.transform = Path(cache), split, transform
        self.meta = self._read_meta()
        self.path = self.cache / FRAMES_FILE
        try:
            with h5py.File(self.path, "r") as file:
                test = np.asarray(file["test"], dtype=bool)
                self.scene_labels_all = np.asarray(file["scene_labels"], dtype=np.int64)
                self.scenes = [str(scene) for scene in file["scenes"].asstr()[()]]
                self.intrinsics = np.asarray(file["intrinsics"], dtype=np.float64)  # 72 bytes a frame: read once
                self.sensors = [str(sensor) for sensor in file["sensors"].asstr()[()]]
                self.has_labels = "seg" in file
                self.has_hha = HHA_KEY in file
        except (*HDF5_DAMAGE, KeyError) as error:
            raise InputError(f"{self.path} is not a readable SUN RGB-D cache ({first_line(error)}); prepare it again") from None
        keep = {"train": ~test, "test": test, "all": np.ones_like(test)}[split]
        self.frame_indices = np.flatnonzero(keep)
        self.scene_labels = self.scene_labels_all[self.frame_indices]
        self.class_names, self.scene_classes, self.ignore_index = SEG37_CLASSES, SCENE19_CLASSES, IGNORE_INDEX
        self._file = LazyHDF5(self.path)

    def _read_meta(self) -> dict[str, Any]:
        path = self.cache / META_FILE
        if not path.is_file():
            raise InputError(f"{self.cache} is not a whole SUN RGB-D cache (no {META_FILE}; make one with crossmodal-prepare sunrgbd)")
        try:
            meta = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{path} is not valid JSON") from None
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT or meta.get("version") != CACHE_VERSION:
            raise InputError(f"{path} does not describe a version {CACHE_VERSION} SUN RGB-D cache; prepare it again")
        return meta

    def __len__(self) -> int:
        return len(self.frame_indices)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} frames")
        frame = int(self.frame_indices[index])
        try:
            rgb, depth = self._file["rgb"][frame], self._file["depth"][frame]
            seg = self._file["seg"][frame] if self.has_labels else None
            hha = self._file[HHA_KEY][frame] if self.has_hha else None
        except HDF5_DAMAGE as error:
            raise InputError(f"{self.path} is damaged: reading frame {frame} failed ({first_line(error)}); prepare the cache again") from None
        item: dict[str, Any] = {
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
            "depth": torch.from_numpy((depth.astype(np.float32) / MILLIMETRES)[None]),
            "intrinsics": torch.from_numpy(self.intrinsics[frame].copy()),
            "scene": self.scenes[frame],
            "scene_label": int(self.scene_labels_all[frame]),
            "sensor": self.sensors[frame],
            "index": index,
        }
        if seg is not None:
            item["seg"] = torch.from_numpy(seg.astype(np.int64))
        if hha is not None:
            item["hha"] = torch.from_numpy(np.ascontiguousarray(hha.transpose(2, 0, 1)))
        return self.transform(item) if self.transform is not None else item
