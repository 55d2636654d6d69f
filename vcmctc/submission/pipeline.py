"""``vcmctc evaluate``: validate into a plan, run each rate point's steps, aggregate, write.

Each rate point goes through the steps its evidence allows:

- ``reported``: the submitter's rate and metric are taken as given;
- ``outputs``: the submitter's task outputs are measured against the ground truth;
- ``decoded``: vcmctc runs the submitted decoder on the bitstream, runs the task network on the
  decoded video or images and measures its outputs.

Rates come from the files whenever bitstreams are given (bitstream + side information), else from
the report. The steps (:mod:`vcmctc.submission.steps`) are cached by content under the output
folder, which lies outside the submission: a re-run after a crash or Ctrl-C redoes nothing
already done, and nothing a submission ships can stand in for a step. Rows follow the edition's
rules (:mod:`vcmctc.results.aggregate`); ``results.json`` (schema ``vcmctc-results/2``, see
docs/results.md) is written once, atomically, at the end.

The run (:func:`run_plan`) first makes the steps as a graph on an executor (threads of this
process, or a Dask cluster: :mod:`vcmctc.execution`), then assembles the results here from the
steps made: :func:`run_point` for each point, then :func:`assemble`. With ``shard`` = (K, N)
it makes only the steps of its share of the points, into the cache, and assembles nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vcmctc import __version__
from vcmctc.errors import UserError
from vcmctc.families.base import keep_parsed_outputs
from vcmctc.results.aggregate import class_row, overall_row, sequence_row, weakest
from vcmctc.results.model import SCHEMA, AnchorInfo, CurvePoint, PointResult, Results, Row
from vcmctc.submission.cache import Cache, file_sha256, hash_json
from vcmctc.submission.manifest import load_manifest
from vcmctc.submission.validate import Plan, PlannedPoint, edition_origin, validate

if TYPE_CHECKING:
    from vcmctc.submission.steps import Measured, Steps

METRIC_TOLERANCE = 0.01  # reported vs computed metric, on the 0-100 scale
TIME_KEYS = ("enc_time_s", "dec_time_s", "time_s")


class ValidationFailed(Exception):
    def __init__(self, plan: Plan):
        super().__init__("validation failed")
        self.plan = plan


@dataclass
class Options:
    out: Path | None = None        # default: ./vcmctc-out/<submission folder name>
    data_root: Path | None = None
    jobs: int = 1
    level: str = "best"            # best | reported | outputs | decoded
    allow_incomplete: bool = False
    timing: str = "parallel"       # parallel | isolated (decoders one at a time)
    coco_backend: str | None = None
    use_cache: bool = True
    use_anchor: bool = True        # False: no BD-rates wanted (--no-anchor)
    sandbox: str = "auto"          # auto | bwrap | off (vcmctc.runner.Containment)
    pass_env: tuple[str, ...] = ()  # variables the programs may see besides the minimal set
    progress: Callable[[str], None] | None = None   # progress lines (None: quiet)
    live: bool = False             # a live progress display on stderr instead of lines
    executor: str = "local"        # local | dask
    scheduler: str | None = None   # dask: tcp://HOST:PORT of a running scheduler
    cluster: Path | None = None    # dask: a cluster file (vcmctc.execution.cluster)
    shard: tuple[int, int] | None = None   # (K, N): make only this share of the steps
    keep_decoded: str = "failed"   # never | failed | always
    retry_failed: bool = False     # run again steps a previous run sealed as failed
    chunk_size: int = 50           # images per decode-chunk step of an image set
    on_node: Callable[[Any], None] | None = None   # each step's NodeResult (tests, benchmarks)


@dataclass
class Outcome:
    """One evaluated rate point: its result row and what a pooled class row needs."""

    planned: PlannedPoint
    result: PointResult
    measured: "Measured | None" = None
    pixels: int | None = None


# --------------------------------------------------------------------------------------------
# the output folder


def output_folder(out: Path | None, root: Path, create: bool = True) -> Path:
    """The output folder, made if needed (``create``): never inside the submission, never
    through a symbolic link (a submission must not be able to ship or redirect vcmctc's
    cache)."""
    if out is None:
        out = Path.cwd() / "vcmctc-out" / root.name
    out = Path(os.path.abspath(out))
    real = out.resolve()
    if real == root or root in real.parents:
        raise UserError(f"the output folder {out} lies inside the submission {root}; give "
                        "--out outside it (what a submission ships is never read as vcmctc's "
                        "own work)")
    if out.is_symlink():
        raise UserError(f"the output folder {out} is a symbolic link; give a real folder")
    if out.exists() and not out.is_dir():
        raise UserError(f"the output path {out} exists and is not a folder")
    if not create and not out.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for folder, dirs, files in os.walk(out):
        for name in dirs + files:
            if os.path.islink(os.path.join(folder, name)):
                raise UserError(f"{os.path.join(folder, name)} is a symbolic link inside the "
                                "output folder; vcmctc does not write through links")
    return out


@contextlib.contextmanager
def output_lock(out: Path, *, shared: bool = False):
    """Hold the output folder for this run: a second run on it is refused with who holds it
    (``shared`` locks let shard runs of one evaluation share the folder, never a plain run)."""
    import fcntl
    import socket

    path = out / ".vcmctc-lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another run"
            raise UserError(f"the output folder {out} is in use by {holder}; wait for it or "
                            "give another --out") from None
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (f"vcmctc pid {os.getpid()} on {socket.gethostname()} since "
                           f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode(), 0)
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# one rate point


def _point_times(pp: PlannedPoint) -> dict[str, Any]:
    from vcmctc.runner import read_log_time

    p = pp.point
    out: dict[str, Any] = {}
    for kind in ("enc", "dec"):
        key = f"{kind}_time_s"
        value, source = getattr(p, key), "manifest"
        if value is None and key in p.reported:
            value, source = p.reported[key], "reported"
        log = pp.files.get("encoder-log" if kind == "enc" else "decoder-log")
        if value is None and log:
            parsed = read_log_time(log[0])
            if parsed is not None:  # wall time when the log gives it, else CPU time
                clock = "wall" if parsed.wall_s is not None else "cpu"
                value = parsed.wall_s if parsed.wall_s is not None else parsed.cpu_s
                source = f"log {parsed.source} ({clock})"
        out[key] = value
        out[f"{kind}_time_source"] = source if value is not None else None
    if "time_s" in p.reported:
        out["time_s"] = p.reported["time_s"]
    elif out["enc_time_s"] is not None and out["dec_time_s"] is not None:
        out["time_s"] = out["enc_time_s"] + out["dec_time_s"]
    else:
        out["time_s"] = None
    return out


def _inputs(pp: PlannedPoint, root: Path) -> dict[str, list[dict[str, Any]]]:
    """The files of a point with their SHA-256 by role; an image set's folder of bitstreams
    is one entry (its tree digest and file count), not thousands."""
    from vcmctc.submission.cache import tree_sha256

    out: dict[str, list[dict[str, Any]]] = {}
    for role, paths in pp.files.items():
        files = [p for p in paths if p.is_file()]
        folders = {p.parent for p in files}
        if pp.seq.kind == "images" and role in ("bitstream", "side-info") and len(files) > 1 \
                and len(folders) == 1:
            folder = folders.pop()
            out[role] = [{"path": str(folder.relative_to(root)),
                          "sha256": tree_sha256(files, folder), "files": len(files)}]
        else:
            out[role] = [{"path": str(p.relative_to(root)), "sha256": file_sha256(p)}
                         for p in files]
    return out


@dataclass
class Precheck:
    """What a rate point is before any step runs: its rate, pixel count (image sets) and a
    status other than "ok" when no step can run (an incomplete image set, no rate)."""

    status: str
    message: str | None
    rate: float | None
    rate_source: str | None
    pixels: int | None


def precheck(pp: PlannedPoint, steps: "Steps") -> Precheck:
    from vcmctc.rate import bpp

    seq = pp.seq
    status, message = "ok", None
    rate, rate_source, pixels = pp.rate, pp.rate_source, None
    if seq.kind == "images":
        from vcmctc.submission.validate import pixels_of

        pixels = pixels_of(seq, len(pp.items) if pp.items else None)
        info: dict[str, Any] = {}
        if pp.level != "reported" or (pp.bits is not None and pixels is None):
            try:
                info = steps.gts.info(seq, steps.family(seq))
            except UserError:
                if pp.level != "reported":
                    raise   # measuring needs the ground truth anyway: a run-level error
            pixels = pixels or info.get("pixels")
        if pp.bits is not None and rate is None:
            if pixels:
                rate, rate_source = bpp(pp.bits.total, pixels), "files"
            else:
                status, message = "no-rate", (f"bpp needs the pixel count of {seq.id}: the "
                                              "edition gives no image size and no ground truth "
                                              "with image sizes was read")
        if pp.items and info.get("items") and set(pp.items) != set(info["items"]):
            missing = sorted(set(info["items"]) - set(pp.items))
            extra = sorted(set(pp.items) - set(info["items"]))
            status, message = "incomplete-set", (
                f"the bitstreams do not match the set's images: {len(missing)} missing"
                + (f" ({', '.join(missing[:3])})" if missing else "")
                + (f", {len(extra)} unknown ({', '.join(extra[:3])})" if extra else ""))
    return Precheck(status, message, rate, rate_source, pixels)


def run_point(pp: PlannedPoint, steps: "Steps") -> Outcome:
    from vcmctc.families import metric_def

    seq, p = pp.seq, pp.point
    root = steps.m.root
    warnings: list[str] = []
    times = _point_times(pp)
    pre = precheck(pp, steps)
    status, message = pre.status, pre.message
    rate, rate_source, pixels = pre.rate, pre.rate_source, pre.pixels
    decode = task = measured = None
    metric_value, metric_source, stats = None, None, {}
    mdef = metric_def(seq.metric) if seq.metric else None

    if status != "ok":
        pass
    elif pp.level == "reported":
        metric_value, metric_source = p.reported.get("metric"), "reported"
    else:
        output = digest = None
        if pp.level == "decoded":
            decode = steps.decode(pp)
            if decode.path is None:
                status, message = "decode-failed", decode.record.message
            else:
                task = steps.task(pp, decode)
                if task.path is None:
                    status, message = "task-failed", task.record.message
                else:
                    output, digest = task.path, task.digest
        else:
            output = pp.files["task-output"][0]
        if output is not None:
            try:
                measured = steps.measure(pp, output, digest)
            except UserError as exc:
                status, message = "score-failed", str(exc)
            else:
                stats = measured.stats
                metric_value, metric_source = stats.get(mdef.stat), "computed"
    if status == "ok" and mdef is not None:
        problem = mdef.check(metric_value)
        if problem:
            undefined = isinstance(metric_value, float) and not math.isfinite(metric_value)
            status, message = ("metric-undefined" if undefined else "invalid-metric"), problem
    reported_metric = None
    if metric_source == "computed" and "metric" in p.reported:
        reported_metric = p.reported["metric"]
        if metric_value is not None and abs(reported_metric - metric_value) > METRIC_TOLERANCE:
            warnings.append(f"reported metric {reported_metric:g} differs from the computed "
                            f"{metric_value:.4f}")
    if rate is not None and rate_source == "files" and "rate" in p.reported \
            and abs(p.reported["rate"] - rate) > 0.005 * rate:
        warnings.append(f"reported rate {p.reported['rate']:g} differs from the {rate:.4f} of "
                        "the files")
    if decode is not None and decode.path is not None and times["dec_time_s"] is None:
        times["dec_time_s"], times["dec_time_source"] = decode.record.wall_s, "measured (wall)"
        if times["time_s"] is None and times["enc_time_s"] is not None:
            times["time_s"] = times["enc_time_s"] + times["dec_time_s"]

    message = steps.portable(message)
    from vcmctc.features.complexity import merge   # measured kMAC/pixel (torch adapters)

    complexity, notes = merge(p.complexity, task.extra.get("complexity") if task else None)
    warnings += notes
    bits = pp.bits
    bits_total = float(bits.total) if bits is not None else None
    derived = False
    if bits is None and rate is not None and seq.rate_unit == "kbps" and seq.fps and seq.frames:
        bits_total, derived = rate * 1000.0 * seq.frames / seq.fps, True
    result = PointResult(
        sequence=seq.id, cls=seq.cls, label=p.label, qp=p.qp, evidence=pp.level,
        status=status, message=message, warnings=warnings, rate_unit=seq.rate_unit,
        rate=rate, rate_source=rate_source,
        bits_total=bits_total, bits_components=dict(bits.components) if bits else {},
        bits_derived=derived, metric_id=seq.metric,
        metric=metric_value if status == "ok" else None, metric_source=metric_source,
        reported_metric=reported_metric, stats=stats,
        enc_time_s=times["enc_time_s"], dec_time_s=times["dec_time_s"], time_s=times["time_s"],
        enc_time_source=times["enc_time_source"], dec_time_source=times["dec_time_source"],
        dec_cpu_s=decode.record.cpu_s if decode is not None and decode.path is not None else None,
        inputs=_inputs(pp, root),
        decode=decode.record if decode is not None else None,
        task=task.record if task is not None else None,
        other_times={k: v for k, v in p.reported.items() if k.startswith("nn_part_")},
        complexity=complexity)
    return Outcome(pp, result, measured, pixels)


# --------------------------------------------------------------------------------------------
# rows


def pooled_curve(members: list[list[Outcome]], steps: "Steps") -> tuple[list[CurvePoint] | None, str]:
    """The pooled curve of a class: point k pools the k-th point (in rate order) of every member:
    rate = total bits over total duration (video) or total pixels (image sets), metric computed
    by the family from the members' pooled states. (None, why) when it cannot be formed."""
    from vcmctc.families import metric_def
    from vcmctc.rate import pooled_kbps

    outcomes = [o for m in members for o in m]
    if not all(o.measured is not None and o.result.ok for o in outcomes):
        return None, ("a pooled class row needs metrics computed from task outputs (evidence "
                      "outputs or decoded) for every rate point of every member")
    metrics = {o.result.metric_id for o in outcomes}
    kinds = {o.planned.seq.kind for o in outcomes}
    if len(metrics) > 1 or len(kinds) > 1:
        return None, f"the members mix metrics or kinds ({', '.join(sorted(map(str, metrics)))})"
    counts = {len(m) for m in members}
    if len(counts) != 1:
        return None, "the members have different numbers of rate points"
    mdef = metric_def(metrics.pop())
    ordered = [sorted(m, key=lambda o: o.result.rate) for m in members]
    curve = []
    for k in range(counts.pop()):
        points = [m[k] for m in ordered]
        try:
            stats = steps.pool([(o.planned, o.measured) for o in points])
        except UserError as exc:   # e.g. sets that share images, categories named differently
            return None, f"the members cannot be pooled: {exc}"
        if kinds == {"images"}:
            if any(o.pixels is None or o.result.bits_total is None for o in points):
                return None, "the pixel counts of the image sets are unknown"
            rate = sum(o.result.bits_total for o in points) / sum(o.pixels for o in points)
        else:
            rate = pooled_kbps((o.result.bits_total, o.planned.seq.fps, o.planned.seq.frames)
                               for o in points)
        value = stats.get(mdef.stat)
        if mdef.check(value):
            return None, f"pooled point {k + 1}: {mdef.check(value)}"
        curve.append(CurvePoint(rate, value, None, f"pooled point {k + 1}"))
    return curve, ""


