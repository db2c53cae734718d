"""Resizing that keeps RGB-D pairs honest: labels never blend, missing depth never leaks into valid depth."""
from __future__ import annotations

import re

import cv2
import numpy as np

from crossmodal.errors import InputError


def _interpolation(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> int:
    shrinking = dst_hw[0] < src_hw[0] or dst_hw[1] < src_hw[1]
    return cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H x W x 3 uint8 -> size (h, w), area-averaged when shrinking."""
    h, w = size
    return cv2.resize(rgb, (w, h), interpolation=_interpolation(rgb.shape[:2], size))


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H x W integer labels -> size (h, w) by pixel-centred nearest neighbour, so no new label ids appear.

    INTER_NEAREST_EXACT samples the centre of each footprint, as area/bilinear resizing of the
    RGB and depth does; plain INTER_NEAREST would shift labels up-left when shrinking.
    """
    h, w = size
    dtype = labels.dtype
    work = labels.astype(np.int32) if dtype not in (np.uint8, np.uint16, np.int16, np.float32) else labels
    return cv2.resize(work, (w, h), interpolation=cv2.INTER_NEAREST_EXACT).astype(dtype)


def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H x W float depth (0 = missing) -> size (h, w), averaging valid pixels only.

    Each output pixel is the valid-weighted mean of its footprint; it is missing (0) when
    less than half of the footprint was valid, so holes neither shrink into fake depth nor
    pull valid depth towards zero at their borders.
    """
    h, w = size
    depth = np.array(depth, dtype=np.float32)
    depth[~np.isfinite(depth)] = 0.0
    valid = (depth > 0).astype(np.float32)
    mode = _interpolation(depth.shape[:2], size)
    weighted = cv2.resize(depth * valid, (w, h), interpolation=mode)
    weight = cv2.resize(valid, (w, h), interpolation=mode)
    out = np.zeros((h, w), dtype=np.float32)
    keep = weight >= 0.5
    out[keep] = weighted[keep] / weight[keep]
    return out


def centre_crop_box(height: int, width: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, h, w): the largest centred region of an H x W image with the aspect ratio of ``size`` (h, w),
    so resizing it to ``size`` stretches nothing."""
    aspect = size[1] / size[0]
    crop_h, crop_w = height, width
    if width > height * aspect:
        crop_w = max(1, round(height * aspect))
    else:
        crop_h = max(1, round(width / aspect))
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def parse_size(text: str) -> tuple[int, int] | None:
    """'240x320' -> (240, 320); 'full' -> None (keep the source size)."""
    if text == "full":
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise InputError(f"size {text!r} is not HEIGHTxWIDTH with positive integers (e.g. 240x320) or 'full'")
    return int(match[1]), int(match[2])
