"""``vcmctc init``, ``validate``, ``evaluate`` and ``import``: working with submissions."""

from __future__ import annotations

import enum
import json
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


class Executor(str, enum.Enum):
    local = "local"
    dask = "dask"


class KeepDecoded(str, enum.Enum):
    never = "never"
    failed = "failed"
    always = "always"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


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
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Steps run in parallel (local), or "
                             "worker processes of a local Dask cluster."),
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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    fmt: EvaluateFormat = typer.Option(EvaluateFormat.text, "--format", "-f",
                                       help="text: the summary table; json: a machine-readable "
                                            "summary on stdout (progress stays on stderr)."),
    executor: Executor = typer.Option(Executor.local, help="Where steps run: local threads, or "
                                      "a Dask cluster (pip install 'vcmctc[dask]')."),
    scheduler: Optional[str] = typer.Option(None, help="Dask: address of a running scheduler "
                                            "(tcp://HOST:PORT); default: a local cluster of "
                                            "--jobs worker processes."),
    cluster: Optional[Path] = typer.Option(None, help="Dask: a cluster file (Slurm, PBS, SGE, "
                                           "LSF through dask-jobqueue; docs/scaleout.md)."),
    shard: Optional[str] = typer.Option(None, help="K/N: make only the K-th of N shares of the "
                                        "steps, into the cache (a final run without --shard "
                                        "assembles them)."),
    keep_decoded: KeepDecoded = typer.Option(KeepDecoded.failed, help="Decoded outputs kept: "
                                             "never, failed (those of points whose task network "
                                             "or scoring failed), always."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run again the steps an "
                                      "earlier run recorded as failed."),
    chunk_size: int = typer.Option(50, min=1, help="Images per decode step of an image set."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan of the work "
                                 "(vcmctc plan) and run nothing."),
) -> None:
    """Evaluate a submission: validate, decode, task network, score, rate, BD-rate -> results.json."""
    from vcmctc.cli import log
    from vcmctc.execution.graph import parse_shard
    from vcmctc.submission.pipeline import Options, ValidationFailed, evaluate

    def progress(line: str) -> None:
        log.debug(line)
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    opts = Options(out=out, data_root=data_root, jobs=jobs, level=level.value,
                   allow_incomplete=allow_incomplete, timing=timing.value, coco_backend=backend,
                   use_cache=not no_cache, use_anchor=not no_anchor, progress=progress,
                   live=sys.stderr.isatty() and fmt is not EvaluateFormat.json,
                   sandbox=sandbox.value, pass_env=tuple(pass_env),
                   executor=executor.value, scheduler=scheduler, cluster=cluster,
                   shard=parse_shard(shard), keep_decoded=keep_decoded.value,
                   retry_failed=retry_failed, chunk_size=chunk_size)
    try:
        if dry_run:
            show_plan(folder, opts, costs={}, sample=0, workers=jobs, gpus=None,
                      cluster=cluster)
            return
        results, path = evaluate(folder, opts)
    except ValidationFailed as exc:
        print_findings(exc.plan.findings)
        n = len(exc.plan.errors(allow_incomplete))
        hint = (" (missing sequences/points: --allow-incomplete evaluates anyway)"
                if any(f.kind == "incomplete" for f in exc.plan.errors()) else "")
        typer.echo(f"vcmctc: {n} validation error(s); nothing evaluated{hint}", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        from vcmctc.cli import exit_stopped

        exit_stopped()
    except OSError as exc:   # a full, read-only or vanished disk: one line, work kept
        where = exc.filename or "the output folder"
        raise UserError(f"cannot write {where}: {exc.strerror or exc}; finished steps are kept "
                        "in the cache: fix the disk and run the same command again") from None
    if results is None:      # a shard
        run = json.loads(path.read_text())
        typer.echo(f"shard {run['shard']}: {run['steps']} step(s), {run['cached_steps']} "
                   f"cached, {run['failed_steps']} failed; record {path}")
        typer.echo(disk_line(run))
        if run["failed_steps"]:
            raise typer.Exit(1)
        return
    if fmt is EvaluateFormat.json:
        from vcmctc.cli._common import evaluation_summary

        print_json(evaluation_summary(results, path))
    else:
        typer.echo(summary_table(results))
        typer.echo(f"\nresults: {path}\nsignature: {results.signature['line']}")
        typer.echo(disk_line(results.run))
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


def disk_line(run: dict) -> str:
    disk = run.get("disk") or {}
    return (f"disk: the cache holds {size(disk.get('cache_bytes'))}; decoded outputs deleted "
            f"after use: {size(disk.get('decoded_deleted_bytes'))} (--keep-decoded "
            f"{disk.get('keep_decoded')})")


@app.command("plan")
def plan_cmd(
    folder: Path = typer.Argument(..., help="Submission folder (with submission.yaml)."),
    data_root: Optional[Path] = typer.Option(None, help="Root of the ground-truth data sets."),
    out: Optional[Path] = typer.Option(None, help="Output folder of the run (what its cache "
                                       "holds is not counted as work)."),
    level: Level = typer.Option(Level.best, help="Evidence level to use for every point."),
    allow_incomplete: bool = typer.Option(False, help="Plan even if sequences or points are missing."),
    cost: list[str] = typer.Option([], "--cost", help="STAGE=SECONDS per frame (decode, task, "
                                   "measure); repeatable."),
    sample: int = typer.Option(0, min=0, help="Measure the costs by running the steps of this "
                               "many points (into the cache)."),
    workers: int = typer.Option(1, min=1, help="Workers the wall time is estimated for."),
    gpus: Optional[int] = typer.Option(None, min=1, help="GPUs (task networks at once; "
                                       "default: --workers)."),
    cluster: Optional[Path] = typer.Option(None, help="A cluster file: print its job scripts."),
    chunk_size: int = typer.Option(50, min=1, help="Images per decode step of an image set."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f",
                                     help="text: the plan as tables; json: machine-readable."),
) -> None:
    """The work of an evaluation before it runs: steps, frames and pixels per stage, what the
    cache holds, expected GPU-hours and wall time on N workers."""
    from vcmctc.execution.estimate import parse_costs
    from vcmctc.submission.pipeline import Options, ValidationFailed

    opts = Options(out=out, data_root=data_root, level=level.value,
                   allow_incomplete=allow_incomplete, chunk_size=chunk_size)
    try:
        show_plan(folder, opts, costs=parse_costs(cost), sample=sample, workers=workers,
                  gpus=gpus, cluster=cluster, fmt=fmt)
    except ValidationFailed as exc:
        print_findings(exc.plan.findings)
        typer.echo(f"vcmctc: {len(exc.plan.errors(allow_incomplete))} validation error(s)",
                   err=True)
        raise typer.Exit(1)


def show_plan(folder: Path, opts, *, costs, sample, workers, gpus, cluster,
              fmt: OutputFormat = OutputFormat.text) -> None:
    from vcmctc.execution.estimate import describe
    from vcmctc.progress import clock

    plan = describe(folder, opts, costs=costs, sample=sample, workers=workers, gpus=gpus)
    scripts = None
    if cluster is not None:
        from vcmctc.execution.cluster import load_cluster

        scripts = load_cluster(cluster).job_scripts()
    if fmt is OutputFormat.json:
        print_json({**plan, "job_scripts": scripts})
        return
    est, per_frame = plan["estimate"], plan["cost_per_frame_s"] or {}
    typer.echo(f"{plan['submission']}: {plan['points']} rate point(s) of {plan['sequences']} "
               f"sequence(s), edition {plan['edition']}; evidence "
               + ", ".join(f"{k} {v}" for k, v in plan["evidence"].items()))
    rows = [[stage, t["steps"], t["cached"], t["failed"], t["frames"], t["pixels"],
             per_frame.get(stage), est["hours"][stage]]
            for stage, t in plan["stages"].items()]
    typer.echo(render(["stage", "steps", "cached", "failed", "frames", "pixels", "s/frame",
                       "hours left"], rows, digits=4,
                      right=["steps", "cached", "failed", "frames", "pixels", "s/frame",
                             "hours left"]))
    if plan["chunks"]:
        typer.echo(f"image sets decode in {plan['chunks']} chunk step(s) of up to "
                   f"{plan['chunk_size']} images")
    if plan["cost_source"]:
        typer.echo(f"costs {plan['cost_source']}: GPU-hours {est['gpu_hours']:.3f}, CPU-hours "
                   f"{est['cpu_hours']:.3f}; wall time on {est['workers']} worker(s) and "
                   f"{est['gpus']} GPU(s): about {clock(est['wall_s'])}")
    else:
        typer.echo("no costs: give --cost STAGE=SECONDS (per frame) or --sample N for the "
                   "expected GPU-hours and wall time")
    for name, script in (scripts or {}).items():
        typer.echo(f"\njob script ({name}):\n{script}")


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
