"""data.depth_encoding: hha: computed once into each cache (NYU layout, NYU raw, SUN RGB-D, the embedded rooms),
read by the paired transform as a 3-channel target, never computed per step."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from crossmodal.cli.prepare import main as prepare_main
from crossmodal.config import DataConfig
from crossmodal.data.hha import hha_at_size, scaled_intrinsics
from crossmodal.data.nyu import NYUDepthV2, nyu_camera
from crossmodal.data.transforms import HHA, PairedTransform
from crossmodal.errors import InputError
from crossmodal.modalities.base import MODALITIES
from tests.nyu_files import random_frames, write_nyu_mat


def _item(size=(24, 32)):
    rgb = torch.zeros(3, *size, dtype=torch.uint8)
    rgb[:, :, : size[1] // 2] = 200  # left half bright, in both the colour image and the HHA planes
    return {"rgb": rgb, "depth": torch.full((1, *size), 2.0), "hha": rgb.clone(), "index": 0}


def test_the_transform_takes_hha_as_three_planes_cropped_and_flipped_with_the_rgb():
    item = _item()
    evaluation = PairedTransform(size=(12, 16), train=False, depth_encoding=HHA)(item)
    assert evaluation["target"].shape == (3, 12, 16) and evaluation["target"].dtype == torch.float32
    assert torch.allclose(evaluation["target"][:, :, 0], torch.full((3, 12), 200 / 255)) and evaluation["target"][:, :, -1].max() == 0
    torch.manual_seed(0)
    for _ in range(5):  # whatever crop and flip are drawn, bright target pixels are where the RGB is bright
        sample = PairedTransform(size=(12, 16), train=True, color_jitter=0.0, depth_encoding=HHA)(_item())
        assert torch.equal(sample["target"][0] > 0.5, sample["source"][0] > 0)
    with pytest.raises(InputError, match="has no HHA encoding; depth_encoding hha reads it from a cache prepared with --hha"):
        PairedTransform(size=(12, 16), depth_encoding=HHA)({key: value for key, value in _item().items() if key != "hha"})


def test_hha_students_take_three_channels():
    depth = MODALITIES.get("depth")
    assert depth.channels(DataConfig(depth_encoding=HHA)) == 3 and depth.channels(DataConfig()) == 1


def test_scaled_intrinsics_keep_pixel_centres_aligned():
    k = np.array([[500.0, 0, 320.5], [0, 400.0, 240.5], [0, 0, 1]])  # the 1-based centre of 640 x 480
    half = scaled_intrinsics(k, (480, 640), (240, 320))
    assert half.tolist() == [[250.0, 0.0, 160.5], [0.0, 200.0, 120.5], [0.0, 0.0, 1.0]]
    assert np.allclose(nyu_camera(480, 640)[0], [518.857901, 0.0, 325.582449])


def test_an_nyu_cache_prepared_with_hha_carries_it(tmp_path):
    mat = tmp_path / "nyu.mat"
    frames = random_frames(3, 32, 40, seed=2)
    for frame in frames:  # a tilted plane, so the planes are not all equal
        frame.depth[:] = np.linspace(1.0, 4.0, 32, dtype=np.float32)[:, None]
    write_nyu_mat(mat, frames)
    assert prepare_main(["nyu", "--mat", str(mat), "--out", str(tmp_path / "cache"), "--size", "16x20", "--hha"]) == 0
    item = NYUDepthV2(tmp_path / "cache", split="all")[1]
    expected = hha_at_size(frames[1].depth, nyu_camera(32, 40), (16, 20))
    assert item["hha"].shape == (3, 16, 20) and np.array_equal(item["hha"].numpy().transpose(1, 2, 0), expected)
    assert "hha" not in NYUDepthV2(mat, split="all")[1]


def test_raw_and_sun_caches_prepared_with_hha_carry_it(tmp_path):
    from crossmodal.config import NYURawCacheConfig
    from crossmodal.data.nyu_raw_cache import NYURawCache, prepare_raw_cache
    from crossmodal.data.sunrgbd_cache import SUNRGBDCache
    from tests.nyu_raw_files import write_scene
    from tests.sunrgbd_files import write_tree

    write_scene(tmp_path / "raw" / "bedroom_0001", [1.0, 1.03], [1.01])
    prepare_raw_cache(tmp_path / "raw", tmp_path / "raw-cache", NYURawCacheConfig(size=(60, 80), hha=True), workers=1, progress=False)
    raw_item = NYURawCache(tmp_path / "raw-cache")[0]
    assert raw_item["hha"].shape == (3, 60, 80) and raw_item["hha"][0].float().mean() > 100  # 2 m: disparity 31000/200
    tree = write_tree(tmp_path / "sun")
    assert prepare_main(["sunrgbd", "--root", str(tree.root), "--out", str(tmp_path / "sun-cache"), "--size", "6x8", "--hha",
                         "--workers", "1"]) == 0
    sun_item = SUNRGBDCache(tmp_path / "sun-cache", "all")[0]
    assert sun_item["hha"].shape == (3, 6, 8) and sun_item["hha"].dtype == torch.uint8


def test_training_with_hha_on_the_embedded_rooms_encodes_them_once(tmp_path, monkeypatch):
    from crossmodal.cli.train import main as train_main

    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))
    run = tmp_path / "run"
    argv = ["--source", "rgb", "--target", "depth", "--set", "data.depth_encoding=hha", "data.options.num=8", "data.options.size=[24,32]",
            "data.input_size=[24,32]", "run.wandb=disabled", "--epochs", "1", "--batch-size", "2", "--out", str(run)]
    assert train_main(argv) == 0
    cache = tmp_path / "data" / "synthetic-rooms-n8-24x32-seed0-hha"
    assert (cache / "meta.json").is_file()
    stamp = (cache / "frames.h5").stat().st_mtime_ns
    assert train_main([*argv[:-1], str(tmp_path / "again")]) == 0
    assert (cache / "frames.h5").stat().st_mtime_ns == stamp  # encoded once
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert state["student_spec"]["in_channels"] == 3
