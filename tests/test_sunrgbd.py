"""SUNRGBD reads the real SUN RGB-D layout faithfully (depth bits, orientation, split, labels by meta order,
intrinsics, scenes) and names the file behind every problem in one exact sentence.

Expected values are written out here by hand (millimetres, class ids, the 19 scene names, K), not taken
from the reader's own tables; the files come from ``tests/sunrgbd_files.py``, whose label file an independent
MATLAB reader (mat73) checks below.
"""
from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import cv2
import mat73
import numpy as np
import pytest
import scipy.io
import torch
from torch.utils.data import DataLoader

from crossmodal.data.sunrgbd import SUNRGBD
from crossmodal.errors import InputError
from tests.sunrgbd_files import Tree, default_frames, rotate_left3, split_entry, write_meta, write_seg, write_split, write_tree

NYU1, NYU2 = "kv1/NYUdata/NYU0001", "kv1/NYUdata/NYU0002"
KV2_TEST = "kv2/kinect2data/000002_2014-05-26_14-23-37_260595134347_rgbf000103-resize"
KV2_TRAIN = "kv2/kinect2data/000065_2014-05-26_14-23-37_260595134347_rgbf000103-resize"
XTION = "xtion/sun3ddata/hotel_umd/maryland_hotel3/0000103-000004139993"
SCENES_19 = [
    "bathroom", "bedroom", "classroom", "computer_room", "conference_room", "corridor", "dining_area", "dining_room", "discussion_area",
    "furniture_store", "home_office", "kitchen", "lab", "lecture_theatre", "library", "living_room", "office", "rest_space", "study_space",
]


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return write_tree(tmp_path)


def paths(dataset: SUNRGBD) -> list[str]:
    return [frame.path for frame in dataset.frames]


