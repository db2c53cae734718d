"""The one exception type that means "the user gave us something wrong", how its sentences list many problems,
and how another library's error becomes part of one."""


class InputError(Exception):
    """A problem with user input (a file, a flag, a config key).

    The message is one sentence naming the file or option and what is wrong with it;
    console entry points print it and exit with code 2 instead of a traceback.
    """


class OptionError(InputError):
    """A bad option of a pluggable part (an objective, a data set), said without the part's name: whoever
    builds the part puts the name the user chose in front, so the sentence reads ``objective 'crd+kd' option ...``."""


LISTED_PROBLEMS = 10


def listed(problems: list[str], limit: int = LISTED_PROBLEMS) -> str:
    """The first ``limit`` problems joined by "; ", then how many more there are: one sentence however many."""
    shown = "; ".join(problems[:limit])
    return shown + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


HDF5_DAMAGE = (RuntimeError, KeyError, OSError, ValueError)
"""What h5py raises on damaged metadata or chunks (bad heap, impossible dataspace, address overflow)."""


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (libraries' messages run to several), or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
