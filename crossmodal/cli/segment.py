"""`crossmodal-segment`: train a segmentation head on a (frozen) student's stage maps, score it (``crossmodal-eval segmentation``).

Metrics come from one confusion matrix over every labelled scored pixel (the test split by
default); means run over the classes present in the ground truth. Writes segment.json and
segment.png (input | prediction | truth) into the run directory (and evaluations/, keyed by settings) and, when wandb works, logs the
same as an "eval" job in the run's group.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from crossmodal.cli.common import OneLineErrorParser, run_cli
from crossmodal.cli.student_options import add_student_arguments, run_protocol, student_from_args
from crossmodal.engine.logging import WANDB_MODES
from crossmodal.eval.reports import SegmentSettings
from crossmodal.eval.seg_heads import SEGMENTATION_HEADS
from crossmodal.experiments.evaluate import SEGMENTATION

LABEL_SETS = {40: "nyu40", 13: "nyu13"}
DEFAULTS = SegmentSettings()
DEFAULT_CLASSES = next(classes for classes, labels in LABEL_SETS.items() if labels == DEFAULTS.labels)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="crossmodal-segment", description=__doc__)
    add_student_arguments(parser)
    parser.add_argument("--head", choices=SEGMENTATION_HEADS.names(), default=DEFAULTS.head,
                        help="linear: 1x1 conv on the last stage; fcn: all stages upsampled and mixed (default linear)")
    parser.add_argument("--finetune", action="store_true", help="train the encoder too (default: frozen)")
    parser.add_argument("--classes", type=int, choices=sorted(LABEL_SETS), default=DEFAULT_CLASSES,
                        help=f"NYU label set (default {DEFAULT_CLASSES}, as the benchmark)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help=f"head training epochs (default {DEFAULTS.epochs})")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help=f"default {DEFAULTS.batch_size}")
    parser.add_argument("--lr", type=float, help="head learning rate, AdamW (default: linear 1e-2, fcn 1e-3)")
    parser.add_argument("--examples", type=int, default=DEFAULTS.examples, help=f"scored samples in segment.png (default {DEFAULTS.examples})")
    parser.add_argument("--wandb", choices=WANDB_MODES, default="auto",
                        help="auto: online when logged in, else offline (default auto)")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    student, out = student_from_args(args)
    settings = SegmentSettings(
        labels=LABEL_SETS[args.classes], head=args.head, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        finetune=args.finetune, data=args.data, data_set=args.data_set, split=args.split, seed=args.seed, workers=args.workers,
        examples=args.examples,
    )
    return run_protocol(SEGMENTATION, student, settings, out, args.device, wandb=args.wandb)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
