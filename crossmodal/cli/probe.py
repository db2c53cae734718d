"""`crossmodal-probe`: linear probe of a frozen student's pooled features (``crossmodal-eval`` with the probe protocol of the task).

The student's modality decides the task. Depth: the 10-class NYU scene task (train/test split).
Audio: the five-fold ESC-50 protocol on a labelled sound set (train on four folds, test on the
fifth, mean ± std over the five), or with --labels video-cache the clip labels of a video cache,
in folds made of whole videos. Features are extracted once per checkpoint and cached under
<run>/features/; C is always chosen on a validation split of the training data only. Prints a
table and writes probe.json into the run directory (and evaluations/, keyed by settings).
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from crossmodal.cli.common import OneLineErrorParser, run_cli
from crossmodal.cli.student_options import add_student_arguments, run_protocol, student_from_args
from crossmodal.engine.logging import WANDB_MODES
from crossmodal.errors import InputError
from crossmodal.eval.probe import DEFAULT_CS, VALIDATION_FRACTION
from crossmodal.eval.reports import ProbeSettings
from crossmodal.modalities import MODALITIES


def parse_cs(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--cs {text!r} must be comma-separated numbers, e.g. 0.01,0.1,1") from None
    if not values or min(values) <= 0:
        raise InputError(f"--cs {text!r} must list positive regularisation strengths")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="crossmodal-probe", description=__doc__)
    add_student_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=32, help="feature extraction batch size (default 32)")
    parser.add_argument("--cs", type=parse_cs, default=DEFAULT_CS, help="candidate C values, comma-separated")
    parser.add_argument("--val-fraction", type=float, default=VALIDATION_FRACTION,
                        help=f"share of train held out to choose C (default {VALIDATION_FRACTION})")
    tasks = sorted({task for name in MODALITIES for task in MODALITIES.get(name).probe_tasks})
    parser.add_argument("--labels", choices=tasks, help="probe task (default: the modality's first: depth scene, audio esc50)")
    parser.add_argument("--wandb", choices=WANDB_MODES, default="auto",
                        help="log the scores as a wandb eval job in the run's group: auto (online when logged in, else offline), "
                             "online, offline, disabled")
    audio = parser.add_argument_group("audio students")
    audio.add_argument("--esc50", type=Path, metavar="DIR", help="ESC-50 root: --labels esc50 --data DIR")
    audio.add_argument("--cache", type=Path, metavar="DIR", help="labelled video cache: --labels video-cache --data DIR")
    audio.add_argument("--folds", type=int, default=5, help="number of video folds for --labels video-cache (default 5)")
    return parser


def settings_from_args(args: argparse.Namespace, cache_dir: Path) -> ProbeSettings:
    """--esc50 and --cache are --labels plus --data in one flag; at most one source of labelled data."""
    task, data = args.labels, args.data
    for flag, value, implied in (("--esc50", args.esc50, "esc50"), ("--cache", args.cache, "video-cache")):
        if value is None:
            continue
        if data is not None or (task is not None and task != implied):
            raise InputError(f"{flag} names the labelled data of --labels {implied}; give it alone, without --data or other --labels")
        task, data = implied, value
    if not 0 < args.val_fraction < 1:
        raise InputError(f"--val-fraction must lie strictly between 0 and 1, got {args.val_fraction}")
    return ProbeSettings(
        task=task, data=data, data_set=args.data_set, split=args.split, cs=args.cs, val_fraction=args.val_fraction, seed=args.seed,
        batch_size=args.batch_size, workers=args.workers, folds=args.folds, feature_cache=cache_dir,
    )


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    student, out = student_from_args(args)
    settings = settings_from_args(args, out / "features")
    modality = MODALITIES.get(student.modality)
    return run_protocol(modality.probe_tasks[modality.probe_task(settings)], student, settings, out, args.device, wandb=args.wandb)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