def _weight(o: Outcome) -> float:
    """Frames of a video point, images of an image-set point (complexity weighting)."""
    seq = o.planned.seq
    return float(len(o.planned.items) if o.planned.items else (seq.frames or seq.items or 1))


def build_rows(plan: Plan, outcomes: list[Outcome], steps: "Steps"
               ) -> tuple[list[Row], list[Row], Row]:
    from vcmctc.results.aggregate import weighted_complexity

    ed, anchor = plan.edition, plan.anchor
    bd = ed.bd
    by_seq: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_seq.setdefault(o.planned.seq.id, []).append(o)
    seq_rows = []
    for seq_id, outs in by_seq.items():
        seq = ed.sequences[seq_id]
        ref = None if anchor is None else anchor.curve(seq_id)
        seq_rows.append(sequence_row(seq_id, seq.cls, seq.optional, [o.result for o in outs],
                                     ref, bd))

    def complexity(outs: list[Outcome]) -> dict[str, float | None]:
        return weighted_complexity([(o.result.complexity, _weight(o)) for o in outs
                                    if o.result.complexity]) if any(
            o.result.complexity for o in outs) else {}

    for row in seq_rows:
        row.complexity = complexity(by_seq[row.name])
    rule = ed.aggregation.class_rows
    class_rows = []
    for cls, info in ed.classes.items():
        members = [r for r in seq_rows if r.cls == cls]
        if not members:
            continue
        expected = [s.id for s in ed.class_members(cls) if not s.optional or s.id in by_seq]
        kw: dict[str, Any] = {}
        if rule == "pooled":
            curve, why = pooled_curve([by_seq[r.name] for r in members], steps)
            kw = {"pooled": curve, "not_poolable": why, "has_reference": anchor is not None,
                  "pooled_reference": anchor.class_curves.get(cls) if anchor else None}
        row = class_row(cls, info.optional, rule, members, expected, bd, **kw)
        row.complexity = complexity([o for r in members for o in by_seq[r.name]])
        reported = plan.manifest.reported_classes.get(cls)
        if reported:
            row.reported_curve = [CurvePoint(c["rate"], c["metric"], None, c["label"])
                                  for c in reported]
        class_rows.append(row)
    overall_rule = ed.aggregation.overall
    if overall_rule == "mean-of-sequences":
        expected = [s.id for s in ed.sequences.values() if not s.optional]
    else:
        expected = [c for c, info in ed.classes.items()
                    if not info.optional and ed.class_members(c)]
    overall = overall_row(overall_rule, seq_rows, class_rows, expected)
    overall.complexity = complexity([o for r in seq_rows if not r.optional for o in by_seq[r.name]])
    return seq_rows, class_rows, overall


