"""NYU-Depth V2's raw recordings decoded once into a cache training reads at random, and the data set over it.

Layout of a cache directory::

    settings.json          format, version, size, every, fill: a rerun (or another shard) must use the same
    scenes/<scene>.h5      one file per scene folder, written under a temporary name and renamed when whole:
                           rgb N x h x w x 3 uint8 and depth N x h x w uint16 millimetres (0 = missing), one
                           chunk per frame; times N x 2 (depth, RGB seconds); accel N x 4; the frames it
                           skipped (unreadable dumps) and why, as an attribute; hha N x h x w x 3 uint8 when
                           prepared with it (from the whole frame, filled, in the RGB camera)
    scenes/<scene>.skipped the reason a scene folder gave nothing (it cannot be synchronised, no frame decodes)
    index.json             written once every scene folder of the source has one of the two: the scenes in
                           name order with their frame counts, and the skipped ones with their reasons

A rerun skips the scenes already done, so a killed run (even kill -9: temporaries of dead processes are
removed) is completed by running it again; ``shard`` (k, n) prepares every n-th scene from the k-th, so the
nodes of a cluster share one cache, and the call that finds every scene done writes the index.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from crossmodal.config import NYURawCacheConfig
from crossmodal.data.hha import hha_at_size
from crossmodal.data.kinect_registration import RGB_LENS
from crossmodal.data.nyu import HHA_KEY, LazyHDF5
from crossmodal.data.nyu_raw import FrameError, SyncedFrame, scene_base_name, scene_folders, scene_type, synced_item, synchronise
from crossmodal.data.resize import resize_depth, resize_rgb
from crossmodal.errors import HDF5_DAMAGE, InputError, first_line, listed
from crossmodal.fileio import atomic_path, remove_stale_temporaries, write_json_atomically, write_text_atomically
from crossmodal.parallel import process_pool, worker_count

CACHE_FORMAT = "crossmodal-nyu-raw-cache"
CACHE_VERSION = 1
SETTINGS_FILE, INDEX_FILE, SCENES_DIR = "settings.json", "index.json", "scenes"
SKIPPED_SUFFIX = ".skipped"
INPAINT_RADIUS = 3
MILLIMETRES = 1000.0
_OPEN_FILES = 64


def settings_json(settings: NYURawCacheConfig) -> dict[str, Any]:
    """What settings.json holds: the format and every setting a rerun must repeat."""
    return {"format": CACHE_FORMAT, "version": CACHE_VERSION, "size": list(settings.size), "every": settings.every, "fill": settings.fill,
            "hha": settings.hha}


@dataclass
class RawCacheSummary:
    """What a prepare call did, and what the cache holds once it is whole."""

    out: Path
    decoded: dict[str, int] = field(default_factory=dict)
    already: int = 0
    skipped_scenes: dict[str, str] = field(default_factory=dict)
    skipped_frames: int = 0
    whole: bool = False
    frames: int = 0
    seconds: float = 0.0
    waiting: int = 0

    def __str__(self) -> str:
        decoded = sum(self.decoded.values())
        rate = f" ({decoded / self.seconds:.1f} frames/s)" if decoded and self.seconds else ""
        skipped = f"; skipped: {listed([f'{name} ({why})' for name, why in self.skipped_scenes.items()])}" if self.skipped_scenes else ""
        state = (f"cache whole: {self.frames} frames in {self.out}" if self.whole
                 else f"cache not whole yet: {self.waiting} scene(s) left to other shards or a rerun")
        return (f"scenes: {len(self.decoded)} decoded ({decoded} frames{rate}), {self.already} already cached, "
                f"{len(self.skipped_scenes)} skipped, {self.skipped_frames} unreadable frame(s) left out{skipped}; "
                f"took {self.seconds:.1f} s; {state}")


def fill_holes(depth: np.ndarray) -> np.ndarray:
    """Missing (0) pixels inpainted from their surroundings by Telea's method (about 14 ms a frame at 240 x 320;
    the colourisation the toolbox fills the labelled set with takes seconds), kept within the range of the depth it
    starts from (the method extrapolates gradients and can overshoot); a frame without depth stays empty."""
    missing = (depth <= 0).astype(np.uint8)
    if not missing.any() or missing.all():
        return depth
    valid = depth[depth > 0]
    filled = cv2.inpaint(depth.astype(np.float32), missing, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    return np.clip(filled, valid.min(), valid.max())


def _scene_file(out: Path, scene: str) -> Path:
    return out / SCENES_DIR / f"{scene}.h5"


def _skip_file(out: Path, scene: str) -> Path:
    return out / SCENES_DIR / f"{scene}{SKIPPED_SUFFIX}"


def _growing(file: h5py.File, key: str, shape: tuple[int, ...], dtype: type) -> h5py.Dataset:
    return file.create_dataset(key, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(1, *shape))


def _append(data: h5py.Dataset, value: np.ndarray) -> None:
    data.resize(data.shape[0] + 1, axis=0)
    data[-1] = value


class _NothingDecoded(Exception):
    """No frame of a scene decodes: its temporary file is dropped instead of renamed."""


def _write_scene(path: Path, scene: str, frames: list[SyncedFrame], settings: NYURawCacheConfig, bad: list[str]) -> None:
    """Decode ``frames`` into the scene file ``path``; unreadable ones are left out and named in ``bad``."""
    with h5py.File(path, "w") as file:
        rgb = _growing(file, "rgb", (*settings.size, 3), np.uint8)
        depth = _growing(file, "depth", settings.size, np.uint16)
        times = _growing(file, "times", (2,), np.float64)
        accel = _growing(file, "accel", (4,), np.float64)
        planes = _growing(file, HHA_KEY, (*settings.size, 3), np.uint8) if settings.hha else None
        for frame in frames:
            try:
                item = synced_item(frame)
            except FrameError as error:
                bad.append(str(error))
                continue
            metres = resize_depth(item["depth"], settings.size)
            if settings.fill == "telea":
                metres = fill_holes(metres)
            _append(rgb, resize_rgb(item["rgb"], settings.size))
            _append(depth, np.clip(np.rint(metres * MILLIMETRES), 0, np.iinfo(np.uint16).max).astype(np.uint16))
            _append(times, item["times"])
            _append(accel, item["accel"])
            if planes is not None:  # from the whole frame, filled (the original encodes in-painted depth)
                _append(planes, hha_at_size(fill_holes(item["depth"]), RGB_LENS.matrix, settings.size))
        file.attrs["scene"] = scene
        file.attrs["skipped_frames"] = json.dumps(bad)
        if rgb.shape[0] == 0:
            raise _NothingDecoded


def cache_scene(folder: Path, out: Path, settings: NYURawCacheConfig) -> tuple[str, int, int, str | None]:
    """Decode one scene folder into its cache file: (scene, frames written, frames left out, why it was skipped or None)."""
    scene = folder.name
    try:
        frames = synchronise(folder)[:: settings.every]
    except InputError as error:
        write_text_atomically(_skip_file(out, scene), f"{error}\n")
        return scene, 0, 0, str(error)
    bad: list[str] = []
    try:
        with atomic_path(_scene_file(out, scene)) as temporary:
            _write_scene(temporary, scene, frames, settings, bad)
    except _NothingDecoded:
        reason = f"scene folder {folder} has no frame that decodes: {listed(bad)}"
        write_text_atomically(_skip_file(out, scene), reason + "\n")
        return scene, 0, len(bad), reason
    _skip_file(out, scene).unlink(missing_ok=True)
    return scene, len(frames) - len(bad), len(bad), None


def _check_settings(out: Path, settings: NYURawCacheConfig) -> None:
    path = out / SETTINGS_FILE
    if path.is_file():
        try:
            found = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{path} is not valid JSON; remove the cache directory to prepare it again") from None
        if found != settings_json(settings):
            raise InputError(
                f"{out} was prepared with {json.dumps(found)}; a rerun must use the same settings, not {json.dumps(settings_json(settings))}"
            )
    else:
        write_json_atomically(path, settings_json(settings))


def _done(out: Path, scene: str) -> bool:
    return _scene_file(out, scene).is_file()


def _write_index(out: Path, folders: list[Path], summary: RawCacheSummary) -> None:
    """index.json once every scene is cached or skipped; otherwise count what is left."""
    scenes: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    waiting = 0
    for folder in folders:
        if _done(out, folder.name):
            with h5py.File(_scene_file(out, folder.name), "r") as file:
                scenes.append({"name": folder.name, "frames": int(file["rgb"].shape[0])})
        elif _skip_file(out, folder.name).is_file():
            skipped[folder.name] = _skip_file(out, folder.name).read_text().strip()
        else:
            waiting += 1
    summary.waiting, summary.whole = waiting, waiting == 0
    if summary.whole:
        summary.frames = sum(scene["frames"] for scene in scenes)
        write_json_atomically(out / INDEX_FILE, {"scenes": scenes, "skipped": skipped, "frames": summary.frames})


def prepare_raw_cache(
    src: str | Path,
    out: str | Path,
    settings: NYURawCacheConfig = NYURawCacheConfig(),
    workers: int | None = None,
    shard: tuple[int, int] = (1, 1),
    progress: bool = True,
) -> RawCacheSummary:
    """Decode the scene folders under ``src`` (those of ``shard`` (k, n): the k-th of every n, 1-based) into ``out``.

    Scenes already cached are kept; scenes that cannot be synchronised or decode no frame are skipped with a
    reason (and tried again by the next call); unreadable frames are left out and counted.
    """
    start = time.monotonic()
    src, out = Path(src), Path(out)
    part, parts = shard
    if not 1 <= part <= parts:
        raise InputError(f"--shard {part}/{parts} is not K/N with 1 <= K <= N")
    folders = scene_folders(src)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory, so it cannot hold a cache")
    (out / SCENES_DIR).mkdir(parents=True, exist_ok=True)
    _check_settings(out, settings)
    remove_stale_temporaries(out / SCENES_DIR)
    summary = RawCacheSummary(out)
    mine = [folder for index, folder in enumerate(folders) if index % parts == part - 1]
    todo = [folder for folder in mine if not _done(out, folder.name)]
    summary.already = len(mine) - len(todo)
    run = partial(cache_scene, out=out, settings=settings)
    with process_pool(worker_count(workers, len(todo))) as pool, \
            tqdm(total=len(todo), desc=f"caching NYU raw scenes into {out}", unit="scene", disable=not progress) as bar:
        for scene, written, bad, reason in (pool.imap_unordered(run, todo) if pool else map(run, todo)):
            if reason is None:
                summary.decoded[scene] = written
            else:
                summary.skipped_scenes[scene] = reason
            summary.skipped_frames += bad
            bar.update()
            bar.set_postfix(frames=sum(summary.decoded.values()))
    _write_index(out, folders, summary)
    summary.seconds = time.monotonic() - start
    return summary


class _SceneFiles:
    """Per-process read handles on scene files (their datasets looked up once), at most _OPEN_FILES open (h5py handles
    are not fork-safe)."""

    def __init__(self) -> None:
        self._open: dict[Path, LazyHDF5] = {}
        self._pid = os.getpid()

    def __call__(self, path: Path) -> LazyHDF5:
        if self._pid != os.getpid():
            self._open, self._pid = {}, os.getpid()
        handle = self._open.pop(path, None)
        if handle is None:
            if len(self._open) >= _OPEN_FILES:
                self._open.pop(next(iter(self._open))).close()
            handle = LazyHDF5(path)
        self._open[path] = handle  # most recently used last
        return handle

    def __getstate__(self) -> dict[str, Any]:
        return {"_open": {}, "_pid": -1}


def read_index(cache: Path) -> dict[str, Any]:
    """index.json of a whole cache (one sentence when the directory is not one)."""
    path = cache / INDEX_FILE
    if not path.is_file():
        unfinished = (cache / SETTINGS_FILE).is_file()
        raise InputError(
            f"{cache} is not a whole NYU raw cache ({'unfinished: run crossmodal-prepare nyu-raw again' if unfinished else 'no index.json'}; "
            "make one with crossmodal-prepare nyu-raw --src DIR --out CACHE)"
        )
    try:
        index = json.loads(path.read_text())
        settings = json.loads((cache / SETTINGS_FILE).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{cache}: its index or settings cannot be read ({first_line(error)}); prepare it again") from None
    if settings.get("format") != CACHE_FORMAT or settings.get("version") != CACHE_VERSION:
        raise InputError(f"{cache / SETTINGS_FILE} does not describe a version {CACHE_VERSION} NYU raw cache; prepare it again")
    return {**index, "settings": settings}


class NYURawCache(Dataset):
    """The frames of a cache ``prepare_raw_cache`` wrote, items as every RGB-D data set here: "rgb" uint8 3 x h x w,
    "depth" float32 1 x h x w metres (0 = missing), "scene" (type), "scene_name", "index", and "hha" (3 x h x w uint8)
    when the cache holds it.

    ``exclude_scenes``: scene names whose frames are left out, matched on the folder's name without its
    recording letter (``kitchen_0004b`` is scene ``kitchen_0004``), as the labelled set names scenes.
    """

    def __init__(self, cache: str | Path, exclude_scenes: Collection[str] = (),
                 transform: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.cache = Path(cache)
        index = read_index(self.cache)
        excluded = set(exclude_scenes)
        self.scenes = [scene["name"] for scene in index["scenes"] if scene_base_name(scene["name"]) not in excluded]
        self.excluded_scenes = [scene["name"] for scene in index["scenes"] if scene_base_name(scene["name"]) in excluded]
        counts = {scene["name"]: int(scene["frames"]) for scene in index["scenes"]}
        self.offsets = np.cumsum([0] + [counts[name] for name in self.scenes])
        self.size = tuple(index["settings"]["size"])
        self.transform = transform
        self._files = _SceneFiles()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[str, int]:
        """(scene, frame within it) of item ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} frames")
        position = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.scenes[position], index - int(self.offsets[position])

    def __getitem__(self, index: int) -> Any:
        scene, frame = self.locate(index)
        path = _scene_file(self.cache, scene)
        try:
            file = self._files(path)
            rgb, depth = file["rgb"][frame], file["depth"][frame]
            hha = file[HHA_KEY][frame] if HHA_KEY in file else None
        except (*HDF5_DAMAGE, KeyError) as error:
            raise InputError(f"{path} is damaged: reading frame {frame} failed ({first_line(error)}); prepare the cache again") from None
        item = {
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
            "depth": torch.from_numpy((depth.astype(np.float32) / MILLIMETRES)[None]),
            "scene": scene_type(scene),
            "scene_name": scene,
            "index": index,
        }
        if hha is not None:
            item["hha"] = torch.from_numpy(np.ascontiguousarray(hha.transpose(2, 0, 1)))
        return self.transform(item) if self.transform is not None else item
