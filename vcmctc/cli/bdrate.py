"""``vcmctc bdrate``: BD-rate of a test codec's rate-metric table against an anchor table.

Input CSVs have columns ``rate`` and ``metric`` (names trimmed, any case), optionally
``sequence``; other columns are ignored. A value ``nan``/``inf`` is read as such and reported
by the BD engine as a status for that sequence; anything else that is not a number, a missing
column or a malformed file stops with one line naming the file, line and column (exit 2).
Method, policy, minimum points, fit solver and overlap threshold default to
:data:`vcmctc.bd.settings.DEFAULTS` or, with ``--edition``, to the edition's ``bd:`` settings;
flags given on the command line override them.
"""

from __future__ import annotations

import csv
import enum
import math
from pathlib import Path
from typing import Optional

import typer

from vcmctc.bd.settings import DEFAULTS, FIT_SOLVERS, METHODS, POLICIES
from vcmctc.cli import app
from vcmctc.cli._common import OutputFormat, print_json
from vcmctc.errors import UserError

Method = enum.Enum("Method", [(m, m) for m in METHODS], type=str)
Policy = enum.Enum("Policy", [(p, p) for p in POLICIES], type=str)
FitSolver = enum.Enum("FitSolver", [(p, p) for p in FIT_SOLVERS], type=str)

REQUIRED = ("rate", "metric")


def read_points(path: Path) -> dict:
    """``{sequence or None: ([rates], [metrics])}`` in file order; UserError for a bad file."""
    from vcmctc.csvfile import read_csv_rows

    table = read_csv_rows(path)
    header, line = table.header, table.header_line
    for name in REQUIRED + ("sequence",):
        if header.count(name) > 1:
            raise UserError(f"column {name!r} appears {header.count(name)} times",
                            file=path, line=line)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise UserError(
            f"missing column {', '.join(repr(m) for m in missing)} (header: "
            f"{','.join(header)}); expected columns rate, metric and optionally sequence",
            file=path, line=line)
    table.check_widths()
    col = {name: header.index(name) for name in REQUIRED + ("sequence",) if name in header}
    curves: dict = {}
    for line, row in table.rows:
        values = []
        for name in REQUIRED:
            cell = row[col[name]].strip()
            try:
                values.append(float(cell))
            except ValueError:
                raise UserError(f"not a number: {cell!r}", file=path, line=line,
                                where=f"column {name!r}") from None
        seq = None
        if "sequence" in col:
            seq = row[col["sequence"]].strip()
            if not seq:
                raise UserError("empty sequence name", file=path, line=line,
                                where="column 'sequence'")
        rates, metrics = curves.setdefault(seq, ([], []))
        rates.append(values[0])
        metrics.append(values[1])
    if not curves:
        raise UserError("no data rows after the header", file=path)
    return curves


def _num(v, spec: str) -> str:
    return "-" if v is None or not math.isfinite(v) else format(v, spec)


def render_text(summary: dict, anchor: Path, test: Path) -> str:
    """Aligned table, then the means, then every warning prefixed by its sequence."""
    head = ("sequence", "BD-rate %", "BD-metric", "overlap", "status")
    rows = []
    for r in summary["results"]:
        rows.append(("(all points)" if r["sequence"] is None else str(r["sequence"]),
                     _num(r["bd_rate"], "+.2f"), _num(r["bd_metric"], "+.3f"),
                     _num(None if r["overlap"] is None else 100 * r["overlap"], ".1f") +
                     ("%" if r["overlap"] is not None else ""),
                     r["status"] + (f" (fit: {', '.join(r['fitted'])})" if r["fitted"] else "")))
    n = summary["n_sequences"]
    if n > 1:
        rows.append((f"mean ({n})", _num(summary["mean_bd_rate"], "+.2f"),
                     _num(summary["mean_bd_metric"], "+.3f"), "",
                     "" if summary["mean_bd_rate"] is not None else
                     "not every sequence has a BD-rate"))
        k = len(summary["mean_over"])
        if k < n:
            rows.append((f"mean over {k}/{n}", _num(summary["mean_bd_rate_partial"], "+.2f"),
                         _num(summary["mean_bd_metric_partial"], "+.3f"), "",
                         "partial: only sequences with a BD-rate"))
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(row):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:4], widths[1:4])]
        return "  ".join(cells + [row[4]]).rstrip()

    fit = (f", fit solver {summary['fit_solver']}"
           if summary["policy"] in ("fit", "fit-nonmonotonic") else "")
    out = [f"BD-rate of {test} against {anchor}",
           f"method {summary['method']}, policy {summary['policy']}{fit}, "
           f"min {summary['min_points']} points; overlap = intersection / union of metric ranges "
           f"(low-overlap below {100 * summary['min_overlap']:g}%)",
           "", line(head)]
    out += [line(row) for row in rows]
    warns = [(r["sequence"], w) for r in summary["results"] for w in r["warnings"]]
    if warns:
        out += ["", "warnings:"]
        out += [f"  {'(all points)' if s is None else s}: {w}" for s, w in warns]
    return "\n".join(out)


