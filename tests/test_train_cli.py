"""crossmodal-train: flags become the config, user mistakes become one line and exit code 2, runs land on disk."""
from __future__ import annotations

import re

import pytest
import torch
import yaml

import crossmodal.engine.trainer as trainer_module
from crossmodal.cli.common import run_cli
from crossmodal.cli.train import build_parser, config_from_args, main, train_main
from crossmodal.config import load_config
from crossmodal.engine.checkpoint import load_checkpoint
from crossmodal.engine.logging import MetricsFile
from crossmodal.errors import InputError

torch.set_num_threads(1)  # small batches gain nothing from more threads on a shared machine


@pytest.fixture(autouse=True)
def isolated_directories(tmp_path, monkeypatch):
    """Default run and data directories are relative to the working directory: keep them in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))


def parse(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


def one_line_error(capsys, argv: list[str]) -> str:
    assert run_cli(train_main, argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_flags_fill_the_config():
    config = parse(
        "--source", "rgb", "--target", "depth", "--objective", "kd", "--teacher", "efficientnet_lite0",
        "--teacher", "resnet50:/w.pth", "--nyu", "/data/nyu.mat", "--epochs", "3", "--batch-size", "16",
        "--seed", "7", "--out", "runs/x", "--wandb", "disabled", "--device", "cpu",
        "--set", "optim.lr=0.01", "objective.options.temperature=2",
    )
    assert (config.data.name, config.data.options) == ("nyu", {"path": "/data/nyu.mat"})
    assert config.teacher.specs == ["efficientnet_lite0", "resnet50:/w.pth"]
    assert (config.schedule.epochs, config.schedule.batch_size, config.run.seed) == (3, 16, 7)
    assert (config.run.dir, config.run.wandb, config.run.device) == ("runs/x", "disabled", "cpu")
    assert config.objective.name == "kd" and config.objective.options == {"temperature": 2}
    assert config.optim.lr == 0.01


def test_config_file_then_flags_then_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("objective: {name: crd, options: {num_negatives: 64}}\nschedule: {epochs: 5}\n")
    config = parse("--config", str(path), "--epochs", "2", "--set", "schedule.epochs=4")
    assert config.schedule.epochs == 4 and config.objective.options == {"num_negatives": 64}
    assert parse("--config", str(path), "--objective", "fitnet").objective.options == {}, "options of another objective must not carry over"


def test_missing_nyu_file_is_one_line_error(tmp_path, capsys):
    message = one_line_error(capsys, ["--source", "rgb", "--target", "depth", "--nyu", str(tmp_path / "absent.mat"), "--wandb", "disabled"])
    assert "absent.mat" in message and "does not exist" in message


def test_unknown_objective_is_one_line_error(tmp_path, capsys):
    message = one_line_error(capsys, ["--objective", "contrastive", "--out", str(tmp_path / "run"), "--wandb", "disabled"])
    assert "'contrastive'" in message and "crd" in message


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--source", "depth", "--target", "rgb"], "source 'depth'"),
        (["--target", "smell"], "target 'smell' is not supported yet"),
        (["--data", "imagenet"], "unknown data set 'imagenet'"),
        (["--set", "optim.lrr=1"], "'optim.lrr'"),
        (["--epochs", "two"], "--epochs"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--resume", "runs/never-ran"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, capsys, argv, expected):
    assert expected in one_line_error(capsys, argv + ["--wandb", "disabled"])


def test_folder_without_depth_is_one_line_error(tmp_path, capsys):
    (tmp_path / "rgb").mkdir()
    message = one_line_error(capsys, ["--folder", str(tmp_path), "--wandb", "disabled", "--out", str(tmp_path / "run")])
    assert str(tmp_path) in message


def test_tiny_run_writes_a_run_and_resume_of_a_finished_run_is_a_no_op(tmp_path, capsys):
    run = tmp_path / "run"
    argv = [
        "--source", "rgb", "--target", "depth", "--epochs", "1", "--batch-size", "8", "--out", str(run), "--wandb", "disabled",
        "--set", f"data.root={tmp_path / 'data'}", "data.options.num=24", "data.options.size=[48,64]", "data.options.split=all",
        "data.input_size=[32,48]", "student.name=resnet10", "student.width=8", "run.progress=false",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"run directory: {run}" in out and "finished 1/1 epochs" in out
    assert load_config(run / "config.yaml").data.options["num"] == 24
    assert [r["epoch"] for r in MetricsFile(run / "metrics.jsonl").read() if r.get("event") == "epoch"] == [1]
    before = load_checkpoint(run)
    assert main(["--resume", str(run)]) == 0
    assert load_checkpoint(run)["global_step"] == before["global_step"] == 3
    assert one_line_error(capsys, argv).endswith(f"--resume {run} or choose another --run-dir")


def test_ctrl_c_exits_130_in_one_line_and_keeps_the_finished_epochs(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    argv = [
        "--epochs", "2", "--batch-size", "8", "--out", str(run), "--wandb", "disabled",
        "--set", f"data.root={tmp_path / 'data'}", "data.options.num=24", "data.options.size=[48,64]", "data.options.split=all",
        "data.input_size=[32,48]", "student.name=resnet10", "student.width=8", "run.progress=false",
    ]
    real_epoch = trainer_module.Trainer._train_epoch

    def interrupted_in_epoch_two(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        real_epoch(self, epoch)

    monkeypatch.setattr(trainer_module.Trainer, "_train_epoch", interrupted_in_epoch_two)
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == f"interrupted after epoch 1 of 2; continue with: crossmodal-train --resume {run}"
    assert load_checkpoint(run)["epoch"] == 1, "the finished epoch is kept"
    monkeypatch.undo()
    assert main(["--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"run directory: {run} (resuming after epoch 1 of 2)" in out and "epoch 2/2: loss " in out
    assert [r["epoch"] for r in MetricsFile(run / "metrics.jsonl").read() if r.get("event") == "epoch"] == [1, 2]


def test_strict_flag_makes_truncated_data_files_stop_the_run():
    assert parse("--data", "rgbd-folder", "--strict").data.options == {"strict": True} and parse().data.options == {}


TINY = ["--wandb", "disabled", "--set", "data.options.num=24", "data.options.size=[48,64]", "data.options.split=all",
        "data.input_size=[32,48]", "student.name=resnet10", "student.width=8", "run.progress=false"]


def test_the_console_names_the_metrics_and_sums_up_each_epoch(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["--epochs", "2", "--batch-size", "8", "--out", str(run), *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = lines.index(f"run directory: {run}")
    assert lines[first + 1] == f"wandb: off; metrics in {run / 'metrics.jsonl'}"
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 and all(re.fullmatch(
        r"epoch [12]/2: loss \d+\.\d{4} \(loss/crd \d+\.\d{4}\), \d+ samples/s, \d+\.\d s \(\d+% waiting for data\); "
        r"elapsed \d+:\d\d, about \d+:\d\d left", line)
        for line in epochs), epochs
    records = [record for record in MetricsFile(run / "metrics.jsonl").read() if record.get("event") == "epoch"]
    assert all(0 <= record["data_wait_s"] < record["epoch_time_s"] for record in records)


@pytest.mark.parametrize("failure, code, message", [
    (InputError("the data went away"), 2, "error: the data went away"),
    (KeyboardInterrupt(), 130, "interrupted before its first epoch finished; nothing was kept"),
])
def test_a_start_that_fails_before_its_first_epoch_leaves_no_run_folder(tmp_path, capsys, monkeypatch, failure, code, message):
    def failing(self, epoch):
        raise failure

    monkeypatch.setattr(trainer_module.Trainer, "_train_epoch", failing)
    run = tmp_path / "run"
    assert main(["--epochs", "1", "--batch-size", "8", "--out", str(run), *TINY]) == code
    assert capsys.readouterr().err.strip() == message and not run.exists()
    run.mkdir()  # a folder the user made stays, whatever happens in it
    assert main(["--epochs", "1", "--batch-size", "8", "--out", str(run), *TINY]) == code and run.is_dir()


@pytest.mark.parametrize("argv, expected", [
    (["--batch-size", "1"], "error: schedule.batch_size 1 cannot train: BatchNorm layers (the student's, the objectives' "
                            "embedding heads) need at least 2 samples per step; use --batch-size 2 or more"),
    (["--lr", "0.1", "--num-negatives=64"], "error: unrecognized arguments: --lr 0.1 --num-negatives=64; did you mean "
                                             "--set optim.lr=0.1, --set objective.options.num_negatives=64? (see crossmodal-train --help)"),
    (["--epoch", "3"], "error: unrecognized arguments: --epoch 3; did you mean --epochs? (see crossmodal-train --help)"),
])
def test_flag_mistakes_name_the_fix(tmp_path, capsys, argv, expected):
    assert one_line_error(capsys, [*argv, "--out", str(tmp_path / "run")]) == expected
    assert not (tmp_path / "run").exists()


def test_resuming_a_folder_that_is_not_a_run_says_so(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    assert one_line_error(capsys, ["--resume", str(tmp_path / "photos")]) == (
        f"error: {tmp_path / 'photos'} is not a crossmodal run directory (it holds no last.pt or config.yaml or metrics.jsonl)"
    )


def test_print_config_shows_every_option_in_effect_and_writes_nothing(tmp_path, capsys):
    assert main(["--print-config", "--out", str(tmp_path / "run"), "--set", "objective.options.tau=0.1", "data.options.num=24"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    crd = printed["objective"]["options"]
    assert crd["tau"] == 0.1 and crd["num_negatives"] == 16384 and crd["momentum"] == 0.5
    assert printed["data"]["options"] == {"num": 24, "size": [120, 160], "seed": 0, "split": "train"}
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()


def test_dry_run_prepares_and_builds_but_writes_no_run(tmp_path, capsys):
    assert main(["--dry-run", "--batch-size", "8", "--out", str(tmp_path / "run"), *TINY]) == 0
    out = capsys.readouterr().out
    assert "dry run: 24 training samples of synthetic-rooms" in out and "3 steps per epoch" in out and out.rstrip().endswith("nothing written")
    printed = out[out.index("\ndata:\n") + 1: out.index("dry run:")]  # after the rooms' first-use line
    assert yaml.safe_load(printed)["objective"]["options"]["num_negatives"] == 16384
    assert not (tmp_path / "run").exists() and any((tmp_path / "data").iterdir())


def test_a_run_records_the_options_in_effect(tmp_path):
    run = tmp_path / "run"
    assert main(["--epochs", "1", "--batch-size", "8", "--out", str(run), *TINY]) == 0
    saved = load_config(run / "config.yaml")
    assert saved.objective.options["num_negatives"] == 16384 and saved.data.options["seed"] == 0
    assert load_checkpoint(run)["config"]["objective"]["options"]["tau"] == 0.07
