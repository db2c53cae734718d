"""The demo (`make demo`): CRD and its core baselines once, seed 0, on the embedded data; one results table per target.

    python tools/demo.py                   # -> runs/demo/report.md, report.json, report-<target>.png
    python tools/demo.py --targets depth   # the rgb -> depth grid alone

It is crossmodal-benchmark with one seed (same options). rgb -> depth: none (random init),
FitNet, KD, CRD and CRD+KD students trained from the same seed through
configs/<objective>_depth.yaml on the embedded rooms, each probed on the 10-class scene task
and segmented with a linear head. rgb -> audio: none, KD (SoundNet-style), CRD and CRD+KD
through configs/<objective>_audio.yaml on the embedded audio-visual events, each probed with
the five-fold sound protocol.
"""
from __future__ import annotations

import sys

from crossmodal.cli.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python tools/demo.py", seeds=1, out="runs/demo"))