def render_csv(summary: dict) -> str:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sequence", "bd_rate", "bd_metric", "overlap", "overlap_rate", "status", "warnings"])
    for r in summary["results"]:
        w.writerow(["" if r["sequence"] is None else r["sequence"],
                    *("" if r[k] is None else repr(r[k])
                      for k in ("bd_rate", "bd_metric", "overlap", "overlap_rate")),
                    r["status"], " | ".join(r["warnings"])])
    return buf.getvalue().rstrip("\n")


@app.command("bdrate")
def bdrate(
    anchor: Path = typer.Option(..., "--anchor", help="Anchor CSV (columns rate, metric[, sequence])."),
    test: Path = typer.Option(..., "--test", help="Test CSV, same columns."),
    method: Optional[Method] = typer.Option(
        None, "--method", help=f"Interpolation [default: {DEFAULTS.method}]."),
    policy: Optional[Policy] = typer.Option(
        None, "--policy", help=f"Non-monotonic curves [default: {DEFAULTS.policy}]."),
    min_points: Optional[int] = typer.Option(
        None, "--min-points", min=2, help=f"Fewest points per curve [default: {DEFAULTS.min_points}]."),
    fit_solver: Optional[FitSolver] = typer.Option(
        None, "--fit-solver", help="Solver of the monotonic cubic fit (policies fit, "
                                   "fit-nonmonotonic): slsqp = the public scripts' SLSQP call, "
                                   f"exact = the optimum [default: {DEFAULTS.fit_solver}]."),
    min_overlap: Optional[float] = typer.Option(
        None, "--min-overlap", min=0.0, max=1.0,
        help="Metric overlap (intersection / union) below which the status is low-overlap "
             f"[default: {DEFAULTS.min_overlap:g}]."),
    edition: Optional[str] = typer.Option(
        None, "--edition", "-e", help="Take the BD settings (method, policy, minimum points, fit "
                                      "solver, overlap threshold) from this CTC edition (flags "
                                      "still override)."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", help="Output format."),
) -> None:
    """BD-rate and BD-metric (BD-mAP, BD-MOTA) of a test table against an anchor table."""
    from vcmctc.bd.table import summarize

    base = DEFAULTS
    if edition:
        from vcmctc.ctc.editions import load_edition

        base = load_edition(edition).bd
    settings = base.override(method=method.value if method else None,
                             policy=policy.value if policy else None, min_points=min_points,
                             fit_solver=fit_solver.value if fit_solver else None,
                             min_overlap=min_overlap)
    anchor_curves, test_curves = read_points(anchor), read_points(test)
    has_seq = {None not in anchor_curves, None not in test_curves}
    if len(has_seq) > 1:
        with_, without = (anchor, test) if None not in anchor_curves else (test, anchor)
        raise UserError(f"no 'sequence' column, but {with_} has one", file=without)
    summary = summarize(anchor_curves, test_curves, settings=settings)
    if fmt is OutputFormat.json:
        print_json({"anchor": str(anchor), "test": str(test), **summary})
    elif fmt is OutputFormat.csv:
        typer.echo(render_csv(summary))
    else:
        typer.echo(render_text(summary, anchor, test))
