"""A third target modality, defined in this file alone, trains and is probed through the public API.

The toy modality "depth_gradients" is a 3-channel image (metric depth and its vertical and
horizontal differences) derived from the embedded rooms. Nothing in the library names it: it
registers one Modality object, and training, the checkpoint, ``probe_run`` and the probe CLI
find it by name.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from crossmodal.cli.eval import main as eval_main
from crossmodal.cli.probe import main as probe_main
from crossmodal.cli.train import main as train_main
from crossmodal.config import DataConfig, apply_overrides
from crossmodal.data.catalog import DATA_SETS, DataSetKind, register_data_set
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.rgbd_sets import SYNTHETIC_ROOMS, SyntheticRoomsOptions
from crossmodal.data.transforms import PairedTransform
from crossmodal.engine.checkpoint import load_checkpoint
from crossmodal.engine.trainer import Trainer
from crossmodal.errors import InputError
from crossmodal.eval import ProbeReport, ProbeSettings
from crossmodal.eval.catalog import PROTOCOLS, EvalProtocol, register_protocol
from crossmodal.eval.extract import extract_pooled
from crossmodal.eval.probe import format_probe_table, linear_probe
from crossmodal.eval.rgbd_splits import labelled_splits
from crossmodal.eval.student import LoadedStudent
from crossmodal.experiments import probe_run
from crossmodal.experiments.student_loading import load_trained_student
from crossmodal.modalities import MODALITIES, Modality, default_config, register_modality

torch.set_num_threads(1)
NAME = "depth_gradients"


def with_gradients(sample: dict[str, Any]) -> dict[str, Any]:
    """Replace the 1-channel depth target by (depth, d/dy, d/dx), zero-padded differences."""
    depth = sample["target"]
    dy = torch.zeros_like(depth)
    dx = torch.zeros_like(depth)
    dy[:, 1:] = depth[:, 1:] - depth[:, :-1]
    dx[:, :, 1:] = depth[:, :, 1:] - depth[:, :, :-1]
    return {**sample, "target": torch.cat([depth, dy, dx])}


class GradientItems(Dataset):
    """The rooms' raw items with a "depth_gradients" entry; ``transform`` is set by the training set builder."""

    def __init__(self, rooms: NYUDepthV2) -> None:
        self.rooms = rooms
        self.transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.rooms)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.rooms[index])
        item[NAME] = item["depth"]
        return item if self.transform is None else self.transform(item)


class PairedGradients:
    def __init__(self, size: tuple[int, int], train: bool) -> None:
        self.pair = PairedTransform(size=size, train=train)

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        return with_gradients(self.pair(item))


GRADIENT_ROOMS = DataSetKind(
    "gradient-rooms", NAME, SyntheticRoomsOptions, SYNTHETIC_ROOMS.prepare, lambda config: GradientItems(SYNTHETIC_ROOMS.open(config)),
    SYNTHETIC_ROOMS.location, eval_splits=SYNTHETIC_ROOMS.eval_splits,
)


class GradientSceneProbe(EvalProtocol):
    """A toy protocol: the rooms' scene labels from the gradient students' pooled features, fit on train, scored on test."""

    name = "gradient-scene-probe"
    title = "scene labels of the gradient rooms"
    settings_type = ProbeSettings
    result_file = "probe.json"
    timing_key = "probe_s"

    def run(self, student: LoadedStudent, settings: ProbeSettings, device: torch.device, say=print) -> ProbeReport:
        transform = PairedGradients(tuple(student.config.data.input_size), train=False)
        splits = labelled_splits(student.config, settings.data_set, settings.data, settings.split, None, transform)
        (fit_x, fit_y), (test_x, test_y) = (extract_pooled(student.model, part, device) for part in (splits.fit, splits.scored))
        classes = splits.scene_names
        result = linear_probe(fit_x, fit_y, test_x, test_y, len(classes), classes, settings.cs, settings.val_fraction, settings.seed)
        return ProbeReport("scene_from_gradients", splits.location, {"probe_top1": result.top1}, result.to_dict(), format_probe_table(result))

    def benchmark_settings(self, evaluation, seed: int) -> ProbeSettings:
        return ProbeSettings(split=evaluation.split, seed=seed)


