"""Every distillation method over several seeds, rgb -> depth: mean ± standard deviation per method and metric.

    python tools/benchmark.py --seeds 3     # seeds 0, 1, 2 -> runs/benchmark/report.{md,json,png}
    python tools/demo.py                    # the same grid with one seed -> runs/demo/

Each method trains its experiment file (configs/<objective>_depth.yaml) with DEMO_SCHEDULE and
any --set overrides on top (every run's config.yaml records the result), then is judged frozen
by the scene linear probe and a segmentation head (crossmodal.eval.grid). report.json holds
every per-seed number and is rewritten after each run, so a long benchmark shows its progress;
run again with the same arguments, finished runs are kept and unfinished ones resume.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

from crossmodal.cli.common import run_cli
from crossmodal.errors import InputError
from crossmodal.eval.grid import (
    METHOD_CONFIGS,
    RESULTS_FILE,
    WORKER_OVERRIDES,
    EvalSettings,
    GridSpec,
    method_config,
    run_grid,
)
from crossmodal.eval.report import markdown_table, plot_summary, report_markdown, summarise
from crossmodal.eval.segment import SEGMENTATION_HEADS

DEMO_SCHEDULE = (
    "data.rooms.num=1200",
    "data.input_size=[96, 128]",
    "schedule.epochs=20",
    "schedule.batch_size=32",
    "run.wandb=disabled",
)
"""Pinned here so the demo keeps its size: 4 trained students x 20 epochs of 20 steps, about 10 minutes
as two single-threaded jobs on two idle cores. Fewer epochs leave CRD barely above random init
(5-fold scene-probe accuracy on the train split: 41% after 8 or 12 epochs, 50% after 20, random
init 38%); the teacher-output cache halves the step but pairs the student's augmented view with
the teacher's plain one, and scored lower at equal steps (45%)."""
DEFAULT_EVALUATION = EvalSettings()


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def build_parser(prog: str, seeds: int, out: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=seeds, help=f"number of seeds, run as 0..N-1 (default {seeds})")
    parser.add_argument("--methods", default=",".join(METHOD_CONFIGS),
                        help=f"comma-separated objectives (default {','.join(METHOD_CONFIGS)})")
    parser.add_argument("--out", type=Path, default=Path(out), help=f"runs and report go here (default {out})")
    parser.add_argument("--configs", type=Path, default=Path("configs"), help="directory of the experiment files (default configs)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides after the demo schedule, for every method, e.g. schedule.epochs=10")
    parser.add_argument("--labels", choices=("nyu13", "nyu40"), default=DEFAULT_EVALUATION.labels,
                        help=f"segmentation label set (default {DEFAULT_EVALUATION.labels})")
    parser.add_argument("--head", choices=SEGMENTATION_HEADS.names(), default=DEFAULT_EVALUATION.head,
                        help=f"segmentation head (default {DEFAULT_EVALUATION.head})")
    parser.add_argument("--head-epochs", type=int, default=DEFAULT_EVALUATION.head_epochs,
                        help=f"segmentation head training epochs (default {DEFAULT_EVALUATION.head_epochs})")
    parser.add_argument("--jobs", type=int, default=usable_cores(),
                        help=f"runs trained side by side, each in its own process (default: the usable cores, {usable_cores()})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    parser.add_argument("--eval-split", choices=("test", "validation"), default=DEFAULT_EVALUATION.split,
                        help="score on the test split (default) or on a validation fifth of train, for choosing settings")
    return parser


def spec_from_args(args: argparse.Namespace) -> GridSpec:
    if args.seeds < 1:
        raise InputError(f"--seeds must be at least 1, got {args.seeds}")
    evaluation = EvalSettings(
        labels=args.labels, head=args.head, head_epochs=args.head_epochs, split=args.eval_split,
        head_batch_size=DEFAULT_EVALUATION.head_batch_size,
    )
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    return GridSpec(methods, tuple(range(args.seeds)), args.out, DEMO_SCHEDULE + tuple(args.overrides), args.configs, evaluation)