# --------------------------------------------------------------------------------------------
# results


def signature(plan: Plan, outcomes: list[Outcome], steps: "Steps") -> dict[str, Any]:
    """Every setting that changes a number, portable (no local paths), and its one-line form."""
    ed, anchor = plan.edition, plan.anchor
    metrics = {}
    for o in outcomes:
        seq = o.planned.seq
        if o.planned.level != "reported" and seq.metric and seq.metric not in metrics:
            metrics[seq.metric] = steps.family(seq).settings(seq)
    inputs = sorted((o.result.sequence, o.result.label, role, f["path"], f["sha256"])
                    for o in outcomes for role, fs in o.result.inputs.items() for f in fs)
    reported = sorted((o.result.sequence, o.result.label, sorted(o.planned.point.reported.items()))
                      for o in outcomes)
    bd = ed.bd
    levels = sorted({o.planned.level for o in outcomes}, key=("reported", "outputs",
                                                              "decoded").index)
    gt = steps.gts.digests()
    sig = {
        "vcmctc": __version__, "python": platform.python_version(),
        "edition": ed.id, "edition_hash": ed.hash, "edition_origin": edition_origin(ed),
        "scenario": plan.scenario,
        "anchor": anchor.id if anchor else None, "anchor_kind": anchor.kind if anchor else None,
        "anchor_sha256": anchor.sha256[:16] if anchor else None,
        "bd_method": bd.method, "bd_policy": bd.policy, "bd_min_points": bd.min_points,
        "bd_fit_solver": bd.fit_solver, "bd_min_overlap": bd.min_overlap,
        "class_rows": ed.aggregation.class_rows, "overall": ed.aggregation.overall,
        "metrics": metrics, "evidence": levels,
        "manifest_sha256": file_sha256(plan.manifest.path)[:16],
        "inputs_sha256": hash_json([inputs, reported])[:16],
        "programs_sha256": hash_json(steps.programs)[:16] if steps.programs else None,
        "gt_sha256": hash_json(gt)[:16] if gt else None,
    }
    sig["line"] = signature_line(sig)
    return sig


