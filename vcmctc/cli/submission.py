"""``vcmctc init``, ``validate``, ``evaluate`` and ``import``: working with submissions."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import List, Optional

import typer

from vcmctc.cli import app
from vcmctc.cli._common import OutputFormat, print_json
from vcmctc.cli._table import render
from vcmctc.errors import UserError
from vcmctc.evaluators.coco import DEFAULT_BACKEND


class Level(str, enum.Enum):
    best = "best"
    reported = "reported"
    outputs = "outputs"
    decoded = "decoded"


class EvaluateFormat(str, enum.Enum):
    text = "text"
    json = "json"


class Sandbox(str, enum.Enum):
    auto = "auto"
    bwrap = "bwrap"
    off = "off"


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
    if "\nanchor:" not in path.read_text(encoding="utf-8"):
        typer.echo(f"warning: no anchor for edition {edition} (bundled or yours): without one "
                   "there is no BD-rate; store one with 'vcmctc anchors add'", err=True)


@app.command("validate")
def validate_cmd(
    folder: Path = typer.Argument(..., help="Submission folder (with submission.yaml)."),
    allow_incomplete: bool = typer.Option(False, help="Missing sequences/points are not errors."),
    no_md5: bool = typer.Option(False, "--no-md5", help="Skip md5 checks of decoded files."),
    level: Level = typer.Option(Level.best, help="Evidence level the evaluation will use."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Root of the "
                                             "ground-truth data sets: check the ground truth the "
                                             "evaluation will need is there."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f",
                                     help="Output format of the findings."),
) -> None:
    """Check a submission's conformance before any heavy work; exit 1 on an error."""
    from vcmctc.submission.manifest import load_manifest
    from vcmctc.submission.validate import check_ground_truth, validate

    plan = validate(load_manifest(folder), level=level.value, check_md5=not no_md5)
    if data_root is not None:
        check_ground_truth(plan, data_root, check_md5=not no_md5)
    print_findings(plan.findings, fmt)
    errors = plan.errors(allow_incomplete)
    if fmt is not OutputFormat.json:
        n_points = sum(len(p) for p in plan.sequences.values())
        typer.echo(f"{folder}: {len(plan.sequences)} sequence(s), {n_points} rate point(s): "
                   f"{len(errors)} error(s), "
                   f"{sum(f.level == 'warning' for f in plan.findings)} warning(s)")
    if errors:
        raise typer.Exit(1)


