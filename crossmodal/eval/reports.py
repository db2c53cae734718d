"""The evaluation protocols' settings and reports: what a probe or a segmentation head is asked, and what it answers.

Each report carries the scores, a printable table and everything needed to reproduce them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossmodal.errors import InputError
from crossmodal.eval.metrics import chance_line
from crossmodal.eval.probe import DEFAULT_CS, VALIDATION_FRACTION
from crossmodal.eval.seg_heads import SEGMENTATION_HEADS
from crossmodal.eval.student import LoadedStudent

EVAL_SPLITS = ("test", "validation")
LABEL_SETS = ("nyu13", "nyu40")


def check_label_set(labels: str) -> None:
    if labels not in LABEL_SETS:
        raise InputError(f"segmentation labels {labels!r} must be one of: {', '.join(LABEL_SETS)}")


@dataclass(frozen=True)
class ProbeSettings:
    """How a probe is run. ``task``: one of the modality's probe tasks (None: its first);
    ``data``: the task's labelled data (None: what the run's own training data brings); for RGB-D,
    ``data_set`` names the catalog data set it is in (None: an NYU-layout file when ``data`` is given).
    ``split``: "test" scores on the held-out test data; "validation" scores without it (for
    choosing settings). ``feature_cache``: a folder to keep extracted features in.
    """

    task: str | None = None
    data: Path | None = None
    data_set: str | None = None
    split: str = "test"
    cs: tuple[float, ...] = DEFAULT_CS
    val_fraction: float = VALIDATION_FRACTION
    seed: int = 0
    batch_size: int = 32
    workers: int = 0
    folds: int = 5
    feature_cache: Path | None = None


@dataclass(frozen=True)
class KNNSettings:
    """How the kNN protocol is run: ``k`` neighbours voting with weights exp(cosine similarity / ``temperature``)
    (the instance-discrimination protocol's defaults); the data fields as ``ProbeSettings``'."""

    data: Path | None = None
    data_set: str | None = None
    split: str = "test"
    k: int = 20
    temperature: float = 0.07
    batch_size: int = 32
    workers: int = 0
    feature_cache: Path | None = None


@dataclass(frozen=True)
class SVMSettings:
    """How SoundNet's protocol is run on an ESC-50-layout sound set: C of the linear SVM chosen from ``cs`` on
    ``val_fraction`` of the training clips; the data fields as ``ProbeSettings``' ("validation" leaves the last fold out)."""

    data: Path | None = None
    data_set: str | None = None
    split: str = "test"
    cs: tuple[float, ...] = DEFAULT_CS
    val_fraction: float = VALIDATION_FRACTION
    seed: int = 0
    batch_size: int = 32
    workers: int = 0
    feature_cache: Path | None = None


@dataclass
class ProbeReport:
    """A probe's outcome: ``scores`` (fractions, flat) for tables, ``details`` for probe.json, ``table`` to print."""

    task: str
    data: str
    scores: dict[str, float]
    details: dict[str, Any]
    table: str

    def to_dict(self, student: LoadedStudent) -> dict[str, Any]:
        return {"task": self.task, **student.report(), "data": self.data, **student.extra, **self.details}


@dataclass(frozen=True)
class SegmentSettings:
    """How a segmentation head is trained and scored (``lr`` None: the head's own default).

    The defaults are the benchmark's protocol (``EvalSettings`` takes them from here), so
    ``crossmodal-segment --run RUN`` reproduces the benchmark's segmentation columns.
    ``precompute_maps``: compute the frozen encoder's maps once (valid for a frozen encoder only).
    ``class_balanced``: weigh the loss by median-frequency balancing, so rare classes count (nyu40).
    """

    labels: str = "nyu13"
    head: str = "linear"
    epochs: int = 10
    batch_size: int = 16
    lr: float | None = None
    finetune: bool = False
    data: Path | None = None
    data_set: str | None = None
    split: str = "test"
    seed: int = 0
    workers: int = 0
    examples: int = 4
    precompute_maps: bool = False
    class_balanced: bool = False


@dataclass
class SegmentReport:
    """A segmentation head's outcome: scores from one confusion matrix over every labelled scored pixel."""

    data: str
    labels: str
    class_names: list[str]
    scores: dict[str, Any]
    confusion: list[list[int]]
    train_losses: list[float]
    num_fit: int
    num_scored: int
    labelled_pixels: int
    picture: Any = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> str:
        """The scores and every scored class's IoU and accuracy, as the segmentation command prints them."""
        scores = self.scores
        lines = [
            f"segmentation: pixel acc {100 * scores['pixel_accuracy']:.1f}%  mean class acc "
            f"{100 * scores['mean_class_accuracy']:.1f}%  mIoU {100 * scores['miou']:.1f}%  "
            f"({scores['classes_present']} classes in the scored labels)",
            "  " + chance_line(np.asarray(self.confusion), {"top1": "pixel acc", "mean_class_accuracy": "mean class acc", "miou": "mIoU"}),
        ]
        width = max(len(name) for name in self.class_names)
        for name, iou, accuracy in zip(self.class_names, scores["per_class_iou"], scores["per_class_accuracy"]):
            if iou is not None:
                lines.append(f"  {name:<{width}}  IoU {100 * iou:5.1f}%  acc {100 * accuracy:5.1f}%")
        return "\n".join(lines)

    def to_dict(self, student: LoadedStudent) -> dict[str, Any]:
        return {
            **student.report(), "data": self.data, **self.settings, **student.extra, "labels": self.labels,
            "class_names": self.class_names, "train_losses": self.train_losses, "num_fit": self.num_fit,
            "num_scored": self.num_scored, "labelled_pixels": self.labelled_pixels, **self.scores,
            "confusion": self.confusion,
        }


@dataclass(frozen=True)
class EvalSettings:
    """How the benchmark judges every student; the same for all methods and seeds (labels and head: dense targets only).

    Defaults: the linear head on the 13-class NYU labels. With 40 classes, 21 of the 39 the
    embedded rooms contain cover under 1% of the pixels each; a linear head on the last stage
    (3 x 4 cells at 96 x 128 input) never predicts them, so mIoU sat near 3% for every student
    and could not tell them apart. The head's validation scores level off after about 10 epochs.
    ``head_lr=None``: the head's own default learning rate. ``split``: "test", or "validation" to
    choose settings without the test data. ``extra_protocols``: protocols judged beside each modality's
    benchmark protocols, for the targets they apply to (e.g. the costlier ``label-efficiency``).
    """

    labels: str = SegmentSettings.labels
    head: str = SegmentSettings.head
    head_epochs: int = SegmentSettings.epochs
    head_lr: float | None = SegmentSettings.lr
    head_batch_size: int = SegmentSettings.batch_size
    split: str = SegmentSettings.split
    extra_protocols: tuple[str, ...] = ()

    def check(self) -> None:
        check_label_set(self.labels)
        if self.split not in EVAL_SPLITS:
            raise InputError(f"evaluation split {self.split!r} must be one of: {', '.join(EVAL_SPLITS)}")
        SEGMENTATION_HEADS.get(self.head)
        if self.head_epochs < 1 or self.head_batch_size < 1:
            raise InputError("head epochs and head batch size must be at least 1")
        if self.head_lr is not None and self.head_lr <= 0:
            raise InputError(f"head learning rate must be positive, got {self.head_lr}")
