"""Benchmark: the demo CTC evaluated on Dask with 1 and 2 worker processes, against the local
executor, and the scheduling overhead per step.

1. The demo (``vcmctc.demo.run.Demo``: 3 synthetic sequences x 4 QPs, a real VVC anchor and
   the foreground-coding submission) is built once; its submission (12 rate points = 36 steps:
   VVC decode, demo task network, scoring) is then evaluated from an empty cache with the local
   executor (1 and 2 jobs) and on a local Dask cluster of 1 and 2 worker processes. Times are
   those of the steps (the run's ``steps_wall_s``; starting the cluster is given apart).
   All runs must give the same numbers. Each configuration runs ``--repeat`` times (medians
printed with every run: the machine may be shared).
   "in steps" is the time the steps themselves took (summed over workers): with one job or
   worker, steps wall - in steps is what running them through the executor added.
2. Overhead per step: the same run again with every step in the cache (each step is then a
   cache read only), local with 1 job against Dask with 1 worker; the difference per step is
   what shipping a step to a worker and its result back costs.

    python benchmarks/bench_scaleout.py [--out DIR] [--repeat 3]

Needs the dask extra (pip install 'vcmctc[dask]'). On a 2-core machine a 2-worker ratio near
2 is the most there is to get (the decoder and the task network are single-threaded).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def numbers(results) -> list:
    """What a run computes (an undefined statistic, NaN, as None: NaN != NaN)."""
    def value(v):
        return None if isinstance(v, float) and v != v else v
    return [(p.sequence, p.label, p.status, p.rate, p.metric,
             {k: value(v) for k, v in p.stats.items()}, p.decode.md5 if p.decode else None)
            for p in results.points]


def run(demo, out: Path, executor: str, jobs: int):
    """(results, steps wall s, executor start s, total s, seconds spent inside the steps)."""
    from vcmctc.submission.pipeline import Options, evaluate

    nodes = []
    started = time.perf_counter()
    results, _ = evaluate(demo.sub_dir, Options(out=out, data_root=demo.data, jobs=jobs,
                                                executor=executor, on_node=nodes.append))
    total = time.perf_counter() - started
    return (results, results.run["steps_wall_s"], results.run["executor_start_s"], total,
            sum(n.wall_s for n in nodes))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="demo folder (default: a temporary one)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each configuration")
    args = ap.parse_args(argv)
    from vcmctc.demo.run import Demo

    base = args.out or Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    demo = Demo(base, jobs=2, say=lambda line: print(f"  demo: {line}", file=sys.stderr))
    t0 = time.perf_counter()
    demo.prepare()
    demo.sequences()
    demo.encode_all()
    demo.manifests()
    if not (base / "anchor-results.json").exists():
        _, anchor = demo.evaluate(demo.anchor_dir, None)
        shutil.copyfile(anchor, base / "anchor-results.json")
    print(f"demo built in {time.perf_counter() - t0:.1f} s ({base})")

    print(f"\n1. the demo submission from an empty cache (12 rate points, 36 steps), median of "
          f"{args.repeat} run(s)")
    print(f"{'executor':<22}{'steps wall s':>14}{'in steps s':>12}{'start s':>10}"
          f"{'total s':>10}   (all runs)")
    rows, reference = {}, None
    for executor, jobs in (("local", 1), ("local", 2), ("dask", 1), ("dask", 2)):
        out = base / "bench" / f"{executor}-{jobs}"
        walls, starts, totals, inside = [], [], [], []
        for _ in range(args.repeat):
            shutil.rmtree(out, ignore_errors=True)
            results, wall, start, total, work = run(demo, out, executor, jobs)
            if reference is None:
                reference = numbers(results)
            assert numbers(results) == reference, f"{executor} {jobs}: other numbers"
            assert results.run["cached_steps"] == 0 and results.run["steps"] == 36
            walls.append(wall)
            starts.append(start)
            totals.append(total)
            inside.append(work)
        wall = rows[(executor, jobs)] = statistics.median(walls)
        label = f"{executor}, {jobs} {'job(s)' if executor == 'local' else 'worker(s)'}"
        print(f"{label:<22}{wall:>14.2f}{statistics.median(inside):>12.2f}"
              f"{statistics.median(starts):>10.2f}"
              f"{statistics.median(totals):>10.2f}   ({' '.join(f'{w:.2f}' for w in walls)})")
    print(f"ratio dask 1 worker / 2 workers: {rows[('dask', 1)] / rows[('dask', 2)]:.2f}x")
    print(f"ratio local 1 job / 2 jobs:      {rows[('local', 1)] / rows[('local', 2)]:.2f}x")
    print(f"dask 2 workers / local 2 jobs:   {rows[('dask', 2)] / rows[('local', 2)]:.2f}x "
          "(time on Dask over local time)")

    print(f"\n2. overhead per step: every step cached, median of {args.repeat} run(s)")
    per_step = {}
    for executor in ("local", "dask"):
        out = base / "bench" / f"{executor}-1"
        walls = []
        for _ in range(args.repeat):
            results, wall, _, _, _ = run(demo, out, executor, 1)
            assert results.run["cached_steps"] == 36 and numbers(results) == reference
            walls.append(wall)
        per_step[executor] = statistics.median(walls) / 36
        print(f"{executor + ', 1 ' + ('job' if executor == 'local' else 'worker'):<22}"
              f"{per_step[executor] * 1000:>10.2f} ms per step")
    print(f"Dask scheduling overhead: {(per_step['dask'] - per_step['local']) * 1000:.2f} ms "
          f"per step ({per_step['dask'] / per_step['local']:.1f}x the local cached step)")
    print(json.dumps({"uncached_steps_wall_s": {f"{e}-{j}": w for (e, j), w in rows.items()},
                      "cached_ms_per_step": {k: v * 1000 for k, v in per_step.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
