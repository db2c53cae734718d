"""Linear probe on synthetic features whose answer is known, and the crossmodal-probe command."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmodal.cli.probe import main as probe_main
from crossmodal.config import TrainConfig, config_to_dict
from crossmodal.data.nyu_meta import load_meta
from crossmodal.engine.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from crossmodal.errors import InputError
from crossmodal.eval import probe as probe_module
from crossmodal.eval.probe import format_probe_table, linear_probe, split_train_validation
from crossmodal.models.student_registry import build_student
from tests.nyu_files import random_frames, write_nyu_mat
from tests.test_rgbd_folder import red_image, write_png, write_rgb
from tests.wandb_files import offline_runs


def separable_features(num: int, num_classes: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k sits around a far-away centre: linearly separable by construction."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).normal(scale=6.0, size=(num_classes, dim))
    labels = rng.integers(0, num_classes, size=num)
    return centres[labels] + rng.normal(size=(num, dim)), labels


def test_separable_classes_are_probed_near_perfectly():
    train_x, train_y = separable_features(300, 4, 16, seed=0)
    test_x, test_y = separable_features(200, 4, 16, seed=1)
    result = linear_probe(train_x, train_y, test_x, test_y, num_classes=4, class_names=list("abcd"))
    assert result.top1 >= 0.98
    assert np.asarray(result.confusion).sum() == 200
    assert result.chosen_c in probe_module.DEFAULT_CS
    assert "a" in format_probe_table(result)


def test_random_labels_give_chance_accuracy():
    rng = np.random.default_rng(0)
    train_x, test_x = rng.normal(size=(400, 16)), rng.normal(size=(2000, 16))
    train_y, test_y = rng.integers(0, 4, 400), rng.integers(0, 4, 2000)
    result = linear_probe(train_x, train_y, test_x, test_y, num_classes=4)
    assert abs(result.top1 - 0.25) < 0.05


def test_regularisation_is_chosen_without_the_test_split(monkeypatch):
    train_x, train_y = separable_features(120, 3, 8, seed=0)
    test_x, test_y = separable_features(60, 3, 8, seed=1)
    test_x = test_x + 1000.0  # test rows can be recognised wherever they show up
    fitted_rows = []
    original_fit = probe_module.fit_probe

    def recording_fit(features, labels, c, seed=0):
        fitted_rows.append(features)
        return original_fit(features, labels, c, seed)

    monkeypatch.setattr(probe_module, "fit_probe", recording_fit)
    result = linear_probe(train_x, train_y, test_x, test_y, num_classes=3)
    assert len(fitted_rows) == len(probe_module.DEFAULT_CS) + 1
    assert all(np.abs(rows).max() < 500 for rows in fitted_rows)

    scrambled = linear_probe(train_x, train_y, -test_x, (test_y + 1) % 3, num_classes=3)
    assert (scrambled.chosen_c, scrambled.validation_accuracy) == (result.chosen_c, result.validation_accuracy)


def test_validation_split_is_disjoint_stratified_and_seeded():
    labels = np.repeat(np.arange(5), 20)
    fit, val = split_train_validation(labels, 0.2, seed=3)
    assert not set(fit) & set(val) and len(fit) + len(val) == 100
    assert np.bincount(labels[val]).tolist() == [4] * 5
    again_fit, again_val = split_train_validation(labels, 0.2, seed=3)
    assert np.array_equal(val, again_val) and np.array_equal(fit, again_fit)


def test_single_label_train_split_is_an_input_error():
    x = np.zeros((10, 3))
    with pytest.raises(InputError, match="fewer than two distinct labels"):
        linear_probe(x, np.zeros(10, dtype=int), x, np.zeros(10, dtype=int), num_classes=2)


# ----------------------------------------------------------------------------- crossmodal-probe

INPUT_SIZE = (24, 32)


def labelled_file(path: Path, unlabelled: bool = False, scene: str | None = None) -> Path:
    """A tiny NYU-layout file; scenes cycle through the labeled set's types unless one ``scene`` is given."""
    frames = random_frames(28, *INPUT_SIZE, seed=0)
    for frame in frames:
        frame.scene = scene or frame.scene
        if unlabelled:
            frame.labels[:] = 0
    return write_nyu_mat(path, frames)


