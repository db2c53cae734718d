"""Small NYU-Depth V2 raw scene folders in the exact layout of the recordings: timestamped Kinect dumps."""
from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 640, 480


def write_pgm(path: Path, raw: np.ndarray) -> Path:
    """A raw depth dump: P5 with 16-bit samples stored little-endian, as the Kinect logger wrote them."""
    path.write_bytes(f"P5\n{raw.shape[1]} {raw.shape[0]}\n65535\n".encode() + raw.astype("<u2").tobytes())
    return path


def write_ppm(path: Path, rgb: np.ndarray) -> Path:
    path.write_bytes(f"P6\n{rgb.shape[1]} {rgb.shape[0]}\n255\n".encode() + rgb.astype(np.uint8).tobytes())
    return path


def write_dump(path: Path, x: int = 0, y: int = 819, z: int = 0, tilt: int = 0) -> Path:
    """An accelerometer dump: x86 freenect_raw_tilt_state (int16 x, y, z; int8 tilt; padding; int32 status)."""
    path.write_bytes(np.array([x, y, z], "<i2").tobytes() + np.int8(tilt).tobytes() + bytes(1) + np.int32(0).tobytes())
    return path


def disparity_frame(metres: float) -> np.ndarray:
    """A 480 x 640 raw disparity frame of one depth everywhere but its first pixel, which has no return (2047) as
    real frames always have some: the toolbox takes a frame's largest value for the no-return code."""
    raw = np.full((HEIGHT, WIDTH), np.rint(1092.5 - 351.3 / metres), dtype=np.uint16)
    raw[0, 0] = 2047
    return raw


def write_scene(folder: Path, depth_times: list[float], rgb_times: list[float], accel_times: list[float] = (),
                raw: np.ndarray | None = None, rgb: np.ndarray | None = None) -> Path:
    """A scene folder with one dump per timestamp; every depth frame holds ``raw`` (default: 2 m everywhere),
    every RGB frame ``rgb`` (default: mid grey)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = disparity_frame(2.0) if raw is None else raw
    rgb = np.full((HEIGHT, WIDTH, 3), 128, np.uint8) if rgb is None else rgb
    for i, t in enumerate(depth_times):
        write_pgm(folder / f"d-{t:.6f}-{1000 + i}.pgm", raw)
    for i, t in enumerate(rgb_times):
        write_ppm(folder / f"r-{t:.6f}-{2000 + i}.ppm", rgb)
    for i, t in enumerate(accel_times):
        write_dump(folder / f"a-{t:.6f}-{3000 + i}.dump")
    return folder
