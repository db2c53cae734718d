"""Small files in the exact nyu_depth_v2_labeled.mat layout, with frames known in natural orientation."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmodal.data.matlab import NYUMatWriter
from crossmodal.data.nyu_meta import NUM_RAW_CLASSES, load_meta


@dataclass
class Frame:
    rgb: np.ndarray  # H x W x 3 uint8
    depth: np.ndarray  # H x W float32 metres
    raw_depth: np.ndarray  # H x W float32, 0 = missing
    labels: np.ndarray  # H x W uint16 raw ids
    scene: str


def random_frames(num_frames: int, height: int, width: int, seed: int = 0) -> list[Frame]:
    """Random content; scenes cycle through the 27 scene types of the labeled set."""
    rng = np.random.default_rng(seed)
    scene_types = load_meta().scene_types
    frames = []
    for i in range(num_frames):
        depth = rng.uniform(0.5, 10.0, (height, width)).astype(np.float32)
        raw_depth = np.where(rng.random((height, width)) < 0.2, 0, depth).astype(np.float32)
        frames.append(
            Frame(
                rgb=rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                depth=depth,
                raw_depth=raw_depth,
                labels=rng.integers(0, NUM_RAW_CLASSES + 1, (height, width)).astype(np.uint16),
                scene=scene_types[i % len(scene_types)],
            )
        )
    return frames


def write_nyu_mat(path: Path, frames: list[Frame], names: list[str] | None = None) -> Path:
    """Write ``frames`` with NYUMatWriter; ``names`` defaults to a few raw class names to stay fast."""
    height, width = frames[0].depth.shape
    names = list(load_meta().raw_class_names[:4]) if names is None else names
    with NYUMatWriter(path, len(frames), height, width, names) as writer:
        for i, frame in enumerate(frames):
            writer.write(i, frame.rgb, frame.depth, frame.raw_depth, frame.labels, frame.scene)
    return path
