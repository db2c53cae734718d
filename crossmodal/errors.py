"""The one exception type that means "the user gave us something wrong"."""


class InputError(Exception):
    """A problem with user input (a file, a flag, a config key).

    The message is one sentence naming the file or option and what is wrong with it;
    console entry points print it and exit with code 2 instead of a traceback.
    """
