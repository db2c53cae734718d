"""Audio probing: the fold protocol, whole-video folds, windowed features, and crossmodal-probe on audio runs."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from crossmodal.cli.eval import main as eval_main
from crossmodal.cli.probe import main as probe_main
from crossmodal.config import config_to_dict
from crossmodal.data.av_sets import synthetic_sound_set
from crossmodal.engine.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from crossmodal.errors import InputError
from crossmodal.eval import fold_probe as fold_probe_module
from crossmodal.eval.audio_probe import Windowed
from crossmodal.eval.fold_probe import fold_probe, grouped_validation_split, stratified_group_folds
from crossmodal.eval.window_svm import fit_window_svm
from crossmodal.modalities import default_config
from crossmodal.models.features import Features
from crossmodal.models.student_registry import build_student

torch.set_num_threads(1)

CLASSES = ("low", "mid", "high")


def separable(num: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(7).normal(scale=6.0, size=(num_classes, 8))
    labels = np.arange(num) % num_classes
    return centres[labels] + rng.normal(size=(num, 8)), labels


# ----------------------------------------------------------------------------- fold protocol


def test_every_fold_is_tested_once_and_the_mean_is_over_the_folds():
    features, labels = separable(100, 4, seed=0)
    folds = np.arange(100) % 5 + 1
    result = fold_probe(features, labels, folds, np.arange(100), list("abcd"))
    assert result.test_folds == [1, 2, 3, 4, 5]
    assert [r.num_test for r in result.folds] == [20] * 5 and all(r.num_train == 80 for r in result.folds)
    assert result.confusion.sum() == 100, "each sample is scored exactly once, in its own fold"
    tops = [r.top1 for r in result.folds]
    assert result.top1_mean == pytest.approx(np.mean(tops)) and result.top1_std == pytest.approx(np.std(tops))
    assert result.top1_mean > 0.95
    report = result.to_dict()
    assert report["num_folds"] == 5 and report["top1"] == result.top1_mean and len(report["folds"]) == 5


def test_random_labels_score_chance_over_folds():
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(500, 8)), rng.integers(0, 4, 500)
    result = fold_probe(features, labels, np.arange(500) % 5 + 1, np.arange(500), list("abcd"))
    assert abs(result.top1_mean - 0.25) < 0.07


def test_regularisation_never_sees_the_test_fold():
    features, labels = separable(100, 4, seed=1)
    folds = np.arange(100) % 5 + 1
    marked = features + 1000.0 * (folds == 3)[:, None]  # fold 3 rows are recognisable anywhere
    fitted = []

    def recording_fit(x, y, c, seed=0):
        fitted.append(x)
        return fold_probe_module.fit_probe(x, y, c, seed)

    result = fold_probe(marked, labels, folds, np.arange(100), list("abcd"), fit_classifier=recording_fit)
    per_fold = len(fold_probe_module.DEFAULT_CS) + 1
    fold3 = fitted[2 * per_fold : 3 * per_fold]
    assert all(np.abs(x).max() < 500 for x in fold3), "fold 3 is the test fold: none of its rows may be fitted"
    assert result.folds[2].num_test == 20


def test_video_folds_keep_videos_whole_and_classes_balanced():
    video_labels = np.repeat(np.arange(4), 5)  # 4 classes x 5 videos
    folds = stratified_group_folds(video_labels, 5, seed=0)
    assert sorted(np.bincount(folds)[1:]) == [4] * 5
    for fold in range(1, 6):
        assert sorted(video_labels[folds == fold]) == [0, 1, 2, 3]
    assert np.array_equal(folds, stratified_group_folds(video_labels, 5, seed=0))
    with pytest.raises(InputError, match="at least 5 videos"):
        stratified_group_folds(np.arange(3), 5)


def test_validation_split_holds_out_whole_groups():
    groups = np.repeat(np.arange(20), 6)
    labels = groups % 4
    fit, validation = grouped_validation_split(labels, groups, 0.2, seed=0)
    assert not set(groups[fit]) & set(groups[validation])
    assert len(set(groups[validation])) == 4 and sorted(labels[validation][::6]) == [0, 1, 2, 3]


def test_window_averaging_is_the_mean_of_per_window_features():
    class Energy(torch.nn.Module):
        def forward(self, x):
            return Features(pooled=x.pow(2).mean(dim=-1), maps=[], logits=None)

    waveform = torch.randn(2, 1, 35)
    pooled = Windowed(Energy(), window=10)(waveform).pooled
    expected = torch.stack([waveform[..., 10 * k : 10 * (k + 1)].pow(2).mean(dim=-1) for k in range(3)]).mean(dim=0)
    assert torch.allclose(pooled, expected)
    assert torch.allclose(Windowed(Energy(), window=50)(waveform).pooled, waveform.pow(2).mean(dim=-1))


# ----------------------------------------------------------------------------- crossmodal-probe


def write_sound_set(root: Path, clips_per_fold: int = 2) -> Path:
    """Three tone classes x five folds, 0.5 s at 16 kHz, in the ESC-50 layout."""
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        for target, category in enumerate(CLASSES):
            for k in range(clips_per_fold):
                name = f"{fold}-{target}{k}-A-{target}.wav"
                pitch = (300, 1200, 4000)[target] * rng.uniform(0.9, 1.1)
                soundfile.write(root / "audio" / name, 0.3 * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.normal(size=len(t)), 16000)
                rows.append(f"{name},{fold},{target},{category},False,{target}{k},A")
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    return root


def fake_audio_run(run_dir: Path, data_root: Path, student: str = "audio_resnet10") -> Path:
    """A run directory in the trainer's checkpoint layout holding a tiny untrained audio student."""
    config = default_config("audio")
    config = replace(
        config,
        data=replace(config.data, root=str(data_root), options={"clip_seconds": 0.25}),
        student=replace(config.student, name=student, width=4),
    )
    spec = {"name": student, "in_channels": 1, "width": 4, "num_classes": None}
    run_dir.mkdir(parents=True)
    state = {"format": CHECKPOINT_FORMAT, "epoch": 1, "config": config_to_dict(config), "student_spec": spec,
             "student": build_student(**spec).state_dict(), "wandb_id": None}
    save_checkpoint(state, run_dir / "last.pt")
    return run_dir


