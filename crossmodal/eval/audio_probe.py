"""Labelled audio features for the fold-protocol probe: ESC-50-layout sound sets and labelled video caches.

Shared by ``crossmodal-probe`` and the method grid, so a table and the command score an audio
student the same way. A student trained on short windows judges a longer clip as the mean of
its windows' pooled features (WindowAveraged). Features can be cached per student and data.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from crossmodal.data.esc50 import ESC50, esc50_fold_splits
from crossmodal.data.video_cache import INDEX_FILE, VideoAudioPairs
from crossmodal.errors import InputError
from crossmodal.eval.extract import (
    ESC50_CLIP_SECONDS,
    WindowAveraged,
    audio_extraction_settings,
    cached_features,
    extract_pooled,
    settings_fingerprint,
)
from crossmodal.eval.fold_probe import stratified_group_folds
from crossmodal.eval.student_loading import LoadedStudent

LabelledFeatures = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]
"""features, labels, fold id and group id per sample, class names"""
Extract = Callable[[str, dict[str, Any], Dataset], tuple[np.ndarray, np.ndarray]]
"""(part name, extraction settings, clips) -> (features, labels)"""


def window_seconds(student: LoadedStudent) -> float:
    """The audio window the student was trained on; longer clips are judged window by window."""
    return student.config.data.video.clip_seconds


def window_extractor(
    student: LoadedStudent,
    device: torch.device,
    batch_size: int = 32,
    workers: int = 0,
    cache_dir: Path | None = None,
    say: Callable[[str], None] = print,
) -> Extract:
    """Pooled, window-averaged features of a clip set; stored under ``cache_dir`` keyed by weights and settings when given."""
    encoder = WindowAveraged(student.model, round(window_seconds(student) * student.model.sample_rate))

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


def esc50_features(root: Path, window: float, extract: Extract) -> LabelledFeatures:
    """Every clip of an ESC-50-layout set, fold by fold; each clip is its own group."""
    identity = root / "meta" / "esc50.csv"
    parts, class_names = [], []
    for split in esc50_fold_splits(root):
        clips = ESC50(root, folds=[split.test_fold], clip_seconds=ESC50_CLIP_SECONDS)
        class_names = clips.class_names
        part = f"fold{split.test_fold}"
        features, labels = extract(part, audio_extraction_settings(identity, part, window, ESC50_CLIP_SECONDS), clips)
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
