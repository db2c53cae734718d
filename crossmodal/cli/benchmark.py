"""`crossmodal-benchmark`: distillation methods over several seeds, on every target with a method grid: mean ± standard deviation per method and metric.

    crossmodal-benchmark --seeds 3      # each target's core methods, seeds 0, 1, 2 -> runs/benchmark/report.{md,json}, report-<target>.png
    crossmodal-benchmark --methods zoo  # every registered method
    python tools/demo.py                # the same grids with one seed -> runs/demo/

(``python tools/benchmark.py`` is the same command.) Each method trains its experiment file
(configs/<objective>_<target>.yaml, shipped with the package) with the target's
pinned schedule and any --set overrides on top (every run's config.yaml records the result),
then is judged frozen by its modality's protocols (crossmodal.experiments.benchmark). Runs go to
<out>/<target>/<method>-seed<k>; each target's runs are rewritten to <out>/<target>/report.json
after each run, so a long benchmark shows its progress; run again with the same arguments,
finished runs are kept and unfinished ones resume.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from crossmodal.cli.common import OneLineErrorParser, run_cli
from crossmodal.eval.reports import EVAL_SPLITS, LABEL_SETS, EvalSettings
from crossmodal.eval.seg_heads import SEGMENTATION_HEADS
from crossmodal.experiments.benchmark import grid_specs, run_benchmark
from crossmodal.experiments.grid import grid_targets
from crossmodal.modalities import MODALITIES
from crossmodal.parallel import usable_cores

DEFAULT_EVALUATION = EvalSettings()
PROG, SEEDS, OUT = "crossmodal-benchmark", 3, "runs/benchmark"


def build_parser(prog: str = PROG, seeds: int = SEEDS, out: str = OUT) -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    targets = grid_targets()
    parser.add_argument("--seeds", type=int, default=seeds, help=f"number of seeds, run as 0..N-1 (default {seeds})")
    parser.add_argument("--targets", default=",".join(targets), help=f"comma-separated targets (default {','.join(targets)})")
    parser.add_argument(
        "--methods",
        help="comma-separated objectives, or zoo for every registered one (default: each target's core methods; "
        + "; ".join(f"{t}: {','.join(MODALITIES.get(t).experiments)}" for t in targets) + ")",
    )
    parser.add_argument("--out", type=Path, default=Path(out), help=f"runs and report go here (default {out})")
    parser.add_argument("--configs", type=Path, help="directory of the experiment files (default: those shipped with the package, configs/ in a checkout)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides after the demo schedule, for every method of every target, e.g. schedule.epochs=10")
    parser.add_argument("--labels", choices=LABEL_SETS, default=DEFAULT_EVALUATION.labels,
                        help=f"depth segmentation label set (default {DEFAULT_EVALUATION.labels})")
    parser.add_argument("--head", choices=SEGMENTATION_HEADS.names(), default=DEFAULT_EVALUATION.head,
                        help=f"depth segmentation head (default {DEFAULT_EVALUATION.head})")
    parser.add_argument("--head-epochs", type=int, default=DEFAULT_EVALUATION.head_epochs,
                        help=f"depth segmentation head training epochs (default {DEFAULT_EVALUATION.head_epochs})")
    parser.add_argument("--protocols", metavar="NAMES",
                        help="comma-separated evaluation protocols judged beside each target's own, where they apply, "
                        "e.g. label-efficiency (depth: segmentation fine-tuned on 1-100%% of the labels)")
    parser.add_argument("--jobs", type=int, default=usable_cores(),
                        help="runs trained side by side, each in its own process (default: the CPU cores this process may use)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    parser.add_argument("--eval-split", choices=EVAL_SPLITS, default=DEFAULT_EVALUATION.split,
                        help="score on the test data (default) or without it, for choosing settings: a validation "
                        "fifth of the depth train split, the first four sound folds")
    return parser


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None, prog: str = PROG, seeds: int = SEEDS, out: str = OUT) -> int:
    """``prog``: the command as the user typed it (the report records it with the arguments)."""
    def _main(arguments: Sequence[str] | None) -> int:
        arguments = sys.argv[1:] if arguments is None else list(arguments)
        args = build_parser(prog, seeds, out).parse_args(arguments)
        evaluation = EvalSettings(labels=args.labels, head=args.head, head_epochs=args.head_epochs, split=args.eval_split,
                                  extra_protocols=tuple(_names(args.protocols) or ()))
        specs = grid_specs(
            _names(args.targets) or [], _names(args.methods), args.seeds, args.out, args.overrides, args.configs, evaluation
        )
        command = " ".join([prog, *arguments])
        tables = run_benchmark(specs, args.out, command, args.jobs, args.threads)
        for spec, table in tables:
            print(f"\n{spec.modality.benchmark_title}\n\n{table}")
        runs = sum(len(spec.methods) * len(spec.seeds) for spec in specs)
        print(f"\n{runs} runs; wrote {args.out / 'report.md'}, report.json, report-<target>.png, report.html")
        return 0

    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
