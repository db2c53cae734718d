"""What every console entry point shares: user errors become one line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from crossmodal.errors import InputError

USER_ERROR_EXIT = 2


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; an InputError prints ``error: <message>`` and returns 2, no traceback."""
    try:
        return main(argv) or 0
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


class OneLineErrorParser(argparse.ArgumentParser):
    """Argument mistakes are user input errors too: one line on stderr, exit code 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see {self.prog} --help)")
