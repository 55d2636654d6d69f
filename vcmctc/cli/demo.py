"""``vcmctc demo``: the mini CTC end to end (see :mod:`vcmctc.demo.run`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from vcmctc.cli import app


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("vcmctc-demo"), help="Folder for the demo data, cache and reports."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Encodes and rate points in parallel."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Build a mini CTC (synthetic sequences, a real VVC anchor, a multi-task foreground-coding
    submission) and evaluate it end to end at the decoded level; cached, so a re-run is quick."""
    from vcmctc.cli.submission import summary_table
    from vcmctc.demo.run import run_demo

    started = time.perf_counter()
    say = None if quiet else (lambda line: print(f"demo: {line}", file=sys.stderr, flush=True))
    results, path, reports = run_demo(out, jobs, say=say, progress=say)
    typer.echo(f"Multi-task foreground coding vs the VVC anchor, edition ctc-demo "
               f"({results.edition['title']})\n")
    typer.echo(summary_table(results))
    typer.echo(f"\nsignature: {results.signature['line']}")
    typer.echo(f"results:   {path}")
    for fmt, report in reports.items():
        typer.echo(f"report:    {report}  ({fmt})")
    typer.echo(f"done in {time.perf_counter() - started:.1f} s")
    failed = [p for p in results.points if p.status != "ok"]
    missing = [r for r in results.rows() if r.bd_rate is None]
    if failed or missing:   # the demo is deterministic: anything missing is a broken install
        typer.echo("vcmctc demo: " + "; ".join(
            [f"{p.sequence} {p.label}: {p.message}" for p in failed[:3]]
            + [f"{r.name}: no BD-rate ({r.status})" for r in missing[:3]]), err=True)
        raise typer.Exit(1)
