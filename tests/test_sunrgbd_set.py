"""SUN RGB-D through the catalog: the prepared cache, training on it and evaluating on its official split."""
from __future__ import annotations

import json

import numpy as np
import pytest

from crossmodal.cli.prepare import main as prepare_main
from crossmodal.config import DataConfig
from crossmodal.data.catalog import DATA_SETS
from crossmodal.data.hha import moved_intrinsics
from crossmodal.data.resize import centre_crop_box, resize_depth
from crossmodal.data.sunrgbd import SUNRGBD
from crossmodal.data.sunrgbd_cache import SUNRGBDCache
from crossmodal.errors import InputError
from tests.sunrgbd_files import KV1_K, KV2_K, XTION_K, _frame, write_tree

SIZES = {"kv1": (48, 64), "kv2": (40, 70), "xtion": (45, 60)}
INTRINSICS = {"kv1": KV1_K, "kv2": KV2_K, "xtion": XTION_K}
SUBFOLDER = {"kv1": "kv1/NYUdata/NYU{:04d}", "kv2": "kv2/kinect2data/{:06d}_2014-05-26_14-23-37_260595134347_rgbf000103-resize",
             "xtion": "xtion/xtion_align_data/frame{:04d}"}
SCENES = ("bedroom", "office", "kitchen", "hotel_room")  # the last is outside the 19-scene protocol