def signature_line(sig: dict[str, Any]) -> str:
    parts = [f"edition:{sig['edition']}@{sig['edition_hash'][:8]}"
             + (" (user file)" if sig.get("edition_origin") == "user" else ""),
             f"anchor:{sig.get('anchor')}" + (f"@{sig['anchor_sha256'][:8]}"
                                              if sig.get("anchor_sha256") else ""),
             f"bd:{sig['bd_method']}/{sig['bd_policy']}"
             + (f"/{sig['bd_fit_solver']}" if str(sig.get("bd_policy", "")).startswith("fit")
                else "") + f"/min{sig['bd_min_points']}",
             f"rows:{sig['class_rows']}/{sig['overall']}",
             f"evidence:{'+'.join(sig['evidence'])}"]
    for metric, v in sorted(sig["metrics"].items()):
        parts.append(f"{metric}:{v['metric_backend']}-{v['metric_backend_version']}")
    parts.append(f"inputs:{sig['inputs_sha256'][:8]}")
    if sig.get("programs_sha256"):
        parts.append(f"programs:{sig['programs_sha256'][:8]}")
    parts.append(f"vcmctc:{sig['vcmctc']}")
    return "|".join(parts)


def anchor_info(plan: Plan) -> AnchorInfo | None:
    a = plan.anchor
    if a is None:
        return None
    return AnchorInfo(id=a.id, codec=a.codec, kind=a.kind, edition=a.edition, source=a.source,
                      sha256=a.sha256, points=a.points, class_curves=a.class_curves)


