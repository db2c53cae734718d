"""Prepare the NYU-Depth V2 cache (the same as `crossmodal-prepare nyu`).

    python datasets/nyu/prepare_nyu.py --mat nyu_depth_v2_labeled.mat --out datasets/nyu/cache --size 240x320
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crossmodal.data.nyu_cache import parse_size, prepare_nyu_cache
from crossmodal.errors import InputError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mat", type=Path, required=True, help="nyu_depth_v2_labeled.mat")
    parser.add_argument("--out", type=Path, required=True, help="cache directory to write")
    parser.add_argument("--size", default="240x320", help="frame size HxW, or 'full' for 480x640 (default 240x320)")
    args = parser.parse_args(argv)
    try:
        out = prepare_nyu_cache(args.mat, args.out, size=parse_size(args.size))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"NYU-Depth V2 cache written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