def fake_run(run_dir: Path, data: Path, target: str = "depth", weights_width: int = 4, wandb_id: str | None = None) -> Path:
    """A run directory whose last.pt has the trainer's checkpoint layout and a tiny student."""
    config = TrainConfig()
    config = replace(
        config,
        data=replace(config.data, name="nyu", options={"path": str(data)}, target=target, input_size=INPUT_SIZE),
        student=replace(config.student, name="resnet10", width=4),
    )
    spec = {"name": "resnet10", "in_channels": 1, "width": 4, "num_classes": None}
    weights = build_student(**{**spec, "width": weights_width}).state_dict()
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {"format": CHECKPOINT_FORMAT, "epoch": 1, "config": config_to_dict(config), "student_spec": spec,
             "student": weights, "wandb_id": wandb_id}
    save_checkpoint(state, run_dir / "last.pt")
    return run_dir


@pytest.fixture
def tiny_data(tmp_path):
    torch.set_num_threads(1)
    return labelled_file(tmp_path / "tiny.mat")


def test_probe_cli_writes_probe_json_and_reuses_cached_features(tmp_path, tiny_data, capsys):
    run = fake_run(tmp_path / "run", tiny_data)
    assert probe_main(["--run", str(run), "--device", "cpu"]) == 0
    report = json.loads((run / "probe.json").read_text())
    confusion = np.asarray(report["confusion"])
    # 28 frames: the seeded 16/12 split of a file that is not the official 1449-frame one, scored on its 12 test frames
    assert report["task"] == "scene_label" and (report["num_train"], report["num_test"]) == (16, 12) == (16, confusion.sum())
    assert report["top1"] == np.trace(confusion) / 12 == 0.75, "the value this fixture gives with the pinned stack"
    assert len(list((run / "features").glob("*.npz"))) == 2
    assert "(cached)" not in capsys.readouterr().out

    assert probe_main(["--run", str(run), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.count("(cached)") == 2
    assert json.loads((run / "probe.json").read_text())["top1"] == report["top1"]


def test_probe_cli_random_init_reference_uses_the_like_run(tmp_path, tiny_data):
    run = fake_run(tmp_path / "run", tiny_data)
    out = tmp_path / "reference"
    assert probe_main(["--random-init", "resnet10", "--like", str(run), "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "probe.json").read_text())
    assert report["spec"] == {"name": "resnet10", "in_channels": 1, "width": 4, "num_classes": None}
    assert report["input_size"] == list(INPUT_SIZE) and report["random_init_seed"] == 0


def bad_input_message(capsys, argv) -> str:
    assert probe_main(argv) == 2
    message = capsys.readouterr().err
    assert message.startswith("error: ") and message.count("\n") == 1
    return message


def test_probe_cli_rejects_a_run_without_checkpoint(tmp_path, capsys):
    (tmp_path / "empty-run").mkdir()
    assert "last.pt" in bad_input_message(capsys, ["--run", str(tmp_path / "empty-run")])


def test_probe_cli_rejects_a_student_of_another_modality(tmp_path, tiny_data, capsys):
    run = fake_run(tmp_path / "run", tiny_data, target="audio")
    assert "'audio'" in bad_input_message(capsys, ["--checkpoint", str(run / "last.pt")])


def test_probe_cli_rejects_weights_of_another_architecture(tmp_path, tiny_data, capsys):
    run = fake_run(tmp_path / "run", tiny_data, weights_width=8)
    assert "do not fit" in bad_input_message(capsys, ["--run", str(run)])


def test_probe_cli_rejects_data_with_a_single_scene_class(tmp_path, capsys):
    data = labelled_file(tmp_path / "one-scene.mat", scene="bedroom")
    run = fake_run(tmp_path / "run", data)
    assert "fewer than two" in bad_input_message(capsys, ["--run", str(run), "--device", "cpu"])


def test_probe_cli_rejects_a_run_on_unlabelled_data(tmp_path, tiny_data, capsys):
    folder = tmp_path / "unlabelled"
    write_rgb(folder / "rgb" / "0001.png", red_image())
    write_png(folder / "depth" / "0001.png", np.full(red_image().shape[:2], 1000, dtype=np.uint16))
    run = fake_run(tmp_path / "run", tiny_data)
    run_config = torch.load(run / "last.pt", weights_only=True)
    run_config["config"]["data"].update(name="rgbd-folder", options={"path": str(folder)})
    save_checkpoint(run_config, run / "last.pt")
    assert bad_input_message(capsys, ["--run", str(run)]) == (
        f"error: RGB-D folder {folder} has no labels/ subfolder, so it brings no labels to evaluate on; "
        "pass --data with an NYU-layout file\n"
    )


def test_probe_cli_scores_a_fixture_whose_scene_the_depth_gives_away_perfectly(tmp_path, capsys):
    frames = random_frames(28, *INPUT_SIZE, seed=0)
    for k, frame in enumerate(frames):
        frame.scene = ("bedroom", "kitchen")[k % 2]
        frame.depth[:] = (1.0, 4.0)[k % 2]  # any encoder separates constant near from constant far frames
        frame.raw_depth[:] = frame.depth
    run = fake_run(tmp_path / "run", write_nyu_mat(tmp_path / "separable.mat", frames))
    assert probe_main(["--run", str(run), "--device", "cpu"]) == 0
    report = json.loads((run / "probe.json").read_text())
    confusion = np.asarray(report["confusion"])
    assert report["top1"] == 1.0 and confusion.trace() == confusion.sum() == report["num_test"]
    rows = [load_meta().scene_label(scene) for scene in ("bedroom", "kitchen")]
    assert confusion.sum(axis=1)[rows].min() > 0, "both scenes are among the scored frames"


def test_the_validation_split_stratifies_exactly_when_every_class_fits_both_sides():
    pairs = np.repeat(np.arange(5), 2)  # 5 classes of 2: the smallest count allowed, val = 5 = classes = samples - classes
    for seed in range(5):
        fit, val = split_train_validation(pairs, 0.5, seed)
        assert sorted(pairs[val]) == sorted(pairs[fit]) == [0, 1, 2, 3, 4], "one of each class on each side"
    # too many held out for every class to stay in fit, or a class of one: a plain seeded split, no error
    fit, val = split_train_validation(pairs, 0.7, seed=0)
    assert (len(fit), len(val)) == (3, 7)
    singleton = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 3])
    fit, val = split_train_validation(singleton, 0.4, seed=0)
    assert (len(fit), len(val)) == (6, 4)
    assert not set(fit) & set(val)


def test_the_probe_is_a_standardiser_and_an_lbfgs_logistic_regression_seeded_as_asked():
    x, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    pipeline = probe_module.fit_probe(x, y, c=0.5, seed=4)
    scaler, regression = (step for _, step in pipeline.steps)
    assert type(scaler).__name__ == "StandardScaler" and np.allclose(scaler.mean_, x.mean(0))
    params = regression.get_params()
    assert (params["C"], params["solver"], params["max_iter"], params["random_state"]) == (0.5, "lbfgs", 2000, 4)
    assert probe_module.fit_probe(x, y, c=0.5).steps[1][1].get_params()["random_state"] == 0


def test_regularisation_choice_edges_and_seed_default():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    assert probe_module.select_regularisation(x, y) == probe_module.select_regularisation(x, y, seed=0)
    assert probe_module.select_regularisation(x, y, cs=(0.01, 1.0)) != probe_module.select_regularisation(x, y, cs=(0.01, 1.0), seed=3)
    one_label = np.zeros(40, dtype=int)
    assert probe_module.choose_regularisation(x, one_label, np.arange(30), np.arange(30, 40), cs=(10.0, 0.1)) == (0.1, {})
    assert probe_module.choose_regularisation(x, y, np.arange(30), np.arange(0), cs=(10.0, 0.1)) == (0.1, {})
    chosen, scores = probe_module.choose_regularisation(x, y, np.arange(39), np.array([39]), cs=(10.0, 0.1))
    assert set(scores) == {"0.1", "10.0"} and all(score in (0.0, 1.0) for score in scores.values()), "one sample still validates"
    rng = np.random.default_rng(2)  # data on which seeds 0 and 1 split differently enough to score differently
    x, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    default = linear_probe(x[:30], y[:30], x[30:], y[30:], 3)
    assert default == linear_probe(x[:30], y[:30], x[30:], y[30:], 3, seed=0)
    assert default.validation_accuracy != linear_probe(x[:30], y[:30], x[30:], y[30:], 3, seed=1).validation_accuracy
    named = linear_probe(x[:30], y[:30], x[30:], y[30:], 3, class_names=["bed", "desk", "sofa"])
    assert named.class_names == ["bed", "desk", "sofa"]


def test_a_probe_result_records_its_inputs_and_default_class_names():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 4)), np.arange(30) % 3
    test_y = np.array([0, 1, 2, -1])  # -1: no label, left out of the scores
    result = linear_probe(x, y, x[:4], test_y, num_classes=3, cs=(0.1, 1.0))
    assert result.class_names == ["0", "1", "2"] and (result.num_train, result.num_test) == (30, 4)
    assert np.asarray(result.confusion).sum() == 3 and set(result.validation_accuracy) == {"0.1", "1.0"}
    assert result.validation_accuracy[repr(result.chosen_c)] == max(result.validation_accuracy.values())
    single = linear_probe(x, y, x[:1], y[:1], num_classes=3)
    assert single.num_test == 1 and np.asarray(single.confusion).sum() == 1
    with pytest.raises(InputError, match="^the test split holds no labelled samples to score the probe on$"):
        linear_probe(x, y, x[:0], y[:0], num_classes=3)
    with pytest.raises(InputError, match="^the train split holds fewer than two distinct labels, so there is nothing for a probe to separate$"):
        linear_probe(x, np.zeros(30, dtype=int), x, y, num_classes=3)