def assemble(plan: Plan, outcomes: list[Outcome], steps: "Steps", options: Options) -> Results:
    ed = plan.edition
    seq_rows, class_rows, overall = build_rows(plan, outcomes, steps)
    return Results(
        schema=SCHEMA,
        signature=signature(plan, outcomes, steps),
        submission={"codec": plan.manifest.codec, "manifest": plan.manifest.path.name,
                    "manifest_sha256": file_sha256(plan.manifest.path),
                    "complete": plan.complete, "description": plan.manifest.description},
        edition={"id": ed.id, "title": ed.title, "track": ed.track, "scenario": plan.scenario,
                 "rate_points": ed.rate_points,
                 "aggregation": {"class_rows": ed.aggregation.class_rows,
                                 "overall": ed.aggregation.overall},
                 "classes": {c: {"description": i.description, "optional": i.optional}
                             for c, i in ed.classes.items()}},
        anchor=anchor_info(plan),
        findings=[f.to_dict() for f in plan.findings],
        points=[o.result for o in outcomes],
        sequences=seq_rows, classes=class_rows, overall=overall,
        timing={"mode": options.timing, "jobs": options.jobs,
                "decoders_run": any(o.result.decode is not None for o in outcomes),
                "ratio_averaging": "per sequence: sum of test times / sum of anchor times over "
                                   "the rate points; class and overall: geometric mean of the "
                                   "per-sequence ratios"})


