"""NYU-Depth V2 raw recordings: file formats, the toolbox's synchronisation rule, disparity, registration,
and the chunked cache prepared from scene folders (resume, shards, skips), on files in the exact raw layout."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from crossmodal.cli.prepare import main as prepare_main
from crossmodal.data.kinect_registration import (
    RIGID_ROTATION,
    RIGID_TRANSLATION,
    disparity_to_metres,
    register_depth,
    toolbox_rigid_transform,
)
from crossmodal.data.nyu_raw import (
    FrameError,
    NYURawScenes,
    nearest_in_time,
    read_accel,
    read_raw_depth,
    read_rgb,
    scene_base_name,
    scene_type,
    synchronise,
)
from crossmodal.data.nyu_raw_cache import NYURawCache, prepare_raw_cache
from crossmodal.errors import InputError
from tests.nyu_raw_files import HEIGHT, WIDTH, disparity_frame, write_dump, write_pgm, write_scene

# camera_params.m (toolbox_nyu_depth_v2), written out here so the tests do not read the module's own constants
DEPTH_FX, DEPTH_FY, DEPTH_CX, DEPTH_CY = 582.62448167737955, 582.69103270988637, 313.04475870804731, 238.44389626620386
RGB_FX, RGB_FY, RGB_CX, RGB_CY = 518.85790117450188, 519.46961112127485, 325.58244941119034, 253.73616633400465
R_EFF = np.array([
    [0.9999779894082926, -0.0050359919480810955, -0.004319662492306028],
    [0.005051841938615748, 0.9999805186114399, 0.0036662365748484763],
    [0.004301115201411866, -0.003687978130951425, 0.9999839494838554],
])
T_EFF = np.array([-0.0250318750591413, 0.0002934231293584641, -0.000662387470083301])


def test_disparity_to_metres_follows_the_toolbox_formula_and_clamps():
    raw = np.array([600, 700, 800, 900, 1000, 1050, 1057, 1058, 1092, 2047])
    expected = [0.713299, 0.895032, 1.201026, 1.824935, 3.797838, 8.265882]
    metres = disparity_to_metres(raw)
    assert np.allclose(metres[:6], expected[:6], atol=1e-6)
    assert 9.89 < metres[6] < 9.9 and metres[7] == 10.0 and metres[8] == 10.0  # clamped at 10 m from raw 1057.37
    assert metres[9] == 0.0  # no return: negative depth clamps to 0


def test_the_rigid_transform_is_the_toolbox_reflection_and_its_proper_rotation():
    rotation, translation = toolbox_rigid_transform()
    assert np.isclose(np.linalg.det(rotation), -1.0)
    assert np.allclose(rotation, -R_EFF, atol=1e-12)
    assert np.allclose(translation, [0.0250318750591413, -0.0002934231293584641, 0.000662387470083301])
    assert np.allclose(RIGID_ROTATION, R_EFF, atol=1e-12) and np.allclose(RIGID_TRANSLATION, T_EFF)


def test_scene_names_give_the_type_and_the_labelled_sets_scene():
    assert scene_type("living_room_0002k") == "living_room" and scene_type("bedroom_0001") == "bedroom"
    assert scene_base_name("basement_0001a") == "basement_0001" and scene_base_name("kitchen_0004") == "kitchen_0004"


def test_nearest_in_time_advances_on_ties_and_never_moves_back():
    rgb = [0.0, 1.0, 2.0, 3.0]
    # 0.5 is as near 0 as 1: the pointer advances; 0.4 after it stays at 1 (no moving back) though 0 is nearer
    assert nearest_in_time(rgb, [0.4, 0.5, 0.6, 0.4, 2.6, 9.0]) == [0, 1, 1, 1, 3, 3]


def test_synchronise_pairs_every_depth_frame_with_the_nearest_rgb_and_accel(tmp_path):
    folder = write_scene(tmp_path / "kitchen_0004", depth_times=[20.00, 20.03, 20.07, 20.10],
                         rgb_times=[19.99, 20.05, 20.11], accel_times=[20.0, 20.25])
    (folder / "INDEX.txt").write_text("not a dump\n")
    frames = synchronise(folder)
    assert [frame.depth.time for frame in frames] == [20.00, 20.03, 20.07, 20.10]
    assert [frame.rgb.time for frame in frames] == [19.99, 20.05, 20.05, 20.11]  # one RGB frame may serve two depth frames
    assert [frame.accel.time for frame in frames if frame.accel] == [20.0, 20.0, 20.0, 20.0]
    assert frames[1].rgb.path.name.startswith("r-20.050000-")


def test_a_scene_without_rgb_frames_cannot_be_synchronised(tmp_path):
    folder = write_scene(tmp_path / "office_0001", depth_times=[1.0, 2.0], rgb_times=[])
    with pytest.raises(InputError, match=r"office_0001 has no RGB \(r-\*\.ppm\) frames"):
        synchronise(folder)


def test_depth_samples_are_read_little_endian(tmp_path):
    raw = np.zeros((2, 3), np.uint16)
    raw[0, 0], raw[1, 2] = 0x0201, 2047
    path = write_pgm(tmp_path / "d-1.000000-1.pgm", raw)
    assert path.read_bytes().endswith(b"\xff\x07")  # 2047 stored low byte first
    assert read_raw_depth(path)[0, 0] == 513 and read_raw_depth(path)[1, 2] == 2047


def test_a_truncated_or_8_bit_pgm_is_one_sentence(tmp_path):
    path = write_pgm(tmp_path / "d-1.000000-1.pgm", disparity_frame(2.0))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(FrameError, match=r"d-1.000000-1.pgm is truncated: 614300 of 614400 sample bytes"):
        read_raw_depth(path)
    eight = tmp_path / "d-2.000000-1.pgm"
    eight.write_bytes(b"P5\n4 2\n255\n" + bytes(8))
    with pytest.raises(FrameError, match="holds 8-bit samples"):
        read_raw_depth(eight)
    ppm = tmp_path / "r-1.000000-1.ppm"
    ppm.write_bytes(b"P5\n1 1\n255\n\x00")
    with pytest.raises(FrameError, match="is not a binary PPM"):
        read_rgb(ppm)


def test_accelerometer_dumps_hold_three_counts_and_the_tilt(tmp_path):
    path = write_dump(tmp_path / "a-1.000000-1.dump", x=-5, y=812, z=40, tilt=-6)
    assert read_accel(path).tolist() == [-5.0, 812.0, 40.0, -6.0]
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(FrameError, match="holds 10 bytes; an accelerometer dump holds 12"):
        read_accel(path)


def test_items_keep_orientation_and_units(tmp_path):
    rgb = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
    rgb[100:160, 120:200] = (250, 10, 10)  # a red block in the upper left
    folder = write_scene(tmp_path / "bedroom_0001", [5.0], [5.01], [5.0], raw=disparity_frame(2.0), rgb=rgb)
    item = NYURawScenes(tmp_path)[0]
    assert item["rgb"].shape == (3, HEIGHT, WIDTH) and item["depth"].shape == (1, HEIGHT, WIDTH)
    red = (item["rgb"][0].numpy() > 200) & (item["rgb"][1].numpy() < 100)  # the undistorted border is white
    rows, cols = np.nonzero(red)
    assert 90 < rows.mean() < 150 and 140 < cols.mean() < 190 and red.sum() > 3000
    depth = item["depth"][0].numpy()
    assert np.isclose(np.median(depth[depth > 0]), 351.3 / (1092.5 - np.rint(1092.5 - 351.3 / 2.0)), atol=1e-3)
    assert item["scene"] == "bedroom" and item["scene_name"] == "bedroom_0001"
    assert item["times"].tolist() == [5.0, 5.01] and item["accel"].tolist() == [0.0, 819.0, 0.0, 0.0]
    assert folder.is_dir()


def test_a_near_object_lands_where_the_hand_projection_puts_it():
    raw = disparity_frame(3.0)
    row, col, z = 238, 313, 0.8  # near the depth camera's principal point, where the lens does not distort
    raw[row - 4: row + 5, col - 4: col + 5] = np.rint(1092.5 - 351.3 / z)
    registered = register_depth(raw)
    z_read = 351.3 / (1092.5 - np.rint(1092.5 - 351.3 / z))
    # back-project with the depth intrinsics on MATLAB's 1-based grid, move, project with the RGB intrinsics
    point = np.array([(col + 1 - DEPTH_CX) * z_read / DEPTH_FX, (row + 1 - DEPTH_CY) * z_read / DEPTH_FY, z_read])
    moved = R_EFF @ point + T_EFF
    x, y = moved[0] * RGB_FX / moved[2] + RGB_CX, moved[1] * RGB_FY / moved[2] + RGB_CY
    rgb_row, rgb_col = int(np.floor(y + 0.5)) - 1, int(np.floor(x + 0.5)) - 1
    assert registered[rgb_row, rgb_col] == pytest.approx(z_read, abs=1e-5)
    # the background around it is 3 m; where both land, the nearer surface wins
    far = 351.3 / (1092.5 - np.rint(1092.5 - 351.3 / 3.0))
    assert registered[rgb_row, rgb_col + 30] == pytest.approx(far, abs=1e-5)
    near = np.isclose(registered, z_read, atol=1e-4)
    assert 60 < near.sum() < 120  # about 9 x 9 depth pixels, scaled by the focal lengths and the nearer distance


def test_registered_synthetic_frames_match_the_depth_the_rgb_camera_sees(tmp_path):
    from crossmodal.data.kinect_registration import HEIGHT as H
    from crossmodal.data.kinect_registration import RGB_LENS
    from crossmodal.data.kinect_registration import WIDTH as W
    from crossmodal.data.synthetic import raw_scenes
    from crossmodal.data.synthetic.camera import sample_camera
    from crossmodal.data.synthetic.layout import build_layout, sample_scene_type
    from crossmodal.data.synthetic.raycast import cast, primitives_from_layout

    raw_scenes.write_raw_scene(tmp_path, seed=3, room=1, frames=1)
    registered = NYURawScenes(tmp_path)[0]["depth"][0].numpy()
    rng = np.random.default_rng([3, 1])  # replay the writer's draws up to the first view
    layout = build_layout(rng, sample_scene_type(rng))
    view = sample_camera(rng, layout, H, W)
    truth = cast(primitives_from_layout(layout), raw_scenes._lens_camera(view.position, view.rotation, RGB_LENS)).depth
    valid = registered > 0
    error = np.abs(registered[valid] - truth[valid])
    assert valid.mean() > 0.4 and np.median(error) < 0.02 and np.mean(error < 0.1) > 0.99


def _raw_root(tmp_path, scenes=("bedroom_0001", "kitchen_0002", "office_0003a")):
    root = tmp_path / "raw"
    for k, name in enumerate(scenes):
        write_scene(root / name, [100.0 * k + t for t in (0.0, 0.033, 0.066, 0.1)], [100.0 * k + t for t in (0.01, 0.05, 0.09)],
                    [100.0 * k])
    return root


def test_prepare_caches_every_scene_and_a_rerun_decodes_nothing(tmp_path):
    root, out = _raw_root(tmp_path), tmp_path / "cache"
    first = prepare_raw_cache(root, out, workers=1, progress=False)
    assert first.whole and first.frames == 12 and sorted(first.decoded) == ["bedroom_0001", "kitchen_0002", "office_0003a"]
    stamps = {path.name: path.stat().st_mtime_ns for path in (out / "scenes").iterdir()}
    again = prepare_raw_cache(root, out, workers=1, progress=False)
    assert again.decoded == {} and again.already == 3 and again.whole
    assert {path.name: path.stat().st_mtime_ns for path in (out / "scenes").iterdir()} == stamps
    cache = NYURawCache(out)
    item = cache[5]
    assert len(cache) == 12 and cache.locate(5) == ("kitchen_0002", 1)
    assert item["rgb"].shape == (3, 240, 320) and item["depth"].dtype.is_floating_point
    assert item["scene"] == "kitchen" and abs(float(item["depth"].median()) - 2.0) < 0.01


def test_every_and_size_are_kept_and_a_rerun_must_repeat_them(tmp_path):
    root, out = _raw_root(tmp_path), tmp_path / "cache"
    assert prepare_main(["nyu-raw", "--src", str(root), "--out", str(out), "--every", "2", "--size", "60x80", "--workers", "1"]) == 0
    cache = NYURawCache(out)
    assert len(cache) == 6 and cache[0]["rgb"].shape == (3, 60, 80)
    with pytest.raises(InputError, match="a rerun must use the same settings"):
        prepare_raw_cache(root, out, workers=1, progress=False)


def test_unusable_scenes_and_frames_are_skipped_named_and_counted(tmp_path):
    root = _raw_root(tmp_path)
    write_scene(root / "study_0004", [1.0, 2.0], [])  # no RGB frames
    broken = sorted((root / "kitchen_0002").glob("d-*.pgm"))[1]
    broken.write_bytes(broken.read_bytes()[:1000])  # truncated
    summary = prepare_raw_cache(root, tmp_path / "cache", workers=1, progress=False)
    assert summary.whole and summary.frames == 11 and summary.skipped_frames == 1
    assert list(summary.skipped_scenes) == ["study_0004"] and "has no RGB" in summary.skipped_scenes["study_0004"]
    assert "1 skipped" in str(summary) and "1 unreadable frame(s) left out" in str(summary)


def test_shards_fill_one_cache_and_the_last_writes_the_index(tmp_path):
    root, out = _raw_root(tmp_path), tmp_path / "cache"
    first = prepare_raw_cache(root, out, workers=1, shard=(1, 2), progress=False)
    assert sorted(first.decoded) == ["bedroom_0001", "office_0003a"] and not first.whole and first.waiting == 1
    with pytest.raises(InputError, match="unfinished"):
        NYURawCache(out)
    second = prepare_raw_cache(root, out, workers=1, shard=(2, 2), progress=False)
    assert list(second.decoded) == ["kitchen_0002"] and second.whole and len(NYURawCache(out)) == 12


def test_a_killed_prepare_leaves_a_cache_a_rerun_completes(tmp_path):
    root, out = _raw_root(tmp_path), tmp_path / "cache"
    script = (
        "import os, signal, sys\n"
        "import crossmodal.data.nyu_raw_cache as cache\n"
        "original = cache._write_scene\n"
        "def dying(path, scene, *args):\n"
        "    if scene == 'kitchen_0002':\n"
        "        path.write_bytes(b'half a file')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    original(path, scene, *args)\n"
        "cache._write_scene = dying\n"
        f"cache.prepare_raw_cache({str(root)!r}, {str(out)!r}, workers=1, progress=False)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert killed.returncode == -9
    assert (out / "scenes" / "bedroom_0001.h5").is_file() and not (out / "index.json").exists()
    assert any(path.name.startswith(".kitchen_0002.h5.tmp-") for path in (out / "scenes").iterdir())
    summary = prepare_raw_cache(root, out, workers=1, progress=False)
    assert summary.already == 1 and sorted(summary.decoded) == ["kitchen_0002", "office_0003a"] and summary.whole
    assert not any(path.name.startswith(".") for path in (out / "scenes").iterdir())
    assert len(NYURawCache(out)) == 12


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["nyu-raw", "--src", "nowhere", "--out", "cache"], "NYU raw root nowhere is not a directory"),
        (["nyu-raw", "--src", ".", "--out", "cache", "--shard", "3/2"], "--shard '3/2' is not K/N"),
        (["nyu-raw", "--src", ".", "--out", "cache", "--every", "0"], "--every must be at least 1"),
        (["nyu-raw", "--src", ".", "--out", "cache"], "holds no scene folder"),
        (["synthetic-nyu-raw", "--out", "raw", "--scenes", "0"], "--scenes must be at least 1"),
    ],
)
def test_bad_prepare_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, fragment):
    monkeypatch.chdir(tmp_path)
    assert prepare_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]



def _rooms_and_their_raw_scenes(tmp_path, rooms=8, raw_rooms=5):
    """A labelled stand-in (rooms 0..rooms-1 of seed 0 in the labelled layout, naming each frame's scene) and the raw
    recordings of its first ``raw_rooms`` rooms, cached."""
    from crossmodal.config import RoomsConfig
    from crossmodal.data.synthetic.raw_scenes import generate_raw_scenes
    from crossmodal.data.synthetic.rooms import generate_rooms

    labelled = generate_rooms(tmp_path / "rooms.mat", RoomsConfig(num=rooms, size=(24, 32), seed=0), progress=False, workers=1)
    raw = generate_raw_scenes(tmp_path / "raw", seed=0, scenes=raw_rooms, frames=1, workers=1, progress=False)
    prepare_raw_cache(raw, tmp_path / "cache", workers=1, progress=False)
    return labelled, tmp_path / "cache"


def test_the_labelled_test_splits_scenes_are_left_out_of_training(tmp_path):
    from crossmodal.config import DataConfig
    from crossmodal.data.catalog import DATA_SETS
    from crossmodal.data.nyu import NYUDepthV2, split_indices, test_scene_names
    from crossmodal.data.nyu_cache import prepare_nyu_cache

    labelled, cache = _rooms_and_their_raw_scenes(tmp_path)
    test_rooms = split_indices(8, "test").tolist()
    assert test_rooms == [2, 4, 6]
    names = test_scene_names(labelled)
    assert len(names) == 3 and all(name.endswith(f"_{room + 1:04d}") for name, room in zip(sorted(names, key=lambda n: n[-4:]), test_rooms))
    assert names == test_scene_names(prepare_nyu_cache(labelled, tmp_path / "labelled-cache", size=None, progress=False))
    assert {NYUDepthV2(labelled, split="test")[i]["scene"] for i in range(3)} == {name.rsplit("_", 1)[0] for name in names}

    kind = DATA_SETS.get("nyu-raw")
    config = DataConfig(name="nyu-raw", options={"path": str(cache), "labelled": str(labelled)})
    kind.prepare(config, False)
    kept = kind.open(config)
    assert len(kept) == 3 and sorted(kept.excluded_scenes) == sorted(name for name in names if int(name[-4:]) <= 5)
    assert not {kept[i]["scene_name"] for i in range(len(kept))} & names
    everything = DataConfig(name="nyu-raw", options={"path": str(cache), "exclude_test_scenes": False})
    kind.prepare(everything, False)
    assert len(kind.open(everything)) == 5
    with pytest.raises(InputError, match="needs the labelled file"):
        kind.prepare(DataConfig(name="nyu-raw", options={"path": str(cache)}), False)
    splits = kind.eval_splits(config, "test", "nyu13", None)
    assert len(splits.scored) == 3 and len(splits.fit) == 5


def test_a_labelled_file_without_scene_names_cannot_exclude_test_scenes(tmp_path):
    from crossmodal.data.nyu import test_scene_names
    from tests.nyu_files import random_frames, write_nyu_mat

    mat = tmp_path / "old.mat"
    write_nyu_mat(mat, random_frames(3, 8, 8, seed=0))
    with pytest.raises(InputError, match=r"old.mat does not name the scene of each frame \('scenes'\)"):
        test_scene_names(mat)


def test_crossmodal_train_learns_from_a_raw_cache(tmp_path):
    from crossmodal.cli.train import main as train_main

    labelled, cache = _rooms_and_their_raw_scenes(tmp_path)
    run = tmp_path / "run"
    argv = ["--source", "rgb", "--target", "depth", "--data", "nyu-raw", "--data-path", str(cache), "--set",
            f"data.options.labelled={labelled}", "--epochs", "1", "--batch-size", "2", "--out", str(run), "--set", "run.wandb=disabled"]
    assert train_main(argv) == 0
    metrics = (run / "metrics.jsonl").read_text().splitlines()
    assert (run / "last.pt").is_file() and any('"epoch": 1' in line for line in metrics)


def test_filled_depth_stays_within_the_range_it_starts_from():
    from crossmodal.data.nyu_raw_cache import fill_holes

    depth = np.full((40, 60), 2.0, np.float32)
    depth[:, 30:] = 6.0  # a step the inpainting would extrapolate beyond
    depth[10:30, 20:40] = 0.0
    depth[:3, :] = 0.0
    filled = fill_holes(depth)
    assert (filled > 0).all() and filled.min() >= 2.0 and filled.max() <= 6.0
    assert np.array_equal(filled[depth > 0], depth[depth > 0])


def test_worker_processes_prepare_the_same_cache_as_one_process(tmp_path):
    root = _raw_root(tmp_path)
    one = prepare_raw_cache(root, tmp_path / "one", workers=1, progress=False)
    two = prepare_raw_cache(root, tmp_path / "two", workers=2, progress=False)
    assert one.whole and two.whole and sorted(one.decoded) == sorted(two.decoded)
    first, second = NYURawCache(tmp_path / "one"), NYURawCache(tmp_path / "two")
    assert len(first) == len(second) == 12
    for index in (0, 7, 11):
        assert torch.equal(first[index]["rgb"], second[index]["rgb"]) and torch.equal(first[index]["depth"], second[index]["depth"])
