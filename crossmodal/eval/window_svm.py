"""SoundNet's classifier: a linear SVM fit on every window of the training clips; a clip takes the class of its
windows' mean SVM scores.

Modality-free, like the logistic probe: a sample is an array of window features (clips x windows x
dimensions), each window carries its clip's label when fitting, and only whole clips are scored.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from crossmodal.errors import InputError

MAX_ITER = 5000


class WindowSVM:
    """A fitted window SVM: ``predict`` takes clips x windows x dimensions and returns a class per clip."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def clip_scores(self, clips: np.ndarray) -> np.ndarray:
        """Per clip and class, the SVM's decision score averaged over the clip's windows."""
        count, windows, dimensions = _check_clips(clips).shape
        scores = self.pipeline.decision_function(clips.reshape(count * windows, dimensions))
        if scores.ndim == 1:  # two classes: one signed score for the second
            scores = np.stack([-scores, scores], axis=1)
        return np.asarray(scores.reshape(count, windows, -1).mean(axis=1))

    def predict(self, clips: np.ndarray) -> np.ndarray:
        return np.asarray(self.pipeline.classes_[self.clip_scores(clips).argmax(axis=1)])


def fit_window_svm(clips: np.ndarray, labels: np.ndarray, c: float, seed: int = 0) -> WindowSVM:
    """Standardise window features (training statistics), then a one-vs-rest linear SVM with C = ``c`` on every window."""
    count, windows, dimensions = _check_clips(clips).shape
    svm = make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=MAX_ITER, random_state=seed))
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit(clips.reshape(count * windows, dimensions), np.repeat(np.asarray(labels), windows))
    return WindowSVM(svm)


def _check_clips(clips: np.ndarray) -> np.ndarray:
    if clips.ndim != 3:
        raise InputError(f"window features must be clips x windows x dimensions, got shape {clips.shape}")
    return clips
