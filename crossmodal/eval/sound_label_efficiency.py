"""The ``sound-label-efficiency`` protocol: an audio student fine-tuned end to end as a clip classifier on growing
subsets of each ESC-50 training part, beside the same architecture from random init; at fraction 1 random init
is the supervised reference (the architecture trained from scratch with every label of the training folds).

For each test fold the clips of the other folds take one seeded order, stratified by class, and each
fraction's subset is a prefix of it (nested, recorded). The network and a linear classifier on its
pooled features train together (AdamW, cosine decay) for as many steps as ``epochs`` passes over the
whole training part take, whatever the fraction. A clip's logits are the mean of its windows' (the
student's training length), in training as in scoring: trained on single random windows instead, a
network from scratch reached 48 % on the embedded set's first validation fold against 75 % on whole
clips, as a window often misses the clip's event. Scoring runs the network in eval mode. Scores:
top-1 per fold, mean ± std over folds. Both networks start every (fold, fraction) from their
initial weights with the same classifier initialisation and batch order.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.data.esc50 import ESC50, esc50_fold_splits
from crossmodal.errors import InputError
from crossmodal.eval.audio_probe import ESC50_CLIP_SECONDS, labelled_sound_set, window_samples, window_seconds
from crossmodal.eval.label_curves import Curve, FractionNeeded, curve_picture, labels_saved
from crossmodal.eval.label_efficiency import (
    FINETUNED_NOTE,
    RANDOM_INIT,
    RANDOM_INIT_NEEDS_NOTE,
    STUDENT,
    SUPERVISED_NOTE,
    LabelCurveProtocol,
    flat_curve_scores,
    labels_saved_line,
    random_init_network,
    saved_record,
)
from crossmodal.eval.label_subsets import check_fractions, equal_step_epochs, labelled_order, nested_subsets
from crossmodal.eval.metrics import classification_scores, confusion_matrix
from crossmodal.eval.protocol import Say, WandbTable, register_protocol, silent
from crossmodal.eval.reports import EvalSettings
from crossmodal.eval.student import LoadedStudent
from crossmodal.models.features import FeatureNetwork

METRIC = "top1"
BENCHMARK_FRACTIONS = (1.0,)
"""The benchmark's fractions: every label (the supervised reference for random init). Each fraction costs five
end-to-end fine-tunings of the student (one per fold), a few minutes each on one CPU core."""


@dataclass(frozen=True)
class SoundLabelEfficiencySettings:
    """How the curve is measured on an ESC-50-layout sound set. ``fractions``: of each fold's training clips,
    increasing, each in (0, 1]; ``anchor``: the fraction whose distilled score the random-init curve must reach;
    ``reference``: also fine-tune random init of the same architecture (seeded by ``seed``); ``split``:
    "validation" leaves the last fold out. ``data``/``data_set`` as ``ProbeSettings``'.
    """

    fractions: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0)
    anchor: float = 0.1
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    reference: bool = True
    data: Path | None = None
    data_set: str | None = None
    split: str = "test"
    seed: int = 0

    def check(self) -> None:
        check_fractions(self.fractions, self.anchor)
        if self.epochs < 1 or self.batch_size < 2:
            raise InputError("sound label-efficiency epochs must be at least 1 and the batch size at least 2 (BatchNorm)")
        if self.lr <= 0 or self.weight_decay < 0:
            raise InputError("sound label-efficiency lr must be positive and weight_decay not negative")


class WindowClassifier(nn.Module):
    """A linear classifier on an audio network's pooled features of ``window``-sample pieces; a clip's logits are
    its windows' mean."""

    def __init__(self, encoder: FeatureNetwork, num_classes: int, window: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.classify = nn.Linear(encoder.feature_dim, num_classes)
        self.window = window

    def forward(self, windows: Tensor) -> Tensor:
        return cast(Tensor, self.classify(self.encoder(windows).pooled))

    def clip_logits(self, clips: Tensor) -> Tensor:
        """Clips (B x samples) -> B x classes: the mean logits of their whole windows (a shorter clip is one window)."""
        count = max(1, clips.shape[-1] // self.window)
        length = min(clips.shape[-1], count * self.window)
        pieces = clips[:, :length].reshape(clips.shape[0] * count, 1, length // count)
        return self(pieces).reshape(clips.shape[0], count, -1).mean(dim=1)


@dataclass
class SoundClips:
    """Every clip of a sound set in memory (clips x samples at the student's rate), with class and fold per clip."""

    location: str
    waveforms: Tensor
    labels: np.ndarray
    folds: np.ndarray
    class_names: list[str]


def load_clips(root: Path, split: str) -> SoundClips:
    """The set's clips, padded or cut to ESC-50's 5 s; "validation" leaves the last fold out."""
    folds = [split_.test_fold for split_ in esc50_fold_splits(root)]
    if split == "validation":
        folds = folds[:-1]
    clips = ESC50(root, folds=folds, clip_seconds=ESC50_CLIP_SECONDS)
    items = [clips[k] for k in range(len(clips))]
    return SoundClips(
        location=str(root), waveforms=torch.stack([item["audio"][0] for item in items]),
        labels=np.array([item["label"] for item in items]), folds=np.array([item["fold"] for item in items]),
        class_names=list(clips.class_names),
    )


def finetune_and_score(
    network: FeatureNetwork, train: tuple[Tensor, Tensor], test: tuple[Tensor, np.ndarray], num_classes: int,
    window: int, epochs: int, settings: SoundLabelEfficiencySettings, device: torch.device,
) -> dict[str, Any]:
    """A fresh copy of ``network`` with a seeded classifier, trained end to end on ``train``, scored on ``test``."""
    waveforms, labels = train
    if len(labels) < 2:
        raise InputError("a label subset holds a single clip, and a batch of one cannot train BatchNorm layers; "
                         "use larger label fractions")
    torch.manual_seed(settings.seed)  # the classifier's init: the same for every network
    encoder = copy.deepcopy(network).requires_grad_(True)  # a loaded student comes frozen; end to end means all of it
    model = WindowClassifier(encoder, num_classes, window).to(device)
    generator = torch.Generator().manual_seed(settings.seed)  # batch order: the same too
    batch = min(settings.batch_size, len(labels))
    steps_per_epoch = len(labels) // batch
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for step in range(steps_per_epoch):
            chosen = order[step * batch:(step + 1) * batch]
            loss = F.cross_entropy(model.clip_logits(waveforms[chosen].to(device)), labels[chosen].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    model.eval()
    test_waveforms, test_labels = test
    with torch.no_grad():
        logits = torch.cat([model.clip_logits(part.to(device)).cpu() for part in test_waveforms.split(settings.batch_size)])
    confusion = confusion_matrix(logits.argmax(dim=1).numpy(), test_labels, num_classes, ignore_index=-1)
    scores = classification_scores(confusion)
    return {"top1": scores["top1"], "mean_class_accuracy": scores["mean_class_accuracy"], "final_loss": loss.item()}


@dataclass
class SoundLabelEfficiencyReport:
    """Per network and fraction, the scores of every test fold and their mean ± std; the subsets and schedules."""

    data: str
    fractions: list[float]
    test_folds: list[int]
    num_labelled: list[list[int]]
    epochs: list[list[int]]
    curves: dict[str, list[dict[str, Any]]]
    orders: list[list[int]]
    anchor: float
    saved: FractionNeeded | None
    settings: dict[str, Any] = field(default_factory=dict)
    picture: Any = None

    @property
    def scores(self) -> dict[str, Any]:
        """``top1@<fraction>`` (the fold mean) and ``top1_std@<fraction>`` (over folds) per network, as ``flat_curve_scores``."""
        return flat_curve_scores(self.fractions, self.curves, [METRIC, f"{METRIC}_std"], self.saved)

    @property
    def table(self) -> str:
        names = list(self.curves)
        lines = [f"sound label efficiency (fine-tuned end to end, {len(self.test_folds)} folds) on {self.data}:",
                 f"  {'labels':>7}  {'clips':>6}" + "".join(f"  {name + ' top-1':>22}" for name in names)]
        for k, fraction in enumerate(self.fractions):
            cells = "".join(f"  {point_text(self.curves[name][k]):>22}" for name in names)
            lines.append(f"  {f'{100 * fraction:g}%':>7}  {round(float(np.mean(self.num_labelled[k]))):>6}{cells}")
        if self.saved is not None:
            lines.append(labels_saved_line(self.saved, self.anchor, "this student", "top-1"))
        return "\n".join(lines)

    def to_dict(self, student: LoadedStudent) -> dict[str, Any]:
        saved = saved_record(self.saved, METRIC)
        return {
            **student.report(), "data": self.data, **self.settings, **student.extra, "fractions": self.fractions,
            "test_folds": self.test_folds, "num_labelled_per_fold": self.num_labelled, "epochs_per_fold": self.epochs,
            "curves": self.curves, "anchor": self.anchor, "labels_saved": saved, "subset_orders": self.orders,
        }


def point_text(point: dict[str, Any]) -> str:
    return f"{100 * point['top1']:.1f} ± {100 * point['top1_std']:.1f}%"


def sound_label_efficiency(
    student: LoadedStudent, settings: SoundLabelEfficiencySettings, device: torch.device, say: Say
) -> SoundLabelEfficiencyReport:
    settings.check()
    clips = load_clips(labelled_sound_set(student.config, settings.data, settings.data_set), settings.split)
    window = window_samples(student)
    networks = {STUDENT: student.model}
    if settings.reference:
        networks[RANDOM_INIT] = random_init_network(student, settings.seed)
    test_folds = sorted(int(f) for f in np.unique(clips.folds))
    per_fold: dict[str, list[list[dict[str, Any]]]] = {name: [[] for _ in settings.fractions] for name in networks}
    num_labelled: list[list[int]] = [[] for _ in settings.fractions]
    epochs: list[list[int]] = [[] for _ in settings.fractions]
    orders = []
    say(f"sound label efficiency of {student.description} on {clips.location}: fractions "
        f"{', '.join(f'{100 * f:g}%' for f in settings.fractions)} of each fold's training clips, {len(test_folds)} folds")
    for fold in test_folds:
        train = np.flatnonzero(clips.folds != fold)
        test = np.flatnonzero(clips.folds == fold)
        order = labelled_order(len(train), settings.seed, clips.labels[train].tolist())
        orders.append([int(train[k]) for k in order])
        for k, (fraction, subset) in enumerate(nested_subsets(order, settings.fractions).items()):
            chosen = train[subset]
            passes = equal_step_epochs(settings.epochs, settings.batch_size, len(chosen), len(train))
            num_labelled[k].append(len(chosen))
            epochs[k].append(passes)
            for name, network in networks.items():
                scores = finetune_and_score(
                    network, (clips.waveforms[chosen], torch.as_tensor(clips.labels[chosen])),
                    (clips.waveforms[test], clips.labels[test]), len(clips.class_names), window, passes, settings, device,
                )
                per_fold[name][k].append(scores)
                say(f"fold {fold}, {100 * fraction:g}% ({len(chosen)} clips, {passes} epochs), {name}: "
                    f"top-1 {100 * scores['top1']:.1f}%")
    curves = {name: [fold_summary(points) for points in fractions] for name, fractions in per_fold.items()}
    saved = None
    if settings.reference:
        saved = labels_saved(settings.fractions, [p["top1"] for p in curves[RANDOM_INIT]],
                             [p["top1"] for p in curves[STUDENT]], settings.anchor)
    picture = curve_picture(
        [Curve(name, settings.fractions, tuple(p["top1"] for p in points)) for name, points in curves.items()],
        "top-1", "sound classification, fine-tuned end to end (mean over folds)",
    )
    return SoundLabelEfficiencyReport(
        data=clips.location, fractions=list(settings.fractions), test_folds=test_folds, num_labelled=num_labelled,
        epochs=epochs, curves=curves, orders=orders, anchor=settings.anchor, saved=saved, picture=picture,
        settings={"split": settings.split, "batch_size": settings.batch_size, "lr": settings.lr,
                  "weight_decay": settings.weight_decay, "epochs": settings.epochs, "seed": settings.seed,
                  "window_seconds": window_seconds(student)},
    )


def fold_summary(points: list[dict[str, Any]]) -> dict[str, Any]:
    """One fraction's fold scores: their means, the top-1 population std over folds (as the probe's), and each fold's."""
    top1 = np.array([p["top1"] for p in points])
    return {"top1": float(top1.mean()), "top1_std": float(top1.std()),
            "mean_class_accuracy": float(np.mean([p["mean_class_accuracy"] for p in points])),
            "folds": [{"top1": p["top1"], "mean_class_accuracy": p["mean_class_accuracy"]} for p in points]}


@register_protocol
class SoundLabelEfficiency(LabelCurveProtocol):
    """Audio students fine-tuned as clip classifiers with 5-100 % of each fold's labels, beside random init."""

    name = "sound-label-efficiency"
    title = "sound classification fine-tuned end to end on nested label subsets, beside random init (labels saved)"
    settings_type = SoundLabelEfficiencySettings
    result_file = "sound_label_efficiency.json"
    timing_key = "sound_label_efficiency_s"
    curve_metric = METRIC
    curve_title = "top-1"
    curve_task = "sound classification fine-tuned end to end"
    curve_notes = (
        FINETUNED_NOTE.format(head="a linear classifier", strata="class", labelled="each fold's training clips",
                              same="classifier init and batch order",
                              scored="a clip's logits are its windows' mean; top-1 is the mean over the five folds "
                                     "(`crossmodal-eval sound-label-efficiency`)"),
        SUPERVISED_NOTE.format(of=" of the training folds"),
        RANDOM_INIT_NEEDS_NOTE.format(metric="top-1"),
    )

    def run(self, student: LoadedStudent, settings: SoundLabelEfficiencySettings, device: torch.device,
            say: Say = silent) -> SoundLabelEfficiencyReport:
        return sound_label_efficiency(student, settings, device, say)

    def benchmark_settings(self, evaluation: EvalSettings, seed: int) -> SoundLabelEfficiencySettings:
        """The student's curve alone (the grid's random-init method, ``none``, gives the reference curve) at
        ``BENCHMARK_FRACTIONS``."""
        return SoundLabelEfficiencySettings(fractions=BENCHMARK_FRACTIONS, anchor=BENCHMARK_FRACTIONS[-1], split=evaluation.split,
                                            seed=seed, reference=False)

    def benchmark_record(self, report: SoundLabelEfficiencyReport) -> dict[str, Any]:
        scores = {k: v for k, v in report.scores.items() if "_std@" not in k}
        return self.curve_record(scores, report.fractions, [round(float(np.mean(n))) for n in report.num_labelled])

    def wandb_tables(self, report: SoundLabelEfficiencyReport) -> dict[str, WandbTable]:
        rows = [[name, fraction, point["top1"], point["top1_std"]] for name, points in report.curves.items()
                for fraction, point in zip(report.fractions, points)]
        return {"curve": (["network", "label_fraction", "top1", "top1_fold_std"], rows)}

