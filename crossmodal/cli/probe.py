"""`crossmodal-probe`: linear probe of a frozen student's pooled features.

The run's target decides the task. Depth: the 10-class NYU scene task (train/test split).
Audio: the five-fold ESC-50 protocol on a labelled sound set (train on four folds, test on
the fifth, mean ± std over the five), or with --labels video-cache the clip labels of a
video cache, in folds made of whole videos. Features are extracted once per checkpoint and
cached under <run>/features/; C is always chosen on a validation split of the training data
only. Prints a table and writes probe.json into the run directory.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import torch

from crossmodal.cli.common import run_cli
from crossmodal.engine.trainer import resolve_device
from crossmodal.errors import InputError
from crossmodal.eval.extract import (
    cached_features,
    extract_pooled,
    extraction_settings,
    labelled_data_path,
    labelled_sound_set,
    labelled_video_cache,
    open_labelled_split,
    settings_fingerprint,
)
from crossmodal.eval.audio_probe import esc50_features, video_cache_features, window_extractor, window_seconds
from crossmodal.eval.fold_probe import fold_probe, format_fold_table
from crossmodal.eval.probe import DEFAULT_CS, format_probe_table, linear_probe
from crossmodal.eval.student_loading import LoadedStudent, select_student

LABEL_KEY = "label"
TASK = "scene_label"
AUDIO_LABELS = ("esc50", "video-cache")


def add_student_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that pick the network to evaluate, shared by the evaluation commands."""
    which = parser.add_argument_group("network to evaluate (exactly one)")
    which.add_argument("--run", type=Path, help="training run directory (its last.pt)")
    which.add_argument("--checkpoint", type=Path, help="a checkpoint file")
    which.add_argument("--random-init", metavar="ARCH", help="an untrained student of this architecture (reference)")
    parser.add_argument("--width", type=int, help="random-init width (default: the --like run's, else the config default)")
    parser.add_argument("--like", type=Path, help="random-init: take data and input size from this run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random init and of the evaluation (default 0)")
    parser.add_argument("--data", type=Path, help="depth students: labelled NYU-layout .mat or cache (default: the run's data set)")
    parser.add_argument("--out", type=Path, help="where results go (default: the run directory)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--workers", type=int, default=0, help="data loader processes (default 0)")


def student_from_args(args: argparse.Namespace, modality: str | None = "depth") -> tuple[LoadedStudent, Path]:
    """The chosen student and the directory its results are written to.

    ``modality``: the target the evaluation needs; None takes the student's own (see select_student).
    """
    student = select_student(args.run, args.checkpoint, args.random_init, args.width, args.like, args.seed, modality)
    return student, Path(args.out or student.run_dir)


def parse_cs(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--cs {text!r} must be comma-separated numbers, e.g. 0.01,0.1,1") from None
    if not values or min(values) <= 0:
        raise InputError(f"--cs {text!r} must list positive regularisation strengths")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossmodal-probe", description=__doc__)
    add_student_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=32, help="feature extraction batch size (default 32)")
    parser.add_argument("--cs", type=parse_cs, default=DEFAULT_CS, help="candidate C values, comma-separated")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of train held out to choose C (default 0.2)")
    audio = parser.add_argument_group("audio students")
    audio.add_argument(
        "--labels", choices=AUDIO_LABELS,
        help="esc50 (default): the five-fold sound classification protocol; "
        "video-cache: clip labels of a video cache, folds of whole videos",
    )
    audio.add_argument("--esc50", type=Path, metavar="DIR", help="ESC-50 root (default: the sound set generated with the synthetic events)")
    audio.add_argument("--cache", type=Path, metavar="DIR", help="labelled video cache for --labels video-cache (default: the run's own)")
    audio.add_argument("--folds", type=int, default=5, help="number of video folds for --labels video-cache (default 5)")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.val_fraction < 1:
        raise InputError(f"--val-fraction must lie strictly between 0 and 1, got {args.val_fraction}")
    student, out = student_from_args(args, modality=None)
    device = resolve_device(args.device)
    if student.config.data.target == "audio":
        report = _probe_audio(args, student, out, device)
    else:
        report = _probe_depth(args, student, out, device)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'probe.json'}")
    return 0


