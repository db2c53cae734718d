"""The weight sweep from a checkout: the same command as `crossmodal-tune` (crossmodal/cli/tune.py)."""
from __future__ import annotations

import sys

from crossmodal.cli.tune import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python tools/tune.py"))
