"""k-nearest-neighbour classification on frozen features, as the self-supervised literature reports it.

The protocol of Wu et al. (instance discrimination, CVPR 2018) and its followers: features L2-normalised,
the k training samples most similar by cosine vote for their class, each vote weighted exp(similarity / T).
No parameter is fitted, so the score shows what the features hold without a probe's help.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossmodal.errors import InputError
from crossmodal.eval.metrics import chance_line, classification_scores, confusion_matrix

DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.07
_CHUNK = 1024


def _normalised(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def knn_predict(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, num_classes: int,
    k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE,
) -> np.ndarray:
    """The class of each test sample by the weighted vote of its ``k`` most similar training samples (ties: lowest id)."""
    if k < 1 or temperature <= 0:
        raise InputError(f"kNN needs k >= 1 and a positive temperature, got k={k} and temperature={temperature}")
    train, test = _normalised(train_features), _normalised(test_features)
    labels = np.asarray(train_labels, dtype=np.int64)
    k = min(k, len(labels))
    predictions = np.empty(len(test), dtype=np.int64)
    for start in range(0, len(test), _CHUNK):
        similarity = test[start:start + _CHUNK] @ train.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.exp(np.take_along_axis(similarity, nearest, axis=1) / temperature)
        votes = np.zeros((len(similarity), num_classes))
        np.add.at(votes, (np.arange(len(similarity))[:, None], labels[nearest]), weights)
        predictions[start:start + _CHUNK] = votes.argmax(axis=1)
    return predictions


@dataclass
class KNNResult:
    top1: float
    mean_class_accuracy: float
    per_class_accuracy: list[float | None]
    confusion: list[list[int]]
    k: int
    temperature: float
    num_train: int
    num_test: int
    class_names: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def knn_classify(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, test_labels: np.ndarray,
    class_names: Sequence[str], k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE,
) -> KNNResult:
    """Score the weighted kNN vote on the test samples (one confusion matrix)."""
    if len(train_labels) == 0 or len(test_labels) == 0:
        raise InputError(f"kNN needs training and test samples, got {len(train_labels)} and {len(test_labels)}")
    predictions = knn_predict(train_features, train_labels, test_features, len(class_names), k, temperature)
    scores = classification_scores(confusion_matrix(predictions, np.asarray(test_labels), len(class_names), ignore_index=-1))
    return KNNResult(scores["top1"], scores["mean_class_accuracy"], scores["per_class_accuracy"], scores["confusion"],
                     min(k, len(train_labels)), temperature, len(train_labels), len(test_labels), list(class_names))


def format_knn_table(result: KNNResult) -> str:
    return "\n".join([
        f"kNN (k={result.k}, T={result.temperature:g}, cosine): top-1 {100 * result.top1:.1f}%  mean class acc "
        f"{100 * result.mean_class_accuracy:.1f}%  ({result.num_train} train / {result.num_test} test)",
        chance_line(np.asarray(result.confusion), {"top1": "top-1", "mean_class_accuracy": "mean class acc"}),
    ])