def describe(
    spec: GridSpec, records: Sequence[dict[str, Any]], command: str, wall_s: float, jobs: int, threads: int
) -> list[str]:
    """The report's notes: how to reproduce the table and what its numbers are."""
    config = method_config(spec, spec.methods[0], spec.seeds[0])
    rooms, evaluation, first = config.data.rooms, spec.evaluation, records[0]
    seeds = ", ".join(map(str, spec.seeds))
    spread = f"mean ± sample standard deviation over {len(spec.seeds)} seeds" if len(spec.seeds) > 1 else "one seed"
    loads = [load for record in records for load in record["load_1min"]]
    scored = "the test split" if evaluation.split == "test" else "a validation fifth of the train split"
    return [
        f"Command: `{command}`",
        f"Seeds: {seeds}. Each sets the training seed (student init, data order, augmentation) and the "
        f"evaluation seed; the data set is fixed (data.rooms.seed={rooms.seed}). Cells: {spread}.",
        f"Training: `configs/<method>_depth.yaml` with overrides `{' '.join((*spec.overrides, *WORKER_OVERRIDES))}` "
        f"(each run's config.yaml has the full settings).",
        f"Data: {config.data.name}, {rooms.num} frames at {rooms.size[0]}x{rooms.size[1]}; "
        f"evaluated on {first['num_fit']} training / {first['num_scored']} scored frames at input "
        f"{config.data.input_size[0]}x{config.data.input_size[1]}.",
        "Scene probe: 10-class NYU scene protocol, logistic regression on the frozen pooled features, "
        "C chosen on 20% of the training frames.",
        f"Segmentation: {evaluation.head} head on the frozen student, {evaluation.labels}, "
        f"{evaluation.head_epochs} head epochs; pixel accuracy and mIoU over every labelled pixel of {scored}.",
        f"Wall time: {wall_s / 60:.1f} min on {usable_cores()} CPU cores, {jobs} jobs of {threads} torch thread(s) "
        f"(1-minute load average at stage boundaries: mean {sum(loads) / len(loads):.1f}, max {max(loads):.1f}).",
    ]


def write_report(
    spec: GridSpec, records: list[dict[str, Any]], command: str, wall_s: float, jobs: int, threads: int
) -> str:
    """report.md, report.png and the final report.json (spec, every run, summary); returns the table."""
    table = markdown_table(records, spec.methods)
    title = "rgb -> depth distillation on the embedded synthetic rooms"
    chart = plot_summary(records, spec.methods, spec.out_dir / "report.png", title)
    notes = describe(spec, records, command, wall_s, jobs, threads)
    (spec.out_dir / "report.md").write_text(report_markdown(title, table, notes, chart.name))
    summary = summarise(records, spec.methods)
    document = {
        "spec": spec.to_dict(), "command": command, "wall_s": round(wall_s, 1), "jobs": jobs, "threads": threads,
        "cpu_cores": usable_cores(), "runs": records, "summary": summary,
    }
    (spec.out_dir / RESULTS_FILE).write_text(json.dumps(document, indent=2) + "\n")
    return table


def main(argv: Sequence[str] | None = None, prog: str = "benchmark.py", seeds: int = 3, out: str = "runs/benchmark") -> int:
    def _main(arguments: Sequence[str] | None) -> int:
        args = build_parser(prog, seeds, out).parse_args(arguments)
        spec = spec_from_args(args)
        command = " ".join(["python", f"tools/{prog}", *(arguments or [])])
        start = time.perf_counter()
        records = run_grid(spec, args.jobs, args.threads)
        wall_s = time.perf_counter() - start
        table = write_report(spec, records, command, wall_s, args.jobs, args.threads)
        print(f"\n{table}\n")
        print(f"{len(records)} runs in {wall_s / 60:.1f} min; wrote {spec.out_dir / 'report.md'}, report.json, report.png")
        return 0

    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
