"""The ``label-efficiency`` protocol: the student fine-tuned end to end on growing subsets of the labels, beside
the same architecture from random init on the same schedule, and how many labels the distilled weights save.

For each fraction the labelled training frames are a prefix of one seeded, stratified order
(``label_subsets``), so subsets are nested and recorded. The network and a segmentation head train
together (AdamW, cosine decay, the training view's crop and flip) for as many steps as ``epochs``
passes over all the labelled frames take, whatever the fraction: a curve then measures what more
labels give, not what more optimisation gives (with epochs per subset, the full set would train
tens of times longer than its 1 % subset). Then the scored frames are segmented. Both networks
start each fraction from their initial weights, with the same head initialisation, batch order and
augmentation draws. At fraction 1 the random-init network is the
supervised reference: the architecture trained from scratch with every label.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset, Subset

from crossmodal.data.kinds import num_items
from crossmodal.data.labelled import LabelledSplits
from crossmodal.data.transforms import PairedTransform
from crossmodal.errors import InputError
from crossmodal.eval.label_curves import INTERPOLATED, MORE_THAN, Curve, FractionNeeded, curve_picture, labels_saved
from crossmodal.eval.label_subsets import check_fractions, equal_step_epochs, labelled_order, nested_subsets
from crossmodal.eval.metrics import segmentation_scores
from crossmodal.eval.protocol import EvalProtocol, Say, WandbTable, register_protocol, silent
from crossmodal.eval.reports import EvalSettings, check_label_set
from crossmodal.eval.rgbd_splits import labelled_splits
from crossmodal.eval.seg_heads import build_segmentation_head
from crossmodal.eval.segment import HeadTraining, Segmenter, evaluate_segmenter, train_segmenter
from crossmodal.eval.student import LoadedStudent
from crossmodal.models.features import FeatureNetwork
from crossmodal.models.student_registry import build_student

STUDENT, RANDOM_INIT = "student", "random init"
METRICS = {"miou": "mIoU", "pixel_accuracy": "pixel acc"}
LABELS_SAVED_METRIC = "miou"


@dataclass(frozen=True)
class LabelEfficiencySettings:
    """How the curve is measured. ``fractions``: of the labelled training frames, increasing, each in (0, 1];
    ``anchor``: the fraction whose distilled score the random-init curve must reach (one of ``fractions``);
    ``reference``: also fine-tune the random-init network of the same architecture (seeded by ``seed``);
    ``encoder_lr_factor``: the network's learning rate relative to the head's (1: one rate, as training from
    scratch needs). The data fields as ``SegmentSettings``'.
    """

    fractions: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 1.0)
    anchor: float = 0.1
    labels: str = "nyu13"
    head: str = "fcn"
    epochs: int = 10
    batch_size: int = 16
    lr: float | None = None
    encoder_lr_factor: float = 1.0
    reference: bool = True
    data: Path | None = None
    data_set: str | None = None
    split: str = "test"
    seed: int = 0
    workers: int = 0

    def check(self) -> None:
        check_fractions(self.fractions, self.anchor)
        check_label_set(self.labels)
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("label-efficiency epochs and batch size must be at least 1")
        if (self.lr is not None and self.lr <= 0) or self.encoder_lr_factor <= 0:
            raise InputError("label-efficiency learning rate and encoder_lr_factor must be positive")


@dataclass
class LabelEfficiencyReport:
    """Per network, its scores at each fraction; the subsets (a prefix of ``order`` each) and the schedule they trained on."""

    data: str
    labels: str
    fractions: list[float]
    num_labelled: list[int]
    epochs: list[int]
    curves: dict[str, list[dict[str, Any]]]
    order: list[int]
    stratified: bool
    num_fit: int
    num_scored: int
    anchor: float
    saved: FractionNeeded | None
    settings: dict[str, Any] = field(default_factory=dict)
    picture: Any = None

    @property
    def scores(self) -> dict[str, Any]:
        return flat_curve_scores(self.fractions, self.curves, list(METRICS), self.saved)

    @property
    def table(self) -> str:
        names = list(self.curves)
        header = f"  {'labels':>7}  {'frames':>6}  {'epochs':>6}" + "".join(f"  {name + ' mIoU / pixel acc':>30}" for name in names)
        lines = [f"label efficiency ({self.labels}, {self.settings['head']} head, fine-tuned end to end) on {self.data}:", header]
        for k, fraction in enumerate(self.fractions):
            cells = "".join(f"  {point_text(self.curves[name][k]):>30}" for name in names)
            lines.append(f"  {f'{100 * fraction:g}%':>7}  {self.num_labelled[k]:>6}  {self.epochs[k]:>6}{cells}")
        if self.saved is not None:
            lines.append(labels_saved_line(self.saved, self.anchor, "this student"))
        return "\n".join(lines)

    def to_dict(self, student: LoadedStudent) -> dict[str, Any]:
        saved = saved_record(self.saved, LABELS_SAVED_METRIC)
        return {
            **student.report(), "data": self.data, "labels": self.labels, **self.settings, **student.extra,
            "fractions": self.fractions, "num_labelled": self.num_labelled, "epochs_per_fraction": self.epochs,
            "curves": self.curves, "num_fit": self.num_fit, "num_scored": self.num_scored, "anchor": self.anchor,
            "labels_saved": saved, "subset_order": self.order, "stratified_by_scene": self.stratified,
        }


def flat_curve_scores(
    fractions: list[float], curves: dict[str, list[dict[str, Any]]], metrics: list[str], saved: FractionNeeded | None
) -> dict[str, Any]:
    """Flat scores for tables: ``<metric>@<fraction>`` of the student, ``reference_<metric>@<fraction>`` of random
    init, and the fraction random init needs (when measured)."""
    flat: dict[str, Any] = {}
    for name, prefix in ((STUDENT, ""), (RANDOM_INIT, "reference_")):
        for fraction, point in zip(fractions, curves.get(name, [])):
            flat.update({f"{prefix}{metric}@{fraction:g}": point[metric] for metric in metrics})
    if saved is not None:
        flat["random_init_fraction_needed"] = saved.fraction
        flat["random_init_fraction_kind"] = saved.kind
    return flat


def saved_record(saved: FractionNeeded | None, metric: str) -> dict[str, Any] | None:
    """The labels-saved figure as a report records it."""
    if saved is None:
        return None
    return {"metric": metric, "target": saved.target, "random_init_fraction": saved.fraction, "kind": saved.kind}


def point_text(scores: dict[str, Any]) -> str:
    return f"{100 * scores['miou']:.1f}% / {100 * scores['pixel_accuracy']:.1f}%"


def labels_saved_line(saved: FractionNeeded, anchor: float, who: str, metric: str = "mIoU") -> str:
    """One sentence: what random init needs to reach ``who``'s ``metric`` at ``anchor``."""
    reached = f"the {metric} {who} reaches with {100 * anchor:g}% of the labels"
    if saved.kind == MORE_THAN:
        return f"random init does not reach {reached}, even with {100 * saved.fraction:g}%"
    line = f"random init needs {saved.describe()} of the labels to reach {reached}"
    if saved.kind == INTERPOLATED:
        line += f" ({saved.fraction / anchor:.1f}x the labels; interpolated in log fraction)"
    return line


