"""Running one node of the graph, in this process or in a worker.

A node runs its step through :class:`vcmctc.submission.steps.Steps` (which seals it in the
shared cache) and returns a small :class:`NodeResult`: its status, what its dependents need
(the decode and task outputs) and the records of the steps it made, which the client merges
into its own :class:`Steps` so that assembling the results runs nothing again.

A worker on another machine gets the run's context (plan, settings, digests) from a file in the
shared cache, signed with the cache key: the worker must share the key (``$VCMCTC_CACHE_KEY``
or ``$VCMCTC_HOME/cache-key``), or it refuses to run and says so.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vcmctc.errors import UserError
from vcmctc.execution.graph import Node

if TYPE_CHECKING:
    from vcmctc.submission.steps import Produced, Steps
    from vcmctc.submission.validate import Plan, PlannedPoint

KEEP_DECODED = ("never", "failed", "always")
JOB_VARIABLES = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID")
KEEP_CONTEXTS = 2      # runs whose context (and loaded ground truth) a worker keeps


class WorkerSetupError(RuntimeError):
    """A worker cannot take part in the run (another cache key, a folder it does not see)."""


@dataclass
class NodeResult:
    node: str
    stage: str
    what: str
    status: str                  # "ok", a failure status, or "skipped" (an upstream failed)
    cached: bool = False
    produced: "Produced | None" = None
    decode_key: str | None = None
    entries: list = field(default_factory=list)   # (stage, key, record) of steps made
    freed: int = 0               # bytes of decoded output deleted (disk budget)
    wall_s: float = 0.0
    worker: str | None = None    # Dask worker address
    host: str = ""
    job: str | None = None       # batch job id of the process that ran it


def batch_job_id() -> str | None:
    """The Slurm / PBS / LSF / SGE job this process runs in, if any (array jobs as ID_TASK)."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    for name in JOB_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    return None


def execute(steps: "Steps", points: list["PlannedPoint"], node: Node,
            inputs: dict[str, NodeResult], keep_decoded: str = "always") -> NodeResult:
    """Run ``node`` (its dependencies' results in ``inputs``)."""
    pp = points[node.point]
    started = time.perf_counter()
    # what the dependencies made is this run's, even where the cache is not read (--no-cache)
    steps.merge(e for dep in inputs.values() for e in dep.entries)
    result = NodeResult(node.id, node.stage, node.what, "ok", host=socket.gethostname(),
                        job=batch_job_id())
    with steps.journal() as entries:
        _run(steps, pp, node, inputs, keep_decoded, result)
    result.entries = list(entries)
    result.wall_s = time.perf_counter() - started
    return result


def _run(steps: "Steps", pp: "PlannedPoint", node: Node, inputs: dict[str, NodeResult],
         keep: str, result: NodeResult) -> None:
    if node.stage == "decode-chunk":
        record, result.cached = steps.decode_chunk(pp, *node.chunk)
        result.status = record["status"]
        return
    if node.stage == "decode":
        produced = steps.decode(pp)
        result.produced, result.cached = produced, produced.record.cached
        result.status, result.decode_key = produced.record.status, produced.extra.get("key")
        return
    if node.stage == "task":
        decoded = inputs[f"decode:{node.point}"].produced
        if decoded is None or decoded.path is None:
            result.status = "skipped"
            return
        produced = steps.task(pp, decoded)
        result.produced, result.cached = produced, produced.record.cached
        result.status = produced.record.status
        if keep == "never":
            result.freed = steps.cache.prune("decode", decoded.extra["key"])
        return
    # measure
    task = inputs.get(f"task:{node.point}")
    if task is None:                       # outputs level: the submitted task output
        output, digest = pp.files["task-output"][0], None
    elif task.produced is None or task.produced.path is None:
        result.status = "skipped"
        return
    else:
        output, digest = task.produced.path, task.produced.digest
    try:
        measured = steps.measure(pp, output, digest)
    except UserError:
        result.status = "score-failed"
        return
    result.cached = measured.cached
    decode = inputs.get(f"decode:{node.point}")
    if keep in ("never", "failed") and decode is not None and decode.decode_key:
        result.freed = steps.cache.prune("decode", decode.decode_key)


# --------------------------------------------------------------------------------------------
# the run's context, for workers


