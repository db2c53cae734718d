"""The console commands' entry points: ``--help`` answers from the stored help text without importing torch.

Building a command's parser lists the registered objectives, data sets, protocols and heads, which means
importing every module that registers them (torch included: seconds). Each command's help, as its parser
prints it at 100 columns, is stored in ``crossmodal/cli/help/<command>.txt`` (written by
``python tools/help_texts.py``; a test fails when a stored text differs from its parser's), so
``crossmodal-train --help`` prints at once; any other call imports the command and runs it.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from importlib import resources

HELP_FLAGS = ("-h", "--help")
HELP_COLUMNS = 100
COMMANDS = {
    "crossmodal-train": "crossmodal.cli.train",
    "crossmodal-probe": "crossmodal.cli.probe",
    "crossmodal-segment": "crossmodal.cli.segment",
    "crossmodal-eval": "crossmodal.cli.eval",
    "crossmodal-benchmark": "crossmodal.cli.benchmark",
    "crossmodal-tune": "crossmodal.cli.tune",
    "crossmodal-report": "crossmodal.cli.report",
}


def asks_for_help(argv: Sequence[str]) -> bool:
    """Whether a flag before any ``--`` asks for help (argparse would print it and exit, whatever else is given)."""
    for argument in argv:
        if argument == "--":
            return False
        if argument in HELP_FLAGS:
            return True
    return False


def help_text(command: str) -> str:
    return resources.files("crossmodal.cli").joinpath("help", f"{command}.txt").read_text(encoding="utf-8")


def _entry(command: str) -> Callable[[], int]:
    def run() -> int:
        if asks_for_help(sys.argv[1:]):
            sys.stdout.write(help_text(command))
            return 0
        main: Callable[[], int] = importlib.import_module(COMMANDS[command]).main
        return main()

    run.__doc__ = f"``{command}``: its stored help for --help, else ``{COMMANDS[command]}.main()``."
    return run


train = _entry("crossmodal-train")
probe = _entry("crossmodal-probe")
segment = _entry("crossmodal-segment")
evaluate = _entry("crossmodal-eval")
benchmark = _entry("crossmodal-benchmark")
tune = _entry("crossmodal-tune")
report = _entry("crossmodal-report")
