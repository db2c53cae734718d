"""`crossmodal-prepare`: turn raw data into what training reads (caches, the embedded default data)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from crossmodal.cli.common import run_cli
from crossmodal.errors import InputError


def parse_size(text: str) -> tuple[int, int]:
    """'240x320' -> (240, 320): height x width, as images are indexed."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {text!r} is not HEIGHTxWIDTH, e.g. 240x320") from None
    if height < 8 or width < 8:
        raise InputError(f"--size {text!r} is too small: both sides must be at least 8 pixels")
    return height, width


def _prepare_nyu(args: argparse.Namespace) -> None:
    from crossmodal.data.nyu_cache import prepare_nyu_cache

    out = prepare_nyu_cache(args.mat, args.out, size=parse_size(args.size))
    print(f"NYU-Depth V2 cache written to {out}")


def _prepare_synthetic_rooms(args: argparse.Namespace) -> None:
    from crossmodal.data.synthetic.rooms import generate_rooms

    if args.num < 1:
        raise InputError(f"--num must be at least 1, got {args.num}")
    out = generate_rooms(args.out, num=args.num, size=parse_size(args.size), seed=args.seed, workers=args.workers)
    print(f"{args.num} synthetic rooms written to {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossmodal-prepare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    nyu = commands.add_parser("nyu", help="cache nyu_depth_v2_labeled.mat for fast random access")
    nyu.add_argument("--mat", type=Path, required=True, help="path to nyu_depth_v2_labeled.mat")
    nyu.add_argument("--out", type=Path, required=True, help="cache directory to create")
    nyu.add_argument("--size", default="240x320", help="HEIGHTxWIDTH of the cached frames (default 240x320)")
    nyu.set_defaults(run=_prepare_nyu)

    rooms = commands.add_parser("synthetic-rooms", help="generate procedural indoor RGB-D scenes in the NYU .mat layout")
    rooms.add_argument("--num", type=int, default=2000, help="number of scenes (default 2000)")
    rooms.add_argument("--size", default="240x320", help="HEIGHTxWIDTH (default 240x320)")
    rooms.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same file")
    rooms.add_argument("--workers", type=int, default=None, help="processes to use (default: all cores)")
    rooms.add_argument("--out", type=Path, required=True, help="output .mat file")
    rooms.set_defaults(run=_prepare_synthetic_rooms)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
