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
