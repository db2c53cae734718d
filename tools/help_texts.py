"""Rewrite crossmodal/cli/help/<command>.txt from each command's parser (what ``--help`` prints without importing torch)."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from crossmodal.cli.entry import COMMANDS, HELP_COLUMNS

HELP_DIR = Path(__file__).resolve().parents[1] / "crossmodal" / "cli" / "help"


def parser_help(command: str) -> str:
    """The command's parser's help at the stored width."""
    os.environ["COLUMNS"] = str(HELP_COLUMNS)
    return str(importlib.import_module(COMMANDS[command]).build_parser().format_help())


if __name__ == "__main__":
    for command in COMMANDS:
        (HELP_DIR / f"{command}.txt").write_text(parser_help(command), encoding="utf-8")
    print(f"wrote {len(COMMANDS)} help texts into {HELP_DIR}")