# --------------------------------------------------------------------------------------------
# the run


def open_cache(options: Options, out: Path) -> Cache:
    """The run's cache in ``out`` (it may not exist yet), with the file digests of earlier
    runs loaded."""
    cache = Cache(out / "cache", enabled=options.use_cache)
    cache.load_digests()
    return cache


def make_steps(plan: Plan, options: Options, out: Path, cache: Cache | None = None) -> "Steps":
    from vcmctc.evaluators.coco import DEFAULT_BACKEND
    from vcmctc.submission.steps import GroundTruths, Steps, program_digests

    data_root = Path(os.path.abspath(options.data_root)) if options.data_root else None
    cache = open_cache(options, out) if cache is None else cache
    from vcmctc.runner import Containment

    contain = Containment(sandbox=options.sandbox, pass_env=tuple(options.pass_env)).resolved()
    return Steps(plan, cache, GroundTruths(data_root, cache, plan.edition),
                 coco_backend=options.coco_backend or DEFAULT_BACKEND, timing=options.timing,
                 programs=program_digests(plan) if plan.decodes else {},
                 retry_failed=options.retry_failed, chunk_size=options.chunk_size,
                 contain=contain)


def check_ground_truth(plan: Plan, steps: "Steps") -> None:
    """Find and hash the ground truth of every point not taken as reported, so a missing file
    stops the run before any decoder runs."""
    for seq_id, pps in plan.sequences.items():
        if any(pp.level in ("outputs", "decoded") for pp in pps):
            seq = plan.edition.sequences[seq_id]
            steps.gts.files(seq, steps.family(seq))


