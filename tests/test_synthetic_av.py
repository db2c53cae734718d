"""The embedded audio-visual default: real files, determinism, within-class variation, readable by the loaders."""

from __future__ import annotations

import csv
import filecmp

import numpy as np
import pytest

from crossmodal.config import SyntheticAVConfig, VideoConfig
from crossmodal.data.esc50 import ESC50, esc50_fold_splits
from crossmodal.data.synthetic.av import EVENT_CLASSES, render_event_video
from crossmodal.data.synthetic.av_set import generate_synthetic_av
from crossmodal.data.video import decode_audio
from crossmodal.data.video_cache import VideoAudioPairs, prepare_video_cache

TINY = dict(num=8, size=(48, 48), seconds=1.5, clips_per_class=5)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return [
        generate_synthetic_av(root / name, SyntheticAVConfig(**TINY, seed=seed), workers=1, fps=10, clip_seconds=1.0)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    ]


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_files_and_another_seed_different_ones(generated):
    a, b, c = generated
    assert _files(a) == _files(b) == _files(c)
    media = [f for f in _files(a) if f.suffix in (".mp4", ".wav")]
    assert len(media) == 8 + 5 * len(EVENT_CLASSES)
    assert all(filecmp.cmp(a / f, b / f, shallow=False) for f in media)
    assert not any(filecmp.cmp(a / f, c / f, shallow=False) for f in media)


def test_videos_carry_an_audio_track_and_labels_cover_every_class(generated):
    root = generated[0] / "videos"
    decoded = decode_audio(root / "video_000.mp4")
    assert len(decoded.samples) >= 1.5 * 16000 and np.abs(decoded.samples).max() > 1000
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["video"] for row in rows] == [f"video_{i:03d}.mp4" for i in range(8)]
    assert sorted(row["label"] for row in rows) == sorted(EVENT_CLASSES)


def test_sound_set_follows_the_esc50_five_fold_layout(generated):
    root = generated[0] / "sounds"
    assert len(esc50_fold_splits(root)) == 5
    for fold in range(1, 6):
        clips = ESC50(root, folds=[fold])
        assert sorted(clips.labels) == list(range(len(EVENT_CLASSES)))
    item = ESC50(root, folds=[1])[0]
    assert item["audio"].shape == (1, 16000) and item["audio"].abs().max() > 0.05


def test_generated_videos_prepare_into_labelled_pairs(generated, tmp_path):
    summary = prepare_video_cache(
        generated[0] / "videos", tmp_path / "cache", VideoConfig(fps=2.0, clip_seconds=1.0, frame_size=(32, 32)), workers=1,
        progress=False,
    )
    assert (
        summary.decoded == 8 and not summary.skipped and summary.samples == 16
    )  # windows at t = 0.5 and 1.0 s per 1.5 s video
    pairs = VideoAudioPairs(tmp_path / "cache")
    assert pairs.class_names == sorted(EVENT_CLASSES)
    labelled = {(pairs[i]["video"], pairs.class_names[pairs[i]["label"]]) for i in range(len(pairs))}
    assert labelled == {(f"video_{i:03d}.mp4", name) for i, name in enumerate(EVENT_CLASSES)}


def test_instances_of_a_class_vary_in_picture_and_sound():
    frames_a, audio_a = render_event_video(0, [0, 0, 0], (48, 48), 1.0, 10)
    frames_b, audio_b = render_event_video(0, [0, 0, 1], (48, 48), 1.0, 10)
    assert frames_a.shape == (10, 48, 48, 3) and frames_a.dtype == np.uint8 and audio_a.shape[0] == 2
    assert np.abs(frames_a.astype(int) - frames_b).mean() > 10
    assert np.abs(audio_a - audio_b).mean() > 0.01
    # the two stereo channels differ (independent noise), so the down-mix has something to do
    assert np.abs(audio_a[0] - audio_a[1]).mean() > 0.001
