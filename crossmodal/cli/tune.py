"""`crossmodal-tune`: choose each method's loss weight on the validation split (never the test split), a sweep of multiples of its paper's value.

    crossmodal-tune --target depth --methods at,sp,nst --factors 0.1,1,10
    crossmodal-tune --target depth                      # every method with a weight (beta, or KD's alpha)

(``python tools/tune.py`` is the same command.)
Each point trains with the target's pinned benchmark schedule and ``objective.options.<weight>``
set, and is judged on the validation split (depth: every fifth train frame; audio: the first
four sound folds). Writes <out>/tune.md (a table of the scores, the best weight in bold) and
tune.json (every run). Runs go to <out>/<target>/<method>-<weight><value>; run again with the
same arguments and finished runs are kept.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from crossmodal.cli.common import OneLineErrorParser, run_cli
from crossmodal.experiments.grid import grid_targets
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
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "crossmodal-tune") -> int:
    def _main(arguments: Sequence[str] | None) -> int:
        args = build_parser(prog).parse_args(sys.argv[1:] if arguments is None else list(arguments))
        names = [part.strip() for part in (args.methods or "").split(",") if part.strip()]
        sweep = Sweep(args.target, sweep_methods(names), parse_factors(args.factors), tuple(range(args.seeds)),
                      args.out, args.metric, tuple(args.overrides))
        document = run_sweep(sweep, args.jobs, args.threads)
        print(sweep_table(sweep, document))
        print(f"wrote {args.out / 'tune.md'} and tune.json")
        return 0

    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