@pytest.fixture
def tree(tmp_path):
    frames = []
    for i in range(16):
        sensor = ("kv1", "kv2", "xtion")[i % 3]
        frames.append(_frame(SUBFOLDER[sensor].format(i + 1), "test" if i % 4 == 3 else "train", SIZES[sensor],
                             (10 * i, 100, 200 - 10 * i), INTRINSICS[sensor], SCENES[(i // 2) % 4], i))
    return write_tree(tmp_path, frames)


def test_intrinsics_follow_the_crop_and_the_resize():
    assert centre_crop_box(40, 70, (30, 40)) == (0, 8, 40, 53) and centre_crop_box(48, 64, (30, 40)) == (0, 0, 48, 64)
    k = np.array([[500.0, 0, 30.5], [0, 500.0, 20.5], [0, 0, 1]])
    moved = moved_intrinsics(k, top=4, left=10, scale_y=0.5, scale_x=0.5)
    # a point on the optical axis stays on it: 1-based pixel 30.5 - 10 = 20.5 of the crop, 10.5 after halving
    assert moved.tolist() == [[250.0, 0.0, 10.5], [0.0, 250.0, 8.5], [0.0, 0.0, 1.0]]


def test_the_cache_holds_the_reader_frames_cropped_resized_and_split(tree, tmp_path):
    out = tmp_path / "cache"
    assert prepare_main(["sunrgbd", "--root", str(tree.root), "--out", str(out), "--size", "30x40", "--workers", "1"]) == 0
    train, test = SUNRGBDCache(out, "train"), SUNRGBDCache(out, "test")
    reader = SUNRGBD(tree.root, split="train")
    assert len(train) == 12 and len(test) == 4 and [f.path for f in reader.frames][0].startswith("kv1/")
    item, source = train[0], reader[0]
    assert item["rgb"].shape == (3, 30, 40) and item["seg"].shape == (30, 40) and item["depth"].shape == (1, 30, 40)
    assert item["scene"] == source["scene"] and item["scene_label"] == source["scene_label"] and item["sensor"] == source["sensor"]
    # kv1 frames are 48 x 64, the aspect of 30 x 40: resized as a whole, their top-left white block stays top-left
    assert item["rgb"][:, 0, 0].min() > 200 and item["rgb"][:, -1, -1].max() < 255
    expected = resize_depth(source["depth"][0].numpy(), (30, 40))  # stored in whole millimetres
    assert np.abs(item["depth"][0].numpy() - expected).max() <= 0.0005 + 1e-6
    assert np.isclose(float(item["intrinsics"][0, 0]), 518.857901 * 40 / 64)
    assert sorted({int(SUNRGBDCache(out, "all")[i]["scene_label"]) for i in range(16)}) == [-1, 1, 11, 16]


def test_the_catalog_trains_on_the_train_split_and_evaluates_on_the_test_split(tree, tmp_path):
    kind = DATA_SETS.get("sunrgbd")
    folder = DataConfig(name="sunrgbd", options={"path": str(tree.root)})
    kind.prepare(folder, False)
    assert len(kind.open(folder)) == 12
    splits = kind.eval_splits(folder, "test", None, None)
    assert len(splits.fit) == 12 and len(splits.scored) == 4 and len(splits.class_names) == 37 and len(splits.scene_names) == 19
    assert "seg" in splits.scored[0]
    validation = kind.eval_splits(folder, "validation", "sun37", None)
    assert len(validation.fit) + len(validation.scored) == 12
    with pytest.raises(InputError, match="one label set, 'sun37'"):
        kind.eval_splits(folder, "test", "nyu40", None)
    unlabelled = tmp_path / "unlabelled"
    assert prepare_main(["sunrgbd", "--root", str(tree.root), "--out", str(unlabelled), "--size", "30x40", "--no-labels", "--workers", "1"]) == 0
    cached = DataConfig(name="sunrgbd", options={"path": str(unlabelled), "split": "all"})
    assert len(kind.open(cached)) == 16
    with pytest.raises(InputError, match="prepared without labels"):
        kind.eval_splits(cached, "test", None, None)


def test_train_probe_and_segment_on_a_sun_cache(tree, tmp_path):
    from crossmodal.cli.eval import main as eval_main
    from crossmodal.cli.train import main as train_main

    cache, run = tmp_path / "cache", tmp_path / "run"
    assert prepare_main(["sunrgbd", "--root", str(tree.root), "--out", str(cache), "--size", "30x40", "--workers", "1"]) == 0
    assert train_main(["--source", "rgb", "--target", "depth", "--data", "sunrgbd", "--data-path", str(cache), "--epochs", "1",
                       "--batch-size", "4", "--out", str(run), "--set", "data.input_size=[32,48]", "run.wandb=disabled"]) == 0
    assert eval_main(["scene-probe", "--run", str(run)]) == 0
    probe = json.loads((run / "probe.json").read_text())
    assert (probe["num_train"], probe["num_test"], len(probe["class_names"])) == (10, 2, 19)  # the hotel rooms (outside the 19 scenes) are left out
    assert eval_main(["segmentation", "--run", str(run), "--set", "epochs=1", "labels=sun37"]) == 0
    segment = json.loads((run / "segment.json").read_text())
    assert len(segment["class_names"]) == 37 and segment["num_scored"] == 4


@pytest.mark.parametrize("problem, fragment", [
    ("missing", "SUN RGB-D folder {root} does not exist"),
    ("stranger", "holds kinect3/, which is not a sensor folder"),
    ("intrinsics", "intrinsics.txt"),
])
def test_bad_sun_input_is_one_line_and_exit_2(tree, tmp_path, capsys, problem, fragment):
    root = tree.root
    if problem == "missing":
        root = tmp_path / "nowhere"
    elif problem == "stranger":
        (root / "kinect3").mkdir()
    else:
        next(root.glob("kv1/NYUdata/*/intrinsics.txt")).unlink()
    assert prepare_main(["sunrgbd", "--root", str(root), "--out", str(tmp_path / "cache"), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment.format(root=root) in err[0]


def test_the_refined_depth_folder_can_be_cached_and_read_instead(tree, tmp_path):
    import cv2

    for frame in tree.frames:  # depth_bfx: the same frames' depth, 1 m everywhere (stored with the toolbox's bit rotation)
        folder = tree.root / frame.path / "depth_bfx"
        folder.mkdir()
        cv2.imwrite(str(folder / f"{frame.name}.png"), np.full(frame.depth_stored.shape, (1000 << 3) & 0xFFFF, np.uint16))
    out = tmp_path / "bfx"
    assert prepare_main(["sunrgbd", "--root", str(tree.root), "--out", str(out), "--size", "30x40", "--depth", "depth_bfx",
                         "--no-labels", "--workers", "1"]) == 0
    assert float(SUNRGBDCache(out, "all")[0]["depth"].min()) == float(SUNRGBDCache(out, "all")[0]["depth"].max()) == 1.0
    folder = DataConfig(name="sunrgbd", options={"path": str(tree.root), "depth": "depth_bfx", "split": "all"})
    assert float(DATA_SETS.get("sunrgbd").open(folder)[3]["depth"].mean()) == 1.0