def test_the_probe_table_is_laid_out_exactly():
    result = probe_module.ProbeResult(
        top1=0.5, mean_class_accuracy=0.25, per_class_accuracy=[0.5, None], confusion=[[1, 1], [0, 0]], chosen_c=0.01,
        validation_accuracy={}, num_train=12, num_test=2, class_names=["kitchen", "bathroom"],
    )
    assert format_probe_table(result) == (
        "linear probe: top-1 50.0%  mean class acc 25.0%  (C=0.01, 12 train / 2 test)\n"
        "chance: top-1 100.0%, mean class acc 100.0% (the most frequent class everywhere; uniform guessing for the class mean)\n"
        "class        acc      n\n"
        "kitchen    50.0%      2\n"
        "bathroom      --      0"
    )
    short = probe_module.ProbeResult(0.5, 0.5, [0.5], [[2]], 1.0, {}, 1, 1, ["a"])
    assert format_probe_table(short).splitlines()[2] == "class     acc      n", "the header sets the narrowest width"


def test_the_probe_logs_an_eval_job_in_the_runs_group_and_its_scores_into_the_training_runs_summary(
    tmp_path, tiny_data, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = fake_run(tmp_path / "run", tiny_data, wandb_id="trainrun01")
    assert probe_main(["--run", str(run), "--device", "cpu", "--wandb", "offline"]) == 0
    top1 = json.loads((run / "probe.json").read_text())["top1"]
    runs = offline_runs(run)  # two runs started within one second: told apart by what they are, not by order
    assert len(runs) == 2
    evaluation = next(r for r in runs if r.run_id != "trainrun01")
    training = next(r for r in runs if r.run_id == "trainrun01")
    assert (evaluation.project, evaluation.group, evaluation.job_type, evaluation.name) == (
        "crossmodal", "rgb->depth/nyu", "eval", "run-scene-probe")
    assert evaluation.summary["scene-probe/probe_top1"] == top1
    assert evaluation.table_columns("scene-probe/per_class") == ["class", "accuracy"]
    assert (training.run_id, training.group) == ("trainrun01", "rgb->depth/nyu")
    assert training.summary["scene-probe/probe_top1"] == top1, "the training run's summary shows the probe's score"
