"""User-facing errors, and the one-line rule for anything vcmctc prints from untrusted text.

A :class:`UserError` is bad input (a malformed file, an unknown name, a missing field). The CLI
prints its one-line message and exits with code 2, without a traceback. Anything else escaping to
the CLI is a bug in vcmctc and keeps its traceback.

Names, paths and log lines come from files vcmctc does not control: :func:`one_line` escapes the
characters that would split a message over several lines or drive the terminal (newlines, NUL,
ESC and the other control characters, Unicode line separators and bidirectional overrides), so a
message is always one line and shows exactly what the text held.
"""

from __future__ import annotations

import re

# C0 controls (tab, newline, ESC, NUL...), DEL, C1 controls (incl. CSI U+009B and NEL U+0085),
# the Unicode line/paragraph separators and the bidirectional embedding/override/isolate marks.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: object) -> str:
    """``str(text)`` with every control character escaped (``\\n``, ``\\x1b``, ``\\u2028``...),
    so it prints as one line and cannot move the cursor, change colours or reorder text."""
    return _UNSAFE.sub(_escape, str(text))


class UserError(Exception):
    """Bad input from the user; ``str(err)`` is a complete one-line message (control characters
    in the message, file name or location are escaped by :func:`one_line`)."""

    exit_code = 2

    def __init__(self, message: str, *, file: object | None = None, line: int | None = None,
                 where: str | None = None):
        parts = []
        if file is not None:
            parts.append(f"{file}" + (f":{line}" if line is not None else ""))
        if where:
            parts.append(where)
        prefix = ": ".join(parts)
        super().__init__(one_line(f"{prefix}: {message}" if prefix else message))
        self.file = file
        self.line = line
        self.where = where
