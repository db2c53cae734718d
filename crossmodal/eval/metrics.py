"""Scores computed from one confusion matrix, so every number of an evaluation agrees with the others.

Convention: ``confusion[t, p]`` counts samples (or pixels) of ground-truth class ``t`` predicted as
``p``. Pixels labelled ``ignore_index`` never enter the matrix. Segmentation means (mean class
accuracy, mIoU) run over the classes present in the ground truth only: a class that never occurs
in the test labels has no defined recall or IoU, and averaging in a 0 for it would punish the model
for the data set's contents. Such classes are reported as ``None`` in the per-class lists.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

IGNORE_INDEX = 255


def confusion_matrix(
    predictions: np.ndarray | torch.Tensor,
    targets: np.ndarray | torch.Tensor,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """``num_classes x num_classes`` int64 counts of (target, prediction) pairs; ``ignore_index`` targets are skipped."""
    predictions = torch.as_tensor(predictions).reshape(-1).long().cpu()
    targets = torch.as_tensor(targets).reshape(-1).long().cpu()
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions ({predictions.numel()}) and targets ({targets.numel()}) differ in size")
    keep = targets != ignore_index
    predictions, targets = predictions[keep], targets[keep]
    if targets.numel() and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(f"target ids must lie in [0, {num_classes}) or equal {ignore_index}")
    if predictions.numel() and (predictions.min() < 0 or predictions.max() >= num_classes):
        raise ValueError(f"predicted ids must lie in [0, {num_classes})")
    counts = torch.bincount(targets * num_classes + predictions, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).numpy().astype(np.int64)


class ConfusionAccumulator:
    """Sums confusion matrices batch by batch, so test-set metrics come from one matrix, not a mean of batch scores."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, predictions: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor) -> None:
        self.matrix += confusion_matrix(predictions, targets, self.num_classes, self.ignore_index)


def _ratio_or_none(numerators: np.ndarray, denominators: np.ndarray, defined: np.ndarray) -> list[float | None]:
    return [float(n / d) if ok else None for n, d, ok in zip(numerators, denominators, defined)]


def classification_scores(confusion: np.ndarray) -> dict[str, Any]:
    """Top-1 accuracy, per-class accuracy (recall; None for classes without test samples), mean of the defined ones."""
    confusion = np.asarray(confusion, dtype=np.int64)
    total = confusion.sum()
    support = confusion.sum(axis=1)
    correct = np.diag(confusion)
    present = support > 0
    per_class = _ratio_or_none(correct, support, present)
    return {
        "top1": float(correct.sum() / total) if total else 0.0,
        "mean_class_accuracy": float(np.mean(correct[present] / support[present])) if present.any() else 0.0,
        "per_class_accuracy": per_class,
        "support": support.tolist(),
        "confusion": confusion.tolist(),
    }


def segmentation_scores(confusion: np.ndarray) -> dict[str, Any]:
    """Pixel accuracy, mean class accuracy and mIoU over the classes present in the ground truth, per-class IoU."""
    confusion = np.asarray(confusion, dtype=np.int64)
    total = confusion.sum()
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    correct = np.diag(confusion)
    present = support > 0
    union = support + predicted - correct
    recall = correct[present] / support[present]
    iou = correct[present] / union[present]
    return {
        "pixel_accuracy": float(correct.sum() / total) if total else 0.0,
        "mean_class_accuracy": float(recall.mean()) if present.any() else 0.0,
        "miou": float(iou.mean()) if present.any() else 0.0,
        "per_class_iou": _ratio_or_none(correct, union, present),
        "per_class_accuracy": _ratio_or_none(correct, support, present),
        "classes_present": int(present.sum()),
        "labelled_pixels": int(total),
    }


def chance_scores(confusion: np.ndarray) -> dict[str, float]:
    """What a prediction without any information scores on the same ground truth: ``top1`` (and pixel accuracy) of
    always predicting the most frequent class, ``mean_class_accuracy`` of guessing uniformly (1 / classes present),
    and ``miou`` of that constant prediction (its class's IoU is its share; the others score 0)."""
    support = np.asarray(confusion).sum(axis=1)
    total, present = support.sum(), int((support > 0).sum())
    if total == 0:
        return {"top1": 0.0, "mean_class_accuracy": 0.0, "miou": 0.0}
    majority = float(support.max() / total)
    return {"top1": majority, "mean_class_accuracy": 1.0 / present, "miou": majority / present}


def chance_line(confusion: np.ndarray, names: dict[str, str]) -> str:
    """``chance: top-1 24.3%, mean class acc 10.0%`` for the scores ``names`` (key -> label) names."""
    chance = chance_scores(confusion)
    return "chance: " + ", ".join(f"{label} {100 * chance[key]:.1f}%" for key, label in names.items()) + \
        " (the most frequent class everywhere; uniform guessing for the class mean)"
