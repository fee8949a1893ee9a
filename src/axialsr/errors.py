"""The one exception type that front ends turn into a one-line message (the CLI: exit code 2)."""

from __future__ import annotations


class AxialSRError(Exception):
    """A problem with the user's input or settings, explained in one line (no traceback needed), in the
    library's words. `setting` names the parameter that fixes it ('force', 'channel', 'dtype', ...): a
    front end says how to set it there (the CLI adds the option, e.g. '--force').

    Examples
    --------
    >>> error = AxialSRError("output iso.tif exists; set force to overwrite it", setting="force")
    >>> str(error), error.setting
    ('output iso.tif exists; set force to overwrite it', 'force')
    """

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting
