"""What the evaluation commands share: the options that pick the network to evaluate, and running one protocol on it."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crossmodal.device import resolve_device
from crossmodal.eval.reports import EVAL_SPLITS
from crossmodal.eval.student import LoadedStudent
from crossmodal.experiments.evaluate import EVALUATIONS_DIR, evaluate, reference_line, reference_scores, write_report
from crossmodal.experiments.student_loading import select_student
from crossmodal.modalities import MODALITIES


def add_student_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that pick the network to evaluate, shared by the evaluation commands."""
    which = parser.add_argument_group("network to evaluate (exactly one)")
    which.add_argument("--run", type=Path, help="training run directory (its last.pt)")
    which.add_argument("--checkpoint", type=Path, help="a checkpoint file")
    which.add_argument("--random-init", metavar="ARCH", help="an untrained student of this architecture (reference)")
    parser.add_argument("--width", type=int, help="random-init width (default: the --like run's, else the config default)")
    parser.add_argument("--like", type=Path, help="random-init: take modality, data and input size from this run")
    parser.add_argument("--target", choices=MODALITIES.names(), help="random-init without --like: its modality (default depth)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random init and of the evaluation (default 0)")
    parser.add_argument("--data", type=Path, help="labelled data to evaluate on (default: what the run's data set brings)")
    parser.add_argument("--data-set", metavar="NAME",
                        help="the data set --data is (e.g. rgbd-folder, esc50; default: an NYU-layout file, or an ESC-50 root)")
    parser.add_argument("--split", choices=EVAL_SPLITS, default="test",
                        help="score on the test data (default) or on a validation part of the training data")
    parser.add_argument("--out", type=Path, help="where results go (default: the run directory)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--workers", type=int, default=0, help="data loader processes (default 0)")


def student_from_args(args: argparse.Namespace) -> tuple[LoadedStudent, Path]:
    """The chosen student and the directory its results are written to."""
    student = select_student(args.run, args.checkpoint, args.random_init, args.width, args.like, args.seed, args.target)
    return student, Path(args.out or student.run_dir)


def run_protocol(protocol: str, student: LoadedStudent, settings: Any, out: Path, device: str, wandb: str | None = None) -> int:
    """Run ``protocol``, print its table, write its report into ``out`` (and log it to wandb when it logs); exit code 0."""
    report = evaluate(protocol, student, settings, resolve_device(device), say=print)
    print(report.table)
    print(reference_line(protocol, student, report.scores, reference_scores(protocol, student, settings)))
    written = write_report(protocol, report, student, settings, out, wandb=wandb)
    latest = [path for path in written if path.parent == out]
    kept = [path.name for path in written if path.parent != out]
    print(f"wrote {' and '.join(map(str, latest))} (this evaluation also kept as {out / EVALUATIONS_DIR}/{' and '.join(kept)})")
    return 0
