"""Runs a user can always continue, and a user's mistake answered with one sentence: the edges of the engine."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from crossmodal.cli.common import run_cli
from crossmodal.cli.train import train_main
from crossmodal.config import TrainConfig, apply_overrides
from crossmodal.distill import OBJECTIVES, Objective
from crossmodal.engine.checkpoint import load_checkpoint, save_checkpoint
from crossmodal.engine.logging import MetricsFile
from crossmodal.engine.trainer import Trainer
from crossmodal.errors import InputError
from crossmodal.fileio import remove_stale_temporaries
from tests.test_engine import tiny_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def epochs_in(run) -> list[int]:
    return [r["epoch"] for r in MetricsFile(run / "metrics.jsonl").read() if r.get("event") == "epoch"]


@pytest.mark.parametrize("typed, value", [("1e-3", 0.001), ("5E-2", 0.05), (".5", 0.5), ("3", 3.0)])
def test_every_number_a_user_types_is_accepted(typed, value):
    assert apply_overrides(TrainConfig(), [f"optim.lr={typed}"]).optim.lr == value
    assert apply_overrides(TrainConfig(), ["schedule.epochs=5e1"]).schedule.epochs == 50


@pytest.mark.parametrize("override, message", [
    ("optim.lr=.nan", "optim.lr must be a positive number, got nan"),
    ("optim.lr=-0.1", "optim.lr must be a positive number, got -0.1"),
    ("optim.momentum=1.5", "optim.momentum must lie in [0, 1), got 1.5"),
    ("optim.weight_decay=-1", "optim.weight_decay must be a number >= 0"),
    ("data.num_workers=-1", "data.num_workers must be 0"),
    ("run.on_nonfinite=ignore", "run.on_nonfinite 'ignore' is not one of: stop, skip"),
    ("data.order=sorted", "data.order 'sorted' is not one of: shuffle, chunks"),
    ("data.chunk_size=0", "data.chunk_size (0) and data.window_chunks (16) must be positive"),
    ("schedule.epochs=2.5", "'schedule.epochs'"),
])
def test_bad_numbers_are_one_sentence_and_exit_2(tmp_path, capsys, monkeypatch, override, message):
    monkeypatch.chdir(tmp_path)
    assert run_cli(train_main, ["--wandb", "disabled", "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


class NaNAtStep(Objective):
    """A real loss on the student, NaN at the steps listed in ``at``."""

    at: tuple[int, ...] = ()

    def __init__(self, ctx) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, student_out, teacher_outs, batch):
        loss = self.scale * student_out.pooled.pow(2).mean()
        return {"probe_term": loss * float("nan") if self.progress.step in self.at else loss}


@pytest.fixture
def nan_objective():
    OBJECTIVES.register("nan-at-step")(NaNAtStep)
    yield NaNAtStep
    OBJECTIVES.unregister("nan-at-step")
    NaNAtStep.at = ()


def test_a_nonfinite_loss_stops_with_one_sentence_and_keeps_the_last_checkpoint(tmp_path, data_root, nan_objective):
    nan_objective.at = (6,)  # 40 rooms at batch 8: 5 steps per epoch, so step 6 is the first of epoch 2
    config = tiny_config(tmp_path, data_root, "objective.name=nan-at-step", f"run.dir={tmp_path / 'run'}")
    with pytest.raises(InputError, match=r"step 7 \(epoch 2\) gave a non-finite loss \(probe_term = nan\).*epoch 1 .* is kept"):
        Trainer(config).fit()
    state = load_checkpoint(tmp_path / "run")
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["student"].values() if v.is_floating_point())
    assert epochs_in(tmp_path / "run") == [1]


def test_skip_mode_skips_nonfinite_steps_and_counts_them(tmp_path, data_root, nan_objective):
    nan_objective.at = (1, 7)
    config = tiny_config(tmp_path, data_root, "objective.name=nan-at-step", "run.on_nonfinite=skip", f"run.dir={tmp_path / 'run'}")
    Trainer(config).fit()
    epochs = [r for r in MetricsFile(tmp_path / "run" / "metrics.jsonl").read() if r.get("event") == "epoch"]
    assert [(r["epoch"], r["skipped_steps"]) for r in epochs] == [(1, 1), (2, 2)]
    assert load_checkpoint(tmp_path / "run")["global_step"] == 10


def test_a_run_killed_before_its_first_checkpoint_restarts_without_duplicate_epochs(tmp_path, data_root):
    run = tmp_path / "run"
    run.mkdir()
    # What a kill during epoch 2 of a first attempt leaves behind: epoch 1 logged, no checkpoint yet written.
    MetricsFile(run / "metrics.jsonl").write({"event": "epoch", "epoch": 1, "step": 5, "loss": 1.0})
    (run / f".last.pt.tmp-{2**22 + 12345}").write_bytes(b"half a checkpoint")
    Trainer(tiny_config(tmp_path, data_root, f"run.dir={run}")).fit()
    assert epochs_in(run) == [1, 2]
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


def test_only_temporaries_of_dead_processes_are_removed(tmp_path):
    mine, dead, other = tmp_path / f".a.tmp-{os.getpid()}", tmp_path / f".b.tmp-{2**22 + 7}", tmp_path / "c.tmp-1"
    for path in (mine, dead, other):
        path.write_text("x")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()


def test_resume_cannot_shorten_a_run(tmp_path, data_root, capsys):
    run = tmp_path / "run"
    Trainer(tiny_config(tmp_path, data_root, f"run.dir={run}")).fit()
    assert run_cli(train_main, ["--resume", str(run), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "the run has finished 2 epochs, more than schedule.epochs 1; --epochs can only extend a run" in err
    assert load_checkpoint(run)["epoch"] == 2


def test_a_run_extended_with_epochs_follows_the_stretched_schedule_and_resumes_bit_identical(tmp_path, data_root, monkeypatch):
    import math

    import crossmodal.engine.trainer as trainer_module

    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    for run in (straight, interrupted):
        Trainer(tiny_config(tmp_path, data_root, f"run.dir={run}")).fit()  # 2 epochs of 5 steps, finished
    finished_epochs = [line for line in (straight / "metrics.jsonl").read_text().splitlines() if '"event": "epoch"' in line]
    assert run_cli(train_main, ["--resume", str(straight), "--epochs", "4"]) == 0

    real_save = trainer_module.save_checkpoint

    def save_then_stop(state, path):  # the extension is killed right after epoch 3's checkpoint
        real_save(state, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "save_checkpoint", save_then_stop)
    assert run_cli(train_main, ["--resume", str(interrupted), "--epochs", "4"]) == 130
    monkeypatch.undo()
    assert load_checkpoint(interrupted)["epoch"] == 3 and load_checkpoint(interrupted)["config"]["schedule"]["epochs"] == 4
    assert run_cli(train_main, ["--resume", str(interrupted)]) == 0  # the extended length is the run's own now

    a, b = load_checkpoint(straight), load_checkpoint(interrupted)
    assert (a["epoch"], a["global_step"], a["finished"]) == (b["epoch"], b["global_step"], b["finished"]) == (4, 20, True)
    assert all(torch.equal(a["student"][key], b["student"][key]) for key in a["student"])
    assert epochs_in(straight) == epochs_in(interrupted) == [1, 2, 3, 4]
    lines = (straight / "metrics.jsonl").read_text().splitlines()
    assert [line for line in lines if '"event": "epoch"' in line][:2] == finished_epochs, "the finished epochs stay as they were"
    records = [r for r in MetricsFile(straight / "metrics.jsonl").read() if r.get("event") == "epoch"]
    base_lr = TrainConfig().optim.lr
    assert records[2]["lr"] == pytest.approx(base_lr * 0.5 * (1 + math.cos(math.pi * 15 / 20)), rel=1e-9), "the cosine stretched to 20 steps"
    assert "epochs: 4" in (straight / "config.yaml").read_text()


def one_sentence(capsys, argv: list[str]) -> str:
    assert run_cli(train_main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_a_config_that_is_not_utf8_is_one_sentence(tmp_path, capsys):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("run: {name: caf\xe9}\n".encode("latin-1"))
    assert f"config file {config} is not UTF-8 text" in one_sentence(capsys, ["--config", str(config)])


def test_an_unwritable_run_directory_is_one_sentence(tmp_path, data_root, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    message = one_sentence(capsys, ["--wandb", "disabled", "--batch-size", "8", "--run-dir", str(tmp_path / "a-file" / "run"),
                                    "--set", f"data.root={data_root}", "data.options.num=40", "data.options.size=[48, 64]"])
    assert f"cannot write the run directory {tmp_path / 'a-file' / 'run'}" in message


def test_a_full_disk_at_checkpoint_time_is_one_sentence_and_keeps_the_previous_checkpoint(tmp_path, data_root, monkeypatch):
    import crossmodal.engine.trainer as trainer_module
    from crossmodal.engine.checkpoint import save_checkpoint

    run = tmp_path / "run"
    trainer = Trainer(tiny_config(tmp_path, data_root, f"run.dir={run}"))

    def full_after_first(state, path):
        if state["epoch"] > 1:
            raise OSError(28, "No space left on device")
        save_checkpoint(state, path)

    monkeypatch.setattr(trainer_module, "save_checkpoint", full_after_first)
    with pytest.raises(InputError, match=r"could not write checkpoint .*last.pt \(No space left on device\); the previous checkpoint is kept"):
        trainer.fit()
    assert load_checkpoint(run)["epoch"] == 1


def test_resume_on_a_data_set_of_another_size_is_one_sentence(tmp_path, data_root, capsys):
    run = tmp_path / "run"
    config = tiny_config(tmp_path, data_root, f"run.dir={run}", "schedule.epochs=1")
    Trainer(config).fit()
    with pytest.raises(InputError, match="holds per-sample state .* for 40 training samples, but the data set now has 24"):
        Trainer(apply_overrides(config, ["data.options.num=24", "schedule.epochs=2"]), resume=run)


def test_resume_from_a_checkpoint_with_a_key_missing_or_a_wrong_shape_is_one_sentence(tmp_path, data_root):
    from crossmodal.engine.checkpoint import save_checkpoint

    run = tmp_path / "run"
    config = tiny_config(tmp_path, data_root, f"run.dir={run}", "schedule.epochs=1")
    Trainer(config).fit()
    state = load_checkpoint(run)
    save_checkpoint({k: v for k, v in state.items() if k != "optimizer"}, run / "last.pt")
    with pytest.raises(InputError, match="lacks optimizer, so the run cannot be continued"):
        Trainer(config, resume=run)
    state["student"]["stem.0.weight"] = torch.zeros(3, 3)
    save_checkpoint(state, run / "last.pt")
    with pytest.raises(InputError, match="does not fit this run .*start afresh in another --run-dir"):
        Trainer(config, resume=run)


# ---------------------------------------------------------------- byte-flip fuzzing


def _flipped_copies(original, directory, count: int, seed: int, skip: int = 0):
    """``count`` copies of ``original``, each with one byte inverted at a seeded position past ``skip``."""
    data = original.read_bytes()
    positions = np.random.default_rng(seed).integers(skip, len(data), count)
    directory.mkdir()
    for k, position in enumerate(positions):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        path = directory / f"{k:03d}{original.suffix}"
        path.write_bytes(bytes(damaged))
        yield int(position), path


def test_a_byte_flipped_mat_file_either_reads_or_is_one_sentence(tmp_path):
    from crossmodal.data.nyu import NYUDepthV2
    from tests.nyu_files import random_frames, write_nyu_mat

    original = write_nyu_mat(tmp_path / "nyu.mat", random_frames(4, 12, 16))
    outcomes = {"read": 0, "refused": 0}
    # every flip lands in HDF5 metadata or data (past MATLAB's 512-byte text header); each file gets its own name,
    # because the HDF5 library keeps files it has open by name
    for position, path in _flipped_copies(original, tmp_path / "flipped", 80, seed=0, skip=512):
        try:
            frames = NYUDepthV2(path, split="all")
            for index in range(len(frames)):
                frames[index]
            outcomes["read"] += 1
        except InputError as error:
            assert str(path) in str(error) and "\n" not in str(error), (position, error)
            outcomes["refused"] += 1
    assert outcomes["read"] + outcomes["refused"] == 80 and outcomes["refused"] > 0


def test_a_byte_flipped_checkpoint_either_loads_or_is_one_sentence(tmp_path, data_root):
    run = Trainer(tiny_config(tmp_path, data_root, "schedule.epochs=1")).fit()
    refused = 0
    for position, path in _flipped_copies(run / "last.pt", tmp_path / "flipped", 60, seed=1):
        try:
            state = load_checkpoint(path)
            assert isinstance(state, dict)
        except InputError as error:
            assert str(path) in str(error) and "\n" not in str(error), (position, error)
            refused += 1
    assert refused > 0


def test_depth_frames_with_no_valid_pixel_are_counted_every_epoch(tmp_path, capsys):
    for stem in range(16):
        (tmp_path / "folder" / "rgb").mkdir(parents=True, exist_ok=True)
        (tmp_path / "folder" / "depth").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "folder" / "rgb" / f"{stem:02d}.png"), np.full((24, 32, 3), 10 * stem, np.uint8))
        depth = np.full((24, 32), np.nan if stem in (3, 7, 11) else 1.5, np.float32)  # three frames with no valid depth
        np.save(tmp_path / "folder" / "depth" / f"{stem:02d}.npy", depth)
    config = apply_overrides(TrainConfig(), [
        "data.name=rgbd-folder", f"data.options.path={tmp_path / 'folder'}", "data.input_size=[16, 24]", "student.name=resnet10",
        "student.width=8", "schedule.epochs=2", "schedule.batch_size=4", "run.wandb=disabled", "run.progress=false",
        f"run.dir={tmp_path / 'run'}", "objective.options.sampling=per-sample",
    ])
    Trainer(config).fit()
    records = [r for r in MetricsFile(tmp_path / "run" / "metrics.jsonl").read() if r.get("event") == "epoch"]
    assert [r["empty_targets"] for r in records] == [3, 3]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "no valid target pixel" in line]
    assert warnings == [f"warning: epoch {e}: 3 training samples had no valid target pixel (e.g. a depth frame that is all missing) "
                        "and trained on an all-missing target" for e in (1, 2)]


def test_resume_with_another_world_size_is_one_sentence(tmp_path, data_root):
    run = Trainer(tiny_config(tmp_path, data_root, f"run.dir={tmp_path / 'run'}", "schedule.epochs=1")).fit()
    state = load_checkpoint(run)
    assert state["world_size"] == 1
    state["world_size"] = 4
    save_checkpoint(state, run / "last.pt")
    with pytest.raises(InputError, match=r"was trained by 4 process\(es\) and this run has 1; resume with the same number"):
        Trainer(tiny_config(tmp_path, data_root, f"run.dir={run}", "schedule.epochs=2"), resume=run)
