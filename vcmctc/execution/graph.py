"""The steps of a run as a graph of nodes an executor can run anywhere.

Per rate point, by evidence level:

- ``decoded``, video: ``decode`` -> ``task`` -> ``measure``;
- ``decoded``, image set: ``decode-chunk`` x (images / chunk size) -> ``decode`` (the chunks
  joined into one folder) -> ``task`` -> ``measure``;
- ``outputs``: ``measure``;
- ``reported``, or a point that cannot run (incomplete image set, no rate): nothing.

Task-network nodes carry the Dask resource ``GPU=1`` (:data:`GPU_RESOURCE`) so that they run
on workers that offer a GPU while decoders and scoring run on any worker. Nodes of later stages
have a higher priority, so that a point's chain finishes (and its decoded output can be
deleted) before new decodes start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from vcmctc.submission.steps import Steps
    from vcmctc.submission.validate import PlannedPoint

STAGES = ("decode-chunk", "decode", "task", "measure")
COUNTED = ("decode", "task", "measure")        # the steps ``results.run.steps`` counts
PRIORITY = {stage: i for i, stage in enumerate(STAGES)}
GPU_RESOURCE = {"GPU": 1}


@dataclass(frozen=True)
class Node:
    id: str
    stage: str
    point: int                          # index in the plan's points
    what: str                           # "decode SynthStreet qp32"
    deps: tuple[str, ...] = ()
    chunk: tuple[int, int] | None = None  # decode-chunk: images [start, stop)
    resources: dict[str, int] = field(default_factory=dict)

    @property
    def priority(self) -> int:
        return PRIORITY[self.stage]


def point_nodes(index: int, pp: "PlannedPoint", steps: "Steps") -> list[Node]:
    """The nodes of one rate point (none when nothing runs)."""
    name = f"{pp.seq.id} {pp.label}"
    if pp.level == "outputs":
        return [Node(f"measure:{index}", "measure", index, f"measure {name}")]
    if pp.level != "decoded":
        return []
    nodes: list[Node] = []
    if pp.seq.kind == "images":
        for start, stop in steps.chunks(pp):
            nodes.append(Node(f"decode-chunk:{index}:{start}", "decode-chunk", index,
                              f"decode {name} images {start + 1}-{stop}", chunk=(start, stop)))
    decode = Node(f"decode:{index}", "decode", index, f"decode {name}",
                  deps=tuple(n.id for n in nodes))
    task = Node(f"task:{index}", "task", index, f"task {name}", deps=(decode.id,),
                resources=dict(GPU_RESOURCE))
    measure = Node(f"measure:{index}", "measure", index, f"measure {name}",
                   deps=(task.id, decode.id))
    return [*nodes, decode, task, measure]


def build_graph(points: list["PlannedPoint"], steps: "Steps", runs: Iterable[bool],
                shard: tuple[int, int] | None = None) -> list[Node]:
    """The nodes of the points that run steps (``runs``: per point, from the precheck); with
    ``shard`` = (K, N) only those of every N-th such point from the K-th (1-based)."""
    nodes: list[Node] = []
    active = [i for i, run in enumerate(runs) if run and points[i].level in ("outputs",
                                                                             "decoded")]
    if shard is not None:
        k, n = shard
        active = active[k - 1::n]
    for i in active:
        nodes += point_nodes(i, points[i], steps)
    return nodes


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``K/N`` -> (K, N) with 1 <= K <= N; None for None."""
    from vcmctc.errors import UserError

    if text is None:
        return None
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r}: expected K/N, e.g. 3/8") from None
    if not 1 <= k <= n:
        raise UserError(f"--shard {text}: K must be between 1 and N")
    return k, n
