"""A hand-held Kinect: NYU intrinsics scaled to the output size, held at head height by someone
standing in a free spot of the room and aiming at something worth photographing."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crossmodal.data.nyu_meta import load_meta
from crossmodal.data.synthetic.layout import Layout

NYU_WIDTH, NYU_HEIGHT = 640, 480


@dataclass(frozen=True)
class Camera:
    """Pinhole camera; ``rotation`` maps camera axes (x right, y down, z forward) to room axes."""

    position: np.ndarray
    rotation: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    height: int
    width: int

    def rays(self) -> np.ndarray:
        """H x W x 3 room-frame directions scaled so their forward component is 1: a hit at
        distance t along a ray lies at depth t, as a depth camera reports it."""
        u = (np.arange(self.width, dtype=np.float32) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float32) - self.cy) / self.fy
        grid = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.float32(1.0)), axis=-1)
        return grid @ self.rotation.T.astype(np.float32)

    def resized(self, height: int, width: int) -> Camera:
        """The same view at another resolution."""
        fx, fy, cx, cy = intrinsics(height, width)
        return Camera(self.position, self.rotation, fx, fy, cx, cy, height, width)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel column, row and depth of room-frame points (N x 3)."""
        local = (points - self.position) @ self.rotation
        z = local[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.fx * local[:, 0] / z + self.cx, self.fy * local[:, 1] / z + self.cy, z


def intrinsics(height: int, width: int) -> tuple[float, float, float, float]:
    """NYU's 640 x 480 intrinsics rescaled to another resolution (pixel centres kept aligned)."""
    k = load_meta().camera_intrinsics
    sx, sy = width / NYU_WIDTH, height / NYU_HEIGHT
    return k["fx"] * sx, k["fy"] * sy, (k["cx"] + 0.5) * sx - 0.5, (k["cy"] + 0.5) * sy - 0.5


def look_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-room rotation for a heading (from +x, counter-clockwise), tilt up and roll."""
    forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    up = np.cross(right, forward)
    cr, sr = math.cos(roll), math.sin(roll)
    right, up = cr * right + sr * up, cr * up - sr * right
    return np.stack([right, -up, forward], axis=1)


def _standing_spot_free(layout: Layout, x: float, y: float, pad: float) -> bool:
    for item in layout.items:
        if item.solid and item.z < 0.3:
            x0, y0, x1, y1 = item.footprint(pad)
            if x0 < x < x1 and y0 < y < y1:
                return False
    return True


def sample_camera(rng: np.random.Generator, layout: Layout, height: int, width: int) -> Camera:
    """Stand in a free spot at a comfortable distance from a focus object (or the room centre) and aim at it."""
    if layout.focus and rng.random() < 0.85:
        target = layout.focus[int(rng.integers(len(layout.focus)))]
        aim = np.array([target.x, target.y, target.z + target.height * 0.5])
    else:
        aim = np.array([layout.width / 2, layout.depth / 2, rng.uniform(0.5, 1.2)])
    aim[:2] += rng.normal(0.0, 0.3, 2)
    eye_height = rng.uniform(1.3, 1.7)
    preferred = rng.uniform(1.4, 3.2)
    margin = 0.3
    best, best_miss = (layout.width / 2, layout.depth / 2), math.inf
    for _ in range(40):
        x = rng.uniform(margin, layout.width - margin)
        y = rng.uniform(margin, layout.depth - margin)
        miss = abs(math.hypot(aim[0] - x, aim[1] - y) - preferred)
        if miss < best_miss and _standing_spot_free(layout, x, y, 0.25):
            best, best_miss = (x, y), miss
            if miss < 0.3:
                break
    x, y = best
    yaw = math.atan2(aim[1] - y, aim[0] - x) + rng.normal(0.0, 0.2)
    pitch = 0.8 * math.atan2(aim[2] - eye_height, max(math.hypot(aim[0] - x, aim[1] - y), 0.5))
    pitch = float(np.clip(pitch + rng.normal(-0.03, 0.12), -0.8, 0.25))
    fx, fy, cx, cy = intrinsics(height, width)
    return Camera(np.array([x, y, eye_height]), look_rotation(yaw, pitch, rng.normal(0.0, 0.03)),
                  fx, fy, cx, cy, height, width)