def scene_strata(splits: LabelledSplits) -> list[int] | None:
    """The scene class of each fit frame (the subsets are stratified by it), None when the set has no scene labels."""
    if not splits.scene_names:
        return None
    return [int(splits.fit[k]["label"]) for k in range(num_items(splits.fit))]


def finetune_and_score(
    network: FeatureNetwork, fit: Dataset, scored: Dataset, num_classes: int, epochs: int,
    settings: LabelEfficiencySettings, device: torch.device,
) -> dict[str, Any]:
    """A fresh copy of ``network`` with a seeded head, trained end to end on ``fit``, scored on ``scored``."""
    torch.manual_seed(settings.seed)  # the head's init and the augmentation draws: the same for every network
    head = build_segmentation_head(settings.head, network.map_channels, num_classes)
    model = Segmenter(copy.deepcopy(network), head, finetune=True)
    training = HeadTraining(epochs, settings.batch_size, settings.lr, num_workers=settings.workers, seed=settings.seed,
                            encoder_lr_factor=settings.encoder_lr_factor)
    losses = train_segmenter(model, fit, training, device)
    confusion, _ = evaluate_segmenter(model, scored, num_classes, device, settings.batch_size, settings.workers, num_examples=0)
    scores = segmentation_scores(confusion)
    return {"miou": scores["miou"], "pixel_accuracy": scores["pixel_accuracy"],
            "mean_class_accuracy": scores["mean_class_accuracy"], "final_loss": losses[-1]}


