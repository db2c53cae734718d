"""The ``sound-svm`` protocol: SoundNet's evaluation of frozen sound features on an ESC-50-layout set, beside the
logistic ``sound-probe``.

Each 5 s clip is cut into the student's training windows; a linear SVM is fit on every window of
the training folds (each labelled with its clip's class) and a test clip takes the class of its
windows' mean SVM scores. ESC-50's folds, C chosen on a validation part of the training clips
(whole clips), mean ± std over the folds: the numbers SoundNet reports for ESC-50, when run on it.
"""
from __future__ import annotations

from typing import Any

import torch

from crossmodal.eval.audio_probe import (
    ESC50_CLIP_SECONDS,
    esc50_features,
    labelled_sound_set,
    scored_folds,
    window_extractor,
    window_seconds,
    windows_per_clip,
)
from crossmodal.eval.fold_probe import fold_probe, format_fold_table
from crossmodal.eval.protocol import EvalProtocol, Say, register_protocol, silent
from crossmodal.eval.reports import EvalSettings, ProbeReport, SVMSettings
from crossmodal.eval.student import LoadedStudent
from crossmodal.eval.window_svm import fit_window_svm

TASK = "esc50_folds_window_svm"


@register_protocol
class SoundSVM(EvalProtocol):
    """SoundNet's protocol on the labelled sound set: window SVM, clip scores averaged, ESC-50 folds."""

    name = "sound-svm"
    title = "SoundNet's ESC-50 protocol: linear SVM on window features, window scores averaged per clip"
    settings_type = SVMSettings
    result_file = "svm.json"
    timing_key = "svm_s"
    table_columns = {"svm_top1": "SoundNet SVM top-1, 5 folds (%)"}

    def run(self, student: LoadedStudent, settings: SVMSettings, device: torch.device, say: Say = silent) -> ProbeReport:
        window = window_seconds(student)
        windows = windows_per_clip(student, ESC50_CLIP_SECONDS)
        extract = window_extractor(student, device, settings.batch_size, settings.workers, settings.feature_cache, say, average=False)
        data = labelled_sound_set(student.config, settings.data, settings.data_set)
        say(f"SoundNet protocol for {student.description} on {data}: {windows} windows of {window:g} s per clip, linear SVM")
        features, labels, folds, groups, class_names = esc50_features(data, window, extract, per_window=True)
        features, labels, folds, groups = scored_folds(settings.split, features, labels, folds, groups)
        clips = features.reshape(len(labels), windows, -1)
        result = fold_probe(clips, labels, folds, groups, class_names, settings.cs, settings.val_fraction, settings.seed,
                            fit_classifier=fit_window_svm)
        scores = {"svm_top1": result.top1_mean, "svm_top1_fold_std": result.top1_std,
                  "svm_mean_class_accuracy": result.mean_class_accuracy_mean, "svm_num_clips": int(len(labels))}
        details = {"window_seconds": window, "windows_per_clip": windows, "feature_dim": int(clips.shape[2]),
                   "split": settings.split, **result.to_dict()}
        return ProbeReport(TASK, str(data), scores, details, "SoundNet protocol (window SVM)\n" + format_fold_table(result))

    def benchmark_settings(self, evaluation: EvalSettings, seed: int) -> SVMSettings:
        return SVMSettings(split=evaluation.split, seed=seed)

    def benchmark_line(self, record: dict[str, Any], evaluation: EvalSettings) -> str:
        return f"SoundNet SVM: sound top-1 {100 * record['svm_top1']:.1f} ± {100 * record['svm_top1_fold_std']:.1f}% in {record['svm_s']:.0f} s"
