"""The embedded rooms written as NYU-Depth V2's raw recordings: one scene folder per room, each frame a
Kinect dump as the sensor wrote it, so the raw reader, its synchronisation and its registration run on
them exactly as on the real recordings.

Scene folder ``<type>_<NNNN>`` is room NNNN - 1 of the rooms file with the same seed (the same layout),
seen from ``frames`` viewpoints. Each frame is rendered twice, from the RGB camera and from the depth
camera (``kinect_registration``'s rigid transform apart), both through their lenses' distortion, and
written as ``r-<t>-<n>.ppm``, ``d-<t>-<n>.pgm`` (disparity, little-endian samples) and ``a-<t>-<n>.dump``
at about 30 frames a second with RGB and accelerometer clocks a few milliseconds off the depth clock.
"""
from __future__ import annotations

from functools import cache, partial
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from crossmodal.data.kinect_registration import (
    DEPTH_LENS,
    HEIGHT,
    RGB_LENS,
    RIGID_ROTATION,
    RIGID_TRANSLATION,
    WIDTH,
    Lens,
    metres_to_disparity,
)
from crossmodal.data.nyu_raw import ACCEL_COUNTS_PER_G
from crossmodal.data.synthetic import kinect, render
from crossmodal.data.synthetic.camera import Camera, sample_camera
from crossmodal.data.synthetic.layout import build_layout, sample_scene_type
from crossmodal.data.synthetic.raycast import cast, primitives_from_layout
from crossmodal.data.synthetic.rooms import scene_name
from crossmodal.errors import InputError
from crossmodal.fileio import atomic_path
from crossmodal.parallel import process_pool, worker_count

FRAME_SECONDS = 1 / 30
FIRST_TIME = 1_300_000_000.0


@cache
def _distortion_map(lens: Lens) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel of the distorted (raw) image, where the pinhole image holds what it shows: the inverse of
    the toolbox's undistortion (0-based pixels against the principal point)."""
    cols, rows = np.meshgrid(np.arange(WIDTH, dtype=np.float64), np.arange(HEIGHT, dtype=np.float64))
    points = np.stack([cols.ravel(), rows.ravel()], axis=-1)[:, None, :]
    normal = cv2.undistortPoints(points, lens.matrix, np.array(lens.distortion),
                                 criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10))[:, 0]
    map_x = (normal[:, 0] * lens.fx + lens.cx).reshape(HEIGHT, WIDTH).astype(np.float32)
    map_y = (normal[:, 1] * lens.fy + lens.cy).reshape(HEIGHT, WIDTH).astype(np.float32)
    return map_x, map_y


def _distorted(image: np.ndarray, lens: Lens, interpolation: int) -> np.ndarray:
    map_x, map_y = _distortion_map(lens)
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def _lens_camera(position: np.ndarray, rotation: np.ndarray, lens: Lens) -> Camera:
    """A pinhole camera whose pixel j looks along (j + 1 - cx) / fx, as the toolbox back-projects and projects."""
    return Camera(position, rotation, lens.fx, lens.fy, lens.cx - 1, lens.cy - 1, HEIGHT, WIDTH)


def _accel_dump(rotation: np.ndarray) -> bytes:
    """Gravity in the camera's axes as accelerometer counts (an x86 freenect_raw_tilt_state: tilt 0, stopped)."""
    counts = np.rint(-ACCEL_COUNTS_PER_G * rotation.T @ np.array([0.0, 0.0, 1.0])).astype("<i2")
    return counts.tobytes() + bytes(2) + np.int32(0).astype("<i4").tobytes()


def _write(path: Path, payload: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)


def write_raw_scene(out: str | Path, seed: int, room: int, frames: int) -> Path:
    """Render room ``room`` of the rooms drawn with ``seed`` from ``frames`` viewpoints into ``out/<type>_<NNNN>``."""
    rng = np.random.default_rng([seed, room])
    scene = sample_scene_type(rng)
    layout = build_layout(rng, scene)
    primitives = primitives_from_layout(layout)
    columns = layout.bank.arrays()
    folder = Path(out) / scene_name(scene, room)
    folder.mkdir(parents=True, exist_ok=True)
    for frame in range(frames):
        view = sample_camera(rng, layout, HEIGHT, WIDTH)
        rgb_camera = _lens_camera(view.position, view.rotation, RGB_LENS)
        depth_camera = _lens_camera(view.position + view.rotation @ RIGID_TRANSLATION, view.rotation @ RIGID_ROTATION, DEPTH_LENS)
        hits = cast(primitives, rgb_camera)
        tiles = render.NoiseTiles.sample(rng)
        colour, emitted = render.albedo(hits, columns, tiles)
        radiance = render.shade(hits, layout, colour, emitted, columns["gloss"][hits.material], rgb_camera.position, rng)
        rgb = render.expose(radiance, rng)
        depth_hits = cast(primitives, depth_camera)
        depth_colour, _ = render.albedo(depth_hits, columns, tiles)
        depth = kinect.raw_depth(depth_hits.depth, depth_camera.fx, columns["ir_dropout"][depth_hits.material],
                                 depth_colour.mean(axis=-1), depth_hits.facing, rng)
        raw = _distorted(metres_to_disparity(depth), DEPTH_LENS, cv2.INTER_NEAREST)
        rgb = _distorted(np.ascontiguousarray(rgb), RGB_LENS, cv2.INTER_LINEAR)
        t = FIRST_TIME + 1000.0 * room + frame * FRAME_SECONDS
        stamp = int(rng.integers(2**31))
        _write(folder / f"d-{t:.6f}-{stamp}.pgm", f"P5\n{WIDTH} {HEIGHT}\n65535\n".encode() + raw.astype("<u2").tobytes())
        t_rgb = t + rng.uniform(-0.012, 0.012)
        _write(folder / f"r-{t_rgb:.6f}-{stamp + 1}.ppm", f"P6\n{WIDTH} {HEIGHT}\n255\n".encode() + rgb.tobytes())
        _write(folder / f"a-{t + 0.004:.6f}-{stamp + 2}.dump", _accel_dump(view.rotation))
    return folder


def generate_raw_scenes(out: str | Path, seed: int, scenes: int, frames: int, workers: int | None = None,
                        progress: bool = True) -> Path:
    """Rooms 0 .. ``scenes`` - 1 of ``seed``, ``frames`` frames each, as raw scene folders under ``out``."""
    if scenes < 1 or frames < 1:
        raise InputError(f"--scenes and --frames must be at least 1, got {scenes} and {frames}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_one = partial(write_raw_scene, out, seed, frames=frames)
    with process_pool(worker_count(workers, scenes)) as pool, \
            tqdm(total=scenes, desc=f"rendering raw scenes into {out}", unit="scene", disable=not progress) as bar:
        for _ in (pool.imap(write_one, range(scenes)) if pool else map(write_one, range(scenes))):
            bar.update()
    return out