def random_init_network(student: LoadedStudent, seed: int) -> FeatureNetwork:
    """The student's architecture with the weights ``seed`` draws (as an untrained reference student gets them)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_student(**student.spec)


def label_efficiency(
    student: LoadedStudent, settings: LabelEfficiencySettings, device: torch.device, say: Say
) -> LabelEfficiencyReport:
    settings.check()
    config = student.config
    splits = labelled_splits(config, settings.data_set, settings.data, settings.split, settings.labels)
    training_view = PairedTransform(size=tuple(config.data.input_size), train=True, depth_encoding=config.data.depth_encoding)
    fit = labelled_splits(config, settings.data_set, settings.data, settings.split, settings.labels, training_view).fit
    strata = scene_strata(splits)
    order = labelled_order(num_items(fit), settings.seed, strata)
    subsets = nested_subsets(order, settings.fractions)
    networks = {STUDENT: student.model}
    if settings.reference:
        networks[RANDOM_INIT] = random_init_network(student, settings.seed)
    curves: dict[str, list[dict[str, Any]]] = {name: [] for name in networks}
    schedule = [equal_step_epochs(settings.epochs, settings.batch_size, len(subsets[f]), len(order)) for f in settings.fractions]
    say(f"label efficiency of {student.description} on {splits.location}: fractions "
        f"{', '.join(f'{100 * f:g}%' for f in settings.fractions)} of {len(order)} frames")
    for fraction, epochs in zip(settings.fractions, schedule):
        for name, network in networks.items():
            scores = finetune_and_score(network, Subset(fit, subsets[fraction]), splits.scored, len(splits.class_names),
                                        epochs, settings, device)
            curves[name].append(scores)
            say(f"{100 * fraction:g}% ({len(subsets[fraction])} frames, {epochs} epoch{'s' * (epochs > 1)}), {name}: "
                f"mIoU {100 * scores['miou']:.1f}%  pixel acc {100 * scores['pixel_accuracy']:.1f}%")
    saved = None
    if settings.reference:
        saved = labels_saved(settings.fractions, [s[LABELS_SAVED_METRIC] for s in curves[RANDOM_INIT]],
                             [s[LABELS_SAVED_METRIC] for s in curves[STUDENT]], settings.anchor)
    picture = curve_picture(
        [Curve(name, settings.fractions, tuple(s[LABELS_SAVED_METRIC] for s in scores)) for name, scores in curves.items()],
        "mIoU", f"{settings.labels} segmentation, fine-tuned end to end",
    )
    return LabelEfficiencyReport(
        data=splits.location, labels=settings.labels, fractions=list(settings.fractions),
        num_labelled=[len(subsets[f]) for f in settings.fractions], epochs=schedule, curves=curves, order=order,
        stratified=strata is not None, num_fit=len(order), num_scored=num_items(splits.scored), anchor=settings.anchor,
        saved=saved, picture=picture,
        settings={"head": settings.head, "split": settings.split, "batch_size": settings.batch_size, "lr": settings.lr,
                  "encoder_lr_factor": settings.encoder_lr_factor, "seed": settings.seed},
    )


class LabelCurveProtocol(EvalProtocol):
    """A protocol whose benchmark records carry a label-efficiency curve: ``label_fractions``, ``label_protocol`` (its
    name) and ``<curve_metric>@<fraction>`` per fraction. ``curve_title``: the metric's name in tables;
    ``curve_task``: what was fine-tuned, for captions; ``curve_notes``: how the benchmark's curves were made."""

    curve_metric: ClassVar[str]
    curve_title: ClassVar[str]
    curve_task: ClassVar[str]
    curve_notes: ClassVar[tuple[str, ...]]

    def curve_record(self, scores: dict[str, Any], fractions: list[float], num_labelled: list[int]) -> dict[str, Any]:
        """The benchmark record of a curve: the student's ``<metric>@<fraction>`` scores and what they were measured on."""
        return {**{k: v for k, v in scores.items() if "@" in k and not k.startswith("reference_")},
                "label_fractions": fractions, "label_protocol": self.name, "num_labelled": num_labelled}

    def benchmark_line(self, record: dict[str, Any], evaluation: Any) -> str:
        points = "  ".join(f"{100 * f:g}%: {100 * record[f'{self.curve_metric}@{f:g}']:.1f}" for f in record["label_fractions"])
        return f"{self.name} (fine-tuned, {self.curve_title} %): {points} in {record[self.timing_key]:.0f} s"


