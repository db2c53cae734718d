"""The raw depth of a first-generation Kinect, simulated from exact depth.

A structured-light sensor loses depth where its projector cannot see (a band beside every
foreground edge), beyond its range, on glass, mirrors, screens and very dark or grazing
surfaces, and reports the rest as quantised disparity with noise growing with distance.
Missing pixels are 0, as in NYU-Depth V2's rawDepths.
"""
from __future__ import annotations

import cv2
import numpy as np

BASELINE = 0.075  # metres between projector and infrared camera
DISPARITY_SCALE = 8 * 580.0 * BASELINE  # depth x disparity in the sensor's 1/8-pixel units at 640 x 480
MIN_RANGE = 0.5


def projector_shadow(depth: np.ndarray, fx: float) -> np.ndarray:
    """Pixels the projector cannot light: a point is shadowed when a nearer surface further
    right in the row maps to the same or a further-left projector column."""
    cols = np.arange(depth.shape[1], dtype=np.float32)
    projector_col = cols - fx * BASELINE / depth
    reach = np.minimum.accumulate(projector_col[:, ::-1], axis=1)[:, ::-1]  # min over this and all to the right
    beyond = np.concatenate([reach[:, 1:], np.full((depth.shape[0], 1), np.inf, np.float32)], axis=1)
    return projector_col > beyond + 0.3


def _field(rng: np.random.Generator, shape: tuple[int, int], cell: int, values: np.ndarray | None = None) -> np.ndarray:
    """A smooth random field: one random value per ``cell`` pixels, bilinearly interpolated."""
    h, w = shape
    small = values if values is not None else rng.random((max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=pixels).astype(bool)


def raw_depth(depth: np.ndarray, fx: float, dropout: np.ndarray, luminance: np.ndarray, facing: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """rawDepths from exact depth; ``dropout`` is each pixel's material chance of returning nothing."""
    h, w = depth.shape
    grow = max(1, round(w / 320))
    missing = projector_shadow(depth, fx)
    # flying pixels and misses along depth discontinuities
    jump = np.zeros_like(depth, dtype=bool)
    jump[:, 1:] |= np.abs(np.diff(depth, axis=1)) > 0.04 * depth[:, 1:]
    jump[1:, :] |= np.abs(np.diff(depth, axis=0)) > 0.04 * depth[1:, :]
    missing |= _grow(jump, grow) & (rng.random(depth.shape, dtype=np.float32) < 0.6)
    missing |= (depth > rng.uniform(8.0, 10.0)) | (depth < MIN_RANGE)
    absorbed = dropout + np.clip((0.01 - luminance) * 40.0, 0.0, 0.5) + np.clip((0.15 - facing) * 4.0, 0.0, 0.6)
    missing |= _field(rng, (h, w), 16) < absorbed
    missing |= _grow(rng.random(depth.shape, dtype=np.float32) < 0.00015 / grow**2, grow)  # isolated dropouts
    # the raw map is registered to the colour camera, leaving uncovered borders
    missing[:, : int(rng.uniform(0.0, 0.06) * w)] = True
    missing[: int(rng.uniform(0.0, 0.02) * h)] = True
    missing[h - int(rng.uniform(0.0, 0.02) * h):] = True

    disparity = DISPARITY_SCALE / np.maximum(depth, MIN_RANGE)
    wobble = _field(rng, (h, w), 24, rng.normal(0.0, 0.25, (max(2, h // 24), max(2, w // 24))))
    measured = np.round(disparity + rng.normal(0.0, 0.3, depth.shape).astype(np.float32) + wobble)
    raw = (DISPARITY_SCALE / np.maximum(measured, 1.0)).astype(np.float32)
    raw[missing] = 0.0
    return raw