@app.command("evaluate")
def evaluate_cmd(
    folder: Path = typer.Argument(..., help="Submission folder (with submission.yaml)."),
    data_root: Optional[Path] = typer.Option(None, help="Root of the ground-truth data sets."),
    out: Optional[Path] = typer.Option(None, help="Output folder, outside the submission "
                                       "(default: ./vcmctc-out/NAME of the submission folder)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Rate points processed in parallel."),
    level: Level = typer.Option(Level.best, help="Evidence level to use for every point."),
    allow_incomplete: bool = typer.Option(False, help="Evaluate even if sequences or points are missing."),
    timing: Timing = typer.Option(Timing.parallel, help="isolated: decoders one at a time, for comparable times."),
    backend: str = typer.Option(DEFAULT_BACKEND, help="COCO backend: faster-coco-eval or "
                                "pycocotools (the reference)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every step."),
    sandbox: Sandbox = typer.Option(Sandbox.auto, "--sandbox", help="Confine decoders and task "
                                    "programs in bubblewrap (read-only system and submission, "
                                    "no network): auto uses it when it works here."),
    pass_env: List[str] = typer.Option([], "--pass-env", metavar="NAME", help="An environment "
                                       "variable the programs may see (repeatable); by default "
                                       "they see only PATH, the locale and the GPU selection."),
    no_anchor: bool = typer.Option(False, "--no-anchor", help="Evaluate without an anchor: no "
                                   "BD-rates (without it, a row left without a BD-rate makes "
                                   "the command exit 1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    fmt: EvaluateFormat = typer.Option(EvaluateFormat.text, "--format", "-f",
                                       help="text: the summary table; json: a machine-readable "
                                            "summary on stdout (progress stays on stderr)."),
) -> None:
    """Evaluate a submission: validate, decode, task network, score, rate, BD-rate -> results.json."""
    from vcmctc.cli import log
    from vcmctc.submission.pipeline import Options, ValidationFailed, evaluate

    def progress(line: str) -> None:
        log.debug(line)
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    opts = Options(out=out, data_root=data_root, jobs=jobs, level=level.value,
                   allow_incomplete=allow_incomplete, timing=timing.value, coco_backend=backend,
                   use_cache=not no_cache, use_anchor=not no_anchor, progress=progress,
                   sandbox=sandbox.value, pass_env=tuple(pass_env))
    try:
        results, path = evaluate(folder, opts)
    except ValidationFailed as exc:
        print_findings(exc.plan.findings)
        n = len(exc.plan.errors(allow_incomplete))
        hint = (" (missing sequences/points: --allow-incomplete evaluates anyway)"
                if any(f.kind == "incomplete" for f in exc.plan.errors()) else "")
        typer.echo(f"vcmctc: {n} validation error(s); nothing evaluated{hint}", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        from vcmctc.cli import interrupted_by
        from vcmctc.runner import terminate_all

        terminate_all()
        signame = interrupted_by()
        typer.echo(f"vcmctc: {'stopped by ' + signame if signame else 'interrupted'}; finished "
                   "steps are cached, run the same command again to resume", err=True)
        raise typer.Exit(143 if signame == "SIGTERM" else 130)
    except OSError as exc:   # a full, read-only or vanished disk: one line, work kept
        where = exc.filename or "the output folder"
        raise UserError(f"cannot write {where}: {exc.strerror or exc}; finished steps are kept "
                        "in the cache: fix the disk and run the same command again") from None
    if fmt is EvaluateFormat.json:
        from vcmctc.cli._common import evaluation_summary

        print_json(evaluation_summary(results, path))
    else:
        typer.echo(summary_table(results))
        typer.echo(f"\nresults: {path}\nsignature: {results.signature['line']}")
    failed = [p for p in results.points if p.status != "ok"]
    if failed:
        typer.echo(f"vcmctc: {len(failed)} rate point(s) failed: "
                   + "; ".join(f"{p.sequence} {p.label}: {p.message}" for p in failed[:3])
                   + ("; ..." if len(failed) > 3 else ""), err=True)
    from vcmctc.submission.pipeline import rows_without_bd

    missing = [] if no_anchor else rows_without_bd(results)
    if missing:
        accepted = allow_incomplete and not failed
        typer.echo(f"vcmctc: {'warning: ' if accepted else ''}{len(missing)} row(s) without a "
                   "BD-rate: " + ", ".join(f"{r.name} ({r.status})" for r in missing[:6])
                   + (", ..." if len(missing) > 6 else "")
                   + (" (accepted: --allow-incomplete)" if accepted else
                      "; --no-anchor evaluates without BD-rates"), err=True)
        if not accepted:
            raise typer.Exit(1)
    if failed:
        raise typer.Exit(1)


def summary_table(results) -> str:
    """The sequence, class and overall rows of a :class:`~vcmctc.results.model.Results`."""
    rows = []
    for s in results.sequences:
        pts = results.points_of(s.name)
        rates = " ".join(f"{p.rate:.4g}" if p.rate is not None else "-" for p in pts)
        metrics = " ".join(f"{p.metric:.2f}" if p.metric is not None else "-" for p in pts)
        rows.append([s.name, s.cls, s.evidence, rates, metrics, s.bd_rate, s.status])
    for row in [*results.classes, results.overall]:
        status = row.status
        if row.bd_rate is None and row.partial_bd_rate is not None:
            status += f" (partial {row.partial_bd_rate:.2f} over {row.mean_over})"
        name = f"class {row.name}" if row.kind == "class" else "overall"
        rows.append([name, "", row.evidence, "", "", row.bd_rate, status])
    return render(["sequence", "class", "evidence", "rates", "metrics", "BD-rate %", "status"],
                  rows, right=["BD-rate %"])


def _metric_id(metric: Optional[str]) -> Optional[str]:
    if metric is None:
        return None
    from vcmctc.families import metric_def

    return metric_def(metric).id   # unknown ids: one line naming the known ones


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
    edition: str = typer.Option(..., "--edition", "-e", help="CTC edition id."),
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
    metric: Optional[str] = typer.Option(None, "--metric", help="The metric CompressAI-Vision's "
                                         "end_accuracy holds (e.g. coco-bbox-ap50 when the run "
                                         "used AP50); needed when it is not CompressAI-Vision's "
                                         "default and the edition's."),
    force: bool = typer.Option(False, help="Overwrite an existing submission.yaml."),
) -> None:
    """Turn results of another pipeline into a reported-level submission."""
    from vcmctc.submission.importers import import_source

    res = import_source(source, folder, codec=codec, edition=edition, anchor=anchor,
                        fmt=None if source_format is ImportFrom.auto else source_format.value,
                        logs=logs, log_qp=log_qp.value, metric_scale=metric_scale.value,
                        metric=_metric_id(metric), force=force)
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"wrote {res.path}: {res.sequences} sequence(s), {res.points} rate point(s)"
               + (f", {res.logs} log(s)" if logs is not None else ""))
