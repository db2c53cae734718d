"""Linear probe under a fold protocol: each fold is the test set once, the others train; mean ± std over folds.

Samples may come in groups that must never straddle a split (the windows of one video look
alike, so a video seen in training would make its test windows easy). Folds are made of
whole groups, and the validation split that chooses the regularisation C is carved out of
the training folds by whole groups too, so neither the test fold nor a sibling of a
validation sample ever takes part in fitting. An ESC-50 set brings its own folds and every
clip is its own group.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossmodal.errors import InputError
from crossmodal.eval.metrics import chance_line, classification_scores, confusion_matrix
from crossmodal.eval.probe import (
    DEFAULT_CS,
    VALIDATION_FRACTION,
    FitClassifier,
    ProbeResult,
    choose_regularisation,
    fit_probe,
    split_train_validation,
)


@dataclass
class FoldProbeResult:
    """One ProbeResult per test fold, their mean and standard deviation, and the confusion summed over folds.

    ``to_dict`` reports the means under the single-split probe's names ("top1",
    "mean_class_accuracy"), with "_std" siblings, so readers of either report find the same keys.
    """

    test_folds: list[int]
    folds: list[ProbeResult]
    class_names: list[str]

    def _scores(self, key: str) -> np.ndarray:
        return np.array([getattr(result, key) for result in self.folds])

    @property
    def top1_mean(self) -> float:
        return float(self._scores("top1").mean())

    @property
    def top1_std(self) -> float:
        """Population standard deviation over folds (ddof 0)."""
        return float(self._scores("top1").std())

    @property
    def mean_class_accuracy_mean(self) -> float:
        return float(self._scores("mean_class_accuracy").mean())

    @property
    def mean_class_accuracy_std(self) -> float:
        return float(self._scores("mean_class_accuracy").std())

    @property
    def confusion(self) -> np.ndarray:
        return np.sum([np.asarray(result.confusion) for result in self.folds], axis=0)

    def to_dict(self) -> dict[str, Any]:
        pooled = classification_scores(self.confusion)
        return {
            "num_folds": len(self.folds),
            "top1": self.top1_mean,
            "top1_std": self.top1_std,
            "mean_class_accuracy": self.mean_class_accuracy_mean,
            "mean_class_accuracy_std": self.mean_class_accuracy_std,
            "std_ddof": 0,
            "class_names": list(self.class_names),
            "per_class_accuracy_over_folds": pooled["per_class_accuracy"],
            "confusion_over_folds": self.confusion.tolist(),
            "folds": [{"test_fold": fold, **result.to_dict()} for fold, result in zip(self.test_folds, self.folds)],
        }


def stratified_group_folds(group_labels: np.ndarray, num_folds: int, seed: int = 0) -> np.ndarray:
    """Fold id (1..num_folds) per group: each class's groups shuffled (seeded) and dealt round-robin.

    Dealing continues across classes, so fold sizes differ by at most one group.
    """
    group_labels = np.asarray(group_labels)
    if len(group_labels) < num_folds:
        raise InputError(f"a {num_folds}-fold split needs at least {num_folds} videos, got {len(group_labels)}")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(group_labels), dtype=np.int64)
    dealt = 0
    for label in np.unique(group_labels):
        members = rng.permutation(np.flatnonzero(group_labels == label))
        folds[members] = (dealt + np.arange(len(members))) % num_folds + 1
        dealt += len(members)
    return folds


def grouped_validation_split(
    labels: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, validation) over samples; whole groups go one way, stratified by group label."""
    unique, first = np.unique(groups, return_index=True)
    if round(val_fraction * len(unique)) < 1:
        return np.ones(len(groups), dtype=bool), np.zeros(len(groups), dtype=bool)
    _, val_groups = split_train_validation(labels[first], val_fraction, seed)
    validation = np.isin(groups, unique[val_groups])
    return ~validation, validation


def select_regularisation_grouped(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    cs: Sequence[float] = DEFAULT_CS,
    val_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
    fit_classifier: FitClassifier | None = None,
) -> tuple[float, dict[str, float]]:
    """Best C by accuracy on held-out groups of the training data (ties: the smaller C)."""
    fit, validation = grouped_validation_split(labels, groups, val_fraction, seed)
    return choose_regularisation(features, labels, np.flatnonzero(fit), np.flatnonzero(validation), cs, seed, fit_classifier)


