"""MATLAB v7.3 files the project writes (the NYU layout, the embedded rooms), read back by an independent reader (mat73).

The project's own reader could share a mistake with its writer (an axis order, a string
encoding); mat73 reads the files as MATLAB's loader would, in MATLAB's orientation
(H x W x 3 x N images, H x W x N planes, cell arrays of strings as nested lists).
"""
from __future__ import annotations

import mat73
import numpy as np

from crossmodal.config import RoomsConfig
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.synthetic.rooms import generate_rooms
from tests.nyu_files import random_frames, write_nyu_mat


def test_the_nyu_writer_agrees_with_an_independent_matlab_reader(tmp_path):
    frames = random_frames(3, 12, 16, seed=4)
    data = mat73.loadmat(str(write_nyu_mat(tmp_path / "nyu.mat", frames)))
    assert data["images"].shape == (12, 16, 3, 3) and data["depths"].shape == (12, 16, 3)
    for k, frame in enumerate(frames):
        assert np.array_equal(data["images"][..., k], frame.rgb)
        assert np.array_equal(data["depths"][..., k], frame.depth.astype(np.float32), equal_nan=True)
        assert np.array_equal(data["rawDepths"][..., k], frame.raw_depth.astype(np.float32), equal_nan=True)
        assert np.array_equal(data["labels"][..., k], frame.labels)
        assert data["sceneTypes"][k] == [frame.scene]


def test_the_embedded_rooms_read_the_same_by_mat73_and_by_the_loader(tmp_path):
    path = generate_rooms(tmp_path / "rooms.mat", RoomsConfig(num=3, size=(24, 32), seed=1), progress=False, workers=1)
    data = mat73.loadmat(str(path))
    frames = NYUDepthV2(path, split="all", labels="raw")
    assert len(frames) == data["images"].shape[-1] == 3
    for k in range(3):
        item = frames[k]
        assert np.array_equal(item["rgb"].numpy().transpose(1, 2, 0), data["images"][..., k])
        assert np.array_equal(item["seg"].numpy(), data["labels"][..., k]), "the raw label set keeps the stored ids (0 = unlabelled)"
        depth = np.nan_to_num(data["depths"][..., k], nan=0.0)
        assert np.allclose(item["depth"].numpy()[0], np.where(depth > 0, depth, 0.0))
        assert item["scene"] == data["sceneTypes"][k][0]


def test_the_written_file_has_matlabs_header_classes_chunks_and_string_cells(tmp_path):
    import re

    import h5py
    import pytest

    from crossmodal.data.matlab import NYUMatWriter, read_cell_strings

    frames = random_frames(2, 6, 8, seed=5)
    path = write_nyu_mat(tmp_path / "nyu.mat", frames, names=["wall", "", "floor"])
    header = path.read_bytes()[:512]
    text = header[:116].decode("ascii")
    assert re.fullmatch(r"MATLAB 7\.3 MAT-file, Platform: GLNXA64, Created on: [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-3]\d "
                        r"\d{2}:\d{2}:\d{2} \d{4} HDF5 schema 1\.00 \. *", text), text
    assert header[116:124] == b"\x00" * 8 and header[124:128] == b"\x00\x02IM" and header[128:] == b"\x00" * 384
    with h5py.File(path, "r") as file:
        assert file.libver[0] == "earliest"
        classes = {key: file[key].attrs["MATLAB_class"] for key in ("images", "depths", "rawDepths", "labels", "names", "sceneTypes")}
        assert classes == {"images": b"uint8", "depths": b"single", "rawDepths": b"single", "labels": b"uint16",
                           "names": b"cell", "sceneTypes": b"cell"}
        assert file["images"].chunks == (1, 1, 8, 6)
        assert file["depths"].chunks == file["rawDepths"].chunks == file["labels"].chunks == (1, 8, 6)
        assert file["depths"].dtype == np.float32 and file["labels"].dtype == np.uint16
        wall = file[file["names"][0, 0]]
        assert wall.dtype == np.uint16 and wall.shape == (4, 1) and wall.attrs["MATLAB_class"] == b"char"
        empty = file[file["names"][0, 1]]
        assert empty.shape == (0, 0) and empty.dtype == np.uint16
        assert read_cell_strings(file, "names") == ["wall", "", "floor"]
    names = mat73.loadmat(str(path))["names"]
    assert names == [["wall"], [""], ["floor"]], "mat73 reads the empty string as MATLAB's empty char array"

    writer = NYUMatWriter(tmp_path / "partial.mat", 8, 6, 8, ["wall"])
    writer.write(3, frames[0].rgb, frames[0].depth, frames[0].raw_depth, frames[0].labels, "kitchen")
    with pytest.raises(ValueError, match=r"partial\.mat: frames \[0, 1, 2, 4, 5\] were never written$"):
        writer.close()