def error_of(*args, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        SUNRGBD(*args, **kwargs)
    return str(caught.value)


def test_items_carry_the_documented_keys_types_and_each_sensors_size(tree):
    dataset = SUNRGBD(tree.root, split="all")
    sizes = {"kv1": (8, 12), "kv2": (6, 10), "xtion": (7, 9)}
    assert len(dataset) == 5
    for index in range(len(dataset)):
        item = dataset[index]
        assert set(item) == {"rgb", "depth", "intrinsics", "scene", "scene_label", "sensor", "seg", "index"}
        height, width = sizes[item["sensor"]]
        assert item["sensor"] == dataset.frames[index].path.split("/")[0] and item["index"] == index
        assert item["rgb"].shape == (3, height, width) and item["rgb"].dtype == torch.uint8
        assert item["depth"].shape == (1, height, width) and item["depth"].dtype == torch.float32
        assert not item["depth"].isnan().any()
        assert item["seg"].shape == (height, width) and item["seg"].dtype == torch.int64
        assert item["intrinsics"].shape == (3, 3) and item["intrinsics"].dtype == torch.float64
    with pytest.raises(IndexError):
        dataset[5]


def test_depth_is_millimetres_rotated_right_by_3_bits_and_clipped_at_8_m(tmp_path):
    frames = default_frames()
    millimetres = np.array([[0, 1, 1234, 4000, 7999, 8000], [8001, 8191, 8192, 9000, 12345, 65535]], dtype=np.uint16)
    stored = np.tile(rotate_left3(millimetres), (4, 2))  # 8 x 12, the kv1 size
    stored[0, 0] = (5000 << 3) | 0b101  # low bits set: rotating gives 45960 mm (clipped); a plain shift would give 5 m
    frames[1].depth_stored = stored
    tree = write_tree(tmp_path, frames)
    depth = SUNRGBD(tree.root, split="test")[0]["depth"][0].numpy()  # NYU0001 sorts first
    expected_row0 = np.array([0.0, 0.001, 1.234, 4.0, 7.999, 8.0], dtype=np.float32)
    expected_row1 = np.array([8.0, 8.0, 8.0, 8.0, 8.0, 8.0], dtype=np.float32)
    assert depth[0, 0] == 8.0
    assert np.array_equal(depth[0, 1:6], expected_row0[1:]) and np.array_equal(depth[2, :6], expected_row0)
    assert np.array_equal(depth[1, :6], expected_row1) and np.array_equal(depth[3, 6:], expected_row1)
    assert depth.max() == 8.0 and (depth == 0).sum() == 7  # the 0 mm column of every other row, not the marked pixel


def test_marks_in_the_top_left_of_the_files_land_top_left_in_the_item(tree):
    dataset = SUNRGBD(tree.root, split="all")
    for index in range(len(dataset)):
        item, frame = dataset[index], tree.frame(dataset.frames[index].path)
        rgb = item["rgb"].numpy().astype(int)
        assert (rgb[:, :2, :2] > 235).all(), "the white block is top-left"
        assert np.abs(rgb[:, -1, -1] - np.array(frame.rgb[-1, -1], dtype=int)).max() <= 6, "red, green, blue in that order"
        assert item["depth"][0, 0, 0].item() == pytest.approx(1.234) and item["depth"][0, -1, -1].item() == 0.0
        assert item["seg"][0, :3].tolist() == [36, 255, 0] and item["seg"][-1, -1].item() == 4


def test_the_official_split_decides_which_frames_fall_where_sorted_by_frame_path(tree):
    train, test, everything = (SUNRGBD(tree.root, split=split) for split in ("train", "test", "all"))
    assert (len(train), len(test), len(everything)) == (3, 2, 5)
    assert paths(train) == [NYU2, KV2_TRAIN, XTION]
    assert paths(test) == [NYU1, KV2_TEST]
    assert paths(everything) == [NYU1, NYU2, KV2_TEST, KV2_TRAIN, XTION]
    assert [everything[i]["scene"] for i in range(5)] == ["bedroom", "study", "classroom", "office", "hotel_room"]


@pytest.mark.parametrize("prefix", ["/data1/SUNRGBD/", "/mnt/xtion/kv2/SUNRGBD/", "D:\\sun\\SUNRGBD\\", ""])
def test_any_machine_prefix_and_the_split_files_own_order_leave_the_frames_and_their_order_alone(tree, prefix):
    write_split(tree.toolbox / "traintestSUNRGBD" / "allsplit.mat", [XTION, NYU2, KV2_TRAIN], [NYU1, KV2_TEST], prefix)
    assert paths(SUNRGBD(tree.root, split="train")) == [NYU2, KV2_TRAIN, XTION]
    assert paths(SUNRGBD(tree.root, split="test", labels=None)) == [NYU1, KV2_TEST]


def test_sensors_keep_only_their_frames(tree):
    assert paths(SUNRGBD(tree.root, split="all", sensors="kv2")) == [KV2_TEST, KV2_TRAIN]
    assert paths(SUNRGBD(tree.root, split="train", sensors=["xtion", "kv1"])) == [NYU2, XTION]
    shutil.rmtree(tree.root / "kv2")  # a frame absent under root matters only when its sensor is asked for
    assert paths(SUNRGBD(tree.root, split="all", sensors=("kv1",))) == [NYU1, NYU2]
    assert error_of(tree.root, sensors=["kv1", "kv3"]) == "unknown SUN RGB-D sensor 'kv3'; choose one of: kv1, kv2, realsense, xtion"


def test_sun37_labels_map_void_to_255_and_k_to_k_minus_1_on_the_frame_the_meta_file_names(tree):
    dataset = SUNRGBD(tree.root, split="all")
    assert dataset.ignore_index == 255 and len(dataset.class_names) == 37
    assert (dataset.class_names[0], dataset.class_names[1], dataset.class_names[36]) == ("wall", "floor", "bag")
    assert (dataset.class_names[19], dataset.class_names[27], dataset.class_names[31]) == ("floor_mat", "shower_curtain", "night_stand")
    for index in range(len(dataset)):
        stored = tree.frame(dataset.frames[index].path).seg.astype(np.int64)
        expected = np.where(stored == 0, 255, stored - 1)
        assert np.array_equal(dataset[index]["seg"].numpy(), expected), dataset.frames[index].path


def test_stored_label_ids_above_37_are_refused_when_read(tree):
    frames = {frame.path: frame for frame in tree.frames}
    labels = [frames[path].seg.copy() if path in frames else np.ones((5, 5), np.uint8) for path in tree.meta_order]
    labels[tree.meta_order.index(NYU1)][3, 3] = 38
    label_file = write_seg(tree.toolbox / "Metadata" / "SUNRGBD2Dseg.mat", labels)
    dataset = SUNRGBD(tree.root, split="test")
    with pytest.raises(InputError) as caught:
        dataset[0]
    assert str(caught.value) == f"label file {label_file}: image 3 (for {NYU1}) holds 1 values that are not class ids 0..37, e.g. np.uint8(38)"


def test_loader_workers_read_the_same_labels_after_the_parent_opened_the_label_file(tree):
    dataset = SUNRGBD(tree.root, split="all")
    direct = [dataset[i]["seg"] for i in range(len(dataset))]  # opens the label file in this process first
    loaded = list(DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context="fork"))
    assert [item["index"] for item in loaded] == list(range(5))
    assert all(torch.equal(item["seg"], seg) for item, seg in zip(loaded, direct))


