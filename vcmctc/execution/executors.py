"""Executors: where the graph's nodes run.

- :class:`LocalExecutor` (``--executor local``): threads of this process (``--jobs``); with one
  job the nodes run in the calling thread (Ctrl-C stops the running program at once).
- :class:`DaskExecutor` (``--executor dask``): a Dask cluster - a scheduler given by address
  (``--scheduler tcp://HOST:PORT``), a Slurm/PBS/SGE/LSF cluster started through dask-jobqueue
  (``--cluster FILE``, :mod:`vcmctc.execution.cluster`), or else a local cluster of ``--jobs``
  worker processes. Needs the ``dask`` extra (``pip install 'vcmctc[dask]'``).

Both take nodes whose dependencies are done (:func:`run_graph` drives them, highest stage
first), so a run's results do not depend on where its steps ran. The steps meet in the shared
cache; the client merges the records the nodes return and assembles the results itself.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import logging
import uuid
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vcmctc.errors import UserError
from vcmctc.execution.graph import Node
from vcmctc.execution.nodes import (NodeResult, RunContext, WorkerSetupError, execute, remote,
                                    warm_up, write_context)

if TYPE_CHECKING:
    from vcmctc.execution.cluster import ClusterConfig
    from vcmctc.submission.steps import Steps
    from vcmctc.submission.validate import PlannedPoint

EXECUTORS = ("local", "dask")


class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int = 1):
        self.jobs = max(1, jobs)
        self.capacity = self.jobs
        self._pool = cf.ThreadPoolExecutor(self.jobs) if self.jobs > 1 else None

    def bind(self, steps: "Steps", points: list["PlannedPoint"], keep_decoded: str,
             context: Callable[[], RunContext]) -> None:
        self.steps, self.points, self.keep = steps, points, keep_decoded

    def submit(self, node: Node, inputs: dict[str, NodeResult]) -> cf.Future:
        if self._pool is not None:
            return self._pool.submit(execute, self.steps, self.points, node, inputs, self.keep)
        future: cf.Future = cf.Future()
        future.set_result(execute(self.steps, self.points, node, inputs, self.keep))
        return future

    @staticmethod
    def wait_any(futures: list) -> set:
        return cf.wait(futures, return_when=cf.FIRST_COMPLETED).done

    @staticmethod
    def cancel(futures: list) -> None:
        from vcmctc.runner import terminate_all

        for f in futures:
            f.cancel()
        terminate_all()   # the programs running in other threads stop now, not at their end

    def provenance(self) -> dict[str, Any]:
        return {"executor": "local", "jobs": self.jobs}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DaskExecutor:
    name = "dask"
    capacity = None   # every ready node goes to the scheduler, which balances them

    def __init__(self, scheduler: str | None = None, jobs: int = 1,
                 cluster: "ClusterConfig | None" = None, say: Callable[[str], None] | None = None,
                 wait_s: float = 120.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UserError("--executor dask needs Dask: pip install 'vcmctc[dask]'") from None
        say = say or (lambda line: None)
        self.cluster = None
        self.jobs: set[str] = set()
        self.run_id = uuid.uuid4().hex[:12]
        if cluster is not None:
            self.kind = cluster.kind
            self.cluster = cluster.start()
            self.client = Client(self.cluster)
            self.gpu = cluster.has_gpus
            say(f"dask: {cluster.kind} cluster, scheduler {self.client.scheduler.address}, "
                f"{cluster.describe()}")
        elif scheduler:
            self.kind = "scheduler"
            try:
                self.client = Client(scheduler, timeout="30s")
            except OSError as exc:
                raise UserError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
            try:
                self.client.wait_for_workers(1, timeout=wait_s)
            except TimeoutError:
                self.client.close()
                raise UserError(f"the Dask scheduler {scheduler} has no worker after "
                                f"{wait_s:.0f} s: start workers (docs/scaleout.md)") from None
            workers = self.client.scheduler_info()["workers"].values()
            self.gpu = any(w.get("resources", {}).get("GPU") for w in workers)
            if not self.gpu:
                say("dask: no worker offers the GPU resource: task networks run on any worker "
                    "(start GPU workers with --resources GPU=1 to keep them there)")
        else:
            self.kind = "local"
            self.cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1,
                                        processes=True, resources={"GPU": 1},
                                        host="127.0.0.1", dashboard_address=None,
                                        silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
            self.gpu = True
        self.address = self.client.scheduler.address

    def bind(self, steps: "Steps", points: list["PlannedPoint"], keep_decoded: str,
             context: Callable[[], RunContext]) -> None:
        ctx = context()
        ctx.run_id = self.run_id
        self.context_path = write_context(ctx, steps.cache.secret)
        try:   # the workers there now (workers that join later read it with their first step)
            self.client.run(warm_up, str(self.context_path))
        except WorkerSetupError as exc:
            raise UserError(str(exc)) from None

    def submit(self, node: Node, inputs: dict[str, NodeResult]):
        return self.client.submit(
            remote, str(self.context_path), node, inputs, key=f"{node.id}-{self.run_id}",
            resources=node.resources if (self.gpu and node.resources) else None,
            priority=node.priority, pure=False)

    def wait_any(self, futures: list) -> set:
        from distributed import wait

        done = wait(futures, return_when="FIRST_COMPLETED").done
        self._note_jobs()
        return done

    @staticmethod
    def cancel(futures: list) -> None:
        for f in futures:
            f.cancel()

    def _note_jobs(self) -> None:
        if self.cluster is None or self.kind == "local":
            return
        for job in list(getattr(self.cluster, "workers", {}).values()):
            job_id = getattr(job, "job_id", None)
            if job_id:
                self.jobs.add(str(job_id))

    def provenance(self) -> dict[str, Any]:
        self._note_jobs()
        try:
            workers = len(self.client.scheduler_info()["workers"])
        except Exception:  # the scheduler went away at the end: not worth failing the run
            workers = None
        out: dict[str, Any] = {"executor": "dask", "cluster": self.kind, "workers": workers}
        if self.kind == "scheduler":
            out["scheduler"] = self.address
        if self.jobs:
            out["cluster_jobs"] = sorted(self.jobs)
        return out

    def close(self) -> None:
        path = getattr(self, "context_path", None)
        if path is not None:
            Path(path).unlink(missing_ok=True)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_executor(name: str, *, jobs: int, scheduler: str | None = None,
                  cluster: "ClusterConfig | None" = None,
                  say: Callable[[str], None] | None = None):
    if name == "local":
        if scheduler or cluster:
            raise UserError("--scheduler and --cluster need --executor dask")
        return LocalExecutor(jobs)
    if name == "dask":
        if scheduler and cluster:
            raise UserError("give --scheduler or --cluster, not both")
        return DaskExecutor(scheduler, jobs, cluster, say)
    raise UserError(f"unknown executor {name!r}: {' or '.join(EXECUTORS)}")


def run_graph(nodes: list[Node], executor, on_result: Callable[[NodeResult], None]
              ) -> dict[str, NodeResult]:
    """Run every node once its dependencies are done (later stages first); returns the
    results by node id. A node that raises stops the run (the others are cancelled)."""
    by_id = {n.id: n for n in nodes}
    order = {n.id: i for i, n in enumerate(nodes)}
    children: dict[str, list[str]] = defaultdict(list)
    waiting = {n.id: set(n.deps) for n in nodes}
    for n in nodes:
        for dep in n.deps:
            children[dep].append(n.id)
    ready = [(-n.priority, order[n.id], n.id) for n in nodes if not n.deps]
    heapq.heapify(ready)
    results: dict[str, NodeResult] = {}
    running: dict[Any, Node] = {}

    def fill() -> None:
        while ready and (executor.capacity is None or len(running) < executor.capacity):
            node = by_id[heapq.heappop(ready)[2]]
            running[executor.submit(node, {d: results[d] for d in node.deps})] = node

    try:
        fill()
        while running:
            for future in executor.wait_any(list(running)):
                node = running.pop(future)
                try:
                    result = future.result()
                except WorkerSetupError as exc:
                    raise UserError(str(exc)) from None
                results[node.id] = result
                on_result(result)
                for child in children[node.id]:
                    waiting[child].discard(node.id)
                    if not waiting[child]:
                        heapq.heappush(ready, (-by_id[child].priority, order[child], child))
            fill()
    except BaseException:
        executor.cancel(list(running))
        raise
    return results