def run_plan(plan: Plan, options: Options, out: Path, cache: Cache | None = None
             ) -> tuple[Results | None, dict[str, Any]]:
    from vcmctc.execution.executors import make_executor, run_graph
    from vcmctc.execution.graph import COUNTED, build_graph
    from vcmctc.execution.nodes import RunContext
    from vcmctc.progress import make_progress
    from vcmctc.submission.checks import seal_checks

    steps = make_steps(plan, options, out, cache)
    seal_checks(steps.cache, plan.output_checks)   # the measure steps read them back
    check_ground_truth(plan, steps)
    points = list(plan.points())
    checks = [precheck(pp, steps) for pp in points]
    nodes = build_graph(points, steps, [c.status == "ok" for c in checks], options.shard)
    if options.shard is None:
        total = sum({"reported": 0, "outputs": 1, "decoded": 3}[pp.level] for pp in points)
    else:
        total = sum(n.stage in COUNTED for n in nodes)
    stages = {stage: sum(n.stage == stage for n in nodes)
              for stage in ("decode-chunk", "decode", "task", "measure")}
    say = options.progress
    shard = f", shard {options.shard[0]}/{options.shard[1]}" if options.shard else ""
    if say:
        say(f"evaluating {len(points)} rate points of {len(plan.sequences)} sequences "
            f"({total} steps{shard}, executor {options.executor}, {options.jobs} job(s))")
    cluster = None
    if options.cluster is not None:
        from vcmctc.execution.cluster import load_cluster

        cluster = load_cluster(options.cluster)

    def context() -> RunContext:
        return RunContext(run_id="", plan=plan, cache_root=steps.cache.root,
                          use_cache=options.use_cache, data_root=steps.gts.data_root,
                          coco_backend=steps.coco_backend, timing=options.timing,
                          programs=steps.programs, gt_digests=dict(steps.gts._digests),
                          retry_failed=options.retry_failed, chunk_size=options.chunk_size,
                          keep_decoded=options.keep_decoded, contain=steps.contain)

    started = time.perf_counter()
    executor = make_executor(options.executor, jobs=options.jobs, scheduler=options.scheduler,
                             cluster=cluster, say=say)
    with executor, make_progress(stages, live=options.live and say is not None, say=say,
                                 stream=sys.stderr) as progress:
        executor.bind(steps, points, options.keep_decoded, context)
        executor_start_s = time.perf_counter() - started
        started = time.perf_counter()

        def on_result(r) -> None:
            progress.step(r.stage, r.what, r.status, r.cached)
            if options.on_node is not None:
                options.on_node(r)

        made = run_graph(nodes, executor, on_result)
        steps_wall_s = time.perf_counter() - started
        provenance = executor.provenance()
    counted = [r for r in made.values() if r.stage in COUNTED]
    for r in made.values():
        steps.merge(r.entries)
    jobs = sorted({r.job for r in made.values() if r.job})
    run: dict[str, Any] = {
        "steps": total, "cached_steps": sum(r.cached for r in counted), **provenance,
        "executor_start_s": executor_start_s, "steps_wall_s": steps_wall_s,
        "failed_steps": sum(r.status not in ("ok", "skipped") for r in made.values()),
        "hosts": sorted({r.host for r in made.values()}),
        "disk": {"decoded_deleted_bytes": sum(r.freed for r in made.values()),
                 "keep_decoded": options.keep_decoded},
        "containment": containment_record(steps.contain, options.sandbox)}
    if jobs:
        run["batch_jobs"] = jobs
    if options.shard is not None:
        run["shard"] = f"{options.shard[0]}/{options.shard[1]}"
        run["disk"]["cache_bytes"] = folder_bytes(steps.cache.root)
        run["plan"] = plan_fingerprint(plan, steps)
        return None, run
    outcomes = [run_point(pp, steps) for pp in points]
    results = assemble(plan, outcomes, steps, options)
    steps.cache.save_digests()
    run["disk"]["cache_bytes"] = folder_bytes(steps.cache.root)
    shards = read_shards(out, plan_fingerprint(plan, steps))
    if shards:
        run["shards"] = shards
    return results, run


