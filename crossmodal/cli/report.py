"""`crossmodal-report`: one self-contained report.html of benchmark folders and run directories.

    crossmodal-report runs/benchmark                 # writes runs/benchmark/report.html
    crossmodal-report runs/crd-a runs/kd-b --out cmp.html

A benchmark folder (its report.json) gives results tables with spreads, bar charts with error bars,
label-efficiency curves, each method's training curves and the runs' config; a run directory gives
its training curves (loss, CRD's positive and negative scores, learning rate), every evaluation in it
(scores, the command that repeats it, segmentation examples) and its config. Pictures are embedded,
so the page needs no network and no other file.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from crossmodal.cli.common import OneLineErrorParser, run_cli
from crossmodal.errors import InputError
from crossmodal.experiments.html_report import REPORT_FILE, write_html_report


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="crossmodal-report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, metavar="RUN_OR_BENCHMARK_DIR", help="run directories and benchmark folders")
    parser.add_argument("--out", type=Path, help=f"the page to write (default: {REPORT_FILE} in the one folder given)")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is None and len(args.paths) > 1:
        raise InputError("several folders make one page: say where it goes with --out FILE")
    out = args.out or args.paths[0] / REPORT_FILE
    print(f"wrote {write_html_report(args.paths, out)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)
