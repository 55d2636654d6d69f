"""The ``vcmctc`` console script.

``vcmctc --help`` (or ``-h``) prints the root help kept in ``cli/help.txt`` without importing
the command line (Typer, Click, the command modules), as fast as the interpreter starts; that
text is Typer's own rendering for a terminal of 80 columns or more (Click wraps help at
``min(columns, 80) - 2``), and a test renders it again and compares. A narrower terminal, and
every other command line, runs :func:`vcmctc.cli.entry`. After changing a command's name or
one-line help: ``python -c "from vcmctc.console import write_help; write_help()"``.
"""

from __future__ import annotations

import os
import sys

# (os and sys only: both are loaded before any script runs)
HELP_FILE = os.path.join(os.path.dirname(__file__), "cli", "help.txt")
HELP_ARGS = (["--help"], ["-h"])
MIN_COLUMNS = 80


def main() -> None:
    if sys.argv[1:] in HELP_ARGS and _print_kept_help():
        sys.exit(0)
    from vcmctc.cli import entry

    entry()


def _columns() -> int:
    """``shutil.get_terminal_size().columns`` (what Click wraps help to), without shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _print_kept_help() -> bool:
    if _columns() < MIN_COLUMNS:
        return False
    try:
        with open(HELP_FILE, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return False
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:   # `vcmctc --help | head`
        pass
    return True


def rendered_help() -> str:
    """The root help as the command line renders it for a terminal of 80 columns."""
    import contextlib
    import io

    from vcmctc.cli import main as cli_main

    out = io.StringIO()
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(MIN_COLUMNS)
    try:
        with contextlib.redirect_stdout(out):
            code = cli_main(["--help"])
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    if code != 0:
        raise RuntimeError(f"vcmctc --help exited {code}")
    return out.getvalue()


def write_help() -> None:
    with open(HELP_FILE, "w", encoding="utf-8") as fh:
        fh.write(rendered_help())
