"""The demo (`make demo`): every distillation method once, seed 0, on the embedded rooms; one results table.

    python tools/demo.py                   # -> runs/demo/report.md, report.json, report.png
    python tools/demo.py --set schedule.epochs=20

It is tools/benchmark.py with one seed (same options): none (random init), FitNet, KD, CRD and
CRD+KD students are trained from the same seed through configs/<objective>_depth.yaml, each is
probed on the 10-class scene task and segmented with a linear head, and the table is printed.
"""
from __future__ import annotations

import sys

from benchmark import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="demo.py", seeds=1, out="runs/demo"))
