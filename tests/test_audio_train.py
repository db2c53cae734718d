"""crossmodal-train --target audio: config resolution, the video-pair transform, bad input, and a tiny train -> probe run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmodal.cli.common import run_cli
from crossmodal.cli.probe import main as probe_main
from crossmodal.cli.train import build_parser, config_from_args, main, train_main
from crossmodal.config import load_config
from crossmodal.data.av_sets import synthetic_cache_dir
from crossmodal.data.av_transforms import VideoPairTransform
from crossmodal.data.synthetic.av_files import write_av_file
from crossmodal.engine.checkpoint import load_checkpoint
from crossmodal.engine.logging import MetricsFile
from crossmodal.modalities import default_config
from crossmodal.modalities.training_set import build_train_dataset, prepare_data
from tests.waveforms import shifted

torch.set_num_threads(1)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
AUDIO_EXPERIMENTS = {"crd": "crd_audio.yaml", "kd": "kd_audio.yaml", "crd+kd": "crdkd_audio.yaml", "none": "none_audio.yaml"}
TINY_DATA = [
    "data.options.num=8", "data.options.seconds=1.5", "data.options.size=[48,48]", "data.options.clips_per_class=5",
    "data.options.frame_size=[48,48]", "data.input_size=[32,32]",
]
TINY_MODEL = ["student.name=audio_resnet10", "student.width=8", "objective.options.num_negatives=16", "run.progress=false"]


def parse(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """The tiny synthetic audio-visual set (8 videos of 1.5 s, 8 x 5 labelled sounds) and its cache, made once."""
    root = tmp_path_factory.mktemp("data")
    config = parse("--target", "audio", "--set", f"data.root={root}", *TINY_DATA)
    prepare_data(config.data, progress=False)
    return root


@pytest.fixture(autouse=True)
def isolated_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))


def one_line_error(capsys, argv: list[str]) -> str:
    assert run_cli(train_main, argv + ["--wandb", "disabled"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize("objective, name", sorted(AUDIO_EXPERIMENTS.items()))
def test_target_and_objective_flags_resolve_to_the_audio_experiment_files(objective, name):
    from_flags = parse("--target", "audio") if objective == "crd" else parse("--target", "audio", "--objective", objective)
    assert from_flags == load_config(CONFIGS / name)
    assert from_flags.objective.name == objective and from_flags.data.name == "synthetic-av"


def test_audio_defaults_and_depth_defaults_stay_apart():
    audio = default_config("audio")
    assert (audio.data.target, audio.data.name, audio.student.name) == ("audio", "synthetic-av", "audio_resnet18")
    assert parse() == default_config("depth") == load_config(CONFIGS / "crd_depth.yaml")
    assert parse("--objective", "kd") == load_config(CONFIGS / "kd_depth.yaml")
    assert parse("--target", "audio", "--config", str(CONFIGS / "crd_depth.yaml")).data.name == "synthetic-rooms"


def test_video_flags_pick_the_video_data_sets():
    videos = parse("--target", "audio", "--videos", "clips")
    assert (videos.data.name, videos.data.options) == ("video", {"path": "clips"})
    cached = parse("--target", "audio", "--cache", "prepared")
    assert (cached.data.name, cached.data.options) == ("video-cache", {"path": "prepared"})
    both = parse("--target", "audio", "--videos", "clips", "--cache", "here")
    assert (both.data.name, both.data.options) == ("video", {"path": "clips", "cache": "here"})


# ----------------------------------------------------------------------------- samples


def video_item(length: int = 16000) -> dict:
    generator = torch.Generator().manual_seed(0)
    return {
        "rgb": torch.randint(0, 256, (3, 48, 64), dtype=torch.uint8, generator=generator),
        "audio": 0.1 * torch.randn(1, length, generator=generator),
        "index": 3,
        "label": 2,
        "video": "a.mp4",
        "time": 1.0,
    }


def test_video_pair_sample_follows_the_batch_contract():
    torch.manual_seed(0)
    sample = VideoPairTransform(size=(32, 40), train=True)(video_item())
    assert set(sample) == {"source", "target", "index", "label"}
    assert sample["source"].shape == (3, 32, 40) and sample["source"].dtype == torch.float32
    assert sample["target"].shape == (1, 16000) and sample["target"].dtype == torch.float32
    assert (sample["index"], sample["label"]) == (3, 2)


def test_eval_view_is_deterministic_and_leaves_the_audio_alone():
    item = video_item()
    first, second = VideoPairTransform(size=(32, 40), train=False)(item), VideoPairTransform(size=(32, 40), train=False)(item)
    assert torch.equal(first["source"], second["source"])
    assert torch.equal(first["target"], item["audio"])


def test_audio_augmentation_is_a_bounded_gain_and_a_zero_filled_shift():
    item = video_item()
    torch.manual_seed(1)
    gains = [
        (VideoPairTransform(gain_db=6.0, shift_seconds=0.0)(item)["target"] / item["audio"]).mean().item() for _ in range(20)
    ]
    assert all(10 ** (-6 / 20) - 1e-4 <= g <= 10 ** (6 / 20) + 1e-4 for g in gains) and np.std(gains) > 0.05
    moved = VideoPairTransform(gain_db=0.0, shift_seconds=0.1)(item)["target"][0]
    original = item["audio"][0]
    shift = next(s for s in range(-1600, 1601) if torch.equal(moved, shifted(original, s)))
    assert abs(shift) <= 1600


def test_training_set_pairs_frames_with_their_audio_window(tiny_root):
    config = parse("--target", "audio", "--set", f"data.root={tiny_root}", *TINY_DATA)
    dataset = build_train_dataset(config.data)
    assert len(dataset) == 8 * 2  # windows centred at 0.5 and 1.0 s of each 1.5 s video (2 per second)
    sample = dataset[5]
    assert sample["source"].shape == (3, 32, 32) and sample["target"].shape == (1, 16000)
    assert sample["index"] == 5 and "label" in sample


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--target", "audio", "--data", "nyu"], "data set 'nyu' pairs rgb with depth and has no audio"),
        (["--target", "depth", "--data", "synthetic-av"], "has no depth"),
        (["--target", "audio", "--data", "video"], "--videos DIR"),
        (["--target", "audio", "--data", "video-cache"], "--cache DIR"),
        (["--target", "audio", "--videos", "absent"], "is not a directory"),
        (["--target", "audio", "--cache", "."], "is not a video cache"),
    ],
)
def test_bad_audio_input_is_one_line_error(capsys, argv, expected):
    assert expected in one_line_error(capsys, argv)


def test_videos_without_sound_are_one_line_error(tmp_path, capsys):
    (tmp_path / "silent").mkdir()
    write_av_file(tmp_path / "silent" / "a.mp4", np.zeros((10, 32, 32, 3), np.uint8), 10, None, 16000)
    with pytest.warns(UserWarning, match="no audio track"):
        message = one_line_error(capsys, ["--target", "audio", "--videos", str(tmp_path / "silent"), "--set", "run.progress=false"])
    assert "none of the videos" in message and "no frame/audio pairs" in message


def test_image_student_for_audio_and_clip_length_mismatch_are_one_line_errors(tiny_root, capsys):
    base = ["--target", "audio", "--batch-size", "8", "--set", f"data.root={tiny_root}", *TINY_DATA, "run.progress=false"]
    assert "takes images" in one_line_error(capsys, base + ["student.name=resnet10"])
    cache = synthetic_cache_dir(parse(*base).data)
    message = one_line_error(capsys, ["--target", "audio", "--cache", str(cache), "--set", "data.options.clip_seconds=0.5"])
    assert "holds 1.0 s audio windows" in message


# ----------------------------------------------------------------------------- end to end


def test_tiny_audio_run_trains_then_probes_on_the_generated_sound_set(tiny_root, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["--source", "rgb", "--target", "audio", "--epochs", "1", "--batch-size", "8", "--out", str(run),
            "--wandb", "disabled", "--set", f"data.root={tiny_root}", *TINY_DATA, *TINY_MODEL]
    assert main(argv) == 0
    assert "finished 1/1 epochs" in capsys.readouterr().out
    state = load_checkpoint(run)
    assert state["student_spec"]["name"] == "audio_resnet10" and state["global_step"] == 2
    epochs = [r for r in MetricsFile(run / "metrics.jsonl").read() if r.get("event") == "epoch"]
    assert len(epochs) == 1 and math.isfinite(epochs[0]["loss/crd"])

    assert probe_main(["--run", str(run), "--device", "cpu"]) == 0
    report = json.loads((run / "probe.json").read_text())
    assert report["task"] == "esc50_folds" and report["num_folds"] == 5
    assert sum(fold["num_test"] for fold in report["folds"]) == 40
    assert report["top1"] > 1 / 8, "even one epoch's features separate the synthetic sounds above chance"

    assert probe_main(["--run", str(run), "--device", "cpu", "--labels", "video-cache"]) == 0
    report = json.loads((run / "probe.json").read_text())
    assert report["task"] == "video_clip_labels" and sum(fold["num_test"] for fold in report["folds"]) == 16


def test_an_audio_run_augments_on_the_device_when_asked(tiny_root, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["--target", "audio", "--epochs", "1", "--batch-size", "8", "--out", str(run), "--wandb", "disabled",
            "--set", f"data.root={tiny_root}", "data.augment_on=device", *TINY_DATA, *TINY_MODEL]
    assert main(argv) == 0
    assert "finished 1/1 epochs" in capsys.readouterr().out
    epochs = [r for r in MetricsFile(run / "metrics.jsonl").read() if r.get("event") == "epoch"]
    assert len(epochs) == 1 and math.isfinite(epochs[0]["loss/crd"])
