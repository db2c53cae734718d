"""Every way an NYU file or cache can be wrong gets its own exact sentence, naming the file and the defect.

Each damaged file differs from a good one in one respect only, so a check that tests the wrong
condition (``and`` for ``or``, the wrong key or kind) lets one of them through or says the wrong thing.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from crossmodal.data.nyu import NYUDepthV2, split_indices
from crossmodal.data.nyu_cache import prepare_nyu_cache
from crossmodal.errors import InputError
from tests.nyu_files import random_frames, write_nyu_mat
from tests.test_nyu import _write_hdf5

N, W, H = 2, 4, 3


def _group_instead_of(key: str):
    def damage(file: h5py.File) -> None:
        del file[key]
        file.create_group(key)
    return damage


MAT_CASES = {
    "images of three axes": ({"images": np.zeros((N, 3, W), np.uint8)},
                             "'images' is (2, 3, 4) uint8, expected uint8 of shape N x 3 x W x H"),
    "labels as floats": ({"labels": np.zeros((N, W, H), np.float32)},
                         "'labels' is (2, 4, 3) float32, expected integer values of shape (2, 4, 3)"),
    "labels of another shape": ({"labels": np.zeros((N, W, 2), np.uint16)},
                                "'labels' is (2, 4, 2) uint16, expected integer values of shape (2, 4, 3)"),
    "float raw depth of another shape": ({"rawDepths": np.zeros((N, W, 2), np.float32)},
                                         "'rawDepths' is (2, 4, 2) float32, expected floating values of shape (2, 4, 3)"),
    "images missing": ({"images": None}, "lacks 'images', so it is not the NYU-Depth V2 labeled .mat"),
}


@pytest.mark.parametrize("case", MAT_CASES)
def test_a_mat_file_wrong_in_one_respect_is_one_exact_sentence(tmp_path, case):
    overrides, message = MAT_CASES[case]
    path = _write_hdf5(tmp_path / "bad.mat", **overrides)
    with pytest.raises(InputError) as caught:
        NYUDepthV2(path)
    text = str(caught.value)
    assert text.startswith(str(path)) and text.endswith(message), text


@pytest.fixture
def good_mat(tmp_path) -> Path:
    return write_nyu_mat(tmp_path / "good.mat", random_frames(N, H, W, seed=3))


def test_the_scene_cell_array_must_have_one_entry_per_frame(tmp_path):
    path = write_nyu_mat(tmp_path / "good.mat", random_frames(N, H, W, seed=3))
    with h5py.File(path, "r+") as file:
        refs = file["sceneTypes"][()]
        del file["sceneTypes"]
        file["sceneTypes"] = refs[:, :1]
    with pytest.raises(InputError, match=rf"^{path}: 'sceneTypes' has 1 entries for 2 frames$"):
        NYUDepthV2(path)


def test_a_group_where_a_dataset_belongs_is_named(good_mat):
    with h5py.File(good_mat, "r+") as file:
        _group_instead_of("images")(file)
    with pytest.raises(InputError, match=rf"^{good_mat}: 'images' is an HDF5 group, not a dataset$"):
        NYUDepthV2(good_mat)


def _cache(good: Path, tmp: Path) -> Path:
    out = tmp / "cache"
    prepare_nyu_cache(good, out, size=None, progress=False)
    return out


def _rewrite(file: h5py.File, key: str, value: np.ndarray) -> None:
    del file[key]
    file[key] = value


CACHE_CASES = {
    "rgb of two channels": (lambda f: _rewrite(f, "rgb", np.zeros((N, H, W, 2), np.uint8)),
                            "'rgb' is (2, 3, 4, 2) uint8, expected uint8 of shape 2 x H x W x 3"),
    "rgb of three axes": (lambda f: _rewrite(f, "rgb", np.zeros((N, H, W), np.uint8)),
                          "'rgb' is (2, 3, 4) uint8, expected uint8 of shape 2 x H x W x 3"),
    "rgb as floats": (lambda f: _rewrite(f, "rgb", np.zeros((N, H, W, 3), np.float32)),
                      "'rgb' is (2, 3, 4, 3) float32, expected uint8 of shape 2 x H x W x 3"),
    "rgb of another count": (lambda f: _rewrite(f, "rgb", np.zeros((N + 1, H, W, 3), np.uint8)),
                             "'rgb' is (3, 3, 4, 3) uint8, expected uint8 of shape 2 x H x W x 3"),
    "integer depth": (lambda f: _rewrite(f, "depths", np.zeros((N, H, W), np.uint16)),
                      "'depths' is (2, 3, 4) uint16, expected floating values of shape (2, 3, 4)"),
    "float labels": (lambda f: _rewrite(f, "labels", np.zeros((N, H, W), np.float32)),
                     "'labels' is (2, 3, 4) float32, expected integer values of shape (2, 3, 4)"),
    "a scene too few": (lambda f: _rewrite(f, "scenes", np.array(["kitchen"], dtype=h5py.string_dtype())),
                        "'scenes' has 1 entries for 2 frames"),
    "scenes a group": (_group_instead_of("scenes"), "'scenes' is an HDF5 group, not a dataset"),
    "no labels": (lambda f: f.__delitem__("labels"), "lacks 'labels', so it is not an NYU cache"),
}


@pytest.mark.parametrize("case", CACHE_CASES)
def test_a_cache_wrong_in_one_respect_is_one_exact_sentence(good_mat, tmp_path, case):
    damage, message = CACHE_CASES[case]
    cache = _cache(good_mat, tmp_path)
    NYUDepthV2(cache)  # intact, it opens
    with h5py.File(cache / "frames.h5", "r+") as file:
        damage(file)
    with pytest.raises(InputError) as caught:
        NYUDepthV2(cache)
    text = str(caught.value)
    assert text.startswith(str(cache / "frames.h5")) and text.endswith(message), text


@pytest.mark.parametrize("meta, message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "does not describe a version 1 NYU cache; prepare it again"),
    ('{"format": "crossmodal-nyu-cache", "version": 2, "count": 2}', "does not describe a version 1 NYU cache; prepare it again"),
    ('{"format": "another-cache", "version": 1, "count": 2}', "does not describe a version 1 NYU cache; prepare it again"),
])
def test_a_cache_description_of_another_kind_is_refused(good_mat, tmp_path, meta, message):
    cache = _cache(good_mat, tmp_path)
    described = json.loads((cache / "meta.json").read_text())
    assert (described["format"], described["version"]) == ("crossmodal-nyu-cache", 1)
    (cache / "meta.json").write_text(meta)
    with pytest.raises(InputError, match=rf"^{cache / 'meta.json'} {message}$"):
        NYUDepthV2(cache)


def test_a_cache_directory_without_its_description_says_how_to_make_one(tmp_path):
    with pytest.raises(InputError, match=rf"^{tmp_path} is not a complete NYU cache \(no meta.json; make one with crossmodal-prepare nyu\)$"):
        NYUDepthV2(tmp_path)


def test_paths_that_are_no_file_say_which_is_the_case(tmp_path):
    with pytest.raises(InputError, match=rf"^{tmp_path / 'absent.mat'} does not exist$"):
        NYUDepthV2(tmp_path / "absent.mat")
    fifo = tmp_path / "pipe.mat"
    import os

    os.mkfifo(fifo)
    with pytest.raises(InputError, match=rf"^{fifo} is not a file$"):
        NYUDepthV2(fifo)


@pytest.mark.parametrize("options, message", [
    ({"split": "val"}, "unknown NYU split 'val'; choose one of: train, test, all"),
    ({"labels": "nyu37"}, "unknown NYU label set 'nyu37'; choose one of: nyu40, nyu13, raw"),
    ({"depth": "raw"}, "unknown NYU depth 'raw'; choose one of: depths, rawDepths"),
])
def test_unknown_options_are_named_with_their_choices(good_mat, options, message):
    with pytest.raises(InputError, match=f"^{message}$"):
        NYUDepthV2(good_mat, **options)
    if "split" in options:
        with pytest.raises(InputError, match=f"^{message}$"):
            split_indices(10, options["split"])


def test_label_ids_are_checked_per_frame_and_a_frame_of_one_class_is_fine(tmp_path):
    frames = random_frames(2, H, W, seed=1)
    frames[0].labels[:] = 7  # one class only: min == max is allowed
    frames[1].labels[0, 0] = 895
    path = write_nyu_mat(tmp_path / "ids.mat", frames)
    data = NYUDepthV2(path, split="all", labels="raw")
    assert (data[0]["seg"] == 7).all()
    with pytest.raises(InputError, match=rf"^{path}: frame 1 has label ids outside 0\.\.894$"):
        data[1]
    with pytest.raises(IndexError, match="^index 2 is out of range for 2 frames$"):
        data[2]
    with pytest.raises(IndexError, match="^index -1 is out of range for 2 frames$"):
        data[-1]


def test_raw_labels_keep_every_id_and_name_unlabeled_zero(good_mat):
    data = NYUDepthV2(good_mat, split="all", labels="raw")
    assert data.class_names[0] == "unlabeled" and len(data.class_names) == 895
    assert data.ignore_index == 0


def test_a_damaged_frame_names_the_file_and_the_frame(good_mat, tmp_path):
    copy = tmp_path / "copy.mat"
    shutil.copy(good_mat, copy)
    data = NYUDepthV2(copy, split="all")
    data.frames._file["labels"]  # opened lazily before the damage

    def fail(*args, **kwargs):
        raise OSError("Can't read data (wrong B-tree signature)\nsecond line")

    data.frames.read_labels = fail
    with pytest.raises(InputError, match=rf"^{copy} is damaged: reading frame 1 failed \(Can't read data \(wrong B-tree signature\)\)$"):
        data[1]


def test_more_mat_defects_each_in_its_own_words(tmp_path):
    cases = {
        "two missing": ({"labels": None, "sceneTypes": None}, "lacks 'labels', 'sceneTypes', so it is not the NYU-Depth V2 labeled .mat"),
        "two channels": ({"images": np.zeros((N, 2, W, H), np.uint8)}, "'images' is (2, 2, 4, 3) uint8, expected uint8 of shape N x 3 x W x H"),
    }
    for case, (overrides, message) in cases.items():
        path = _write_hdf5(tmp_path / f"{case}.mat", **overrides)
        with pytest.raises(InputError) as caught:
            NYUDepthV2(path)
        assert str(caught.value) == f"{path}{'' if message.startswith('lacks') else ':'} {message}".replace(": lacks", " lacks"), case


@pytest.mark.parametrize("key", ["depths", "labels"])
def test_a_plane_that_is_a_group_is_named(good_mat, key):
    with h5py.File(good_mat, "r+") as file:
        _group_instead_of(key)(file)
    with pytest.raises(InputError, match=rf"^{good_mat}: '{key}' is an HDF5 group, not a dataset$"):
        NYUDepthV2(good_mat)


def test_a_cache_whose_rgb_is_a_group_is_named(good_mat, tmp_path):
    cache = _cache(good_mat, tmp_path)
    with h5py.File(cache / "frames.h5", "r+") as file:
        _group_instead_of("rgb")(file)
    with pytest.raises(InputError, match=rf"^{cache / 'frames.h5'}: 'rgb' is an HDF5 group, not a dataset$"):
        NYUDepthV2(cache)


def test_damage_met_while_reading_the_layout_names_the_file(good_mat, tmp_path, monkeypatch):
    import crossmodal.data.nyu as nyu

    cache = _cache(good_mat, tmp_path)

    def damaged(file, key, path):
        raise OSError("Can't read data (bad local heap signature)")

    monkeypatch.setattr(nyu, "_dataset", damaged)
    for path, opened in ((good_mat, good_mat), (cache / "frames.h5", cache)):
        with pytest.raises(InputError, match=rf"^{path} is damaged: reading its layout failed \(Can't read data \(bad local heap signature\)\)$"):
            NYUDepthV2(opened)


def test_the_file_handle_is_kept_within_a_process_and_reopened_in_another(tmp_path):
    import pickle

    from crossmodal.data.nyu import LazyHDF5

    file = tmp_path / "f.h5"
    with h5py.File(file, "w") as h5:
        h5["x"] = np.arange(3)
    lazy = LazyHDF5(file)
    first = lazy["x"]
    assert lazy["x"] is first, "the same dataset object within one process"
    handle = lazy._handle
    lazy._pid = -5  # as seen from a forked worker: the handle belongs to another process
    assert lazy["x"] is not first and lazy._handle is not handle
    copy = pickle.loads(pickle.dumps(lazy))  # spawned workers receive a pickled copy without the handle
    assert copy.path == file and copy._handle is None and copy["x"][()].tolist() == [0, 1, 2]
    lazy._handle.close()
    copy._handle.close()
