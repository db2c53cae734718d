"""Procedural indoor RGB-D frames written in the exact layout of nyu_depth_v2_labeled.mat, so the
NYU-Depth V2 loader reads them unchanged: the embedded default data set.

Each frame is a furnished room of one of NYU's scene types, photographed by a simulated Kinect:
``depths`` is complete metric depth, ``rawDepths`` the sensor's version with holes and
quantisation, ``labels`` NYU raw label ids (1-based into the 894 class names). Frame i depends
only on (seed, i), so any number of worker processes produce identical files.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from crossmodal.config import RoomsConfig
from crossmodal.data.matlab import NYUMatWriter
from crossmodal.data.nyu_meta import load_meta
from crossmodal.data.synthetic import kinect, render
from crossmodal.data.synthetic.camera import sample_camera
from crossmodal.data.synthetic.layout import build_layout, sample_scene_type
from crossmodal.data.synthetic.raycast import cast, primitives_from_layout
from crossmodal.errors import InputError
from crossmodal.parallel import process_pool, worker_count

PREVIEW_SIZE = (24, 32)
PREVIEW_TRIES = 4
MIN_MEDIAN_DEPTH = 1.0  # metres


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # H x W x 3 uint8
    depth: np.ndarray  # H x W float32 metres, complete
    raw_depth: np.ndarray  # H x W float32 metres, 0 = missing
    labels: np.ndarray  # H x W uint16 raw label ids
    scene: str


def render_frame(seed: int, index: int, size: tuple[int, int] = (240, 320), scene: str | None = None) -> Frame:
    """Frame ``index`` of the data set drawn with ``seed`` (``scene`` forces the scene type)."""
    rng = np.random.default_rng([seed, index])
    scene = scene or sample_scene_type(rng)
    layout = build_layout(rng, scene)
    primitives = primitives_from_layout(layout)
    for _ in range(PREVIEW_TRIES):  # a photographer steps back from a view blocked by something close
        camera = sample_camera(rng, layout, *size)
        if np.median(cast(primitives, camera.resized(*PREVIEW_SIZE)).depth) > MIN_MEDIAN_DEPTH:
            break
    hits = cast(primitives, camera)
    columns = layout.bank.arrays()
    colour, emitted = render.albedo(hits, columns, render.NoiseTiles.sample(rng))
    radiance = render.shade(hits, layout, colour, emitted, columns["gloss"][hits.material], camera.position, rng)
    rgb = render.expose(radiance, rng)
    raw = kinect.raw_depth(hits.depth, camera.fx, columns["ir_dropout"][hits.material], colour.mean(axis=-1),
                           hits.facing, rng)
    return Frame(rgb, hits.depth, raw, hits.label, scene)


def scene_name(scene_type: str, room: int) -> str:
    """The recording frame ``room`` (0-based) belongs to, as the labelled set's ``scenes`` name them: each room is
    its own scene, ``bedroom_0007`` for frame 6 (``raw_scenes`` writes the same room's raw folder under that name)."""
    return f"{scene_type}_{room + 1:04d}"


def _check(rooms: RoomsConfig, workers: int | None) -> None:
    if rooms.num < 1:
        raise InputError(f"--num must be at least 1, got {rooms.num}")
    if len(rooms.size) != 2 or min(rooms.size) < 16:
        raise InputError(f"--size must be HxW with both sides at least 16 pixels, got {rooms.size}")
    if rooms.seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {rooms.seed}")
    if workers is not None and workers < 0:
        raise InputError(f"workers must be 0 or more, got {workers}")


@contextmanager
def _rendered(render_one: Callable[[int], Frame], num: int, workers: int) -> Iterator[Iterator[Frame]]:
    """Frames 0..num-1 in order, rendered here or by a pool of worker processes."""
    with process_pool(workers) as pool:
        yield pool.imap(render_one, range(num), chunksize=4) if pool else map(render_one, range(num))


def generate_rooms(out_path: str | Path, rooms: RoomsConfig = RoomsConfig(), progress: bool = True,
                   workers: int | None = None) -> Path:
    """Render ``rooms.num`` frames of ``rooms.size`` (H, W) from ``rooms.seed`` into a NYU-layout .mat file.

    ``workers`` processes render in parallel (None: one per available core; 0 or 1: in this
    process); the file is identical whatever their number.
    """
    _check(rooms, workers)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    num, height, width = rooms.num, int(rooms.size[0]), int(rooms.size[1])
    workers = worker_count(workers, num)
    render_one = partial(render_frame, rooms.seed, size=(height, width))
    names = list(load_meta().raw_class_names)
    with NYUMatWriter(out_path, num, height, width, names) as writer, \
            tqdm(total=num, desc=f"rendering {out_path.name}", unit="frame", disable=not progress) as bar, \
            _rendered(render_one, num, workers) as frames:
        for index, frame in enumerate(frames):
            writer.write(index, frame.rgb, frame.depth, frame.raw_depth, frame.labels, frame.scene, scene_name(frame.scene, index))
            bar.update()
    return out_path
