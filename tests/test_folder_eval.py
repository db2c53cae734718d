"""An RGB-D folder with labels/ is evaluable: the catalog's eval_splits give its test frames (every fifth, or a test
list), its class names, and the segmentation protocol scores a student on it through crossmodal-eval."""
from __future__ import annotations

import json

import numpy as np
import pytest

from crossmodal.cli.eval import main as eval_main
from crossmodal.config import DataConfig
from crossmodal.data.catalog import DATA_SETS
from crossmodal.errors import InputError
from tests.test_rgbd_folder import write_png, write_rgb

FRAMES, H, W = 10, 24, 32


@pytest.fixture
def labelled_folder(tmp_path):
    """Ten frames 0000..0009; labels: class 0 on the left half, class 2 on the right, an unlabelled (255) top row."""
    root = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for k in range(FRAMES):
        write_rgb(root / "rgb" / f"{k:04d}.png", rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        write_png(root / "depth" / f"{k:04d}.png", np.full((H, W), 1000 + 100 * k, dtype=np.uint16))
        labels = np.zeros((H, W), dtype=np.uint8)
        labels[:, W // 2:] = 2
        labels[0] = 255
        write_png(root / "labels" / f"{k:04d}.png", labels)
    return root


def splits(root, split="test", labels="labels", **options):
    config = DataConfig(name="rgbd-folder", options={"path": str(root), **options})
    return DATA_SETS.get("rgbd-folder").eval_splits(config, split, labels, None)


def stems(dataset) -> list[int]:
    return [round(dataset[i]["depth"][0, 0, 0].item() * 10) - 10 for i in range(len(dataset))]  # depth encodes the frame number


def test_every_fifth_frame_is_scored_and_validation_never_opens_them(labelled_folder):
    test = splits(labelled_folder)
    assert (stems(test.fit), stems(test.scored)) == ([0, 1, 2, 3, 5, 6, 7, 8], [4, 9])
    validation = splits(labelled_folder, split="validation")
    assert (stems(validation.fit), stems(validation.scored)) == ([0, 1, 2, 3, 6, 7, 8], [5])
    assert test.class_names == ["class 0", "class 1", "class 2"] and test.scene_names == [] and test.ignore_index == 255
    item = test.scored[0]
    assert item["seg"][0].eq(255).all() and item["seg"][1, 0] == 0 and item["seg"][1, -1] == 2


def test_a_test_list_and_class_names_are_options(labelled_folder, tmp_path):
    listed = tmp_path / "test.txt"
    listed.write_text("0001\n0007\n\n")
    chosen = splits(labelled_folder, test_list=str(listed), classes=["floor", "wall", "table"])
    assert stems(chosen.scored) == [1, 7] and chosen.class_names == ["floor", "wall", "table"]
    listed.write_text("0001\n0042\n0043\n")
    with pytest.raises(InputError, match=rf"^test list {listed} names frames the folder does not hold: 0042; 0043$"):
        splits(labelled_folder, test_list=str(listed))
    with pytest.raises(InputError, match=r"^label image .*labels/0000.png holds class id 2, but data.options.classes names only 2 classes$"):
        splits(labelled_folder, classes=["floor", "wall"])
    with pytest.raises(InputError, match=r"has one label set, 'labels' \(the ids in labels/\); evaluate with labels=labels$"):
        splits(labelled_folder, labels="nyu40")


def test_crossmodal_eval_segments_on_the_folder_and_the_scene_probe_says_it_has_no_scenes(labelled_folder, tmp_path, capsys):
    out = tmp_path / "eval"
    student = ["--random-init", "resnet10", "--width", "4", "--target", "depth", "--out", str(out), "--device", "cpu"]
    data = ["--data", str(labelled_folder), "--data-set", "rgbd-folder"]
    assert eval_main(["segmentation", *student, *data, "--wandb", "disabled", "--set", "labels=labels", "epochs=1", "examples=1"]) == 0
    report = json.loads((out / "segment.json").read_text())
    assert (report["num_fit"], report["num_scored"]) == (8, 2)
    assert report["class_names"] == ["class 0", "class 1", "class 2"] and report["data"] == str(labelled_folder)
    assert report["labelled_pixels"] == 2 * 96 * 128 * (H - 1) // H, "the 255 row is never scored (96 x 128: the default input)"
    assert (out / "segment.png").is_file()
    assert eval_main(["scene-probe", *student, *data]) == 2
    assert capsys.readouterr().err.strip().endswith(f"error: labelled data {labelled_folder} has no scene labels, so the scene probe cannot score it")