@dataclass
class RunContext:
    """What a worker needs to make the run's steps exactly as the client would."""

    run_id: str
    plan: "Plan"
    cache_root: Path
    use_cache: bool
    data_root: Path | None
    coco_backend: str
    timing: str
    programs: dict[str, str]
    gt_digests: dict[str, tuple[str, list[Path]]]
    retry_failed: bool
    chunk_size: int
    keep_decoded: str
    contain: object = None       # vcmctc.runner.Containment of the run's programs


def write_context(ctx: RunContext, secret: bytes) -> Path:
    """The context as a signed file in the shared cache (workers read it from there)."""
    from vcmctc.submission.cache import atomic_write_bytes

    body = pickle.dumps(ctx, protocol=pickle.HIGHEST_PROTOCOL)
    mac = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    path = ctx.cache_root / "runs" / f"{ctx.run_id}.ctx"
    atomic_write_bytes(path, mac + b"\n" + body, mode=0o600)
    return path


_contexts: dict[str, tuple["Steps", list["PlannedPoint"], str]] = {}
_contexts_lock = threading.Lock()


def load_context(path: Path) -> tuple["Steps", list["PlannedPoint"], str]:
    """(steps, points, keep_decoded) of the run whose context is at ``path``; read once per
    process. Raises :class:`WorkerSetupError` when this worker cannot take part."""
    key = str(path)
    with _contexts_lock:
        if key in _contexts:
            return _contexts[key]
        where = f"worker on {socket.gethostname()}"
        try:
            data = Path(path).read_bytes()
        except OSError:
            raise WorkerSetupError(
                f"{where} does not see {path}: the output folder (and the submission and "
                "--data-root) must be on a file system every worker mounts at the same path"
            ) from None
        from vcmctc.submission.cache import cache_secret

        mac, _, body = data.partition(b"\n")
        expected = hmac.new(cache_secret(), body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(mac, expected):
            raise WorkerSetupError(
                f"{where} signs the cache with another key than the client: give every worker "
                "the client's key ($VCMCTC_CACHE_KEY, or the same $VCMCTC_HOME/cache-key file)")
        ctx: RunContext = pickle.loads(body)
        for folder in (ctx.plan.manifest.root, ctx.data_root):
            if folder is not None and not Path(folder).is_dir():
                raise WorkerSetupError(
                    f"{where} does not see {folder}: the submission, --data-root and the "
                    "output folder must be on a file system every worker mounts at the same "
                    "path")
        while len(_contexts) >= KEEP_CONTEXTS:   # a long-lived worker: forget older runs
            _contexts.pop(next(iter(_contexts)))
        _contexts[key] = made = (_make_steps(ctx), list(ctx.plan.points()), ctx.keep_decoded)
        return made


def _make_steps(ctx: RunContext) -> "Steps":
    from vcmctc.submission.cache import Cache
    from vcmctc.submission.steps import GroundTruths, Steps

    cache = Cache(ctx.cache_root, enabled=ctx.use_cache)
    gts = GroundTruths(ctx.data_root, cache, ctx.plan.edition)
    gts._digests.update(ctx.gt_digests)
    steps = Steps(ctx.plan, cache, gts, coco_backend=ctx.coco_backend, timing=ctx.timing,
                  programs=ctx.programs, retry_failed=ctx.retry_failed,
                  chunk_size=ctx.chunk_size, contain=ctx.contain)
    if ctx.timing == "isolated":   # one decoder at a time across all workers
        from distributed import Lock

        steps._decode_lock = Lock(f"vcmctc-decode-{ctx.run_id}")
    return steps


def warm_up(context: str) -> None:
    """Run on each worker when a run starts: read the context (a worker that cannot take part
    says so at once) and import what the steps use."""
    import vcmctc.adapters  # noqa: F401
    import vcmctc.families  # noqa: F401
    import vcmctc.runner  # noqa: F401

    load_context(Path(context))


def remote(context: str, node: Node, inputs: dict[str, NodeResult]) -> NodeResult:
    """The function a Dask worker runs for one node."""
    steps, points, keep = load_context(Path(context))
    result = execute(steps, points, node, inputs, keep)
    try:
        from distributed import get_worker

        result.worker = get_worker().address
    except (ImportError, ValueError):
        pass
    return result
