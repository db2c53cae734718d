"""The ``scene-knn`` protocol: k-nearest-neighbour scene classification on the frozen pooled features (no fitted
probe), beside the ``scene-probe`` protocol's logistic regression, on the same frames and features."""
from __future__ import annotations

from typing import Any

import torch

from crossmodal.eval.knn import format_knn_table, knn_classify
from crossmodal.eval.protocol import EvalProtocol, Say, register_protocol, silent
from crossmodal.eval.reports import EvalSettings, KNNSettings, ProbeReport
from crossmodal.eval.scene_probe import TASK, scene_features
from crossmodal.eval.student import LoadedStudent


@register_protocol
class SceneKNN(EvalProtocol):
    """The depth students' kNN classification of the labelled frames' scenes: training frames vote, test frames are scored."""

    name = "scene-knn"
    title = "scene classification by k-nearest neighbours (cosine, weighted votes)"
    settings_type = KNNSettings
    result_file = "knn.json"
    timing_key = "knn_s"
    table_columns = {"knn_top1": "Scene kNN top-1 (%)"}

    def run(self, student: LoadedStudent, settings: KNNSettings, device: torch.device, say: Say = silent) -> ProbeReport:
        splits, (fit_x, fit_y), (scored_x, scored_y) = scene_features(student, settings, device, say)
        result = knn_classify(fit_x, fit_y, scored_x, scored_y, splits.scene_names, settings.k, settings.temperature)
        scores = {"knn_top1": result.top1, "knn_mean_class_accuracy": result.mean_class_accuracy,
                  "knn_num_fit": len(fit_y), "knn_num_scored": len(scored_y)}
        details = {"input_size": list(student.config.data.input_size), "depth_encoding": student.config.data.depth_encoding,
                   "split": settings.split, **result.to_dict()}
        return ProbeReport(TASK, splits.location, scores, details, format_knn_table(result))

    def benchmark_settings(self, evaluation: EvalSettings, seed: int) -> KNNSettings:
        return KNNSettings(split=evaluation.split)

    def benchmark_line(self, record: dict[str, Any], evaluation: EvalSettings) -> str:
        return f"kNN: scene top-1 {100 * record['knn_top1']:.1f}% in {record['knn_s']:.0f} s"