@pytest.fixture
def audio_run(tmp_path):
    """An audio run on the default synthetic events, whose generated sound set is a tiny tone set."""
    write_sound_set(synthetic_sound_set(replace(default_config("audio").data, root=str(tmp_path / "data"))))
    return fake_audio_run(tmp_path / "run", tmp_path / "data")


def test_audio_run_is_probed_with_the_esc50_fold_protocol_and_features_are_cached(audio_run, capsys):
    assert probe_main(["--run", str(audio_run), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "ESC-50 fold protocol" in out and "mean ± std over 5 folds" in out and "(cached)" not in out
    report = json.loads((audio_run / "probe.json").read_text())
    assert report["task"] == "esc50_folds" and report["class_names"] == list(CLASSES)
    assert [f["test_fold"] for f in report["folds"]] == [1, 2, 3, 4, 5]
    assert all(f["num_train"] == 24 and f["num_test"] == 6 for f in report["folds"])
    assert report["top1"] == pytest.approx(np.mean([f["top1"] for f in report["folds"]]))
    assert len(list((audio_run / "features").glob("*.npz"))) == 5

    assert probe_main(["--run", str(audio_run), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.count("(cached)") == 5


def test_the_esc50_data_set_of_the_catalog_is_the_same_sound_set_as_a_path(audio_run, tmp_path, capsys):
    sounds = write_sound_set(tmp_path / "esc50")
    assert probe_main(["--run", str(audio_run), "--device", "cpu", "--data", str(sounds), "--out", str(tmp_path / "a")]) == 0
    assert probe_main(["--run", str(audio_run), "--device", "cpu", "--data", str(sounds), "--data-set", "esc50", "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / part / "probe.json").read_text()) for part in "ab")
    assert a["data"] == b["data"] == str(sounds) and a["folds"] == b["folds"]
    assert bad_input(capsys, ["--run", str(audio_run), "--data-set", "esc50"]) == (
        "error: data set 'esc50' needs its root (audio/, meta/esc50.csv): --data PATH\n"
    )


def test_random_init_reference_takes_the_like_runs_audio_setup(audio_run, tmp_path):
    out = tmp_path / "reference"
    assert probe_main(["--random-init", "audio_resnet10", "--like", str(audio_run), "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "probe.json").read_text())
    assert report["task"] == "esc50_folds" and report["random_init_seed"] == 0
    assert report["spec"] == {"name": "audio_resnet10", "in_channels": 1, "width": 4, "num_classes": None}
    assert report["window_seconds"] == 0.25


def bad_input(capsys, argv: list[str]) -> str:
    assert probe_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_audio_run_probed_with_rgbd_data_is_one_sentence(audio_run, tmp_path, capsys):
    message = bad_input(capsys, ["--run", str(audio_run), "--data", str(tmp_path / "rooms.mat")])
    assert f"labelled sound set {tmp_path / 'rooms.mat'} does not exist" in message and "ESC-50 root" in message


def test_depth_student_as_audio_reference_is_one_sentence(audio_run, capsys):
    assert "takes images" in bad_input(capsys, ["--random-init", "resnet10", "--like", str(audio_run)])


def test_depth_run_with_audio_options_is_one_sentence(tmp_path, capsys):
    config = default_config("depth")
    spec = {"name": "resnet10", "in_channels": 1, "width": 4, "num_classes": None}
    (tmp_path / "depth-run").mkdir()
    save_checkpoint({"format": CHECKPOINT_FORMAT, "epoch": 1, "config": config_to_dict(config), "student_spec": spec,
                     "student": build_student(**spec).state_dict(), "wandb_id": None}, tmp_path / "depth-run" / "last.pt")
    message = bad_input(capsys, ["--run", str(tmp_path / "depth-run"), "--esc50", str(tmp_path)])
    assert "probe task 'esc50' does not apply to depth students; their tasks: scene" in message


def test_missing_sound_set_and_non_cache_are_one_sentence(tmp_path, capsys):
    run = fake_audio_run(tmp_path / "run", tmp_path / "data")
    assert "does not exist" in bad_input(capsys, ["--run", str(run)])
    assert "not a video cache" in bad_input(capsys, ["--run", str(run), "--labels", "video-cache", "--cache", str(tmp_path)])


def test_a_fold_whose_test_classes_no_other_fold_trains_on_is_a_warning_naming_them():
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 0, 1, 0, 1, 2, 2])
    folds = np.array([1, 1, 2, 2, 3, 3, 3, 3])  # class 2 lives in fold 3 alone
    features = rng.normal(size=(8, 4)) + labels[:, None]
    with pytest.warns(UserWarning, match=r"^fold 3's test samples hold classes no other fold trains on \(bird\): "):
        fold_probe(features, labels, folds, np.arange(8), ["cat", "dog", "bird"], cs=(1.0,))


# ----------------------------------------------------------------------------- SoundNet's protocol


def test_the_window_svm_fits_every_window_and_scores_a_clip_by_its_windows_mean_score():
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    labels = np.arange(60) % 3
    clips = centres[labels][:, None, :] + rng.normal(size=(60, 4, 2))
    svm = fit_window_svm(clips, labels, c=1.0)
    assert svm.pipeline[-1].coef_.shape == (3, 2) and svm.pipeline[0].n_samples_seen_ == 240, "every window is a sample"
    windows = svm.pipeline.decision_function(clips[:5].reshape(20, 2)).reshape(5, 4, 3)
    assert np.allclose(svm.clip_scores(clips[:5]), windows.mean(axis=1))
    # one window far inside class 0 outweighs three mildly class-1 windows only through the mean of scores
    mixed = np.array([[[40.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    votes = np.bincount(svm.pipeline.predict(mixed[0]), minlength=3)
    assert votes.argmax() == 1 and svm.predict(mixed).tolist() == [0]
    binary = fit_window_svm(clips[labels < 2], labels[labels < 2], c=1.0)
    assert binary.clip_scores(clips[:2]).shape == (2, 2) and binary.predict(clips[:2]).tolist() == [0, 1]
    with pytest.raises(InputError, match="clips x windows x dimensions"):
        fit_window_svm(clips[:, 0], labels, c=1.0)


def test_soundnet_protocol_on_an_audio_run_keeps_window_features_apart_from_the_probe(audio_run, capsys):
    assert eval_main(["sound-svm", "--run", str(audio_run), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "20 windows of 0.25 s per clip, linear SVM" in out and "mean ± std over 5 folds" in out
    report = json.loads((audio_run / "svm.json").read_text())
    assert report["task"] == "esc50_folds_window_svm" and report["windows_per_clip"] == 20 and report["num_folds"] == 5
    assert report["class_names"] == list(CLASSES) and all(fold["num_train"] == 24 for fold in report["folds"])
    assert probe_main(["--run", str(audio_run), "--device", "cpu"]) == 0
    assert "(cached)" not in capsys.readouterr().out, "averaged features are not the window features"
    assert eval_main(["sound-svm", "--run", str(audio_run), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.count("(cached)") == 5
