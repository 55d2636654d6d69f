"""``vcmctc init``, ``validate``, ``evaluate`` and ``import``: working with submissions."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Optional

import typer

from vcmctc.cli import app
from vcmctc.cli._common import OutputFormat, print_json
from vcmctc.cli._table import render


class Level(str, enum.Enum):
    best = "best"
    reported = "reported"
    outputs = "outputs"
    decoded = "decoded"


class Timing(str, enum.Enum):
    parallel = "parallel"
    isolated = "isolated"


def print_findings(findings, fmt: OutputFormat = OutputFormat.text) -> None:
    if fmt is OutputFormat.json:
        print_json([f.to_dict() for f in findings])
        return
    if findings:
        rows = [[f.level, f.kind, f.sequence or "", f.point or "", f.message] for f in findings]
        typer.echo(render(["level", "kind", "sequence", "point", "message"], rows))


@app.command("init")
def init(
    folder: Path = typer.Argument(..., help="Submission folder to create or fill."),
    edition: str = typer.Option(..., "--edition", "-e", help="CTC edition id."),
    anchor: Optional[str] = typer.Option(None, help="Anchor id (default: the edition's first)."),
    force: bool = typer.Option(False, help="Overwrite an existing submission.yaml."),
) -> None:
    """Write a submission.yaml skeleton listing every sequence and rate point the edition needs."""
    from vcmctc.submission.skeleton import write_skeleton

    path = write_skeleton(folder, edition, anchor, force=force)
    typer.echo(f"wrote {path}; fill in your files, then run: vcmctc validate {folder}")


@app.command("validate")
def validate_cmd(
    folder: Path = typer.Argument(..., help="Submission folder (with submission.yaml)."),
    allow_incomplete: bool = typer.Option(False, help="Missing sequences/points are not errors."),
    no_md5: bool = typer.Option(False, "--no-md5", help="Skip md5 checks of decoded files."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f"),
) -> None:
    """Check a submission's conformance before any heavy work; exit 1 on an error."""
    from vcmctc.submission.manifest import load_manifest
    from vcmctc.submission.validate import validate

    v = validate(load_manifest(folder), check_md5=not no_md5)
    print_findings(v.findings, fmt)
    errors = v.errors(allow_incomplete)
    if fmt is not OutputFormat.json:
        n_points = sum(len(p) for p in v.points.values())
        typer.echo(f"{folder}: {len(v.points)} sequence(s), {n_points} rate point(s): "
                   f"{len(errors)} error(s), "
                   f"{sum(f.level == 'warning' for f in v.findings)} warning(s)")
    if errors:
        raise typer.Exit(1)


