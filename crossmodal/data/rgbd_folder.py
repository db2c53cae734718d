"""Any RGB-D collection laid out as folders of images paired by file name.

Layout::

    root/rgb/<stem>.png|jpg|jpeg      colour images
    root/depth/<stem>.png             single-channel 16-bit, value / depth_scale = metres, 0 = missing
    root/depth/<stem>.npy             float metres, NaN / inf / <= 0 = missing
    root/labels/<stem>.png            optional, 8- or 16-bit class ids used as is, 255 = ignore

Files are paired by stem and sorted by it, so item ``index`` is stable across runs and
machines (it is the memory-bank row). Every file's header is checked once when the folder is
opened (``file_headers``: a few hundred bytes per file), and all problems are reported together:
a file that cannot be used is an error; a file that ends early (a truncated JPEG still decodes)
is a warning with a count, or an error with ``strict``.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from crossmodal.data.file_headers import HeaderError, image_header, npy_header
from crossmodal.errors import InputError, listed

RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIXES = (".png", ".npy")
LABEL_SUFFIXES = (".png",)


def _files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        if path.stem in files:
            raise InputError(f"{folder} holds two files for {path.stem!r}: {files[path.stem].name} and {path.name}")
        files[path.stem] = path
    return files


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _unpaired(anchor: str, anchors: dict[str, Path], other: str, others: dict[str, Path]) -> list[str]:
    missing = [
        f"{anchor}/{anchors[stem].name} has no {other}/{stem}.*" for stem in sorted(anchors.keys() - others.keys())
    ]
    extra = [f"{other}/{others[stem].name} has no {anchor}" for stem in sorted(others.keys() - anchors.keys())]
    return missing + extra


class RGBDFolder(Dataset):
    """Paired RGB-D frames from ``root`` (see module docstring), items as every dataset here.

    Item: "rgb" uint8 3xHxW (RGB order), "depth" float32 1xHxW metres (0 = missing),
    "seg" int64 HxW when ``root/labels`` exists, and "index".
    """

    def __init__(
        self,
        root: str | Path,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        depth_scale: float = 1000.0,
        strict: bool = False,
    ) -> None:
        self.root = Path(root)
        self.transform = transform
        if depth_scale <= 0:
            raise InputError(f"depth_scale must be positive, got {depth_scale!r}")
        self.depth_scale = depth_scale
        if not self.root.is_dir():
            raise InputError(f"RGB-D folder {self.root} does not exist")
        for sub in ("rgb", "depth"):
            if not (self.root / sub).is_dir():
                raise InputError(f"RGB-D folder {self.root} has no {sub}/ subfolder")
        rgb = _files_by_stem(self.root / "rgb", RGB_SUFFIXES)
        if not rgb:
            raise InputError(f"RGB-D folder {self.root / 'rgb'} holds no {'/'.join(RGB_SUFFIXES)} images")
        depth = _files_by_stem(self.root / "depth", DEPTH_SUFFIXES)
        self.has_labels = (self.root / "labels").is_dir()
        labels = _files_by_stem(self.root / "labels", LABEL_SUFFIXES) if self.has_labels else {}

        problems = _unpaired("rgb", rgb, "depth", depth)
        if self.has_labels:
            problems += _unpaired("rgb", rgb, "labels", labels)
        if problems:
            raise InputError(f"RGB-D folder {self.root} has unpaired files: {listed(problems)}")
        self.samples: list[tuple[Path, Path, Path | None]] = [
            (rgb[stem], depth[stem], labels.get(stem)) for stem in sorted(rgb)
        ]
        self._check_headers(strict)

    def _check_headers(self, strict: bool) -> None:
        """Every file's header against the layout: all unusable files in one InputError, truncated ones warned about."""
        errors: list[str] = []
        truncated: list[str] = []
        checked = 0
        for rgb_path, depth_path, label_path in self.samples:
            sizes = {}
            for role, path in (("rgb", rgb_path), ("depth", depth_path), ("labels", label_path)):
                if path is None:
                    continue
                checked += 1
                try:
                    sizes[role], complete = self._header_size(role, path)
                except HeaderError as error:
                    errors.append(f"{self._relative(path)} {error}")
                    continue
                if not complete:
                    truncated.append(self._relative(path))
            for role, other in (("depth", depth_path), ("labels", label_path)):
                if other is not None and "rgb" in sizes and role in sizes and sizes[role] != sizes["rgb"]:
                    errors.append(f"{self._relative(rgb_path)} is {_size(sizes['rgb'])} but {self._relative(other)} is {_size(sizes[role])}")
        if truncated and strict:
            errors += [f"{name} ends early (truncated)" for name in truncated]
        if errors:
            raise InputError(f"RGB-D folder {self.root} has {len(errors)} unusable file(s): {listed(errors)}")
        if truncated:
            warnings.warn(
                f"RGB-D folder {self.root}: {len(truncated)} of {checked} files end early (truncated) and "
                f"decode with missing pixels: {listed(truncated)} (data.options.strict: true stops instead)", stacklevel=2,
            )

    def _header_size(self, role: str, path: Path) -> tuple[tuple[int, int], bool]:
        """(h, w) and completeness from the header, after checking the format the role needs."""
        if role == "depth" and path.suffix.lower() == ".npy":
            shape, dtype = npy_header(path)
            squeezed = tuple(n for n in shape if n != 1)
            if len(squeezed) != 2 or not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
                raise HeaderError(f"must be a 2-D array of metres, got {dtype} {shape}")
            return (squeezed[0], squeezed[1]), True
        header = image_header(path)
        if role == "depth" and (header.channels != 1 or header.bits != 16):
            raise HeaderError(f"must be single-channel 16-bit, got {header.bits}-bit with {header.channels} channels")
        if role == "labels" and (header.channels != 1 or header.bits not in (8, 16)):
            raise HeaderError(f"must be single-channel 8- or 16-bit class ids, got {header.bits}-bit with {header.channels} channels")
        return (header.height, header.width), header.complete

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Any:
        rgb_path, depth_path, label_path = self.samples[index]
        rgb = self._read_rgb(rgb_path)
        depth = self._read_depth(depth_path)
        self._check_size(rgb_path, rgb, depth_path, depth)
        item: dict[str, Any] = {
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
            "depth": torch.from_numpy(depth)[None],
            "index": index,
        }
        if label_path is not None:
            labels = self.read_labels(label_path)
            self._check_size(rgb_path, rgb, label_path, labels)
            item["seg"] = torch.from_numpy(labels.astype(np.int64))
        return self.transform(item) if self.transform is not None else item

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def _check_size(self, rgb_path: Path, rgb: np.ndarray, other_path: Path, other: np.ndarray) -> None:
        if rgb.shape[:2] != other.shape[:2]:
            raise InputError(
                f"RGB-D folder {self.root}: {self._relative(rgb_path)} is {rgb.shape[0]}x{rgb.shape[1]} "
                f"but {self._relative(other_path)} is {other.shape[0]}x{other.shape[1]}"
            )

    def _read_rgb(self, path: Path) -> np.ndarray:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"cannot read image {path}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _read_depth(self, path: Path) -> np.ndarray:
        if path.suffix.lower() == ".npy":
            try:
                raw = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as error:
                raise InputError(f"cannot read depth array {path}: {error}") from None
            depth = np.squeeze(raw)
            numeric = np.issubdtype(depth.dtype, np.floating) or np.issubdtype(depth.dtype, np.integer)
            if depth.ndim != 2 or not numeric:
                raise InputError(f"depth array {path} must be a 2-D array of metres, got {raw.dtype} {raw.shape}")
            depth = depth.astype(np.float32)
        else:
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if raw is None:
                raise InputError(f"cannot read depth image {path}")
            if raw.ndim != 2 or raw.dtype != np.uint16:
                channels = 1 if raw.ndim == 2 else raw.shape[2]
                raise InputError(
                    f"depth image {path} must be single-channel 16-bit, got {raw.dtype} with {channels} channels"
                )
            depth = raw.astype(np.float32) / self.depth_scale
        depth[~np.isfinite(depth) | (depth < 0)] = 0.0
        return depth

    def read_labels(self, path: Path) -> np.ndarray:
        """One label image's class ids, checked to be a single-channel 8- or 16-bit image."""
        labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if labels is None:
            raise InputError(f"cannot read label image {path}")
        if labels.ndim != 2 or labels.dtype not in (np.uint8, np.uint16):
            raise InputError(
                f"label image {path} must be single-channel 8- or 16-bit class ids, got {labels.dtype} {labels.shape}"
            )
        return labels
