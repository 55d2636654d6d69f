"""``vcmctc demo``: the mini CTC end to end (see :mod:`vcmctc.demo.run`, and
:mod:`vcmctc.demo.fcm` for ``--track fcm``)."""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vcmctc.cli import app


class DemoTrack(str, Enum):
    vcm = "vcm"
    fcm = "fcm"


@app.command("demo")
def demo(
    out: Optional[Path] = typer.Option(
        None, help="Folder for the demo data, cache and reports (default: vcmctc-demo, "
                   "vcmctc-demo-fcm for --track fcm)."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Encodes and rate points in parallel."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    track: DemoTrack = typer.Option(
        DemoTrack.vcm, "--track", help="vcm: video coding (decoded video, every task family); "
                                       "fcm: feature coding with a torch split network (needs "
                                       "the [torch] extra)."),
) -> None:
    """Build a mini CTC (synthetic sequences, a real VVC anchor, an example submission) and
    evaluate it end to end at the decoded level; cached, so a re-run is quick."""
    from vcmctc.cli.submission import summary_table

    started = time.perf_counter()
    say = None if quiet else (lambda line: print(f"demo: {line}", file=sys.stderr, flush=True))
    try:
        if track == DemoTrack.fcm:
            from vcmctc.demo.fcm import run_fcm_demo

            results, path, reports = run_fcm_demo(out or Path("vcmctc-demo-fcm"), jobs,
                                                  say=say, progress=say)
        else:
            from vcmctc.demo.run import run_demo

            results, path, reports = run_demo(out or Path("vcmctc-demo"), jobs, say=say,
                                              progress=say)
    except KeyboardInterrupt:
        from vcmctc.cli import exit_stopped

        exit_stopped()
    if track == DemoTrack.fcm:
        typer.echo(f"Feature coding: level-a coding with restoration vs the feature anchor, "
                   f"edition {results.edition['id']} ({results.edition['title']})\n")
    else:
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
