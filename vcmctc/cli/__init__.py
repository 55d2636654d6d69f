"""The ``vcmctc`` command line.

Each command group lives in its own module under ``vcmctc.cli`` and registers itself on ``app``
(see :data:`COMMAND_MODULES`). :func:`main` turns a :class:`~vcmctc.errors.UserError` into one line on
stderr and exit code 2: users never see a traceback for bad input.
"""

from __future__ import annotations

import importlib
import sys

import typer

from vcmctc import __version__
from vcmctc.errors import UserError

app = typer.Typer(
    name="vcmctc",
    help="Evaluation and conformance toolkit for MPEG VCM / FCM common test conditions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Modules that add commands to ``app`` when imported (kept in one place, in --help order).
COMMAND_MODULES = [
    "vcmctc.cli.demo",
    "vcmctc.cli.submission",
    "vcmctc.cli.report",
    "vcmctc.cli.crosscheck",
    "vcmctc.cli.tables",
    "vcmctc.cli.bdrate",
    "vcmctc.cli.score",
    "vcmctc.cli.score_coco",
    "vcmctc.cli.score_mot",
    "vcmctc.cli.score_openimages",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vcmctc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Evaluation and conformance toolkit for MPEG VCM / FCM common test conditions."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 a check failed, 2 bad input)."""
    try:
        app(args=argv, prog_name="vcmctc")
    except SystemExit as exc:  # normal end of a command, usage errors (2), typer.Exit(code)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except UserError as exc:
        print(f"vcmctc: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def entry() -> None:  # console script
    sys.exit(main())

