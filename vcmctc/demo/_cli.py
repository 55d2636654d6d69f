"""The demo programs' command-line wrapper (``python -m vcmctc.demo.<program>``)."""

from __future__ import annotations

import sys

from vcmctc.errors import UserError


def run_cli(prog: str, body, argv: list[str] | None) -> int:
    """Run ``body(argv)`` printing a UserError as one line (exit 2), like the vcmctc CLI."""
    try:
        body(argv)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0