def test_a_pickled_data_set_or_another_process_opens_the_label_file_anew(tree, monkeypatch):
    dataset = SUNRGBD(tree.root, split="test")
    first = dataset[1]["seg"]
    handle = dataset._labels._file
    copy = pickle.loads(pickle.dumps(dataset))  # what a spawned loader worker gets
    assert copy._labels._file is None and torch.equal(copy[1]["seg"], first)
    monkeypatch.setattr("crossmodal.data.sunrgbd.os.getpid", lambda: -7)  # as in a forked worker
    assert torch.equal(dataset[1]["seg"], first) and dataset._labels._file is not handle


def test_toolbox_files_anywhere_by_keyword(tree, tmp_path):
    moved = shutil.move(tree.toolbox, tmp_path / "elsewhere")
    assert "does not exist" in error_of(tree.root)
    assert paths(SUNRGBD(tree.root, split="test", toolbox=moved)) == [NYU1, KV2_TEST]
    files = {"split_file": moved / "traintestSUNRGBD" / "allsplit.mat", "meta_file": moved / "Metadata" / "SUNRGBDMeta.mat"}
    dataset = SUNRGBD(tree.root, split="test", labels_file=moved / "Metadata" / "SUNRGBD2Dseg.mat", **files)
    assert dataset[0]["seg"][0, :3].tolist() == [36, 255, 0]


def test_the_refined_depth_folder_is_read_when_asked_for(tree):
    folder = tree.root / NYU1 / "depth_bfx"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "NYU0001.png"), rotate_left3(np.full((8, 12), 2500)))
    assert SUNRGBD(tree.root, split="test", depth="depth_bfx", sensors="kv1")[0]["depth"].unique().tolist() == [2.5]
    assert SUNRGBD(tree.root, split="test", sensors="kv1")[0]["depth"][0, 0, 0].item() == pytest.approx(1.234)


def test_without_labels_there_is_no_seg_and_no_meta_or_label_file_is_read(tree):
    shutil.rmtree(tree.toolbox / "Metadata")
    item = SUNRGBD(tree.root, split="train", labels=None)[0]
    assert "seg" not in item and item["scene"] == "study"


def test_intrinsics_are_read_row_major(tree):
    dataset = SUNRGBD(tree.root, split="all", labels=None)
    by_path = {frame.path: dataset[i]["intrinsics"].numpy() for i, frame in enumerate(dataset.frames)}
    assert np.array_equal(by_path[KV2_TRAIN], np.array([[529.5, 0.0, 365.0], [0.0, 531.25, 265.0], [0.0, 0.0, 1.0]]))
    assert np.array_equal(by_path[NYU1], np.array([[518.857901, 0, 284.582449], [0, 519.469611, 208.736166], [0, 0, 1]]))
    assert np.array_equal(by_path[XTION], np.array([[570.342205, 0, 310], [0, 570.342205, 225], [0, 0, 1]]))


def test_scene_labels_index_the_19_protocol_scenes_and_are_minus_1_outside_them(tree):
    dataset = SUNRGBD(tree.root, split="all", labels=None)
    assert list(dataset.scene_classes) == SCENES_19
    # bedroom, study (a raw scene outside the 19), classroom, office, hotel_room (outside)
    assert dataset.scene_labels.tolist() == [1, -1, 2, 16, -1]
    assert [dataset[i]["scene_label"] for i in range(5)] == [1, -1, 2, 16, -1]


