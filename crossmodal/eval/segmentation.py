"""The ``segmentation`` protocol: a head trained on a (frozen or fine-tuned) student's stage maps, scored on held-out frames.

Metrics come from one confusion matrix over every labelled scored pixel; means run over the
classes present in the ground truth.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from crossmodal.data.kinds import num_items
from crossmodal.errors import InputError
from crossmodal.eval.metrics import segmentation_scores
from crossmodal.eval.protocol import EvalProtocol, Say, WandbTable, register_protocol, silent
from crossmodal.eval.render import render_examples
from crossmodal.eval.reports import EvalSettings, SegmentReport, SegmentSettings
from crossmodal.eval.rgbd_splits import labelled_splits
from crossmodal.eval.seg_heads import build_segmentation_head
from crossmodal.eval.segment import HeadTraining, Segmenter, evaluate_segmenter, train_segmenter
from crossmodal.eval.student import LoadedStudent


def segmentation_protocol(
    student: LoadedStudent,
    settings: SegmentSettings,
    device: torch.device,
    draw_input: Callable[[torch.Tensor], np.ndarray],
    say: Callable[[str], None],
) -> SegmentReport:
    """Train the head on the fit frames, score the scored ones; ``draw_input`` renders inputs for the picture."""
    if settings.epochs < 1 or settings.batch_size < 1 or settings.examples < 0:
        raise InputError("segmentation epochs and batch size must be at least 1, examples at least 0")
    if settings.lr is not None and settings.lr <= 0:
        raise InputError(f"segmentation learning rate must be positive, got {settings.lr}")
    splits = labelled_splits(student.config, settings.data_set, settings.data, settings.split, settings.labels)
    fit, scored, class_names = splits.fit, splits.scored, splits.class_names
    mode = "fine-tuned" if settings.finetune else "frozen"
    say(f"segmenting ({settings.head} head, {settings.labels}, {mode} encoder) with {student.description} on {splits.location}")

    torch.manual_seed(settings.seed)
    head = build_segmentation_head(settings.head, student.model.map_channels, len(class_names))
    model = Segmenter(student.model, head, finetune=settings.finetune)
    lr = settings.lr or head.default_lr
    training = HeadTraining(
        settings.epochs, settings.batch_size, lr, num_workers=settings.workers, seed=settings.seed,
        precompute_maps=settings.precompute_maps, class_balanced=settings.class_balanced,
    )
    losses = train_segmenter(
        model, fit, training, device, on_epoch=lambda epoch, loss: say(f"epoch {epoch + 1}/{settings.epochs}: loss {loss:.4f}")
    )
    confusion, examples = evaluate_segmenter(
        model, scored, len(class_names), device, settings.batch_size, settings.workers, settings.examples
    )
    if confusion.sum() == 0:
        raise InputError(f"labelled data {splits.location} has no labelled pixels in the frames it scores, so there is nothing to score")
    scores = segmentation_scores(confusion)
    caption = (f"pixel acc {100 * scores['pixel_accuracy']:.1f}%  mIoU {100 * scores['miou']:.1f}%  "
               f"({settings.labels}, {settings.head} head, {settings.split} split)")
    return SegmentReport(
        data=splits.location,
        labels=settings.labels,
        class_names=class_names,
        scores=scores,
        confusion=confusion.tolist(),
        train_losses=losses,
        num_fit=num_items(fit),
        num_scored=num_items(scored),
        labelled_pixels=int(confusion.sum()),
        picture=render_examples(examples, draw_input, class_names=class_names, caption=caption) if examples else None,
        settings={
            "head": settings.head, "finetune": settings.finetune, "split": settings.split, "epochs": settings.epochs,
            "lr": lr, "batch_size": settings.batch_size, "class_balanced": settings.class_balanced,
        },
    )


@register_protocol
class Segmentation(EvalProtocol):
    """Dense labels of the labelled RGB-D frames (NYU label sets); the picture draws inputs as the student's modality does."""

    name = "segmentation"
    title = "semantic segmentation head on the stage maps"
    settings_type = SegmentSettings
    result_file = "segment.json"
    timing_key = "segment_s"
    wandb_prefix = "segment"

    def run(self, student: LoadedStudent, settings: SegmentSettings, device: torch.device, say: Say = silent) -> SegmentReport:
        return segmentation_protocol(student, settings, device, student.draw_input, say)

    def benchmark_settings(self, evaluation: EvalSettings, seed: int) -> SegmentSettings:
        return SegmentSettings(
            labels=evaluation.labels, head=evaluation.head, epochs=evaluation.head_epochs, batch_size=evaluation.head_batch_size,
            lr=evaluation.head_lr, split=evaluation.split, seed=seed, examples=0, precompute_maps=True,
        )

    def benchmark_record(self, report: SegmentReport) -> dict[str, Any]:
        return {
            "pixel_accuracy": report.scores["pixel_accuracy"],
            "segment_mean_class_accuracy": report.scores["mean_class_accuracy"],
            "miou": report.scores["miou"],
            "head_final_loss": report.train_losses[-1],
        }

    def benchmark_line(self, record: dict[str, Any], evaluation: EvalSettings) -> str:
        return (
            f"segment ({evaluation.head} head, {evaluation.labels}, {evaluation.head_epochs} epochs): "
            f"pixel acc {100 * record['pixel_accuracy']:.1f}%  mIoU {100 * record['miou']:.1f}% in {record['segment_s']:.0f} s"
        )

    def wandb_scores(self, report: SegmentReport) -> dict[str, Any]:
        named_iou = {f"iou/{name}": iou for name, iou in zip(report.class_names, report.scores["per_class_iou"]) if iou is not None}
        return {**report.scores, **named_iou}

    def wandb_tables(self, report: SegmentReport) -> dict[str, WandbTable]:
        rows = [[name, iou, accuracy] for name, iou, accuracy in
                zip(report.class_names, report.scores["per_class_iou"], report.scores["per_class_accuracy"])]
        return {"per_class": (["class", "iou", "accuracy"], rows)}

    def wandb_name(self, report: SegmentReport) -> str:
        return f"segment-{report.settings['head']}-{report.labels}"
