"""``vcmctc report``, ``check`` and ``compare``: working with saved results files."""

from __future__ import annotations

import csv
import enum
import io
import sys
from pathlib import Path
from typing import List, Optional

import typer

from vcmctc.cli import app, log
from vcmctc.cli._common import OutputFormat, print_json
from vcmctc.errors import UserError


class ReportFormat(str, enum.Enum):
    xlsx = "xlsx"
    csv = "csv"
    md = "md"
    html = "html"
    latex = "latex"


class CsvTable(str, enum.Enum):
    points = "points"
    sequences = "sequences"
    classes = "classes"
    overall = "overall"
    meta = "meta"
    complexity = "complexity"   # only when the results have kMAC/pixel
    features = "features"       # only when points decoded features (FCM)


class CompareFormat(str, enum.Enum):
    text = "text"
    md = "md"
    json = "json"


@app.command("report")
def report_cmd(
    results: Path = typer.Argument(..., help="results.json written by 'vcmctc evaluate'."),
    fmt: Optional[ReportFormat] = typer.Option(
        None, "--format", "-f", help="Report format (default: from the -o suffix, else md)."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output file (default: stdout; xlsx needs a file; csv writes "
        "one file per table: -o r.csv gives r.points.csv, r.sequences.csv, r.classes.csv, "
        "r.overall.csv, r.meta.csv). Its suffix must be a report format's."),
    table: Optional[CsvTable] = typer.Option(
        None, "--table", help="csv on stdout: the one table to print."),
) -> None:
    """Render a report from a saved results.json (numbers are never recomputed)."""
    from vcmctc.results.model import load_results
    from vcmctc.reports.render import BINARY, MULTI, format_for, render, write_report_files

    name = format_for(fmt.value if fmt else None, out)
    if table is not None and (name not in MULTI or out is not None):
        raise UserError("--table prints one csv table on stdout: use it with -f csv and no -o")
    data = load_results(results)
    if out is None:
        if name in BINARY:
            raise UserError(f"the {name} format is binary: give an output file with -o FILE")
        if name in MULTI and table is None:
            raise UserError(f"the {name} report has several tables: give -o FILE.csv (one file "
                            "per table) or --table NAME")
        text = render(data, name)
        if table is not None and table.value not in text:
            raise UserError(f"{results}: no {table.value} table (the results have no "
                            f"{'kMAC/pixel' if table.value == 'complexity' else 'decoded features'})")
        sys.stdout.write(text[table.value] if table is not None else text)
        return
    for path in write_report_files(data, name, out):
        typer.echo(f"wrote {path} ({name})", err=True)
        log.debug("report %s written from %s", path, results)


@app.command("check")
def check_cmd(
    results: Path = typer.Argument(..., help="results.json of the run to check."),
    against: str = typer.Option(..., "--against",
                                help="Anchor id (see 'vcmctc anchors') or another results.json."),
    tol_rate: float = typer.Option(0.1, "--tol-rate", min=0.0,
                                   help="Allowed rate difference, percent of the reference."),
    tol_metric: float = typer.Option(0.01, "--tol-metric", min=0.0,
                                     help="Allowed metric difference, metric units (0-100)."),
    allow_missing: bool = typer.Option(False, "--allow-missing",
                                       help="Points missing on either side do not fail the check."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f",
                                     help="Output format of the check."),
) -> None:
    """Regression check: do the results reproduce reference numbers? Exit 1 if not."""
    from vcmctc.reports.check import check, csv_rows, format_text, reference_points
    from vcmctc.results.model import load_results

    data = load_results(results)
    name, refs = reference_points(against, data)
    rep = check(data, name, refs, tol_rate_pct=tol_rate, tol_metric=tol_metric,
                allow_missing=allow_missing, results_name=str(results))
    if fmt is OutputFormat.json:
        print_json(rep.to_dict())
    elif fmt is OutputFormat.csv:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(
            [["" if v is None else v for v in row] for row in csv_rows(rep)])
        sys.stdout.write(buf.getvalue())
    else:
        typer.echo(format_text(rep))
    if not rep.ok:
        raise typer.Exit(1)


@app.command("compare")
def compare_cmd(
    results: List[Path] = typer.Argument(..., help="Two or more results.json of one edition."),
    fmt: CompareFormat = typer.Option(CompareFormat.text, "--format", "-f",
                                      help="Output format of the comparison."),
) -> None:
    """Submissions side by side: BD-rate against each anchor, and between each pair."""
    from vcmctc.reports.compare import compare, format_markdown, format_text, load_named

    cmp = compare(load_named(list(results)))
    if fmt is CompareFormat.json:
        print_json(cmp)
    elif fmt is CompareFormat.md:
        sys.stdout.write(format_markdown(cmp))
    else:
        typer.echo(format_text(cmp))