FINETUNED_NOTE = ("Each student (its distilled weights; random init's untrained ones) and {head} fine-tuned end to end on "
                  "nested, {strata}-stratified subsets of {labelled} (the same subsets, {same} for every method of a seed); {scored}.")
SUPERVISED_NOTE = "Random init at 100% is the supervised reference: the architecture trained from scratch with every label{of}."
RANDOM_INIT_NEEDS_NOTE = ("Random init needs: the label fraction at which random init's mean curve reaches the method's mean {metric} "
                          "at 10%, interpolated linearly in log fraction between measured fractions (a bound outside them).")


@register_protocol
class LabelEfficiency(LabelCurveProtocol):
    """Depth students fine-tuned for segmentation with 1-100 % of the labels, beside random init of the same architecture."""

    name = "label-efficiency"
    title = "segmentation fine-tuned end to end on nested label subsets, beside random init (labels saved)"
    settings_type = LabelEfficiencySettings
    result_file = "label_efficiency.json"
    timing_key = "label_efficiency_s"
    curve_metric = LABELS_SAVED_METRIC
    curve_title = "mIoU"
    curve_task = "segmentation fine-tuned end to end"
    curve_notes = (
        FINETUNED_NOTE.format(head="a segmentation head", strata="scene", labelled="the labelled training frames",
                              same="head init, batch order and augmentation",
                              scored="scored on the test frames (`crossmodal-eval label-efficiency`)"),
        SUPERVISED_NOTE.format(of=""),
        RANDOM_INIT_NEEDS_NOTE.format(metric="mIoU"),
    )

    def run(self, student: LoadedStudent, settings: LabelEfficiencySettings, device: torch.device,
            say: Say = silent) -> LabelEfficiencyReport:
        return label_efficiency(student, settings, device, say)

    def benchmark_settings(self, evaluation: EvalSettings, seed: int) -> LabelEfficiencySettings:
        """The student's curve alone: the grid's random-init method (``none``) gives the reference curve."""
        return LabelEfficiencySettings(labels=evaluation.labels, split=evaluation.split, seed=seed, reference=False)

    def benchmark_record(self, report: LabelEfficiencyReport) -> dict[str, Any]:
        return self.curve_record(report.scores, report.fractions, report.num_labelled)

    def wandb_tables(self, report: LabelEfficiencyReport) -> dict[str, WandbTable]:
        rows = [[name, fraction, count, point["miou"], point["pixel_accuracy"]] for name, points in report.curves.items()
                for fraction, count, point in zip(report.fractions, report.num_labelled, points)]
        return {"curve": (["network", "label_fraction", "frames", "miou", "pixel_accuracy"], rows)}

    def wandb_name(self, report: LabelEfficiencyReport) -> str:
        return f"label-efficiency-{report.labels}"

