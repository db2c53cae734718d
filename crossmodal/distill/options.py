"""Turn a config's ``options`` mapping into constructor keywords, with one clear error per mistake.

Each objective class declares its options as keyword-only constructor parameters with defaults,
so the signature is the single list of what a config may set. Numbers arriving as strings (CLI
overrides) are converted to the default's type. Objectives say what is wrong without saying who
they are (OptionError); ``named_errors`` puts the name the user chose in front, so a part of a
combined objective (KD inside ``crd+kd``) speaks as the combination.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from crossmodal.errors import InputError, OptionError


@contextmanager
def named_errors(objective: str) -> Iterator[None]:
    """Turn an OptionError raised inside into one InputError sentence that starts with ``objective 'name'``."""
    try:
        yield
    except OptionError as error:
        raise InputError(f"objective {objective!r} {error}") from None


def option_defaults(cls: type) -> dict[str, Any]:
    """The keyword-only parameters of ``cls.__init__`` and their defaults: the options it accepts."""
    parameters = inspect.signature(cls).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def accepted_options(defaults: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Check ``options`` against ``defaults`` (what an objective accepts) and convert values to the defaults' types."""
    reject_unknown(options, set(defaults))
    return {name: _convert(name, value, defaults[name]) for name, value in options.items()}


def reject_unknown(options: dict[str, Any], known: set[str]) -> None:
    """Raise OptionError naming every option of ``options`` that is not in ``known``."""
    unknown = sorted(set(options) - known)
    if unknown:
        raise OptionError(
            f"has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(known)) or 'none'}"
        )


def _convert(name: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if kind in (int, float) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            converted = kind(value)
        except ValueError:
            converted = None
        if converted is not None and converted == float(value):
            return converted
    elif kind is tuple and isinstance(value, (list, tuple)):
        return tuple(value)  # lists from YAML and the command line, e.g. stages: [1, 2, 3]
    elif isinstance(value, kind):
        return value
    raise OptionError(f"option {name!r} must be a {kind.__name__}, got {value!r}")
