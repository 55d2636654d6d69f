"""The ``vcmctc`` command line.

Each command group lives in its own module under ``vcmctc.cli`` and registers itself on ``app``
(see :data:`COMMAND_MODULES`). :func:`main` turns a :class:`~vcmctc.errors.UserError` into one line on
stderr and exit code 2: users never see a traceback for bad input.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer

from vcmctc import __version__
from vcmctc.errors import UserError

app = typer.Typer(
    name="vcmctc",
    help="Evaluation and conformance toolkit for MPEG VCM / FCM common test conditions.",
    no_args_is_help=True,
    add_completion=True,   # --install-completion / --show-completion (bash, zsh, fish, ...)
    context_settings={"help_option_names": ["-h", "--help"]},
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
    "vcmctc.cli.anchors",
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


log = logging.getLogger("vcmctc")
_HANDLER_TAG = "_vcmctc_cli"


def setup_logging(verbose: bool = False, log_file: Path | None = None) -> None:
    """The ``vcmctc`` logger: ``--verbose`` shows debug messages on stderr (else warnings
    only); ``--log-file`` appends every message, with time stamps, to a file. Handlers of an
    earlier call (the CLI run in-process again) are replaced."""
    for handler in [h for h in log.handlers if getattr(h, _HANDLER_TAG, False)]:
        log.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("vcmctc: %(message)s"))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        try:
            file_handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write the log file ({exc.strerror})", file=log_file) from None
        file_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file_handler)
    for handler in handlers:
        setattr(handler, _HANDLER_TAG, True)
        log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Show debug messages (files read and written, steps) on "
                                      "stderr."),
    log_file: Optional[Path] = typer.Option(
        None, "--log-file", help="Append every message (debug level, time-stamped) to this "
        "file, whatever --verbose says."),
) -> None:
    """Evaluation and conformance toolkit for MPEG VCM / FCM common test conditions."""
    setup_logging(verbose, log_file)
    log.debug("vcmctc %s: %s", __version__, " ".join(sys.argv[1:]) or "(in-process)")


for _name in COMMAND_MODULES:
    importlib.import_module(_name)


_SIGNALLED: list[str] = []


def interrupted_by() -> str | None:
    """The signal that stopped the running command (SIGTERM), None for Ctrl-C."""
    return _SIGNALLED[-1] if _SIGNALLED else None


def exit_stopped() -> NoReturn:
    """After Ctrl-C or SIGTERM: stop every program still running (in any thread), say so, and
    exit 130 (Ctrl-C) or 143 (SIGTERM). Finished steps stay cached."""
    from vcmctc.runner import terminate_all

    terminate_all()
    signame = interrupted_by()
    typer.echo(f"vcmctc: {'stopped by ' + signame if signame else 'interrupted'}; finished "
               "steps are cached, run the same command again to resume", err=True)
    raise typer.Exit(143 if signame == "SIGTERM" else 130)


def _on_sigterm(signum, frame) -> None:
    _SIGNALLED.append("SIGTERM")
    raise KeyboardInterrupt   # stopped like Ctrl-C: programs killed, finished steps kept


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 a check failed, 2 bad input, 130 Ctrl-C,
    143 SIGTERM)."""
    import signal
    import threading

    from vcmctc.runner import STOPPING

    _SIGNALLED.clear()
    STOPPING.clear()   # an earlier command in this process may have been stopped
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app(args=argv, prog_name="vcmctc")
    except SystemExit as exc:  # normal end of a command, usage errors (2), typer.Exit(code)
        code = exc.code
        code = code if isinstance(code, int) else (0 if code is None else 1)
    except UserError as exc:
        print(f"vcmctc: error: {exc}", file=sys.stderr)
        _log_only(logging.ERROR, f"error: {exc}")
        code = exc.exit_code
    else:
        code = 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    _log_only(logging.DEBUG, f"exit code {code}")
    return code


def _log_only(level: int, message: str) -> None:
    """To the log file only (the console already showed it, or need not)."""
    for handler in log.handlers:
        if isinstance(handler, logging.FileHandler) and getattr(handler, _HANDLER_TAG, False):
            handler.handle(log.makeRecord(log.name, level, __file__, 0, message, None, None))


def entry() -> None:  # console script
    sys.exit(main())