def _student_report(student: LoadedStudent) -> dict[str, Any]:
    return {
        "student": student.description,
        "spec": student.spec,
        "checkpoint": str(student.checkpoint) if student.checkpoint else None,
        "epoch": student.epoch,
        "weights_fingerprint": student.fingerprint,
    }


def _probe_depth(args: argparse.Namespace, student: LoadedStudent, out: Path, device: torch.device) -> dict[str, Any]:
    """The NYU scene task on the labelled train/test split."""
    given = [flag for flag, value in (("--labels", args.labels), ("--esc50", args.esc50), ("--cache", args.cache)) if value]
    if given:
        raise InputError(
            f"{', '.join(given)} evaluate audio students, but {student.description} is a "
            f"{student.config.data.target} student; probe it on NYU-layout labels with --data"
        )
    data = labelled_data_path(student.config, args.data)
    print(f"probing {student.description} on {data}")

    splits = {}
    for split in ("train", "test"):
        dataset = open_labelled_split(student.config, data, split)
        settings = extraction_settings(student.config, data, split, LABEL_KEY)
        name = f"{student.fingerprint}-{settings_fingerprint(settings)}-{split}"
        features, labels, cached = cached_features(
            out / "features", name,
            lambda: extract_pooled(student.model, dataset, device, args.batch_size, args.workers, label_key=LABEL_KEY),
        )
        print(f"{split}: {len(labels)} samples, {features.shape[1]}-d features{' (cached)' if cached else ''}")
        splits[split] = (features, labels, dataset)

    (train_x, train_y, train_set), (test_x, test_y, _) = splits["train"], splits["test"]
    class_names = list(train_set.scene_classes)
    result = linear_probe(
        train_x, train_y, test_x, test_y, len(class_names), class_names, args.cs, args.val_fraction, args.seed
    )
    print(format_probe_table(result))
    return {
        "task": TASK,
        **_student_report(student),
        "data": str(data),
        "input_size": list(student.config.data.input_size),
        "depth_encoding": student.config.data.depth_encoding,
        "feature_dim": int(train_x.shape[1]),
        **student.extra,
        **result.to_dict(),
    }


def _probe_audio(args: argparse.Namespace, student: LoadedStudent, out: Path, device: torch.device) -> dict[str, Any]:
    """The ESC-50 fold protocol, or video clip labels in folds of whole videos."""
    if args.data is not None:
        raise InputError(
            f"--data {args.data} names RGB-D labelled data, but {student.description} is an audio student; "
            "probe it on sounds with --esc50 DIR or on labelled video clips with --labels video-cache"
        )
    window = window_seconds(student)
    extract = window_extractor(student, device, args.batch_size, args.workers, cache_dir=out / "features")

    if args.labels == "video-cache":
        if args.esc50 is not None:
            raise InputError("--esc50 and --labels video-cache pick different labelled sets; give one")
        if args.folds < 2:
            raise InputError(f"--folds must be at least 2, got {args.folds}")
        data, task = labelled_video_cache(student.config, args.cache), "video_clip_labels"
        print(f"probing {student.description} on the clip labels of {data} ({args.folds} folds of whole videos)")
        features, labels, folds, groups, class_names = video_cache_features(data, window, args.folds, args.seed, extract)
    else:
        if args.cache is not None:
            raise InputError("--cache names a video cache for --labels video-cache; the default task uses --esc50")
        data, task = labelled_sound_set(student.config, args.esc50), "esc50_folds"
        print(f"probing {student.description} on {data} (ESC-50 fold protocol, {window:g} s windows)")
        features, labels, folds, groups, class_names = esc50_features(data, window, extract)

    result = fold_probe(features, labels, folds, groups, class_names, args.cs, args.val_fraction, args.seed)
    print(format_fold_table(result))
    return {
        "task": task,
        **_student_report(student),
        "data": str(data),
        "window_seconds": window,
        "feature_dim": int(features.shape[1]),
        **student.extra,
        **result.to_dict(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