def test_the_label_file_fixture_is_what_matlab_would_read(tree):
    """mat73 reads SUNRGBD2Dseg(i).seglabel as H x W; scipy reads the meta paths: so the fixture is in MATLAB's layout."""
    seglabel = mat73.loadmat(str(tree.toolbox / "Metadata" / "SUNRGBD2Dseg.mat"))["SUNRGBD2Dseg"]["seglabel"]
    meta = scipy.io.loadmat(tree.toolbox / "Metadata" / "SUNRGBDMeta.mat")["SUNRGBDMeta"]
    assert len(seglabel) == meta.shape[1] == 6
    for i, path in enumerate(tree.meta_order[1:], start=1):
        assert np.array_equal(seglabel[i], tree.frame(path).seg)
        assert str(meta["rgbpath"][0, i][0]) == f"/n/fs/sun3d/data/SUNRGBD/{path}/image/{tree.frame(path).name}.jpg"


# --- bad input: one sentence naming the file and what is wrong ---------------------------------------------------------


def test_an_unknown_folder_directly_under_root(tree):
    (tree.root / "kinect").mkdir()
    (tree.root / "README.txt").write_text("files are not folders")
    assert error_of(tree.root) == f"SUN RGB-D folder {tree.root} holds kinect/, which is not a sensor folder (expected only kv1, kv2, realsense, xtion)"


def test_a_missing_or_unreadable_intrinsics_file(tree):
    (tree.root / NYU1 / "intrinsics.txt").unlink()
    (tree.root / KV2_TEST / "intrinsics.txt").write_text("529.5 0 365\n0 531.25 265\n0 0\n")
    (tree.root / KV2_TRAIN / "intrinsics.txt").write_text("fx 0 365\n0 fy 265\n0 0 1\n")
    (tree.root / XTION / "intrinsics.txt").write_bytes(b"\xff\xfe\x00")
    assert error_of(tree.root, split="all") == (
        f"SUN RGB-D folder {tree.root} has 4 unusable files: {NYU1}/intrinsics.txt is missing; "
        f"{KV2_TEST}/intrinsics.txt is unreadable: it holds 8 numbers, expected the 9 finite entries of a row-major 3x3 matrix; "
        f"{KV2_TRAIN}/intrinsics.txt is unreadable: it holds 'fx', which is not a number; "
        f"{XTION}/intrinsics.txt is unreadable (not a text file of numbers)"
    )


def test_a_split_file_naming_frames_absent_under_root(tree):
    split_file = tree.toolbox / "traintestSUNRGBD" / "allsplit.mat"
    shutil.rmtree(tree.root / NYU1)
    assert error_of(tree.root, split="test") == f"split file {split_file} names 1 frame folder absent under {tree.root}: {NYU1}"
    shutil.rmtree(tree.root / "kv2")
    shutil.rmtree(tree.root / NYU2)
    assert error_of(tree.root, split="all") == (
        f"split file {split_file} names 4 frame folders absent under {tree.root}: {NYU1}; {NYU2}; {KV2_TEST}; and 1 more"
    )


def test_split_entries_outside_any_sensor_folder(tree):
    split_file = tree.toolbox / "traintestSUNRGBD" / "allsplit.mat"
    write_split(split_file, [NYU2, "kv9/NYUdata/NYU0009"], [NYU1])
    assert error_of(tree.root) == (
        f"split file {split_file}: 1 'alltrain' entry names no sensor folder of SUN RGB-D: '{split_entry('kv9/NYUdata/NYU0009')}'"
    )
    write_split(split_file, [NYU2, NYU1], [NYU1])
    assert error_of(tree.root) == f"split file {split_file} lists 1 frame in both alltrain and alltest: {NYU1}"


@pytest.mark.parametrize("depth, found", [
    (np.full((8, 12), 100, np.uint8), "8-bit with 1 channel"),
    (np.full((8, 12, 3), 100, np.uint16), "16-bit with 3 channels"),
])
def test_a_depth_png_that_is_not_single_channel_16_bit(tree, depth, found):
    assert cv2.imwrite(str(tree.root / NYU1 / "depth" / "NYU0001.png"), depth)
    assert error_of(tree.root, split="test") == (
        f"SUN RGB-D folder {tree.root} has 1 unusable file: {NYU1}/depth/NYU0001.png must be a single-channel 16-bit PNG, got {found}"
    )


