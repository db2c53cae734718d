"""The synthetic NYU-layout rooms: file format, label sanity, geometry, determinism, difficulty."""
from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from crossmodal.config import RoomsConfig
from crossmodal.data.matlab import USER_BLOCK_SIZE, read_cell_strings
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.nyu_meta import load_meta
from crossmodal.data.synthetic.camera import intrinsics, sample_camera
from crossmodal.data.synthetic.labels import RAW_IDS
from crossmodal.data.synthetic.layout import SCENE_TYPES, build_layout, sample_scene_type
from crossmodal.data.synthetic.rooms import generate_rooms, render_frame
from crossmodal.errors import InputError

SIZE = (60, 80)
NUM = 8
FLOOR_STANDING = {"bed", "sofa", "chair", "table", "coffee table", "desk", "bookshelf", "dresser", "night stand",
                  "toilet", "bathtub", "refridgerator", "wardrobe"}


@pytest.fixture(scope="module")
def rooms_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_rooms(tmp_path_factory.mktemp("rooms") / "rooms.mat", RoomsConfig(NUM, SIZE, seed=3), progress=False, workers=1)


@pytest.fixture(scope="module")
def frames(rooms_file: Path) -> dict[str, np.ndarray]:
    with h5py.File(rooms_file, "r") as f:
        return {
            "rgb": f["images"][()].transpose(0, 3, 2, 1),
            "depth": f["depths"][()].transpose(0, 2, 1),
            "raw": f["rawDepths"][()].transpose(0, 2, 1),
            "labels": f["labels"][()].transpose(0, 2, 1),
            "scenes": np.array(read_cell_strings(f, "sceneTypes")),
        }


def test_file_has_the_nyu_labeled_layout(rooms_file: Path) -> None:
    h, w = SIZE
    with open(rooms_file, "rb") as raw:
        assert raw.read(19) == b"MATLAB 7.3 MAT-file"
    with h5py.File(rooms_file, "r") as f:
        assert f.userblock_size == USER_BLOCK_SIZE
        assert f["images"].shape == (NUM, 3, w, h) and f["images"].dtype == np.uint8
        for key in ("depths", "rawDepths"):
            assert f[key].shape == (NUM, w, h) and f[key].dtype == np.float32
        assert f["labels"].shape == (NUM, w, h) and f["labels"].dtype == np.uint16
        assert read_cell_strings(f, "names") == list(load_meta().raw_class_names)
        assert set(read_cell_strings(f, "sceneTypes")) <= set(load_meta().scene_types)


def test_labels_are_raw_nyu_ids_covering_the_image(frames: dict[str, np.ndarray]) -> None:
    labels = frames["labels"]
    assert labels.min() >= 1 and labels.max() <= len(load_meta().raw_class_names)
    assert (labels > 0).mean() > 0.95
    per_frame_classes = [len(np.unique(frame)) for frame in labels]
    assert min(per_frame_classes) >= 3  # walls, floor and at least one object in every view


def test_depth_is_complete_and_raw_depth_has_sensor_holes(frames: dict[str, np.ndarray]) -> None:
    depth, raw = frames["depth"], frames["raw"]
    assert np.isfinite(depth).all() and depth.min() > 0.05 and depth.max() < 30
    holes = raw == 0
    assert 0.02 < holes.mean() < 0.5
    assert all(frame.any() for frame in holes)
    measured = ~holes
    relative = np.abs(raw[measured] - depth[measured]) / depth[measured]
    assert np.median(relative) < 0.02 and np.percentile(relative, 99) < 0.2
    assert len(np.unique(raw[measured])) < len(np.unique(depth[measured])) / 4  # disparity quantisation


def test_floor_is_low_ceiling_high_and_things_stand_where_they_belong(frames: dict[str, np.ndarray]) -> None:
    rows = np.arange(SIZE[0])[None, :, None] / SIZE[0] * np.ones_like(frames["labels"], dtype=np.float32)
    floor = rows[frames["labels"] == RAW_IDS["floor"]]
    ceiling = rows[frames["labels"] == RAW_IDS["ceiling"]]
    assert len(floor) and (floor > 0.5).mean() > 0.85
    assert len(ceiling) and (ceiling < 0.5).mean() > 0.95
    for index in range(10):
        rng = np.random.default_rng(index)
        layout = build_layout(rng, sample_scene_type(rng))
        for item in layout.items:
            x0, y0, x1, y1 = item.footprint()
            assert -0.1 < x0 and x1 < layout.width + 0.1 and -0.1 < y0 and y1 < layout.depth + 0.1, item.kind
            assert item.z + item.height <= layout.height + 0.01, item.kind
            if item.kind in FLOOR_STANDING:
                assert item.z == 0.0, item.kind
            if item.kind in ("picture", "whiteboard", "mirror"):
                assert item.z > 0.3 and min(x0, y0, layout.width - x1, layout.depth - y1) < 0.05  # hung on a wall


def test_frames_are_deterministic_and_seeded(frames: dict[str, np.ndarray], tmp_path: Path) -> None:
    again = render_frame(3, 2, SIZE)
    assert np.array_equal(again.rgb, frames["rgb"][2])
    assert np.array_equal(again.depth, frames["depth"][2]) and np.array_equal(again.raw_depth, frames["raw"][2])
    assert np.array_equal(again.labels, frames["labels"][2]) and again.scene == frames["scenes"][2]
    other = render_frame(4, 2, SIZE)
    assert not np.array_equal(other.rgb, again.rgb) and not np.array_equal(other.depth, again.depth)
    parallel = generate_rooms(tmp_path / "parallel.mat", RoomsConfig(4, SIZE, seed=3), progress=False, workers=2)
    with h5py.File(parallel, "r") as f:
        assert np.array_equal(f["images"][()].transpose(0, 3, 2, 1), frames["rgb"][:4])
        assert np.array_equal(f["rawDepths"][()].transpose(0, 2, 1), frames["raw"][:4])