class DepthGradients(Modality):
    name = NAME
    takes = "image"
    example_student = "resnet10"
    default_experiment = {"data": {"name": "gradient-rooms", "target": NAME}, "student": {"name": "resnet10"}}
    protocols = (GradientSceneProbe.name,)
    benchmark_protocols = (GradientSceneProbe.name,)
    probe_tasks = {"scene": GradientSceneProbe.name}

    def channels(self, data: DataConfig) -> int:
        return 3

    def transform(self, data: DataConfig, train: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return PairedGradients(tuple(data.input_size), train)


@pytest.fixture
def toy_modality():
    register_data_set(GRADIENT_ROOMS)
    register_protocol(GradientSceneProbe)
    register_modality(DepthGradients)
    yield MODALITIES.get(NAME)
    MODALITIES.unregister(NAME)
    PROTOCOLS.unregister(GradientSceneProbe.name)
    DATA_SETS.unregister(GRADIENT_ROOMS.name)


@pytest.fixture
def trained_run(toy_modality, tmp_path):
    config = apply_overrides(default_config(NAME), [
        f"data.root={tmp_path / 'data'}", "data.options.num=40", "data.options.size=[48, 64]", "data.input_size=[32, 48]",
        "student.width=4", "schedule.epochs=1", "schedule.batch_size=8", "objective.options.num_negatives=8",
        "run.wandb=disabled", "run.progress=false", f"run.dir={tmp_path / 'run'}",
    ])
    return Trainer(config).fit()


def test_a_third_modality_trains_and_its_checkpoint_records_it(trained_run):
    state = load_checkpoint(trained_run)
    assert state["modality"] == NAME and state["config"]["data"]["target"] == NAME
    assert state["student_spec"] == {"name": "resnet10", "in_channels": 3, "width": 4, "num_classes": None}
    assert state["student"]["stem.0.weight"].shape == (4, 3, 7, 7)
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r.get("event") == "epoch"]
    # The 22 train-split rooms at batch 8 give 2 steps.
    assert [(r["epoch"], r["step"]) for r in epochs] == [(1, 2)] and np.isfinite(epochs[0]["loss/crd"])


def test_a_third_modality_is_probed_by_its_own_protocol_through_probe_run(trained_run):
    student = load_trained_student(trained_run)
    assert student.modality == NAME
    report = probe_run(student, ProbeSettings(), "cpu")
    assert report.task == "scene_from_gradients"
    # 40 rooms: floor(40 * 654 / 1449) = 18 test frames, 22 train frames.
    assert (report.details["num_train"], report.details["num_test"]) == (22, 18)
    assert report.scores["probe_top1"] == probe_run(student, ProbeSettings(), "cpu").scores["probe_top1"]


def test_a_third_modality_reaches_the_probe_cli_and_its_checks(trained_run, capsys):
    assert probe_main(["--run", str(trained_run), "--device", "cpu"]) == 0
    report = json.loads((trained_run / "probe.json").read_text())
    assert report["task"] == "scene_from_gradients" and report["modality"] == NAME
    assert probe_main(["--run", str(trained_run), "--labels", "esc50"]) == 2
    assert "probe task 'esc50' does not apply to depth_gradients students" in capsys.readouterr().err


def test_a_toy_data_set_and_protocol_registered_here_train_and_evaluate_through_the_clis(toy_modality, tmp_path, capsys):
    run = tmp_path / "cli-run"
    assert train_main([
        "--source", "rgb", "--target", NAME, "--data", GRADIENT_ROOMS.name, "--epochs", "1", "--batch-size", "8",
        "--out", str(run), "--wandb", "disabled", "--device", "cpu", "--set", f"data.root={tmp_path / 'data'}",
        "data.options.num=40", "data.options.size=[48, 64]", "data.input_size=[32, 48]", "student.width=4",
        "objective.options.num_negatives=8", "run.progress=false",
    ]) == 0
    assert load_checkpoint(run)["config"]["data"]["name"] == GRADIENT_ROOMS.name
    assert eval_main([GradientSceneProbe.name, "--run", str(run), "--device", "cpu", "--set", "cs=[0.1, 1]"]) == 0
    report = json.loads((run / "probe.json").read_text())
    assert report["task"] == "scene_from_gradients" and report["modality"] == NAME
    assert (report["num_train"], report["num_test"]) == (22, 18)
    assert sorted(report["validation_accuracy"]) == ["0.1", "1.0"], "--set reached the protocol's settings"
    assert eval_main(["segmentation", "--run", str(run)]) == 2
    assert eval_main([GradientSceneProbe.name, "--run", str(run), "--set", "epochs=3"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[-2] == (
        f"error: evaluation protocol 'segmentation' does not apply to {NAME} students; theirs: {GradientSceneProbe.name}"
    )
    assert errors[-1].startswith(f"error: unknown config key 'epochs' in the {GradientSceneProbe.name} settings (--set)")


def test_a_third_modality_checks_its_students_and_data_sets(toy_modality):
    with pytest.raises(InputError, match="takes waveforms, but target 'depth_gradients' needs a student that takes images"):
        toy_modality.check_student("audio_resnet10", 3, DataConfig(), "student.name")
    with pytest.raises(InputError, match="with 1 input channels; depth_gradients students take 3"):
        toy_modality.check_student("resnet10", 1, DataConfig(), "student.name")
    with pytest.raises(InputError, match="pairs rgb with depth and has no depth_gradients"):
        Trainer(apply_overrides(default_config(NAME), ["data.name=synthetic-rooms", "run.wandb=disabled"]))


def test_unregistered_modality_is_unknown():
    with pytest.raises(InputError, match="unknown target modality 'depth_gradients'; choose one of: audio, depth"):
        default_config(NAME)
    assert np.array_equal(MODALITIES.names(), ["audio", "depth"])
