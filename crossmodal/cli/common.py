"""What every console entry point shares: user errors become one line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from crossmodal.errors import InputError

USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130
"""128 + SIGINT, as shells report a command stopped by Ctrl-C."""


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; an InputError prints ``error: <message>`` and returns 2, no traceback."""
    try:
        return main(argv) or 0
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT


class OneLineErrorParser(argparse.ArgumentParser):
    """Argument mistakes are user input errors too: one line on stderr, exit code 2, no usage dump.

    Long options must be spelled out (no prefix matching: ``--epoch 1`` is an error, not ``--epochs 1``).
    An unknown flag's error names what it probably meant: ``suggest(flag, value)`` (say, the ``--set`` form
    of a config key), else the parser's option spelled most alike.
    """

    def __init__(self, *args: Any, suggest: Callable[[str, str | None], str | None] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.suggest = suggest

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message}{self._suggestions(message)} (see {self.prog} --help)")

    def _suggestions(self, message: str) -> str:
        prefix = "unrecognized arguments: "
        if not message.startswith(prefix):
            return ""
        tokens = message[len(prefix):].split()
        hints = []
        for i, token in enumerate(tokens):
            if not token.startswith("--"):
                continue
            value = tokens[i + 1] if i + 1 < len(tokens) and not tokens[i + 1].startswith("-") else None
            hint = self.suggest(token, value) if self.suggest is not None else None
            alike = difflib.get_close_matches(token.split("=", 1)[0], list(self._option_string_actions), n=1)
            if hint or alike:
                hints.append(hint or alike[0])
        return f"; did you mean {', '.join(hints)}?" if hints else ""
