"""MATLAB v7.3 files (HDF5 with a 512-byte user block), in the layout of nyu_depth_v2_labeled.mat.

MATLAB stores arrays column-major, so h5py sees every axis reversed: an H x W x 3 x N image
stack reads as N x 3 x W x H. Cell arrays of strings are datasets of HDF5 object references
to uint16 character arrays kept in the ``#refs#`` group.
"""
from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

USER_BLOCK_SIZE = 512


def _matlab_header() -> bytes:
    text = (
        "MATLAB 7.3 MAT-file, Platform: GLNXA64, "
        f"Created on: {time.strftime('%a %b %d %H:%M:%S %Y')} HDF5 schema 1.00 ."
    )
    header = text.encode("ascii").ljust(116, b" ")
    header += b"\x00" * 8  # subsystem data offset
    header += b"\x00\x02"  # version 0x0200
    header += b"IM"  # little-endian marker
    return header.ljust(USER_BLOCK_SIZE, b"\x00")


def read_cell_strings(file: h5py.File, key: str) -> list[str]:
    """Decode a MATLAB cell array of strings (object references to uint16 char arrays)."""
    refs = np.asarray(file[key]).reshape(-1)
    return ["".join(map(chr, np.asarray(file[ref]).reshape(-1))) for ref in refs]


class NYUMatWriter:
    """Writes frames one at a time into a file laid out exactly like the NYU-Depth V2 labeled set.

    Frames are passed in natural orientation (rgb H x W x 3 uint8, depth/raw_depth H x W float32
    metres, labels H x W uint16 raw ids); the writer stores them with MATLAB's reversed axes.
    """

    def __init__(self, path: str | Path, num_frames: int, height: int, width: int, names: list[str]) -> None:
        self.path = Path(path)
        self._scenes: list[str | None] = [None] * num_frames
        self._scene_names: list[str | None] = [None] * num_frames
        self._file = h5py.File(self.path, "w", userblock_size=USER_BLOCK_SIZE, libver="earliest")
        chunk = (1, 1, width, height)
        self._images = self._numeric("images", (num_frames, 3, width, height), np.uint8, "uint8", chunk)
        plane = (num_frames, width, height)
        self._depths = self._numeric("depths", plane, np.float32, "single", chunk[1:])
        self._raw = self._numeric("rawDepths", plane, np.float32, "single", chunk[1:])
        self._labels = self._numeric("labels", plane, np.uint16, "uint16", chunk[1:])
        self._write_cell("names", names)

    def _numeric(self, key: str, shape: tuple[int, ...], dtype: type, matlab_class: str, chunk: tuple[int, ...]) -> h5py.Dataset:
        data = self._file.create_dataset(key, shape=shape, dtype=dtype, chunks=chunk)
        data.attrs["MATLAB_class"] = np.bytes_(matlab_class)
        return data

    def _write_cell(self, key: str, strings: list[str]) -> None:
        refs_group = self._file.require_group("#refs#")
        refs = np.empty((1, len(strings)), dtype=h5py.ref_dtype)
        for i, text in enumerate(strings):
            chars = np.array([[ord(c)] for c in text], dtype=np.uint16).reshape(len(text), 1)
            item = refs_group.create_dataset(f"{key}_{i}", data=chars if len(text) else np.zeros((0, 0), np.uint16))
            item.attrs["MATLAB_class"] = np.bytes_("char")
            refs[0, i] = item.ref
        cell = self._file.create_dataset(key, data=refs, dtype=h5py.ref_dtype)
        cell.attrs["MATLAB_class"] = np.bytes_("cell")

    def write(self, index: int, rgb: np.ndarray, depth: np.ndarray, raw_depth: np.ndarray, labels: np.ndarray, scene: str,
              scene_name: str | None = None) -> None:
        """Frame ``index``; ``scene`` is its scene type (``sceneTypes``), ``scene_name`` the recording it comes from
        (``scenes``, e.g. ``kitchen_0004``), written when every frame has one."""
        self._images[index] = np.transpose(rgb, (2, 1, 0))
        self._depths[index] = depth.T
        self._raw[index] = raw_depth.T
        self._labels[index] = labels.T
        self._scenes[index] = scene
        self._scene_names[index] = scene_name

    def close(self) -> None:
        if self._file.id.valid:
            missing = [i for i, s in enumerate(self._scenes) if s is None]
            if missing:
                raise ValueError(f"{self.path}: frames {missing[:5]} were never written")
            self._write_cell("sceneTypes", self._scenes)  # type: ignore[arg-type]
            if all(name is not None for name in self._scene_names):
                self._write_cell("scenes", self._scene_names)  # type: ignore[arg-type]
            self._file.close()
            with open(self.path, "r+b") as raw:
                raw.write(_matlab_header())

    def __enter__(self) -> NYUMatWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()
