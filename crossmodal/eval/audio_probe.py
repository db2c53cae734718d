"""The audio students' probes: the fold protocol on an ESC-50-layout sound set (``sound-probe``), or on a labelled video cache (``video-cache-probe``).

ESC-50: train on four folds, test on the fifth, mean over the five (validation: the last fold
is never used). Video cache: the clips' labels, folds made of whole videos. A student trained on
short windows judges a longer clip as the mean of its windows' pooled features (Windowed).
Features can be cached per student and data.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from crossmodal.data.catalog import DATA_SETS, data_options
from crossmodal.data.esc50 import ESC50, esc50_fold_splits
from crossmodal.data.video_cache import INDEX_FILE, VideoAudioPairs
from crossmodal.errors import InputError
from crossmodal.eval.extract import cached_features, extract_pooled, labelled_data, settings_fingerprint
from crossmodal.eval.fold_probe import fold_probe, format_fold_table, stratified_group_folds
from crossmodal.eval.protocol import EvalProtocol, Say, register_protocol, silent
from crossmodal.eval.reports import EvalSettings, ProbeReport, ProbeSettings
from crossmodal.eval.student import LoadedStudent
from crossmodal.models.features import Features

ESC50_CLIP_SECONDS = 5.0
"""ESC-50 clips are 5 s long; shorter ones are zero-padded to it so clips batch together."""


class Windowed(nn.Module):
    """An audio encoder applied to consecutive ``window``-sample pieces of each clip: pooled features averaged
    (``average``), or every window's kept side by side (batch x windows * dimensions, for SoundNet's protocol).

    A student trained on short windows sees clips of that length only: its per-window
    normalisation and pooling statistics belong to one window, so a long clip is judged as
    its windows (the remainder shorter than a window is dropped; a clip shorter than one
    window is used whole).
    """

    def __init__(self, model: nn.Module, window: int, average: bool = True) -> None:
        super().__init__()
        self.model = model
        self.window = window
        self.average = average

    def forward(self, waveform: torch.Tensor) -> Features:
        batch, channels, length = waveform.shape
        count = length // self.window
        if count <= 1:
            return self.model(waveform)
        pieces = waveform[..., : count * self.window].reshape(batch, channels, count, self.window)
        pooled = self.model(pieces.transpose(1, 2).reshape(batch * count, channels, self.window)).pooled.reshape(batch, count, -1)
        return Features(pooled=pooled.mean(dim=1) if self.average else pooled.flatten(1), maps=[], logits=None)


def window_samples(student: LoadedStudent) -> int:
    """The student's training window in samples at its rate."""
    return round(window_seconds(student) * cast(int, student.model.sample_rate))


def windows_per_clip(student: LoadedStudent, clip_seconds: float) -> int:
    """How many of the student's windows a clip of ``clip_seconds`` is judged as (``Windowed``)."""
    return max(1, round(clip_seconds * cast(int, student.model.sample_rate)) // window_samples(student))


def audio_extraction_settings(identity: Path, part: str, window_seconds: float, clip_seconds: float | None) -> dict[str, Any]:
    """What, besides the weights, decides audio features: the data (its index file), the part, the windowing."""
    stat = identity.stat()
    return {
        "data": str(identity.resolve()),
        "data_bytes": stat.st_size,
        "data_mtime_ns": stat.st_mtime_ns,
        "part": part,
        "window_seconds": window_seconds,
        "clip_seconds": clip_seconds,
    }


TASKS = {"esc50": "esc50_folds", "video-cache": "video_clip_labels"}
"""Probe task -> the name probe.json reports it under."""

LabelledFeatures = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]
"""features, labels, fold id and group id per sample, class names"""
Extract = Callable[[str, dict[str, Any], Dataset], tuple[np.ndarray, np.ndarray]]
"""(part name, extraction settings, clips) -> (features, labels)"""


def window_seconds(student: LoadedStudent) -> float:
    """The audio window the student was trained on; longer clips are judged window by window."""
    return float(data_options(student.config.data).clip_seconds)


def window_extractor(
    student: LoadedStudent,
    device: torch.device,
    batch_size: int = 32,
    workers: int = 0,
    cache_dir: Path | None = None,
    say: Callable[[str], None] = print,
    average: bool = True,
) -> Extract:
    """Pooled features of a clip set, averaged over its windows or (not ``average``) every window's side by side;
    stored under ``cache_dir`` keyed by weights and settings when given."""
    encoder = Windowed(student.model, window_samples(student), average)

    def extract(part: str, settings: dict[str, Any], clips: Dataset) -> tuple[np.ndarray, np.ndarray]:
        def compute() -> tuple[np.ndarray, np.ndarray]:
            return extract_pooled(encoder, clips, device, batch_size, workers, input_key="audio")

        if cache_dir is None:
            return compute()
        name = f"{student.fingerprint}-{settings_fingerprint(settings)}-{part}"
        features, labels, cached = cached_features(cache_dir, name, compute)
        say(f"{part}: {len(labels)} clips, {features.shape[1]}-d features{' (cached)' if cached else ''}")
        return features, labels

    return extract


def esc50_features(root: Path, window: float, extract: Extract, per_window: bool = False) -> LabelledFeatures:
    """Every clip of an ESC-50-layout set, fold by fold; each clip is its own group. ``per_window``: the extractor
    keeps every window's features (recorded in the cache key)."""
    identity = root / "meta" / "esc50.csv"
    parts, class_names = [], []
    for split in esc50_fold_splits(root):
        clips = ESC50(root, folds=[split.test_fold], clip_seconds=ESC50_CLIP_SECONDS)
        class_names = clips.class_names
        part = f"fold{split.test_fold}"
        settings = audio_extraction_settings(identity, part, window, ESC50_CLIP_SECONDS)
        features, labels = extract(part, {**settings, "per_window": True} if per_window else settings, clips)
        parts.append((features, labels, np.full(len(labels), split.test_fold)))
    features, labels, folds = (np.concatenate(column) for column in zip(*parts))
    return features, labels, folds, np.arange(len(labels)), list(class_names)