@app.command("evaluate")
def evaluate_cmd(
    folder: Path = typer.Argument(..., help="Submission folder (with submission.yaml)."),
    data_root: Optional[Path] = typer.Option(None, help="Root of the ground-truth data sets."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: FOLDER/vcmctc-out)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Rate points processed in parallel."),
    level: Level = typer.Option(Level.best, help="Evidence level to use for every point."),
    allow_incomplete: bool = typer.Option(False, help="Evaluate even if sequences or points are missing."),
    timing: Timing = typer.Option(Timing.parallel, help="isolated: decoders one at a time, for comparable times."),
    backend: str = typer.Option("faster-coco-eval", help="COCO backend: faster-coco-eval or pycocotools."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every step."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Evaluate a submission: validate, decode, task network, score, rate, BD-rate -> results.json."""
    from vcmctc.submission.pipeline import Options, ValidationFailed, evaluate

    out = out or folder / "vcmctc-out"
    progress = None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    opts = Options(out=out, data_root=data_root, jobs=jobs, level=level.value,
                   allow_incomplete=allow_incomplete, timing=timing.value, backend=backend,
                   use_cache=not no_cache, progress=progress)
    try:
        results, path = evaluate(folder, opts)
    except ValidationFailed as exc:
        print_findings(exc.validation.findings)
        n = len(exc.validation.errors(allow_incomplete))
        hint = (" (missing sequences/points: --allow-incomplete evaluates anyway)"
                if any(f.kind == "incomplete" for f in exc.validation.errors()) else "")
        typer.echo(f"vcmctc: {n} validation error(s); nothing evaluated{hint}", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("vcmctc: interrupted; finished steps are cached, run the same command again "
                   "to resume", err=True)
        raise typer.Exit(130)
    typer.echo(summary_table(results))
    typer.echo(f"\nresults: {path}\nsignature: {results['signature']['line']}")
    failed = [p for p in results["points"] if p["status"] != "ok"]
    if failed:
        typer.echo(f"vcmctc: {len(failed)} rate point(s) failed: "
                   + "; ".join(f"{p['sequence']} {p['label']}: {p['message']}" for p in failed[:3])
                   + ("; ..." if len(failed) > 3 else ""), err=True)
        raise typer.Exit(1)


def summary_table(results: dict) -> str:
    rows = []
    for s in results["sequences"]:
        pts = [p for p in results["points"] if p["sequence"] == s["sequence"]]
        rates = " ".join(f"{p['rate']:.1f}" if p.get("rate") is not None else "-" for p in pts)
        metrics = " ".join(f"{p['metric']:.2f}" if p.get("metric") is not None else "-" for p in pts)
        rows.append([s["sequence"], s["class"], s["evidence"], rates, metrics, s.get("bd_rate"),
                     s.get("status")])
    for c in results["classes"]:
        bd = c.get("bd_rate")
        status = c.get("status")
        if bd is None and c.get("mean_bd_rate") is not None:
            bd, status = c["mean_bd_rate"], f"{status}; mean of members"
        rows.append([f"class {c['class']}", "", c["evidence"], "", "", bd, status])
    o = results["overall"]
    rows.append(["overall", "", "", "", "", o.get("bd_rate"),
                 o.get("status") + (f" (partial mean {o['partial_mean']:.2f} over {o['mean_over']})"
                                    if o.get("partial_mean") is not None else "")])
    return render(["sequence", "class", "evidence", "rates", "metrics", "BD-rate %", "status"],
                  rows, right=["BD-rate %"])


class ImportFrom(str, enum.Enum):
    auto = "auto"
    points_csv = "points-csv"
    compressai_vision = "compressai-vision"


class LogQp(str, enum.Enum):
    index = "index"
    value = "value"


class MetricScale(str, enum.Enum):
    auto = "auto"
    one = "1"
    hundred = "100"


@app.command("import")
def import_cmd(
    source: Path = typer.Argument(..., help="Points CSV (sequence,qp,rate,metric[,time_s]), "
                                            "CompressAI-Vision summary.csv / final_*.csv, or a "
                                            "folder of summary.csv."),
    folder: Path = typer.Argument(..., help="Submission folder to write."),
    edition: str = typer.Option(..., "--edition", "-e"),
    codec: str = typer.Option(..., help="Codec name for the submission."),
    anchor: Optional[str] = typer.Option(None, help="Anchor id for the submission."),
    source_format: ImportFrom = typer.Option(ImportFrom.auto, "--from",
                                             help="Format of SOURCE (auto: from its columns)."),
    logs: Optional[Path] = typer.Option(None, "--logs", help="Folder of VCM-RS coding logs "
                                        "named [encoding_|decoding_]SEQUENCE_qpN[_...].log."),
    log_qp: LogQp = typer.Option(LogQp.index, "--log-qp", help="qpN in log names: rate point "
                                 "index (VCM-RS scripts: qp0 = lowest QP) or the QP itself."),
    metric_scale: MetricScale = typer.Option(MetricScale.auto, "--metric-scale", help="Factor for "
                                             "CompressAI-Vision end_accuracy (auto: x100 for MOTA "
                                             "and OpenImages in summary.csv)."),
    force: bool = typer.Option(False, help="Overwrite an existing submission.yaml."),
) -> None:
    """Turn results of another pipeline into a reported-level submission."""
    from vcmctc.submission.importers import import_source

    res = import_source(source, folder, codec=codec, edition=edition, anchor=anchor,
                        fmt=None if source_format is ImportFrom.auto else source_format.value,
                        logs=logs, log_qp=log_qp.value, metric_scale=metric_scale.value,
                        force=force)
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"wrote {res.path}: {res.sequences} sequence(s), {res.points} rate point(s)"
               + (f", {res.logs} log(s)" if logs is not None else ""))
