"""``vcmctc crosscheck``: a cross-checker's run compared with the proponent's."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Optional

import typer

from vcmctc.cli import app
from vcmctc.cli._common import print_json
from vcmctc.errors import UserError


class CrossFormat(str, enum.Enum):
    text = "text"
    md = "md"
    html = "html"
    xlsx = "xlsx"
    json = "json"


class Level(str, enum.Enum):
    best = "best"
    reported = "reported"
    outputs = "outputs"
    decoded = "decoded"


class Timing(str, enum.Enum):
    parallel = "parallel"
    isolated = "isolated"


SUFFIXES = {".md": "md", ".html": "html", ".htm": "html", ".xlsx": "xlsx", ".json": "json",
            ".txt": "text"}


def shown(path: Path) -> str:
    """A path as the report names it: relative to the working folder when it lies under it,
    else its last two parts (a report names no folder of the machine it was made on)."""
    import os

    full = Path(os.path.abspath(path))
    try:
        return str(full.relative_to(Path.cwd()))
    except ValueError:
        return str(Path(*full.parts[-2:]))


@app.command("crosscheck")
def crosscheck_cmd(
    proponent: Path = typer.Argument(..., help="The proponent's results.json."),
    crosschecker: Path = typer.Argument(
        ..., help="The cross-checker's results.json, or a submission folder (the proponent's "
        "bitstreams with the cross-checker's manifest) to evaluate now."),
    fmt: Optional[CrossFormat] = typer.Option(
        None, "--format", "-f", help="Report format (default: from the -o suffix, else text)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Write the report to this file (.md, .html, .xlsx, "
                                            ".json, .txt)."),
    tol_rate: float = typer.Option(0.1, "--tol-rate", min=0.0,
                                   help="Allowed rate difference per point, percent."),
    tol_metric: float = typer.Option(0.01, "--tol-metric", min=0.0,
                                     help="Allowed metric difference per point (0-100 scale)."),
    tol_bd: float = typer.Option(0.1, "--tol-bd", min=0.0,
                                 help="Allowed BD-rate difference per sequence, percentage "
                                      "points."),
    eval_out: Optional[Path] = typer.Option(
        None, "--eval-out", help="Folder: output folder of the evaluation (default: "
        "./vcmctc-out/NAME)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root",
                                             help="Folder: root of the ground-truth data sets."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1,
                             help="Folder: rate points processed in parallel."),
    level: Level = typer.Option(Level.best, "--level",
                                help="Folder: evidence level to use for every point."),
    timing: Timing = typer.Option(Timing.isolated, "--timing",
                                  help="Folder: isolated (default here: comparable decoding "
                                       "times) or parallel."),
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete",
                                          help="Folder: evaluate even if points are missing."),
    no_cache: bool = typer.Option(False, "--no-cache",
                                  help="Folder: recompute every step (a fresh cross-check)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Folder: no progress lines."),
) -> None:
    """Compare a cross-checker's run with the proponent's: per rate point the bitstream hash,
    decoded md5, rate, metric and time ratios; per sequence the BD-rate; a verdict within
    tolerances. Exit 0 when they agree, 1 when not."""
    from vcmctc.reports.crosscheck import (crosscheck, format_text, render_html,
                                           render_markdown, render_xlsx)
    from vcmctc.results.model import load_results

    name = fmt.value if fmt else None
    if out is not None:
        implied = SUFFIXES.get(out.suffix.lower())
        if implied is None:
            raise UserError(f"{out.name}: suffix {out.suffix or '(none)'} is not a cross-check "
                            f"report format (known: {', '.join(sorted(SUFFIXES))})")
        if name and name != implied:
            raise UserError(f"{out.name}: the suffix says {implied}, --format says {name}")
        name = implied
    name = name or "text"
    if name == "xlsx" and out is None:
        raise UserError("the xlsx format is binary: give an output file with -o FILE")

    prop = load_results(proponent)
    if crosschecker.is_dir():
        from vcmctc.submission.pipeline import Options, ValidationFailed, evaluate

        progress = None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        try:
            results, path = evaluate(crosschecker, Options(
                out=eval_out, data_root=data_root, jobs=jobs, level=level.value,
                allow_incomplete=allow_incomplete, timing=timing.value, use_cache=not no_cache,
                progress=progress))
        except ValidationFailed as exc:
            from vcmctc.cli.submission import print_findings

            print_findings(exc.plan.findings)
            raise UserError(f"{len(exc.plan.errors(allow_incomplete))} validation error(s); "
                            "nothing evaluated", file=crosschecker) from None
        cross_name = f"{shown(crosschecker)} (evaluated now: {shown(path)})"
    else:
        results, cross_name = load_results(crosschecker), shown(crosschecker)
    report = crosscheck(prop, results, names=(shown(proponent), cross_name),
                        tol_rate_pct=tol_rate, tol_metric=tol_metric, tol_bd=tol_bd)
    data = {"text": lambda: format_text(report) + "\n", "md": lambda: render_markdown(report),
            "html": lambda: render_html(report), "xlsx": lambda: render_xlsx(report),
            "json": None}[name]
    if out is not None:
        from vcmctc.jsonutil import dumps
        from vcmctc.submission.cache import atomic_write_bytes

        content = dumps(report.to_dict(), indent=2) + "\n" if data is None else data()
        atomic_write_bytes(out, content if isinstance(content, bytes) else content.encode())
        typer.echo(f"cross-check {report.verdict}: wrote {out} ({name})", err=True)
    elif data is None:
        print_json(report.to_dict())
    else:
        sys.stdout.write(data())
    if not report.agree:
        raise typer.Exit(1)
