"""`crossmodal-tune`: choose each method's loss weight on the validation split (never the test split), a sweep of multiples of its paper's value.

    crossmodal-tune --target depth --methods at,sp,nst --factors 0.1,1,10
    crossmodal-tune --target depth                      # every method with a weight (beta, or KD's alpha)
    crossmodal-tune --sweep configs/sweeps/crd.yaml     # every point of a wandb grid sweep file, without wandb

(``python tools/tune.py`` is the same command.)
Each point trains with the target's pinned benchmark schedule and ``objective.options.<weight>``
set, and is judged on the validation split (depth: every fifth train frame; audio: the first
four sound folds). Writes <out>/tune.md (a table of the scores, the best weight in bold) and
tune.json (every run). Runs go to <out>/<target>/<method>-<weight><value>; run again with the
same arguments and finished runs are kept.

--sweep FILE runs a wandb sweep document (``wandb sweep FILE`` gives the same points to wandb
agents, which run ``crossmodal-tune --sweep-point key=value ...`` for each) with that target's
pinned schedule, judged on the validation split; it writes <out>/sweep.md and sweep.json.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from crossmodal.cli.common import OneLineErrorParser, run_cli
from crossmodal.errors import InputError
from crossmodal.experiments.grid import grid_targets
from crossmodal.experiments.sweep_file import read_sweep_file, run_sweep_file, run_sweep_point, sweep_file_table
from crossmodal.experiments.tuning import Sweep, parse_factors, run_sweep, sweep_methods, sweep_table
from crossmodal.parallel import usable_cores


def build_parser(prog: str = "crossmodal-tune") -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=grid_targets(), default=grid_targets()[0], help="the target modality")
    parser.add_argument("--methods", help="comma-separated objectives (default: every one with a loss weight)")
    parser.add_argument("--factors", default="0.1,1,10", help="multiples of each method's paper weight, else its default (default 0.1,1,10)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per point, run as 0..N-1 (default 1)")
    parser.add_argument("--metric", default="", help="record key to maximise (default: the mean of the target's benchmark metrics)")
    parser.add_argument("--out", type=Path, default=Path("runs/tune"), help="runs and tables go here (default runs/tune)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides after the pinned schedule, for every run")
    parser.add_argument("--jobs", type=int, default=usable_cores(), help="runs side by side (default: the CPU cores this process may use)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    parser.add_argument("--sweep", type=Path, metavar="FILE", help="run every point of a wandb grid sweep file here, without wandb")
    parser.add_argument("--sweep-point", nargs="+", metavar="KEY=VALUE",
                        help="one point of a sweep, as a wandb agent hands it over (the sweep file's command)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "crossmodal-tune") -> int:
    def _main(arguments: Sequence[str] | None) -> int:
        args = build_parser(prog).parse_args(sys.argv[1:] if arguments is None else list(arguments))
        if args.sweep is not None or args.sweep_point is not None:
            return _sweep(args)
        names = [part.strip() for part in (args.methods or "").split(",") if part.strip()]
        sweep = Sweep(args.target, sweep_methods(names), parse_factors(args.factors), tuple(range(args.seeds)),
                      args.out, args.metric, tuple(args.overrides))
        document = run_sweep(sweep, args.jobs, args.threads)
        print(sweep_table(sweep, document))
        print(f"wrote {args.out / 'tune.md'} and tune.json")
        return 0

    return run_cli(_main, argv)


def _sweep(args: argparse.Namespace) -> int:
    if args.methods or args.metric or args.overrides or (args.sweep is not None and args.sweep_point is not None):
        raise InputError("--sweep and --sweep-point take their methods, metric and settings from the sweep; "
                         "give one of them, with --seeds, --out, --jobs or --threads only")
    if args.sweep_point is not None:
        print(run_sweep_point(list(args.sweep_point), args.out))
        return 0
    sweep = read_sweep_file(args.sweep)
    document = run_sweep_file(sweep, tuple(range(args.seeds)), args.out, args.jobs, args.threads)
    print(sweep_file_table(sweep, document))
    print(f"wrote {args.out / 'sweep.md'} and sweep.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