def _pixels(seed: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    meta = load_meta()
    rendered = [render_frame(seed, i, SIZE) for i in range(count)]
    rgb = np.concatenate([f.rgb.reshape(-1, 3) for f in rendered]).astype(np.float32)
    depth = np.concatenate([f.depth.reshape(-1, 1) for f in rendered])
    return rgb, depth, np.concatenate([meta.raw_to_nyu40[f.labels.ravel()] for f in rendered])


def test_pixel_colour_or_depth_alone_does_not_give_the_class() -> None:
    """Per-pixel classifiers trained on some rooms and tested on others stay far from perfect and
    close to always answering the most frequent class."""
    train_rgb, train_depth, train_y = _pixels(11, 20)
    test_rgb, test_depth, test_y = _pixels(12, 12)
    classes, counts = np.unique(train_y, return_counts=True)
    majority = float((test_y == classes[counts.argmax()]).mean())
    scores = {}
    for feature, train_x, test_x in (("rgb", train_rgb, test_rgb), ("depth", train_depth, test_depth)):
        scaler = StandardScaler().fit(train_x)
        for name, model in (("logistic", LogisticRegression(max_iter=100, tol=1e-3)),
                            ("tree", DecisionTreeClassifier(max_depth=10, min_samples_leaf=20, random_state=0))):
            model.fit(scaler.transform(train_x[::6]), train_y[::6])
            scores[f"{feature}/{name}"] = float((model.predict(scaler.transform(test_x)) == test_y).mean())
    print(f"per-pixel nyu40 accuracy (majority class {majority:.3f}):", {k: round(v, 3) for k, v in scores.items()})
    assert max(scores.values()) < 0.65, scores
    assert max(scores.values()) - majority < 0.2, scores


def test_scene_types_are_nyu_types_with_scene_dependent_furniture() -> None:
    meta = load_meta()
    assert set(SCENE_TYPES) <= set(meta.scene_types)
    named = set(meta.scene_classes) - {"others"}
    assert named <= set(SCENE_TYPES) and len(set(SCENE_TYPES) - named) >= 3

    def kinds(scene: str, seed: int) -> list[str]:
        return [item.kind for item in build_layout(np.random.default_rng(seed), scene).items]

    seeds = range(6)
    assert all("toilet" in kinds("bathroom", s) and "bed" not in kinds("bathroom", s) for s in seeds)
    assert all("bed" in kinds("bedroom", s) for s in seeds)
    assert all("counter" in kinds("kitchen", s) for s in seeds)
    assert all(sum(k in ("desk", "table") for k in kinds("classroom", s)) >= 6 for s in seeds)
    assert all(kinds("bookstore", s).count("bookshelf") >= 4 for s in seeds)
    chairs_in = {scene for scene in SCENE_TYPES for s in seeds if "chair" in kinds(scene, s)}
    assert len(chairs_in) >= 8  # shared furniture keeps the scene probe from being trivial
    counts = {kinds("office", s).count("chair") for s in range(10)}
    assert len(counts) >= 3
    sampled = {sample_scene_type(np.random.default_rng(s)) for s in range(300)}
    assert named <= sampled


def test_every_label_name_is_an_nyu_class() -> None:
    names = load_meta().raw_class_names
    assert all(names[raw_id - 1] == name for name, raw_id in RAW_IDS.items())


def test_loads_through_the_nyu_dataset(rooms_file: Path) -> None:
    dataset = NYUDepthV2(rooms_file, split="all", labels="nyu40")
    assert len(dataset) == NUM
    item = dataset[0]
    assert tuple(item["rgb"].shape) == (3, *SIZE) and tuple(item["depth"].shape) == (1, *SIZE)
    seg = item["seg"].numpy()
    assert seg.max() < 40 and (seg < 40).mean() > 0.95
    assert 0 <= item["scene_label"] < 10


@pytest.mark.parametrize("arguments, message", [
    (dict(num=0), "--num must be at least 1"),
    (dict(size=(8, 8)), "both sides at least 16 pixels"),
    (dict(seed=-1), "--seed must be a non-negative integer"),
])
def test_bad_arguments_are_input_errors(tmp_path: Path, arguments: dict, message: str) -> None:
    rooms = RoomsConfig(**(dict(num=1, size=SIZE, seed=0) | arguments))
    with pytest.raises(InputError, match=message):
        generate_rooms(tmp_path / "x.mat", rooms, progress=False, workers=1)


def test_camera_uses_nyu_intrinsics_at_head_height() -> None:
    k = load_meta().camera_intrinsics
    fx, fy, cx, cy = intrinsics(240, 320)
    assert math.isclose(fx, k["fx"] / 2) and math.isclose(fy, k["fy"] / 2)
    assert abs(cx - (k["cx"] - 0.5) / 2) < 1e-9 and abs(cy - (k["cy"] - 0.5) / 2) < 1e-9
    for seed in range(5):
        rng = np.random.default_rng(seed)
        camera = sample_camera(rng, build_layout(rng, "living_room"), 240, 320)
        assert 1.3 <= camera.position[2] <= 1.7
        assert np.allclose(camera.rotation.T @ camera.rotation, np.eye(3), atol=1e-9)
