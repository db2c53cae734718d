"""The benchmark from a checkout: the same command as `crossmodal-benchmark` (crossmodal/cli/benchmark.py)."""
from __future__ import annotations

import sys

from crossmodal.cli.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python tools/benchmark.py"))
