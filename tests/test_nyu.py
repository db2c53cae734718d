"""NYU-Depth V2 data layer: the .mat layout, orientation, label maps, splits, scenes, cache, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from crossmodal.data.nyu import NYUDepthV2, split_indices
from crossmodal.data.nyu_cache import prepare_nyu_cache
from crossmodal.data.nyu_meta import load_meta
from crossmodal.data.resize import parse_size, resize_depth, resize_labels, resize_rgb
from crossmodal.errors import InputError
from tests.nyu_files import random_frames, write_nyu_mat

HEIGHT, WIDTH = 12, 16


@pytest.fixture(scope="module")
def frames():
    frames = random_frames(10, HEIGHT, WIDTH)
    frames[0].rgb[:] = 0
    frames[0].rgb[0, :2] = 255  # bright mark at the top-left, two pixels wide, one tall
    frames[1].depth[0, 0] = np.nan
    frames[1].depth[0, 1] = np.inf
    frames[1].depth[0, 2] = -1.0
    frames[1].raw_depth[1, 0] = np.nan
    return frames


@pytest.fixture(scope="module")
def mat_path(tmp_path_factory, frames) -> Path:
    return write_nyu_mat(tmp_path_factory.mktemp("nyu") / "nyu_depth_v2_labeled.mat", frames)


def _raw_id(name: str) -> int:
    return load_meta().raw_class_names.index(name) + 1


def _assert_items_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def test_written_file_has_matlab_user_block_and_reversed_axes(mat_path):
    header = mat_path.read_bytes()[:512]
    assert header.startswith(b"MATLAB 7.3 MAT-file")
    assert header[124:128] == b"\x00\x02IM"
    with h5py.File(mat_path, "r") as file:
        assert file.userblock_size == 512
        assert file["images"].shape == (10, 3, WIDTH, HEIGHT)
        assert file["depths"].shape == file["rawDepths"].shape == file["labels"].shape == (10, WIDTH, HEIGHT)


def test_items_come_back_in_natural_orientation(mat_path, frames):
    dataset = NYUDepthV2(mat_path, split="all", labels="raw", depth="rawDepths")
    item = dataset[0]
    assert item["rgb"].shape == (3, HEIGHT, WIDTH) and item["rgb"].dtype == torch.uint8
    assert item["rgb"][:, 0, :2].eq(255).all() and item["rgb"][:, 1:, :].eq(0).all()
    assert item["rgb"][:, 0, 2:].eq(0).all()
    for i in (0, 2, 9):
        item = dataset[i]
        assert torch.equal(item["rgb"], torch.from_numpy(frames[i].rgb.transpose(2, 0, 1)))
        assert torch.equal(item["depth"][0], torch.from_numpy(frames[i].raw_depth))
        assert torch.equal(item["seg"], torch.from_numpy(frames[i].labels.astype(np.int64)))
        assert item["depth"].shape == (1, HEIGHT, WIDTH) and item["depth"].dtype == torch.float32
        assert item["seg"].dtype == torch.int64


@pytest.mark.parametrize(
    ("raw_name", "nyu40_name", "nyu13_name"),
    [
        ("bed", "bed", "bed"),
        ("wall", "wall", "wall"),
        ("ceiling", "ceiling", "ceiling"),
        ("floor", "floor", "floor"),
        ("books", "books", "books"),
        ("book", "otherprop", "objects"),  # Gupta et al.'s map sends the singular 'book' to otherprop
        ("chair", "chair", "chair"),
    ],
)
def test_label_maps_follow_named_classes(raw_name, nyu40_name, nyu13_name):
    meta = load_meta()
    raw = _raw_id(raw_name)
    assert meta.nyu40_class_names[meta.raw_to_nyu40[raw]] == nyu40_name
    assert meta.nyu13_class_names[meta.raw_to_nyu13[raw]] == nyu13_name


def test_label_maps_cover_every_raw_id_and_ignore_unlabeled():
    meta = load_meta()
    assert meta.raw_to_nyu40.shape == meta.raw_to_nyu13.shape == (895,)
    assert meta.raw_to_nyu40[0] == meta.raw_to_nyu13[0] == 255
    assert set(meta.raw_to_nyu40[1:]) == set(range(40))
    assert set(meta.raw_to_nyu13[1:]) == set(range(13))


def test_dataset_maps_labels_through_the_chosen_set(tmp_path):
    frame = random_frames(1, 2, 3)[0]
    frame.labels[:] = [[_raw_id("bed"), _raw_id("wall"), 0], [_raw_id("books"), _raw_id("book"), _raw_id("ceiling")]]
    path = write_nyu_mat(tmp_path / "one.mat", [frame])
    nyu40 = NYUDepthV2(path, split="all", labels="nyu40")
    names40 = [[nyu40.class_names[v] if v != 255 else None for v in row] for row in nyu40[0]["seg"].tolist()]
    assert names40 == [["bed", "wall", None], ["books", "otherprop", "ceiling"]]
    nyu13 = NYUDepthV2(path, split="all", labels="nyu13")
    names13 = [[nyu13.class_names[v] if v != 255 else None for v in row] for row in nyu13[0]["seg"].tolist()]
    assert names13 == [["bed", "wall", None], ["books", "objects", "ceiling"]]
    assert (nyu40.num_classes, nyu13.num_classes) == (40, 13)
    raw = NYUDepthV2(path, split="all", labels="raw")
    assert raw.class_names[int(raw[0]["seg"][0, 0])] == "bed" and raw.ignore_index == 0


def test_official_split_on_a_1449_frame_file(tmp_path):
    path = write_nyu_mat(tmp_path / "full.mat", random_frames(1449, 2, 3))
    train, test = NYUDepthV2(path, split="train"), NYUDepthV2(path, split="test")
    assert (len(train), len(test), len(NYUDepthV2(path, split="all"))) == (795, 654, 1449)
    meta = load_meta()
    assert np.array_equal(train.frame_indices, np.sort(meta.train_indices))
    assert np.array_equal(test.frame_indices, np.sort(meta.test_indices))
    assert 0 in test.frame_indices and 2 in train.frame_indices  # splits.mat: frames 1, 2 test; 3 train
    last = test[len(test) - 1]
    assert last["index"] == 653 and last["scene"] == meta.scene_types[int(test.frame_indices[-1]) % 27]


@pytest.mark.parametrize("num_frames", [1, 10, 37, 1450])
def test_other_lengths_split_evenly_with_the_official_test_fraction(num_frames):
    train, test = split_indices(num_frames, "train"), split_indices(num_frames, "test")
    assert len(test) == num_frames * 654 // 1449
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(num_frames))
    assert np.array_equal(split_indices(num_frames, "test"), test)


def test_scene_strings_and_ten_class_fold_in(tmp_path):
    scenes = ["kitchen", "basement", "bedroom", "office_kitchen", "home_office", "study"]
    frames = random_frames(len(scenes), 2, 3)
    for frame, scene in zip(frames, scenes):
        frame.scene = scene
    dataset = NYUDepthV2(write_nyu_mat(tmp_path / "scenes.mat", frames), split="all")
    assert dataset.num_scene_classes == 10 and dataset.scene_classes[-1] == "others"
    named = [(dataset[i]["scene"], dataset.scene_classes[dataset[i]["scene_label"]]) for i in range(len(scenes))]
    assert named == [
        ("kitchen", "kitchen"),
        ("basement", "others"),
        ("bedroom", "bedroom"),
        ("office_kitchen", "others"),
        ("home_office", "home_office"),
        ("study", "others"),
    ]


def test_nan_inf_and_negative_depth_become_missing(mat_path, tmp_path):
    for depth in ("depths", "rawDepths"):
        item = NYUDepthV2(mat_path, split="all", depth=depth)[1]
        assert torch.isfinite(item["depth"]).all() and (item["depth"] >= 0).all()
    depth = NYUDepthV2(mat_path, split="all")[1]["depth"][0]
    assert depth[0, :3].tolist() == [0.0, 0.0, 0.0] and depth[0, 3] > 0
    assert NYUDepthV2(mat_path, split="all", depth="rawDepths")[1]["depth"][0, 1, 0] == 0
    cached = NYUDepthV2(prepare_nyu_cache(mat_path, tmp_path / "cache", size=(5, 7), progress=False), split="all")
    assert all(torch.isfinite(cached[i]["depth"]).all() for i in range(len(cached)))


@pytest.mark.parametrize("labels", ["raw", "nyu40"])
@pytest.mark.parametrize("depth", ["depths", "rawDepths"])
def test_full_size_cache_items_equal_mat_items(mat_path, tmp_path, labels, depth):
    cache = prepare_nyu_cache(mat_path, tmp_path / "cache", size=None, progress=False)
    for split in ("train", "test"):
        from_mat = NYUDepthV2(mat_path, split=split, labels=labels, depth=depth)
        from_cache = NYUDepthV2(cache, split=split, labels=labels, depth=depth)
        assert len(from_mat) == len(from_cache) > 0
        for i in range(len(from_mat)):
            _assert_items_equal(from_mat[i], from_cache[i])


def test_reduced_cache_items_equal_resized_mat_items(mat_path, tmp_path):
    size = (5, 7)
    cache = prepare_nyu_cache(mat_path, tmp_path / "cache", size=size, progress=False)
    for depth in ("depths", "rawDepths"):
        from_mat = NYUDepthV2(mat_path, split="all", labels="nyu13", depth=depth)
        from_cache = NYUDepthV2(cache, split="all", labels="nyu13", depth=depth)
        for i in range(len(from_mat)):
            mat, cached = from_mat[i], from_cache[i]
            rgb = resize_rgb(np.ascontiguousarray(mat["rgb"].numpy().transpose(1, 2, 0)), size)
            assert torch.equal(cached["rgb"], torch.from_numpy(rgb.transpose(2, 0, 1)))
            assert torch.equal(cached["depth"][0], torch.from_numpy(resize_depth(mat["depth"][0].numpy(), size)))
            assert torch.equal(cached["seg"], torch.from_numpy(resize_labels(mat["seg"].numpy(), size)))
            assert (cached["scene"], cached["scene_label"], cached["index"]) == (mat["scene"], mat["scene_label"], i)


def test_cache_meta_and_rewrite_leave_no_temporary_files(mat_path, tmp_path):
    out = tmp_path / "cache"
    prepare_nyu_cache(mat_path, out, size=(6, 8), progress=False)
    assert prepare_nyu_cache(mat_path, out, size=(3, 4), progress=False) == out
    meta = json.loads((out / "meta.json").read_text())
    assert meta["size"] == [3, 4] and meta["source_size"] == [HEIGHT, WIDTH] and meta["count"] == 10
    assert meta["source"] == str(mat_path.resolve())
    assert sorted(p.name for p in out.iterdir()) == ["frames.h5", "meta.json"]
    assert NYUDepthV2(out, split="all")[0]["rgb"].shape == (3, 3, 4)


def test_failed_prepare_keeps_the_previous_cache(mat_path, tmp_path):
    out = prepare_nyu_cache(mat_path, tmp_path / "cache", size=(3, 4), progress=False)
    frame = random_frames(1, HEIGHT, WIDTH)[0]
    frame.labels[0, 0] = 900
    with pytest.raises(InputError, match="bad_ids.mat"):
        prepare_nyu_cache(write_nyu_mat(tmp_path / "bad_ids.mat", [frame]), out, size=(3, 4), progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["frames.h5", "meta.json"]
    assert len(NYUDepthV2(out, split="all")) == 10


def test_dataloader_workers_reopen_the_file_after_fork(mat_path):
    dataset = NYUDepthV2(mat_path, split="all")
    first = dataset[0]  # opens the file in this process before workers fork
    loader = DataLoader(dataset, batch_size=5, num_workers=2, multiprocessing_context="fork")
    batches = list(loader)
    assert torch.equal(batches[0]["rgb"][0], first["rgb"])
    assert torch.cat([batch["index"] for batch in batches]).tolist() == list(range(10))


def _write_hdf5(path: Path, **overrides: np.ndarray | None) -> Path:
    """A 2-frame file with the .mat keys (plain arrays) where ``overrides`` replace or drop keys."""
    n, w, h = 2, 4, 3
    plane = np.zeros((n, w, h), np.float32)
    arrays = {
        "images": np.zeros((n, 3, w, h), np.uint8),
        "depths": plane,
        "rawDepths": plane,
        "labels": np.zeros((n, w, h), np.uint16),
        "sceneTypes": np.zeros(n),
        **overrides,
    }
    with h5py.File(path, "w") as file:
        for key, value in arrays.items():
            if value is not None:
                file[key] = value
    return path


def _bad_files(tmp: Path, good: Path) -> dict[str, Path]:
    (tmp / "text.mat").write_text("not a MATLAB file\n")
    truncated = tmp / "truncated.mat"
    truncated.write_bytes(good.read_bytes()[:2048])
    return {
        "missing": tmp / "absent.mat",
        "not hdf5": tmp / "text.mat",
        "truncated": truncated,
        "missing keys": _write_hdf5(tmp / "keys.mat", labels=None, sceneTypes=None),
        "float images": _write_hdf5(tmp / "float.mat", images=np.zeros((2, 3, 4, 3), np.float32)),
        "two channels": _write_hdf5(tmp / "gray.mat", images=np.zeros((2, 2, 4, 3), np.uint8)),
        "depth shape": _write_hdf5(tmp / "shape.mat", depths=np.zeros((2, 4, 2), np.float32)),
        "integer depth": _write_hdf5(tmp / "intdepth.mat", rawDepths=np.zeros((2, 4, 3), np.uint16)),
        "scenes not a cell": _write_hdf5(tmp / "cells.mat"),
        "cache without meta": (tmp / "empty_cache").resolve(),
    }


def test_bad_files_raise_input_error_naming_the_file(mat_path, tmp_path):
    (tmp_path / "empty_cache").mkdir()
    for problem, path in _bad_files(tmp_path, mat_path).items():
        with pytest.raises(InputError) as caught:
            NYUDepthV2(path)
        assert str(path) in str(caught.value), problem
        with pytest.raises(InputError) as caught:
            prepare_nyu_cache(path, tmp_path / "out", progress=False)
        assert str(path) in str(caught.value), problem


def test_out_of_range_label_ids_raise_input_error(tmp_path):
    frame = random_frames(1, 2, 3)[0]
    frame.labels[0, 0] = 895
    path = write_nyu_mat(tmp_path / "ids.mat", [frame])
    with pytest.raises(InputError, match="ids.mat"):
        NYUDepthV2(path, split="all")[0]


@pytest.mark.parametrize(
    ("options", "named"), [({"split": "val"}, "'val'"), ({"labels": "nyu37"}, "'nyu37'"), ({"depth": "raw"}, "'raw'")]
)
def test_unknown_options_raise_input_error(mat_path, options, named):
    with pytest.raises(InputError, match=named):
        NYUDepthV2(mat_path, **options)


def test_parse_size():
    assert parse_size("240x320") == (240, 320) and parse_size("full") is None
    for bad in ("240", "0x320", "axb", "240x320x3"):
        with pytest.raises(InputError, match=bad):
            parse_size(bad)
