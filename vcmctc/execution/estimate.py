"""``vcmctc plan``: the work of a run before it runs - steps, frames and pixels per stage, what
the cache already holds, and the expected GPU-hours and wall time on N workers.

Costs are seconds per frame (an image of an image set is one frame), per stage: given by the
user (``--cost task=0.3``), or measured on a sample of rate points whose steps are run (into
the cache, so the sample is not lost). A measured cost is converted to seconds per pixel and
applied to each step by its pixels, so a sample at one resolution predicts another.

The wall time is a list schedule (longest chain first) of the points' chains (decode, then
task network, then scoring; an image set's decode spread over its chunks) on N workers, and at
least the task-network time over the GPUs.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vcmctc.errors import UserError

if TYPE_CHECKING:
    from vcmctc.submission.pipeline import Precheck
    from vcmctc.submission.steps import Steps
    from vcmctc.submission.validate import PlannedPoint

STAGES = ("decode", "task", "measure")


@dataclass
class PointWork:
    point: "PlannedPoint"
    stages: tuple[str, ...]            # the steps it runs
    frames: int
    pixels: int | None
    chunks: int = 1
    cached: dict[str, str] = field(default_factory=dict)   # stage -> "done" | "failed"


@dataclass
class Workload:
    points: list[PointWork]

    def table(self) -> dict[str, dict[str, Any]]:
        out = {}
        for stage in STAGES:
            ws = [w for w in self.points if stage in w.stages]
            pixels = [w.pixels for w in ws]
            out[stage] = {"steps": len(ws),
                          "cached": sum(w.cached.get(stage) == "done" for w in ws),
                          "failed": sum(w.cached.get(stage) == "failed" for w in ws),
                          "frames": sum(w.frames for w in ws),
                          "pixels": sum(pixels) if None not in pixels else None}
        return out


def workload(points: list["PlannedPoint"], checks: list["Precheck"], steps: "Steps") -> Workload:
    """What each point runs, its frames and pixels, and what the cache holds of it."""
    out = []
    for pp, check in zip(points, checks):
        if check.status != "ok" or pp.level not in ("outputs", "decoded"):
            continue
        seq = pp.seq
        if seq.kind == "images":
            frames = len(pp.items or ()) or (seq.items or 0)
            pixels = check.pixels
        else:
            frames = seq.frames or 0
            pixels = (seq.width * seq.height * frames) if seq.width and seq.height else None
        stages = STAGES if pp.level == "decoded" else ("measure",)
        w = PointWork(pp, stages, frames, pixels,
                      chunks=len(steps.chunks(pp)) if seq.kind == "images" else 1)
        w.cached = cached_stages(pp, steps)
        out.append(w)
    return Workload(out)


def cached_stages(pp: "PlannedPoint", steps: "Steps") -> dict[str, str]:
    """Which of the point's steps the cache holds, done or sealed as failed (a step's key
    depends on its input's digest: a step after one not done is not looked up)."""
    from vcmctc.submission.cache import Cache, file_sha256, hash_json

    def state(stage: str, key: str) -> tuple[str | None, dict | None]:
        rec = steps.cache.get(stage, key)
        if rec is not None:
            return "done", rec
        return ("failed" if steps.cache.get_failed(stage, key) else None), None

    out: dict[str, str] = {}
    if pp.level == "outputs":
        digest = file_sha256(pp.files["task-output"][0])
    else:
        found, rec = state("decode", steps.decode_key(pp))
        if found:
            out["decode"] = found
        if rec is None:
            return out
        digest = (Cache.file_digest(rec, rec["output"]) if pp.seq.kind != "images"
                  else hash_json(sorted((e["name"], e["sha256"]) for e in rec["files"])))
        found, rec = state("task", steps.task_key(pp, digest))
        if found:
            out["task"] = found
        if rec is None:
            return out
        from vcmctc.submission.steps import _digest_of

        digest = _digest_of(rec, rec["output"])
    found, _ = state("measure", steps.measure_key(pp, digest))
    if found:
        out["measure"] = found
    return out


def parse_costs(items: list[str]) -> dict[str, float]:
    """``["decode=0.05", "task=0.3"]`` -> seconds per frame by stage."""
    costs = {}
    for item in items:
        stage, _, value = item.partition("=")
        if stage not in STAGES:
            raise UserError(f"--cost {item!r}: the stage must be one of {', '.join(STAGES)}")
        try:
            costs[stage] = float(value)
        except ValueError:
            raise UserError(f"--cost {item!r}: expected STAGE=SECONDS per frame") from None
        if costs[stage] < 0:
            raise UserError(f"--cost {item!r}: a cost cannot be negative")
    return costs


