"""Every distillation method over several seeds, rgb -> depth and rgb -> audio: mean ± standard deviation per method and metric.

    python tools/benchmark.py --seeds 3     # seeds 0, 1, 2 -> runs/benchmark/report.{md,json}, report-<target>.png
    python tools/demo.py                    # the same grids with one seed -> runs/demo/

Each method trains its experiment file (configs/<objective>_<target>.yaml) with the target's
schedule below and any --set overrides on top (every run's config.yaml records the result),
then is judged frozen: depth students by the scene linear probe and a segmentation head,
audio students by the five-fold sound probe (crossmodal.eval.grid). Runs go to
<out>/<target>/<method>-seed<k>; report.json holds every per-seed number and each target's
runs are rewritten to <out>/<target>/report.json after each run, so a long benchmark shows
its progress; run again with the same arguments, finished runs are kept and unfinished ones resume.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from crossmodal.cli.common import run_cli
from crossmodal.errors import InputError
from crossmodal.eval.grid import (
    METHOD_CONFIGS,
    RESULTS_FILE,
    TARGETS,
    WORKER_OVERRIDES,
    EvalSettings,
    GridSpec,
    method_config,
    run_grids,
)
from crossmodal.eval.report import METRICS, markdown_table, plot_summary, report_section, summarise
from crossmodal.eval.segment import SEGMENTATION_HEADS

DEMO_SCHEDULES: dict[str, tuple[str, ...]] = {
    "depth": (
        "data.rooms.num=1200",
        "data.input_size=[96, 128]",
        "schedule.epochs=20",
        "schedule.batch_size=32",
        "run.wandb=disabled",
    ),
    "audio": ("run.wandb=disabled",),
}
"""Pinned here so the demo keeps its size. Depth: 4 trained students x 20 epochs of 20 steps, about
10 minutes as two single-threaded jobs on two idle cores. Fewer epochs leave CRD barely above
random init (5-fold scene-probe accuracy on the train split: 41% after 8 or 12 epochs, 50% after
20, random init 38%); the teacher-output cache halves the step but pairs the student's augmented
view with the teacher's plain one, and scored lower at equal steps (45%). Audio: the experiment
files' own settings (configs/audio_base.yaml), which are sized for two CPU cores already."""
DEFAULT_EVALUATION = EvalSettings()
TITLES = {
    "depth": "rgb -> depth distillation on the embedded synthetic rooms",
    "audio": "rgb -> audio distillation on the embedded synthetic audio-visual events",
}


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def build_parser(prog: str, seeds: int, out: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=seeds, help=f"number of seeds, run as 0..N-1 (default {seeds})")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated targets (default {','.join(TARGETS)})")
    parser.add_argument(
        "--methods",
        help="comma-separated objectives, each run for the targets that have it "
        + "(default: all; " + "; ".join(f"{target}: {','.join(files)}" for target, files in METHOD_CONFIGS.items()) + ")",
    )
    parser.add_argument("--out", type=Path, default=Path(out), help=f"runs and report go here (default {out})")
    parser.add_argument("--configs", type=Path, default=Path("configs"), help="directory of the experiment files (default configs)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides after the demo schedule, for every method of every target, e.g. schedule.epochs=10")
    parser.add_argument("--labels", choices=("nyu13", "nyu40"), default=DEFAULT_EVALUATION.labels,
                        help=f"depth segmentation label set (default {DEFAULT_EVALUATION.labels})")
    parser.add_argument("--head", choices=SEGMENTATION_HEADS.names(), default=DEFAULT_EVALUATION.head,
                        help=f"depth segmentation head (default {DEFAULT_EVALUATION.head})")
    parser.add_argument("--head-epochs", type=int, default=DEFAULT_EVALUATION.head_epochs,
                        help=f"depth segmentation head training epochs (default {DEFAULT_EVALUATION.head_epochs})")
    parser.add_argument("--jobs", type=int, default=usable_cores(),
                        help=f"runs trained side by side, each in its own process (default: the usable cores, {usable_cores()})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    parser.add_argument("--eval-split", choices=("test", "validation"), default=DEFAULT_EVALUATION.split,
                        help="score on the test data (default) or without it, for choosing settings: a validation "
                        "fifth of the depth train split, the first four sound folds")
    return parser


def specs_from_args(args: argparse.Namespace) -> list[GridSpec]:
    """One grid per target, in the order given; --methods picks, per target, the methods it has."""
    if args.seeds < 1:
        raise InputError(f"--seeds must be at least 1, got {args.seeds}")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in METHOD_CONFIGS]
    if unknown or not targets:
        raise InputError(f"--targets {args.targets!r}: choose from {', '.join(TARGETS)}")
    evaluation = EvalSettings(
        labels=args.labels, head=args.head, head_epochs=args.head_epochs, split=args.eval_split,
        head_batch_size=DEFAULT_EVALUATION.head_batch_size,
    )
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    if wanted is not None:
        known = {m for files in METHOD_CONFIGS.values() for m in files}
        stray = [m for m in wanted if m not in known]
        if stray:
            raise InputError(f"--methods: {', '.join(stray)} unknown; choose from: {', '.join(sorted(known))}")
    specs = []
    for target in targets:
        methods = tuple(METHOD_CONFIGS[target]) if wanted is None else tuple(m for m in wanted if m in METHOD_CONFIGS[target])
        if not methods:
            raise InputError(f"--methods {args.methods!r} has none of the {target} methods: {', '.join(METHOD_CONFIGS[target])}")
        schedule = DEMO_SCHEDULES[target] + tuple(args.overrides)
        specs.append(GridSpec(methods, tuple(range(args.seeds)), args.out / target, schedule, args.configs, evaluation, target))
    return specs


