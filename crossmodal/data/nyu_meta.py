"""NYU-Depth V2 facts (label maps, official split, scene protocol, camera) as ready-to-index arrays.

The facts ship inside the package (crossmodal/data/nyu_v2_meta.json) with MATLAB's 1-based ids; this module turns
them into 0-based lookup tables once, so a raw label image maps to any label set with one
``table[labels]``.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

META_FILE = "nyu_v2_meta.json"
NUM_RAW_CLASSES = 894
IGNORE_INDEX = 255
OTHERS_SCENE = "others"


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class NYUMeta:
    """Label maps indexed by raw id (0 = unlabeled, 1..894), split indices 0-based."""

    raw_class_names: tuple[str, ...]  # raw_class_names[i] names raw id i + 1
    nyu40_class_names: tuple[str, ...]
    nyu13_class_names: tuple[str, ...]
    raw_to_nyu40: np.ndarray  # (895,) uint8: raw id -> nyu40 id 0..39, 255 for unlabeled
    raw_to_nyu13: np.ndarray  # (895,) uint8: raw id -> nyu13 id 0..12, 255 for unlabeled
    train_indices: np.ndarray  # (795,) int64 frame indices, 0-based
    test_indices: np.ndarray  # (654,) int64 frame indices, 0-based
    scene_types: tuple[str, ...]  # the 27 scene strings of the labeled set
    scene_classes: tuple[str, ...]  # 10-class protocol: 9 named types + 'others'
    camera_intrinsics: dict[str, float]  # fx, fy, cx, cy at 640 x 480

    @property
    def num_frames(self) -> int:
        return len(self.train_indices) + len(self.test_indices)

    def scene_label(self, scene: str) -> int:
        """10-class scene id: the type's own class when it is one of the 9 named, else 'others'."""
        classes = self.scene_classes
        return classes.index(scene) if scene in classes else classes.index(OTHERS_SCENE)


@functools.cache
def load_meta() -> NYUMeta:
    """Read and convert the NYU facts once per process."""
    raw = json.loads(resources.files(__package__).joinpath(META_FILE).read_text(encoding="utf-8"))
    to40 = np.asarray(raw["map_894_to_40"], dtype=np.int64)  # index raw-1 -> 1-based nyu40
    to13 = np.asarray(raw["map_40_to_13"], dtype=np.int64)  # index nyu40-1 -> 1-based nyu13
    raw_to_nyu40 = np.full(NUM_RAW_CLASSES + 1, IGNORE_INDEX, dtype=np.uint8)
    raw_to_nyu40[1:] = to40 - 1
    raw_to_nyu13 = np.full(NUM_RAW_CLASSES + 1, IGNORE_INDEX, dtype=np.uint8)
    raw_to_nyu13[1:] = to13[to40 - 1] - 1
    return NYUMeta(
        raw_class_names=tuple(raw["class_names_894"]),
        nyu40_class_names=tuple(raw["class_names_40"]),
        nyu13_class_names=tuple(raw["class_names_13"]),
        raw_to_nyu40=_readonly(raw_to_nyu40),
        raw_to_nyu13=_readonly(raw_to_nyu13),
        train_indices=_readonly(np.asarray(raw["train_indices"], dtype=np.int64) - 1),
        test_indices=_readonly(np.asarray(raw["test_indices"], dtype=np.int64) - 1),
        scene_types=tuple(raw["scene_types_27"]),
        scene_classes=tuple(raw["scene_classes_10"]),
        camera_intrinsics=dict(raw["camera_intrinsics_640x480"]),
    )