def containment_record(contain, asked: str) -> dict[str, Any]:
    """How the run's programs were contained (``results.run.containment``)."""
    from vcmctc.runner import sandbox_status

    how = sandbox_status()[1]
    sandbox = ("bwrap " + how if contain.sandbox == "bwrap" else
               "off" + ("" if asked == "off" else f" ({how})"))
    return {"sandbox": sandbox, "pass_env": list(contain.pass_env),
            "environment": "minimal (PATH, locale, GPU selection; HOME and TMPDIR private)"}


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed)."""
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


# --------------------------------------------------------------------------------------------
# shards


def plan_fingerprint(plan: Plan, steps: "Steps") -> str:
    """Identifies the work of a plan (manifest, level, programs, ground truth): shards of the
    same work can be assembled together."""
    return hash_json([file_sha256(plan.manifest.path), plan.level, steps.programs,
                      steps.gts.digests()])[:16]


def shard_path(out: Path, shard: tuple[int, int]) -> Path:
    return out / "shards" / f"shard-{shard[0]}-of-{shard[1]}.json"


def write_shard(out: Path, run: dict[str, Any]) -> Path:
    """The record of a shard run (``run`` names its plan's fingerprint), for the assembly."""
    from vcmctc.submission.cache import atomic_write_text

    k, n = (int(x) for x in run["shard"].split("/"))
    path = shard_path(out, (k, n))
    atomic_write_text(path, json.dumps(run, indent=1))
    return path


def read_shards(out: Path, fingerprint: str) -> list[dict[str, Any]]:
    """What the shard runs of this plan recorded (their jobs, hosts, steps), by shard."""
    found = []
    for path in sorted((out / "shards").glob("shard-*-of-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.pop("plan", None) == fingerprint:
            found.append(data)
    return found


def evaluate(folder: str | Path, options: Options) -> tuple[Results | None, Path]:
    """Evaluate a submission folder; returns the results and the path of results.json (with
    ``options.shard``: None and the path of the shard's record)."""
    from vcmctc.results.model import write_results
    from vcmctc.runner import STOPPING

    STOPPING.clear()   # a new evaluation (an earlier one in this process may have been stopped)
    started = time.perf_counter()
    manifest = load_manifest(Path(os.path.abspath(folder)))
    # the verdicts of earlier runs' task-output checks are read from the output folder's cache
    cache = open_cache(options, output_folder(options.out, manifest.root, create=False))
    # validate parses each task output to check it; the local executor's measure steps take
    # those parses (in this process) instead of parsing every output again
    with keep_parsed_outputs(64 << 20 if options.executor == "local" else 0):
        plan = validate(manifest, level=options.level, use_anchor=options.use_anchor, cache=cache)
        if plan.errors(options.allow_incomplete):
            raise ValidationFailed(plan)
        out = output_folder(options.out, manifest.root)
        with output_lock(out, shared=options.shard is not None):
            results, run = run_plan(plan, options, out, cache)
            run = {"wall_s": time.perf_counter() - started, **run}
            if results is None:   # a shard: its steps are in the cache, its record beside
                return None, write_shard(out, run)
            from vcmctc.runinfo import run_record

            results.run = {**run, **run_record(results.signature)}
            path = out / "results.json"
            write_results(results, path)
    return results, path


def rows_without_bd(results: Results) -> list[Row]:
    """Rows that should have a BD-rate and have none (the CLI exits 1 on them)."""
    return [r for r in results.rows() if r.bd_rate is None and not r.optional]
