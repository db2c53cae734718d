"""Linear probe: how linearly separable are a frozen network's pooled features for a labelled task.

Modality-free: features and integer labels in, metrics out, so depth and audio students share it.
The regularisation strength C is chosen on a validation split carved out of the train features
only (the test arrays are not even passed to the selection), then the probe is refit on all of
train and scored once on test.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from crossmodal.errors import InputError
from crossmodal.eval.metrics import chance_line, classification_scores, confusion_matrix

DEFAULT_CS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
VALIDATION_FRACTION = 0.2
"""Share of the training features held out to choose C, in every probe."""
MAX_ITER = 2000


@dataclass
class ProbeResult:
    """Test-set scores of the refit probe and how C was chosen (validation accuracy per candidate C)."""

    top1: float
    mean_class_accuracy: float
    per_class_accuracy: list[float | None]
    confusion: list[list[int]]
    chosen_c: float
    validation_accuracy: dict[str, float]
    num_train: int
    num_test: int
    class_names: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_train_validation(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, validation) of a seeded split of the train set, stratified when every class can be."""
    labels = np.asarray(labels)
    indices = np.arange(len(labels))
    _, counts = np.unique(labels, return_counts=True)
    num_val = int(round(val_fraction * len(labels)))
    can_stratify = counts.min() >= 2 and len(counts) <= num_val <= len(labels) - len(counts)
    fit, val = train_test_split(
        indices, test_size=num_val, random_state=seed, stratify=labels if can_stratify else None
    )
    return np.sort(fit), np.sort(val)


class Classifier(Protocol):
    """A fitted classifier: class labels for rows of features."""

    def predict(self, features: np.ndarray) -> np.ndarray: ...


FitClassifier = Callable[[np.ndarray, np.ndarray, float, int], Classifier]
"""(features, labels, regularisation C, seed) -> a fitted classifier; the probes' default is ``fit_probe``."""


def fit_probe(features: np.ndarray, labels: np.ndarray, c: float, seed: int = 0) -> Pipeline:
    """Standardise features (statistics of ``features`` only) then multinomial logistic regression, L-BFGS.

    One BLAS thread: the products are small, and on a shared CPU several BLAS threads spin
    waiting for each other (measured 20x slower on two busy cores).
    """
    probe = make_pipeline(
        StandardScaler(), LogisticRegression(C=c, solver="lbfgs", max_iter=MAX_ITER, random_state=seed)
    )
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(features, labels)
    return probe


def choose_regularisation(
    features: np.ndarray,
    labels: np.ndarray,
    fit: np.ndarray,
    validation: np.ndarray,
    cs: Sequence[float] = DEFAULT_CS,
    seed: int = 0,
    fit_classifier: FitClassifier | None = None,
) -> tuple[float, dict[str, float]]:
    """Best C by accuracy on the ``validation`` indices of classifiers fit on the ``fit`` indices (ties: the smaller C).

    With fewer than two labels to fit or nothing to validate on, the smallest C (strongest regularisation).
    ``fit_classifier``: None fits the logistic probe (``fit_probe``).
    """
    if len(np.unique(labels[fit])) < 2 or len(validation) == 0:
        return float(min(cs)), {}
    scores: dict[str, float] = {}
    for c in sorted(cs):
        probe = (fit_classifier or fit_probe)(features[fit], labels[fit], c, seed)
        scores[repr(float(c))] = float(np.mean(probe.predict(features[validation]) == labels[validation]))
    best = max(scores.values())
    return next(float(c) for c in sorted(cs) if scores[repr(float(c))] == best), scores


def select_regularisation(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    cs: Sequence[float] = DEFAULT_CS,
    val_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
) -> tuple[float, dict[str, float]]:
    """Best C by accuracy on a validation split of the train set (ties: the smaller C, i.e. stronger regularisation)."""
    fit, val = split_train_validation(train_labels, val_fraction, seed)
    return choose_regularisation(train_features, train_labels, fit, val, cs, seed)


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    cs: Sequence[float] = DEFAULT_CS,
    val_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
) -> ProbeResult:
    """Choose C on train only, refit on all of train, report top-1 / per-class accuracy / confusion on test."""
    train_features = np.asarray(train_features, dtype=np.float64)
    test_features = np.asarray(test_features, dtype=np.float64)
    train_labels = np.asarray(train_labels, dtype=np.int64)
    test_labels = np.asarray(test_labels, dtype=np.int64)
    if len(np.unique(train_labels)) < 2:
        raise InputError("the train split holds fewer than two distinct labels, so there is nothing for a probe to separate")
    if len(test_labels) == 0:
        raise InputError("the test split holds no labelled samples to score the probe on")
    chosen_c, validation = select_regularisation(train_features, train_labels, cs, val_fraction, seed)
    probe = fit_probe(train_features, train_labels, chosen_c, seed)
    confusion = confusion_matrix(probe.predict(test_features), test_labels, num_classes, ignore_index=-1)
    scores = classification_scores(confusion)
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
    return ProbeResult(
        top1=scores["top1"],
        mean_class_accuracy=scores["mean_class_accuracy"],
        per_class_accuracy=scores["per_class_accuracy"],
        confusion=scores["confusion"],
        chosen_c=chosen_c,
        validation_accuracy=validation,
        num_train=len(train_labels),
        num_test=len(test_labels),
        class_names=names,
    )


def format_probe_table(result: ProbeResult) -> str:
    """A short plain-text table: overall scores, then accuracy and test count per class."""
    support = np.asarray(result.confusion).sum(axis=1)
    width = max(len(name) for name in result.class_names + ["class"])
    lines = [
        f"linear probe: top-1 {100 * result.top1:.1f}%  mean class acc {100 * result.mean_class_accuracy:.1f}%  "
        f"(C={result.chosen_c:g}, {result.num_train} train / {result.num_test} test)",
        chance_line(np.asarray(result.confusion), {"top1": "top-1", "mean_class_accuracy": "mean class acc"}),
        f"{'class':<{width}}  {'acc':>6}  {'n':>5}",
    ]
    for name, accuracy, count in zip(result.class_names, result.per_class_accuracy, support):
        shown = "    --" if accuracy is None else f"{100 * accuracy:5.1f}%"
        lines.append(f"{name:<{width}}  {shown:>6}  {count:>5}")
    return "\n".join(lines)
