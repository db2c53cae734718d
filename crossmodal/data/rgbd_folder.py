"""Any RGB-D collection laid out as folders of images paired by file name.

Layout::

    root/rgb/<stem>.png|jpg|jpeg      colour images
    root/depth/<stem>.png             single-channel 16-bit, value / depth_scale = metres, 0 = missing
    root/depth/<stem>.npy             float metres, NaN / inf / <= 0 = missing
    root/labels/<stem>.png            optional, 8- or 16-bit class ids used as is, 255 = ignore

Files are paired by stem and sorted by it, so item ``index`` is stable across runs and
machines (it is the memory-bank row).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from crossmodal.errors import InputError

RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIXES = (".png", ".npy")
LABEL_SUFFIXES = (".png",)
_LISTED_PROBLEMS = 10


def _files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        if path.stem in files:
            raise InputError(f"{folder} holds two files for {path.stem!r}: {files[path.stem].name} and {path.name}")
        files[path.stem] = path
    return files


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
            shown = "; ".join(problems[:_LISTED_PROBLEMS])
            more = f"; and {len(problems) - _LISTED_PROBLEMS} more" if len(problems) > _LISTED_PROBLEMS else ""
            raise InputError(f"RGB-D folder {self.root} has unpaired files: {shown}{more}")
        self.samples: list[tuple[Path, Path, Path | None]] = [
            (rgb[stem], depth[stem], labels.get(stem)) for stem in sorted(rgb)
        ]

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
            labels = self._read_labels(label_path)
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

    def _read_labels(self, path: Path) -> np.ndarray:
        labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if labels is None:
            raise InputError(f"cannot read label image {path}")
        if labels.ndim != 2 or labels.dtype not in (np.uint8, np.uint16):
            raise InputError(
                f"label image {path} must be single-channel 8- or 16-bit class ids, got {labels.dtype} {labels.shape}"
            )
        return labels
