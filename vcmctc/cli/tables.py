"""``vcmctc tables``: show and check the CTC data (editions; ``--check`` also the anchors and the
published checksums in ``cfg/base/checksums/``)."""

from __future__ import annotations

import csv
import enum
import sys
from typing import Any, Optional

import typer

from vcmctc.cli import app
from vcmctc.cli._common import OutputFormat, print_json
from vcmctc.cli._table import render


class Track(str, enum.Enum):
    vcm = "vcm"
    fcm = "fcm"
    demo = "demo"


def _editions(track: Optional[Track], edition: Optional[str]):
    from vcmctc.ctc.editions import list_editions, load_edition

    if edition:
        return [load_edition(edition)]
    eds = [load_edition(e) for e in list_editions()]
    return [e for e in eds if track is None or e.track == track.value]


def sequence_record(ed, seq, scenario: Optional[str] = None) -> dict[str, Any]:
    """The JSON/CSV form of one sequence of an edition."""
    qps = ed.qps(seq, scenario)
    return {
        "edition": ed.id,
        "sequence": seq.id,
        "aliases": list(seq.aliases),
        "dataset": seq.dataset,
        "class": seq.cls,
        "kind": seq.kind,
        "width": seq.width,
        "height": seq.height,
        "fps": seq.fps,
        "total_frames": seq.total_frames,
        "skip": seq.skip,
        "frames_coded": seq.frames,
        "items": seq.items,
        "intra_period": seq.intra_period,
        "bit_depth": seq.bit_depth,
        "scenario": scenario or ed.default_scenario,
        "qps": list(qps) if qps is not None else None,
        "qps_by_scenario": {k: list(v) for k, v in (seq.qps or {}).items()},
        "task": seq.task,
        "task_network": seq.task_network,
        "metric": seq.metric,
        "rate_unit": seq.rate_unit,
        "first_frame": seq.first_frame,
        "gt": seq.gt,
        "optional": seq.optional,
        "sources": dict(seq.field_sources),
        "notes": dict(seq.notes),
        "disagreements": {k: {"other_value": v, "other_source": s}
                          for k, (v, s) in seq.disagreements.items()},
    }


def _text(ed, records: list[dict[str, Any]]) -> str:
    fit = (f" (fit solver {ed.bd.fit_solver})"
           if ed.bd.policy in ("fit", "fit-nonmonotonic") else "")
    head = [f"{ed.id}: {ed.title}",
            f"track {ed.track}; {ed.rate_points} rate points; scenario {records[0]['scenario'] if records else ed.default_scenario}; "
            f"BD {ed.bd.method}, policy {ed.bd.policy}{fit}, low-overlap below "
            f"{100 * ed.bd.min_overlap:g}%; class rows {ed.aggregation.class_rows}, "
            f"overall {ed.aggregation.overall}; edition hash {ed.hash}"]
    rows = []
    for r in records:
        res = f"{r['width']}x{r['height']}" if r["width"] else "-"
        flag = "*" if r["disagreements"] else ""
        rows.append([r["sequence"] + flag, r["class"], res, r["fps"],
                     r["frames_coded"] if r["kind"] != "images" else f"{r['items']} img",
                     r["skip"], r["intra_period"], r["bit_depth"], r["qps"], r["metric"],
                     r["rate_unit"]])
    table = render(["sequence", "class", "WxH", "fps", "frames", "skip", "IP", "bits", "QPs",
                    "metric", "rate"], rows, digits=0,
                   right=["fps", "frames", "skip", "IP", "bits"])
    notes = []
    for r in records:
        for fld, text in r["notes"].items():
            other = r["disagreements"].get(fld)
            extra = f" [other source {other['other_source']}: {other['other_value']}]" if other else ""
            notes.append(f"  {r['sequence']}.{fld}: {text}{extra}")
    for topic, text in ed.notes.items():
        notes.append(f"  edition.{topic}: {text}")
    tail = ["notes (* = overrides a value of another source):", *notes] if notes else []
    return "\n".join([*head, "", table, "", *tail])


@app.command("tables")
def tables(
    track: Optional[Track] = typer.Option(None, help="Only editions of this track."),
    edition: Optional[str] = typer.Option(None, "--edition", "-e",
                                          help="Edition id (see the list) or path to a YAML file."),
    scenario: Optional[str] = typer.Option(None, help="Scenario for the QP column (default: the edition's)."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    check: bool = typer.Option(False, "--check",
                               help="Check every edition, anchor and checksum file for consistency; "
                                    "exit 1 on an error."),
) -> None:
    """Show the CTC tables of one or all editions (sequences, classes, fps, frames, QPs...)."""
    eds = _editions(track, edition)
    if check:
        _check(eds, check_anchors=edition is None)
        return
    records = []
    for ed in eds:
        if scenario is not None and scenario not in ed.scenarios:
            from vcmctc.errors import UserError

            raise UserError(f"edition {ed.id} has no scenario {scenario!r} "
                            f"(scenarios: {', '.join(ed.scenarios)})")
        records.append((ed, [sequence_record(ed, s, scenario) for s in ed.sequences.values()]))
    if fmt is OutputFormat.json:
        print_json([r for _, recs in records for r in recs])
    elif fmt is OutputFormat.csv:
        cols = ["edition", "sequence", "aliases", "dataset", "class", "kind", "width", "height",
                "fps", "total_frames", "skip", "frames_coded", "items", "intra_period",
                "bit_depth", "scenario", "qps", "metric", "rate_unit", "first_frame", "optional"]
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(cols)
        for _, recs in records:
            for r in recs:
                writer.writerow([" ".join(map(str, r[c])) if isinstance(r[c], list) else
                                 ("" if r[c] is None else r[c]) for c in cols])
    else:
        typer.echo("\n\n".join(_text(ed, recs) for ed, recs in records))


def _check(eds, *, check_anchors: bool) -> None:
    from vcmctc.ctc.anchors import anchor_ids, check_anchor, load_anchor
    from vcmctc.ctc.check import check_edition

    lines: list[str] = []
    errors = warnings = 0
    for ed in eds:
        for problem in check_edition(ed):
            lines.append(str(problem))
            errors += problem.level == "error"
            warnings += problem.level == "warning"
    n_anchors = 0
    if check_anchors:
        from vcmctc.ctc.checksums import check_checksum_files

        for problem in check_checksum_files():
            lines.append(problem)
            errors += problem.startswith("error")
            warnings += problem.startswith("warning")
        for anchor_id in anchor_ids():
            n_anchors += 1
            for problem in check_anchor(load_anchor(anchor_id)):
                lines.append(f"{problem.split(':', 1)[0]}: anchor {anchor_id}:{problem.split(':', 1)[1]}")
                errors += problem.startswith("error")
                warnings += problem.startswith("warning")
    for line in lines:
        typer.echo(line)
    typer.echo(f"checked {len(eds)} edition(s) and {n_anchors} anchor(s): "
               f"{errors} error(s), {warnings} warning(s)")
    if errors:
        raise typer.Exit(1)
