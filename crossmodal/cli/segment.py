"""`crossmodal-segment`: train a segmentation head on a (frozen) student's stage maps, score it on the test split.

Metrics come from one confusion matrix over every labelled test pixel; means run over the classes
present in the ground truth. Writes segment.json and segment.png (depth | prediction | truth)
into the run directory and, when wandb works, logs the same as an "eval" job in the run's group.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import torch

from crossmodal.cli.common import run_cli
from crossmodal.cli.probe import add_student_arguments, student_from_args
from crossmodal.engine.logging import WANDB_MODES
from crossmodal.engine.trainer import resolve_device
from crossmodal.errors import InputError
from crossmodal.eval.extract import labelled_data_path, open_labelled_split
from crossmodal.eval.metrics import segmentation_scores
from crossmodal.eval.segment import (
    SEGMENTATION_HEADS,
    HeadTraining,
    Segmenter,
    build_segmentation_head,
    evaluate_segmenter,
    render_examples,
    report_to_wandb,
    save_png,
    train_segmenter,
)
from crossmodal.eval.student_loading import LoadedStudent

LABEL_SETS = {40: "nyu40", 13: "nyu13"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossmodal-segment", description=__doc__)
    add_student_arguments(parser)
    parser.add_argument("--head", choices=SEGMENTATION_HEADS.names(), default="linear",
                        help="linear: 1x1 conv on the last stage; fcn: all stages upsampled and mixed (default linear)")
    parser.add_argument("--finetune", action="store_true", help="train the encoder too (default: frozen)")
    parser.add_argument("--classes", type=int, choices=sorted(LABEL_SETS), default=40, help="NYU label set (default 40)")
    parser.add_argument("--epochs", type=int, default=HeadTraining.epochs, help=f"head training epochs (default {HeadTraining.epochs})")
    parser.add_argument("--batch-size", type=int, default=HeadTraining.batch_size, help=f"default {HeadTraining.batch_size}")
    parser.add_argument("--lr", type=float, help="head learning rate, AdamW (default: linear 1e-2, fcn 1e-3)")
    parser.add_argument("--examples", type=int, default=4, help="test samples in segment.png (default 4)")
    parser.add_argument("--wandb", choices=WANDB_MODES, default="auto",
                        help="auto: online when logged in, else offline (default auto)")
    return parser


def _check_args(args: argparse.Namespace) -> None:
    for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--examples", args.examples)):
        if value < 1:
            raise InputError(f"{option} must be at least 1, got {value}")
    if args.lr is not None and args.lr <= 0:
        raise InputError(f"--lr must be positive, got {args.lr}")


def _print_scores(scores: dict[str, Any], class_names: Sequence[str]) -> None:
    print(
        f"segmentation: pixel acc {100 * scores['pixel_accuracy']:.1f}%  mean class acc "
        f"{100 * scores['mean_class_accuracy']:.1f}%  mIoU {100 * scores['miou']:.1f}%  "
        f"({scores['classes_present']} classes in the test labels)"
    )
    width = max(len(name) for name in class_names)
    for name, iou, accuracy in zip(class_names, scores["per_class_iou"], scores["per_class_accuracy"]):
        if iou is not None:
            print(f"  {name:<{width}}  IoU {100 * iou:5.1f}%  acc {100 * accuracy:5.1f}%")


def _wandb_config(student: LoadedStudent, args: argparse.Namespace, data: Path, lr: float) -> dict[str, Any]:
    return {
        "run_dir": str(student.run_dir),
        "train_wandb_id": student.wandb_id,
        "checkpoint": str(student.checkpoint) if student.checkpoint else None,
        "epoch": student.epoch,
        "student": student.description,
        "spec": student.spec,
        "data": str(data),
        "head": args.head,
        "finetune": args.finetune,
        "classes": args.classes,
        "epochs": args.epochs,
        "lr": lr,
        "batch_size": args.batch_size,
        **student.extra,
    }


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _check_args(args)
    student, out = student_from_args(args)
    device = resolve_device(args.device)
    data = labelled_data_path(student.config, args.data)
    labels = LABEL_SETS[args.classes]
    train_set = open_labelled_split(student.config, data, "train", labels)
    test_set = open_labelled_split(student.config, data, "test", labels)
    class_names = list(train_set.class_names)
    mode = "fine-tuned" if args.finetune else "frozen"
    print(f"segmenting ({args.head} head, {labels}, {mode} encoder) with {student.description} on {data}")

    torch.manual_seed(args.seed)
    head = build_segmentation_head(args.head, student.model.map_channels, len(class_names))
    model = Segmenter(student.model, head, finetune=args.finetune)
    lr = args.lr or head.default_lr
    settings = HeadTraining(args.epochs, args.batch_size, lr, num_workers=args.workers, seed=args.seed)
    losses = train_segmenter(
        model, train_set, settings, device,
        on_epoch=lambda epoch, loss: print(f"epoch {epoch + 1}/{args.epochs}: loss {loss:.4f}"),
    )
    confusion, examples = evaluate_segmenter(
        model, test_set, len(class_names), device, args.batch_size, args.workers, args.examples
    )
    if confusion.sum() == 0:
        raise InputError(f"labelled data {data} has no labelled pixels in its test split, so there is nothing to score")
    scores = segmentation_scores(confusion)
    _print_scores(scores, class_names)

    out.mkdir(parents=True, exist_ok=True)
    grid = render_examples(examples)
    save_png(grid, out / "segment.png")
    config = _wandb_config(student, args, data, lr)
    report = {**config, "labels": labels, "class_names": class_names, "train_losses": losses, **scores,
              "confusion": confusion.tolist()}
    (out / "segment.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'segment.json'} and {out / 'segment.png'}")

    named_iou = {f"iou/{name}": iou for name, iou in zip(class_names, scores["per_class_iou"]) if iou is not None}
    report_to_wandb(
        args.wandb, student.config.experiment, f"{student.run_dir.name}-segment-{args.head}-{labels}", config,
        out, {**scores, **named_iou}, grid,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