def test_truncated_image_and_depth_files(tree):
    for file in (tree.root / NYU1 / "image" / "NYU0001.jpg", tree.root / KV2_TEST / "depth" / "000002.png"):
        file.write_bytes(file.read_bytes()[:-40])
    assert error_of(tree.root, split="test") == (
        f"SUN RGB-D folder {tree.root} has 2 unusable files: {NYU1}/image/NYU0001.jpg ends early (truncated); "
        f"{KV2_TEST}/depth/000002.png ends early (truncated)"
    )
    with pytest.warns(UserWarning, match=r"2 files end early \(truncated\)"):
        assert len(SUNRGBD(tree.root, split="test", strict=False)) == 2


def test_truncated_split_and_label_files(tree):
    split_file = tree.toolbox / "traintestSUNRGBD" / "allsplit.mat"
    whole = split_file.read_bytes()
    split_file.write_bytes(whole[:200])
    assert error_of(tree.root) == f"split file {split_file} cannot be read as a MATLAB v5 .mat file (could not read bytes)"
    split_file.write_bytes(whole)
    label_file = tree.toolbox / "Metadata" / "SUNRGBD2Dseg.mat"
    label_file.write_bytes(label_file.read_bytes()[:2000])
    message = error_of(tree.root)  # the part in brackets is h5py's, whose numbers depend on the file's layout
    assert re.fullmatch(re.escape(f"label file {label_file} could not be opened as HDF5 (") + r"[^\n]*truncated file: eof = 1488, [^\n]*\)", message)


def test_image_and_depth_of_one_frame_in_different_sizes(tree):
    assert cv2.imwrite(str(tree.root / KV2_TEST / "depth" / "000002.png"), rotate_left3(np.full((6, 9), 1000)))
    assert error_of(tree.root, split="test") == (
        f"SUN RGB-D folder {tree.root} has 1 unusable file: {KV2_TEST}/image/000002.jpg is 6x10 but {KV2_TEST}/depth/000002.png is 6x9"
    )


def test_missing_toolbox_files_and_frame_files(tree):
    split_file = tree.toolbox / "traintestSUNRGBD" / "allsplit.mat"
    (tree.toolbox / "Metadata" / "SUNRGBDMeta.mat").unlink()
    assert error_of(tree.root) == f"meta file {tree.toolbox / 'Metadata' / 'SUNRGBDMeta.mat'} does not exist"
    split_file.unlink()
    assert error_of(tree.root, labels=None) == f"split file {split_file} does not exist"
    write_split(split_file, [NYU2], [NYU1])
    (tree.root / NYU2 / "scene.txt").unlink()
    shutil.copy(tree.root / NYU2 / "image" / "NYU0002.jpg", tree.root / NYU2 / "image" / "copy.jpg")
    shutil.rmtree(tree.root / NYU2 / "depth")
    assert error_of(tree.root, labels=None) == (
        f"SUN RGB-D folder {tree.root} has 3 unusable files: {NYU2}/scene.txt is missing; "
        f"{NYU2}/image/ holds 2 .jpg/.jpeg/.png files, expected one; {NYU2}/depth/ is missing"
    )


def test_label_and_meta_files_that_do_not_describe_the_frames(tree):
    meta_file, label_file = tree.toolbox / "Metadata" / "SUNRGBDMeta.mat", tree.toolbox / "Metadata" / "SUNRGBD2Dseg.mat"
    frames = {frame.path: frame for frame in tree.frames}
    labels = [frames[path].seg if path in frames else np.ones((5, 5), np.uint8) for path in tree.meta_order]
    write_seg(label_file, labels[:-1])
    assert error_of(tree.root) == f"label file {label_file} holds 5 label images but meta file {meta_file} describes 6 frames"
    labels[tree.meta_order.index(KV2_TEST)] = np.zeros((10, 6), np.uint8)  # H and W swapped
    write_seg(label_file, labels)
    assert error_of(tree.root, split="test") == (
        f"label file {label_file} has 1 label image that does not fit its frame: image 2 (for {KV2_TEST}) is 10x6 uint8, expected 6x10 numbers"
    )
    write_meta(meta_file, [(path, "x") for path in tree.meta_order if path not in (NYU1, NYU2)])
    write_seg(label_file, labels[:4])
    assert error_of(tree.root, split="all") == (
        f"meta file {meta_file} has no entry, so no label image, for 2 frames of the split: {NYU1}; {NYU2}"
    )
