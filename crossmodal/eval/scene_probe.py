"""The ``scene-probe`` protocol: a linear probe of the frozen pooled features on the data set's scene classes
(NYU's 10, SUN RGB-D's 19; frames of scenes outside them, labelled -1, are neither fit nor scored).

Features of the fit and scored frames are extracted once per checkpoint and, when a cache folder
is given, stored keyed by the weights and the extraction settings. C is chosen on a validation
split of the fit features only.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from crossmodal.data.labelled import LabelledSplits
from crossmodal.errors import InputError
from crossmodal.eval.extract import cached_features, extract_pooled, settings_fingerprint
from crossmodal.eval.probe import format_probe_table, linear_probe
from crossmodal.eval.protocol import EvalProtocol, Say, register_protocol, silent
from crossmodal.eval.reports import EvalSettings, ProbeReport, ProbeSettings
from crossmodal.eval.rgbd_splits import extraction_settings, labelled_splits
from crossmodal.eval.student import LoadedStudent

LABEL_KEY = "label"
TASK = "scene_label"
PARTS = {"test": ("train", "test"), "validation": ("train-fit", "train-validation")}


def scene_features(
    student: LoadedStudent, settings: Any, device: torch.device, say: Callable[[str], None]
) -> tuple[LabelledSplits, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The labelled splits and the frozen pooled features with scene labels of their fit and scored frames (``settings``:
    data, data_set, split, batch_size, workers, feature_cache); frames outside the set's scene protocol (label -1,
    SUN RGB-D's other scenes) are left out."""
    splits = labelled_splits(student.config, settings.data_set, settings.data, settings.split, labels=None)
    if not splits.scene_names:
        raise InputError(f"labelled data {splits.location} has no scene labels, so the scene probe cannot score it")
    say(f"probing {student.description} on {splits.location}")
    arrays = []
    for part, dataset in zip(PARTS[settings.split], (splits.fit, splits.scored)):
        features, labels = _features(student, dataset, part, splits, settings, device, say)
        in_protocol = labels >= 0
        arrays.append((features[in_protocol], labels[in_protocol]))
    return splits, arrays[0], arrays[1]


def scene_probe(
    student: LoadedStudent, settings: ProbeSettings, device: torch.device, say: Callable[[str], None]
) -> ProbeReport:
    splits, (fit_x, fit_y), (scored_x, scored_y) = scene_features(student, settings, device, say)
    scene_classes = splits.scene_names
    result = linear_probe(
        fit_x, fit_y, scored_x, scored_y, len(scene_classes), scene_classes, settings.cs, settings.val_fraction, settings.seed
    )
    config = student.config
    details = {
        "input_size": list(config.data.input_size),
        "depth_encoding": config.data.depth_encoding,
        "feature_dim": int(fit_x.shape[1]),
        "split": settings.split,
        **result.to_dict(),
    }
    scores = {
        "probe_top1": result.top1, "probe_mean_class_accuracy": result.mean_class_accuracy, "probe_c": result.chosen_c,
        "num_fit": len(fit_y), "num_scored": len(scored_y),
    }
    return ProbeReport(TASK, splits.location, scores, details, format_probe_table(result))


@register_protocol
class SceneProbe(EvalProtocol):
    """The depth students' probe: scene labels of the labelled RGB-D frames, fit on one part, scored on the other."""

    name = "scene-probe"
    title = "scene classification by a linear probe (NYU's 10 classes, SUN RGB-D's 19; train/test split)"
    settings_type = ProbeSettings
    result_file = "probe.json"
    timing_key = "probe_s"

    def run(self, student: LoadedStudent, settings: ProbeSettings, device: torch.device, say: Say = silent) -> ProbeReport:
        return scene_probe(student, settings, device, say)

    def benchmark_settings(self, evaluation: EvalSettings, seed: int) -> ProbeSettings:
        return ProbeSettings(split=evaluation.split, seed=seed)

    def benchmark_line(self, record: dict[str, Any], evaluation: EvalSettings) -> str:
        return f"probe: scene top-1 {100 * record['probe_top1']:.1f}% (C={record['probe_c']:g}) in {record['probe_s']:.0f} s"


def _features(
    student: LoadedStudent, dataset: Dataset, part: str, splits: LabelledSplits, settings: Any, device: torch.device,
    say: Callable[[str], None],
) -> tuple[np.ndarray, np.ndarray]:
    def compute() -> tuple[np.ndarray, np.ndarray]:
        return extract_pooled(student.model, dataset, device, settings.batch_size, settings.workers, label_key=LABEL_KEY)

    if settings.feature_cache is None:
        return compute()
    extraction = extraction_settings(student.config, splits, part, LABEL_KEY)
    name = f"{student.fingerprint}-{settings_fingerprint(extraction)}-{part}"
    features, labels, cached = cached_features(settings.feature_cache, name, compute)
    say(f"{part}: {len(labels)} samples, {features.shape[1]}-d features{' (cached)' if cached else ''}")
    return features, labels