def describe(spec: GridSpec, records: Sequence[dict[str, Any]]) -> list[str]:
    """A section's notes: how its numbers were made."""
    config = method_config(spec, spec.methods[0], spec.seeds[0])
    first = records[0]
    seeds = ", ".join(map(str, spec.seeds))
    spread = f"mean ± sample standard deviation over {len(spec.seeds)} seeds" if len(spec.seeds) > 1 else "one seed"
    loads = [load for record in records for load in record["load_1min"]]
    notes = [
        f"Seeds: {seeds}. Each sets the training seed (student init, data order, augmentation) and the "
        f"evaluation seed; the data set is fixed. Cells: {spread}.",
        f"Training: `configs/<method>_{spec.target}.yaml` with overrides `{' '.join((*spec.overrides, *WORKER_OVERRIDES))}` "
        f"(each run's config.yaml has the full settings).",
    ]
    if spec.target == "depth":
        rooms, evaluation = config.data.rooms, spec.evaluation
        scored = "the test split" if evaluation.split == "test" else "a validation fifth of the train split"
        notes += [
            f"Data: {config.data.name} (seed {rooms.seed}), {rooms.num} frames at {rooms.size[0]}x{rooms.size[1]}; "
            f"evaluated on {first['num_fit']} training / {first['num_scored']} scored frames at input "
            f"{config.data.input_size[0]}x{config.data.input_size[1]}.",
            "Scene probe: 10-class NYU scene protocol, logistic regression on the frozen pooled features, "
            "C chosen on 20% of the training frames.",
            f"Segmentation: {evaluation.head} head on the frozen student, {evaluation.labels}, "
            f"{evaluation.head_epochs} head epochs; pixel accuracy and mIoU over every labelled pixel of {scored}.",
        ]
    else:
        av, video = config.data.av, config.data.video
        notes += [
            f"Data: {config.data.name} (seed {av.seed}), {av.num} videos of {av.seconds:g} s, a frame and its "
            f"{video.clip_seconds:g} s sound window {video.fps:g} times a second; the labelled sound set has "
            f"{first['num_clips']} clips in {first['num_folds']} folds.",
            "Sound probe: ESC-50 fold protocol (train on the other folds, test on one, mean over folds), logistic "
            "regression on the frozen pooled features averaged over the clip's windows, C chosen on 20% of the "
            "training clips" + ("." if spec.evaluation.split == "test" else "; the fifth fold left out (validation)."),
        ]
    train_min = sum(record["train_s"] for record in records) / 60
    notes.append(
        f"Training time: {train_min:.1f} min summed over runs (1-minute load average at stage boundaries: "
        f"mean {sum(loads) / len(loads):.1f}, max {max(loads):.1f})."
    )
    return notes


def write_report(
    out: Path, grids: list[tuple[GridSpec, list[dict[str, Any]]]], command: str, wall_s: float, jobs: int, threads: int
) -> list[str]:
    """report.md (a section per target), report-<target>.png and report.json (specs, every run, summaries); returns the tables."""
    sections, tables, document = [], [], {}
    for spec, records in grids:
        metrics = METRICS[spec.target]
        table = markdown_table(records, spec.methods, metrics)
        chart = plot_summary(records, spec.methods, metrics, out / f"report-{spec.target}.png", TITLES[spec.target])
        sections.append(report_section(TITLES[spec.target], table, describe(spec, records), chart.name))
        tables.append(table)
        document[spec.target] = {"spec": spec.to_dict(), "runs": records, "summary": summarise(records, spec.methods, metrics)}
    header = (
        f"# Distillation benchmark\n\nCommand: `{command}`. Wall time: {wall_s / 60:.1f} min on {usable_cores()} CPU "
        f"cores, {jobs} jobs of {threads} torch thread(s), data generation included.\n"
    )
    (out / "report.md").write_text("\n".join([header, *sections]))
    summary = {"command": command, "wall_s": round(wall_s, 1), "jobs": jobs, "threads": threads, "cpu_cores": usable_cores()}
    (out / RESULTS_FILE).write_text(json.dumps({**summary, "targets": document}, indent=2) + "\n")
    return tables


def main(argv: Sequence[str] | None = None, prog: str = "benchmark.py", seeds: int = 3, out: str = "runs/benchmark") -> int:
    def _main(arguments: Sequence[str] | None) -> int:
        arguments = sys.argv[1:] if arguments is None else list(arguments)
        args = build_parser(prog, seeds, out).parse_args(arguments)
        specs = specs_from_args(args)
        command = " ".join(["python", f"tools/{prog}", *arguments])
        start = time.perf_counter()
        grids = list(zip(specs, run_grids(specs, args.jobs, args.threads)))
        wall_s = time.perf_counter() - start
        tables = write_report(args.out, grids, command, wall_s, args.jobs, args.threads)
        for spec, table in zip(specs, tables):
            print(f"\n{TITLES[spec.target]}\n\n{table}")
        runs = sum(len(records) for _, records in grids)
        print(f"\n{runs} runs in {wall_s / 60:.1f} min; wrote {args.out / 'report.md'}, report.json, report-<target>.png")
        return 0

    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
