"""Prepare the NYU-Depth V2 cache; the same as `crossmodal-prepare nyu`.

    python datasets/nyu/prepare_nyu.py --mat nyu_depth_v2_labeled.mat --out datasets/nyu/cache --size 240x320
"""
import sys

from crossmodal.cli.prepare import main

if __name__ == "__main__":
    sys.exit(main(["nyu", *sys.argv[1:]]))
