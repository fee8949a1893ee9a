"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class AxialSRError(Exception):
    """A problem with the user's input or options, explained in one line (no traceback needed)."""