def measure_costs(work: Workload, steps: "Steps", sample: int) -> dict[str, float]:
    """Seconds per pixel of each stage, from running the steps of ``sample`` points (one per
    sequence first). Cached steps give the time they took when they ran."""
    chosen: list[PointWork] = []
    seen: set[str] = set()
    for w in work.points:
        if w.pixels and w.point.seq.id not in seen and len(chosen) < sample:
            chosen.append(w)
            seen.add(w.point.seq.id)
    for w in work.points:
        if w.pixels and w not in chosen and len(chosen) < sample:
            chosen.append(w)
    if not chosen:
        raise UserError("no rate point to measure costs on (points with a known pixel count "
                        "at the outputs or decoded level)")
    seconds = dict.fromkeys(STAGES, 0.0)
    pixels = dict.fromkeys(STAGES, 0)
    for w in chosen:
        pp = w.point
        output = digest = None
        if pp.level == "decoded":
            decoded = steps.decode(pp)
            if decoded.path is None:
                raise UserError(f"measuring costs: decoding {pp.seq.id} {pp.label} failed: "
                                f"{decoded.record.message}")
            seconds["decode"] += decoded.record.wall_s or 0.0
            pixels["decode"] += w.pixels
            task = steps.task(pp, decoded)
            if task.path is None:
                raise UserError(f"measuring costs: the task network failed on {pp.seq.id} "
                                f"{pp.label}: {task.record.message}")
            seconds["task"] += task.record.wall_s or 0.0
            pixels["task"] += w.pixels
            output, digest = task.path, task.digest
        else:
            output = pp.files["task-output"][0]
        started = time.perf_counter()
        steps.measure(pp, output, digest)
        seconds["measure"] += time.perf_counter() - started
        pixels["measure"] += w.pixels
    return {s: seconds[s] / pixels[s] for s in STAGES if pixels[s]}


def estimate(work: Workload, *, per_frame: dict[str, float] | None = None,
             per_pixel: dict[str, float] | None = None, workers: int = 1,
             gpus: int | None = None) -> dict[str, Any]:
    """Hours per stage (steps not in the cache), GPU-hours (task networks) and wall time."""
    gpus = workers if gpus is None else gpus

    def cost(w: PointWork, stage: str) -> float:
        if stage not in w.stages or w.cached.get(stage):
            return 0.0
        if per_pixel and stage in per_pixel and w.pixels:
            return per_pixel[stage] * w.pixels
        if per_pixel and stage in per_pixel:   # pixels unknown: the mean frame size measured
            known = [x for x in work.points if x.pixels]
            mean = sum(x.pixels for x in known) / max(1, sum(x.frames for x in known))
            return per_pixel[stage] * mean * w.frames
        return (per_frame or {}).get(stage, 0.0) * w.frames

    hours = {s: sum(cost(w, s) for w in work.points) / 3600 for s in STAGES}
    chains = []
    for w in work.points:
        decode = cost(w, "decode") / min(max(1, workers), w.chunks)
        chains.append(decode + cost(w, "task") + cost(w, "measure"))
    loads = [0.0] * max(1, workers)
    for chain in sorted(chains, reverse=True):
        heapq.heapreplace(loads, loads[0] + chain)
    wall = max(max(loads), hours["task"] * 3600 / max(1, gpus)) if chains else 0.0
    return {"hours": hours, "gpu_hours": hours["task"],
            "cpu_hours": hours["decode"] + hours["measure"], "wall_s": wall,
            "workers": workers, "gpus": gpus}


def describe(folder, options, *, costs: dict[str, float], sample: int, workers: int,
             gpus: int | None) -> dict[str, Any]:
    """The plan of evaluating ``folder`` with ``options`` (nothing runs unless ``sample``)."""
    import os
    from pathlib import Path

    from vcmctc.submission.manifest import load_manifest
    from vcmctc.submission.pipeline import (ValidationFailed, check_ground_truth, make_steps,
                                            output_folder, precheck)
    from vcmctc.submission.validate import validate

    manifest = load_manifest(Path(os.path.abspath(folder)))
    plan = validate(manifest, level=options.level)
    if plan.errors(options.allow_incomplete):
        raise ValidationFailed(plan)
    out = output_folder(options.out, manifest.root, create=bool(sample))
    steps = make_steps(plan, options, out)
    check_ground_truth(plan, steps)
    points = list(plan.points())
    work = workload(points, [precheck(pp, steps) for pp in points], steps)
    per_pixel = measure_costs(work, steps, sample) if sample else None
    if per_pixel:   # the sample's steps are now cached: count them so
        for w in work.points:
            w.cached = cached_stages(w.point, steps)
    levels: dict[str, int] = {}
    for pp in points:
        levels[pp.level] = levels.get(pp.level, 0) + 1
    known = [w for w in work.points if w.pixels]
    frame_px = sum(w.pixels for w in known) / max(1, sum(w.frames for w in known))
    per_frame = ({s: c * frame_px for s, c in per_pixel.items()} if per_pixel else costs)
    return {"submission": manifest.root.name, "edition": plan.edition.id,
            "points": len(points), "sequences": len(plan.sequences), "evidence": levels,
            "stages": work.table(), "chunk_size": steps.chunk_size,
            "chunks": sum(w.chunks for w in work.points if w.point.seq.kind == "images"
                          and "decode" in w.stages),
            "cost_per_frame_s": per_frame, "cost_source": (
                f"measured on {sample} point(s)" if per_pixel else "given" if costs else None),
            "estimate": estimate(work, per_frame=costs, per_pixel=per_pixel, workers=workers,
                                 gpus=gpus)}