def fold_probe(
    features: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    groups: np.ndarray,
    class_names: Sequence[str],
    cs: Sequence[float] = DEFAULT_CS,
    val_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
    fit_classifier: FitClassifier | None = None,
) -> FoldProbeResult:
    """For each fold: choose C on the other folds' grouped validation split, refit on them, score on the fold.

    ``fit_classifier`` fits the classifier on rows of ``features`` (None: the logistic probe); a row
    may be an array per sample (e.g. a clip's window features) when the classifier takes such rows.
    """
    features = np.asarray(features, dtype=np.float64)
    labels, folds, groups = (np.asarray(a, dtype=np.int64) for a in (labels, folds, groups))
    test_folds = sorted(int(f) for f in np.unique(folds))
    if len(test_folds) < 2:
        raise InputError(f"the fold protocol needs at least two folds, got {test_folds}")
    results = []
    for fold in test_folds:
        train, test = folds != fold, folds == fold
        if len(np.unique(labels[train])) < 2:
            raise InputError(f"the folds other than fold {fold} hold fewer than two labels, so a probe has nothing to separate")
        chosen, validation = select_regularisation_grouped(
            features[train], labels[train], groups[train], cs, val_fraction, seed, fit_classifier
        )
        unseen = sorted(set(labels[test].tolist()) - set(labels[train].tolist()))
        if unseen:
            names = ", ".join(class_names[label] for label in unseen)
            warnings.warn(f"fold {fold}'s test samples hold classes no other fold trains on ({names}): "
                          "the probe cannot predict them, so they score 0 there", stacklevel=2)
        probe = (fit_classifier or fit_probe)(features[train], labels[train], chosen, seed)
        confusion = confusion_matrix(probe.predict(features[test]), labels[test], len(class_names), ignore_index=-1)
        scores = classification_scores(confusion)
        results.append(
            ProbeResult(
                top1=scores["top1"],
                mean_class_accuracy=scores["mean_class_accuracy"],
                per_class_accuracy=scores["per_class_accuracy"],
                confusion=scores["confusion"],
                chosen_c=chosen,
                validation_accuracy=validation,
                num_train=int(train.sum()),
                num_test=int(test.sum()),
                class_names=list(class_names),
            )
        )
    return FoldProbeResult(test_folds=test_folds, folds=results, class_names=list(class_names))


def format_fold_table(result: FoldProbeResult) -> str:
    """Per-fold rows, the mean ± std line, then accuracy per class over all test folds."""
    lines = [f"{'fold':>4}  {'train':>6}  {'test':>5}  {'C':>6}  {'top-1':>6}  {'mean cls':>8}"]
    for fold, fold_result in zip(result.test_folds, result.folds):
        lines.append(
            f"{fold:>4}  {fold_result.num_train:>6}  {fold_result.num_test:>5}  {fold_result.chosen_c:>6g}  "
            f"{100 * fold_result.top1:5.1f}%  {100 * fold_result.mean_class_accuracy:7.1f}%"
        )
    lines.append(
        f"mean ± std over {len(result.folds)} folds: top-1 {100 * result.top1_mean:.1f} ± {100 * result.top1_std:.1f}%  "
        f"mean class acc {100 * result.mean_class_accuracy_mean:.1f} ± {100 * result.mean_class_accuracy_std:.1f}%"
    )
    confusion = result.confusion
    lines.append(chance_line(confusion, {"top1": "top-1", "mean_class_accuracy": "mean class acc"}))
    per_class = classification_scores(confusion)["per_class_accuracy"]
    width = max(len(name) for name in result.class_names + ["class"])
    lines.append(f"{'class':<{width}}  {'acc':>6}  {'n':>5}   (all test folds)")
    for name, accuracy, count in zip(result.class_names, per_class, confusion.sum(axis=1)):
        shown = "    --" if accuracy is None else f"{100 * accuracy:5.1f}%"
        lines.append(f"{name:<{width}}  {shown:>6}  {count:>5}")
    return "\n".join(lines)
