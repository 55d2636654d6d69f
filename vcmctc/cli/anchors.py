"""``vcmctc anchors``: list anchor results (bundled and the user's), add and remove user anchors."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Optional

import typer

from vcmctc.cli import app
from vcmctc.cli._common import OutputFormat, print_json
from vcmctc.cli._table import render

anchors_app = typer.Typer(help="Anchor results with provenance: list, add and remove user "
                               "anchors.", invoke_without_command=True)
app.add_typer(anchors_app, name="anchors")


class AnchorFrom(str, enum.Enum):
    auto = "auto"
    points_csv = "points-csv"
    compressai_vision = "compressai-vision"
    results_json = "results-json"


@anchors_app.callback()
def anchors(
    ctx: typer.Context,
    edition: Optional[str] = typer.Option(None, "--edition", "-e", help="Only anchors of this edition."),
    anchor: Optional[str] = typer.Option(None, "--anchor", "-a", help="One anchor (id or path)."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """Show anchor results (rate, metric, times per sequence and rate point) with provenance."""
    if ctx.invoked_subcommand is not None:
        return
    from vcmctc.ctc.anchors import anchor_ids, anchor_table, load_anchor

    if anchor:
        chosen = [load_anchor(anchor)]
    else:
        chosen = [load_anchor(i) for i in anchor_ids()]
        if edition:
            from vcmctc.ctc.editions import load_edition

            load_edition(edition)  # unknown edition -> clear error
            chosen = [a for a in chosen if a.edition == edition]
    tables = [(a, anchor_table(a)) for a in chosen]
    if fmt is OutputFormat.json:
        print_json([{"anchor": a.id, "edition": a.edition, "codec": a.codec, "source": a.source,
                     "origin": a.origin, "provenance": a.provenance,
                     "columns": a.columns, "notes": a.notes,
                     "points": df.drop(columns=["anchor"]).to_dict(orient="records")}
                    for a, df in tables])
    elif fmt is OutputFormat.csv:
        import pandas as pd

        frame = pd.concat([df for _, df in tables], ignore_index=True) if tables else pd.DataFrame()
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        blocks = []
        for a, df in tables:
            head = [f"{a.id} ({a.origin}): {a.codec} on edition {a.edition}", f"source: {a.source}"]
            head += [f"note {k}: {v}" for k, v in a.notes.items()]
            cols = [c for c in df.columns if c != "anchor"]
            blocks.append("\n".join([*head, "", render(cols, df[cols].values.tolist(),
                                                       right=["qp", "rate", "metric", "time_s"])]))
        typer.echo("\n\n".join(blocks) if blocks else
                   "no anchors" + (f" for edition {edition}" if edition else "")
                   + " (vcmctc anchors add ID SOURCE --edition E --codec NAME stores yours)")


@anchors_app.command("add")
def add(
    anchor_id: str = typer.Argument(..., metavar="ID", help="Id of the new anchor."),
    source: Path = typer.Argument(..., help="Points CSV, CompressAI-Vision summary.csv / "
                                            "final_*.csv or a folder of them, or a results.json "
                                            "of an anchor evaluated by vcmctc."),
    edition: str = typer.Option(..., "--edition", "-e", help="CTC edition of the anchor."),
    codec: str = typer.Option(..., "--codec", help="The anchor's codec (e.g. 'FCTM v1.0')."),
    source_format: AnchorFrom = typer.Option(AnchorFrom.auto, "--from",
                                             help="Format of SOURCE (auto: from its columns)."),
    logs: Optional[Path] = typer.Option(None, "--logs", help="Folder of VCM-RS coding logs: "
                                        "their times replace the reported ones."),
    metric: Optional[str] = typer.Option(None, "--metric", help="The metric CompressAI-Vision's "
                                         "end_accuracy holds, when not its default."),
    note: Optional[str] = typer.Option(None, "--note", help="A note kept with the provenance."),
    force: bool = typer.Option(False, "--force", help="Replace a user anchor of the same id."),
) -> None:
    """Store an anchor of yours (with its provenance) in the user anchor store."""
    from vcmctc.cli.submission import _metric_id
    from vcmctc.ctc.anchor_store import add_anchor

    path, warnings = add_anchor(
        anchor_id, source, edition=edition, codec=codec,
        fmt=None if source_format is AnchorFrom.auto else source_format.value, logs=logs,
        metric=_metric_id(metric), note=note, force=force)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"stored anchor {anchor_id} in {path.parent}")


@anchors_app.command("remove")
def remove(anchor_id: str = typer.Argument(..., metavar="ID", help="User anchor to remove.")) -> None:
    """Remove one of your anchors from the user anchor store."""
    from vcmctc.ctc.anchor_store import remove_anchor

    typer.echo(f"removed {remove_anchor(anchor_id)}")