def video_cache_features(cache: Path, window: float, num_folds: int, seed: int, extract: Extract) -> LabelledFeatures:
    """Every clip of a labelled video cache, grouped by video; whole videos are dealt into stratified folds."""
    clips = VideoAudioPairs(cache)
    if not clips.class_names:
        raise InputError(f"video cache {cache} has no clip labels (its videos had no labels.csv), so there is nothing to probe")
    features, labels = extract("clips", audio_extraction_settings(cache / INDEX_FILE, "clips", window, None), clips)
    videos = json.loads((cache / INDEX_FILE).read_text())["videos"]
    groups = np.repeat(np.arange(len(videos)), [entry["samples"] for entry in videos])
    video_folds = stratified_group_folds(np.array([entry["label"] for entry in videos]), num_folds, seed)
    return features, labels, video_folds[groups], groups, list(clips.class_names)


def labelled_sound_set(config: Any, override: str | Path | None = None, data_set: str | None = None) -> Path:
    """The ESC-50-layout sound set: what ``data_set`` brings (``override`` its path), else ``override``, else the one
    the run's training data brings."""
    path = labelled_data(
        config, override, "labelled sound set", "pass --esc50 DIR (an ESC-50 root) or probe the video clips with --labels video-cache",
        data_set,
    )
    if not path.is_dir():
        raise InputError(f"labelled sound set {path} does not exist; pass --esc50 with an ESC-50 root (audio/, meta/esc50.csv)")
    return path


def labelled_video_cache(config: Any, override: str | Path | None = None) -> Path:
    """A video cache with clip labels: ``override`` if given, else the run's own training cache."""
    if override is not None:
        path = Path(override).expanduser()
    else:
        path = Path(str(DATA_SETS.get(config.data.name).location(config.data)))
    if not (path / INDEX_FILE).is_file():
        raise InputError(
            f"{path} is not a video cache (no {INDEX_FILE}); pass --cache with a cache prepared from videos with labels.csv"
        )
    return path


def scored_folds(split: str, features: np.ndarray, labels: np.ndarray, folds: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, ...]:
    """All folds for the "test" split; for "validation" the last fold is left out, never seen while choosing settings."""
    if split != "validation":
        return features, labels, folds, groups
    kept = folds != folds.max()
    return features[kept], labels[kept], folds[kept], groups[kept]


def sound_probe(
    student: LoadedStudent, task: str, settings: ProbeSettings, device: torch.device, say: Callable[[str], None]
) -> ProbeReport:
    """The fold protocol for ``task`` ("esc50" or "video-cache"); "validation" leaves the last fold out."""
    window = window_seconds(student)
    cache = settings.feature_cache
    extract = window_extractor(student, device, settings.batch_size, settings.workers, cache_dir=cache, say=say)
    if task == "video-cache":
        if settings.folds < 2:
            raise InputError(f"--folds must be at least 2, got {settings.folds}")
        data = labelled_video_cache(student.config, settings.data)
        say(f"probing {student.description} on the clip labels of {data} ({settings.folds} folds of whole videos)")
        features, labels, folds, groups, class_names = video_cache_features(data, window, settings.folds, settings.seed, extract)
    else:
        data = labelled_sound_set(student.config, settings.data, settings.data_set)
        say(f"probing {student.description} on {data} (ESC-50 fold protocol, {window:g} s windows)")
        features, labels, folds, groups, class_names = esc50_features(data, window, extract)
    features, labels, folds, groups = scored_folds(settings.split, features, labels, folds, groups)
    result = fold_probe(features, labels, folds, groups, class_names, settings.cs, settings.val_fraction, settings.seed)
    details = {"window_seconds": window, "feature_dim": int(features.shape[1]), "split": settings.split, **result.to_dict()}
    scores = {
        "probe_top1": result.top1_mean,
        "probe_top1_fold_std": result.top1_std,
        "probe_mean_class_accuracy": result.mean_class_accuracy_mean,
        "num_clips": int(len(labels)),
        "num_folds": len(result.folds),
    }
    return ProbeReport(TASKS[task], str(data), scores, details, format_fold_table(result))


class _FoldProbe(EvalProtocol):
    """A fold protocol over labelled sound clips; ``task`` picks the labelled data (a sound set or a video cache)."""

    task: str
    settings_type = ProbeSettings
    result_file = "probe.json"
    timing_key = "probe_s"

    def run(self, student: LoadedStudent, settings: ProbeSettings, device: torch.device, say: Say = silent) -> ProbeReport:
        return sound_probe(student, self.task, settings, device, say)

    def benchmark_settings(self, evaluation: EvalSettings, seed: int) -> ProbeSettings:
        return ProbeSettings(split=evaluation.split, seed=seed)

    def benchmark_line(self, record: dict[str, Any], evaluation: EvalSettings) -> str:
        return (
            f"probe: {record['num_folds']}-fold sound top-1 {100 * record['probe_top1']:.1f} ± "
            f"{100 * record['probe_top1_fold_std']:.1f}% in {record['probe_s']:.0f} s"
        )


@register_protocol
class SoundProbe(_FoldProbe):
    name = "sound-probe"
    title = "ESC-50 five-fold sound classification"
    task = "esc50"


@register_protocol
class VideoCacheProbe(_FoldProbe):
    name = "video-cache-probe"
    title = "clip labels of a labelled video cache, folds of whole videos"
    task = "video-cache"
