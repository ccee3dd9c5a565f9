"""The one error of this package: a problem with the whole file (not with one row)."""
from __future__ import annotations

from rtmhub.errors import ErrorDetail, ValidationFailed


class CsvFileError(ValidationFailed):
    """The file as a whole cannot be read; the message says how to fix it.

    Row problems are never raised: they belong to the planner, which reports every one of them.
    ``line`` is the physical line of the file the problem was found on, when there is one.
    """

    def __init__(self, message: str, errors: list[ErrorDetail] | None = None, *, line: int | None = None):
        super().__init__(message, errors)
        self.line = line


__all__ = ["CsvFileError"]
