"""User-facing errors.

A :class:`UserError` is bad input (a malformed file, an unknown name, a missing field). The CLI
prints its one-line message and exits with code 2, without a traceback. Anything else escaping to
the CLI is a bug in vcmctc and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user; ``str(err)`` is a complete one-line message."""

    exit_code = 2

    def __init__(self, message: str, *, file: object | None = None, line: int | None = None,
                 where: str | None = None):
        parts = []
        if file is not None:
            parts.append(f"{file}" + (f":{line}" if line is not None else ""))
        if where:
            parts.append(where)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.file = file
        self.line = line
        self.where = where
