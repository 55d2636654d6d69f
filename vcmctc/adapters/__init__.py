"""Task-network adapters: turn a decoded YUV sequence into task outputs for scoring.

Every adapter has ``run(request: TaskRequest) -> TaskRun`` and is registered by name in
:data:`ADAPTERS` (lazy: ``detectron2`` is imported only when asked for):

- ``provided``: the submitter gave the task output; it is only checked, nothing runs;
- ``command``: an external program, given as an argv template, writes the output;
- ``detectron2``: a detectron2 predictor runs in-process (optional extra).

The output contract: for object detection and instance segmentation a COCO *results* JSON list
(``image_id``, ``category_id`` (real COCO id), ``bbox`` XYWH, ``score``, and ``segmentation`` RLE
for masks) whose ``image_id`` is the frame index as the edition numbers frames, i.e.
``first_frame .. first_frame + frames - 1``; for tracking a MOTChallenge txt
(``frame,id,x,y,w,h,conf,...``) with frames numbered the same way.

A failing rate point gives a status, not an exception; bad configuration is a UserError.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vcmctc.errors import UserError
from vcmctc.media.yuv import YuvFormat
from vcmctc.registry import Registry

TASKS = ("object-detection", "instance-segmentation", "object-tracking")
OUTPUT_KINDS = {"object-detection": "coco-results-json",
                "instance-segmentation": "coco-results-json",
                "object-tracking": "mot-txt"}
TASK_STATUSES = ("ok", "failed", "timeout", "no-output", "bad-output")


@dataclass(frozen=True)
class TaskRequest:
    """One task-network run on one decoded sequence (one rate point).

    ``decoded`` is the decoded YUV (None is allowed only for ``provided``); ``output`` is where
    the adapter writes its result (for ``provided``: the submitter's file); ``log`` receives the
    program's messages; ``timeout_s`` None means no limit; ``workdir`` (default: the output's
    folder) is where a ``command`` runs.
    """

    decoded: Path | None
    fmt: YuvFormat
    frames: int
    first_frame: int
    fps: float
    task: str
    output: Path
    log: Path
    timeout_s: float | None = None
    sequence: str = ""
    workdir: Path | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise UserError(f"unknown task {self.task!r} (known: {', '.join(TASKS)})")
        if self.frames <= 0:
            raise UserError(f"frames must be positive, got {self.frames}")
        for name in ("decoded", "output", "log", "workdir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @property
    def output_kind(self) -> str:
        return OUTPUT_KINDS[self.task]

    @property
    def label(self) -> str:
        """How messages name this run: the sequence, else the decoded file."""
        return self.sequence or (self.decoded.name if self.decoded else self.output.name)


@dataclass(frozen=True)
class TaskRun:
    """Result of one adapter run. ``status`` is one of :data:`TASK_STATUSES`; times are None
    when nothing ran (``provided``)."""

    status: str
    output: Path
    output_kind: str
    wall_s: float | None
    cpu_s: float | None
    message: str
    returncode: int | None = None
    peak_rss_mb: float | None = None
    argv: tuple[str, ...] | None = None
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["output"] = str(self.output)
        out["log"] = None if self.log is None else str(self.log)
        out["argv"] = None if self.argv is None else list(self.argv)
        return out


class TaskAdapter(Protocol):
    def run(self, request: TaskRequest) -> TaskRun: ...


ADAPTERS: Registry = Registry("task adapter")
ADAPTERS.register("provided", "vcmctc.adapters.provided:ProvidedAdapter")
ADAPTERS.register("command", "vcmctc.adapters.command:CommandAdapter")
ADAPTERS.register("detectron2", "vcmctc.adapters.detectron2:Detectron2Adapter")


def get_adapter(name: str, **options) -> TaskAdapter:
    """Build the adapter registered as ``name`` with its options (see each class)."""
    return ADAPTERS.get(name)(**options)


def check_task_output(path: Path, kind: str, first_frame: int, frames: int) -> str | None:
    """A light check of a task output file: None if it looks right, else a one-line problem.

    Missing/empty files are reported, the file must parse (COCO results: a JSON list of objects
    with ``image_id``; MOT: comma-separated rows whose first field is the frame), and every
    image id / frame must lie in ``first_frame .. first_frame + frames - 1``. Everything else
    (categories, boxes) is checked when the output is scored.
    """
    if not path.is_file():
        return f"{path} was not written"
    if path.stat().st_size == 0:
        return f"{path} is empty"
    lo, hi = first_frame, first_frame + frames - 1
    if kind == "coco-results-json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            return f"{path} is not valid JSON: {exc}"
        if not isinstance(data, list):
            return f"{path}: a COCO results file must be a JSON list, got {type(data).__name__}"
        for i, det in enumerate(data):
            image_id = det.get("image_id") if isinstance(det, dict) else None
            if isinstance(image_id, bool) or not isinstance(image_id, (int, float)):
                return f"{path}: entry [{i}] has no numeric image_id"
            if not (math.isfinite(image_id) and image_id == int(image_id) and lo <= image_id <= hi):
                return (f"{path}: entry [{i}] has image_id {image_id!r}, outside the frames "
                        f"{lo}..{hi} of this sequence")
        return None
    if kind == "mot-txt":
        with open(path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                fields = line.split(",")
                try:
                    frame = float(fields[0])
                except ValueError:
                    return f"{path}:{lineno}: frame {fields[0].strip()!r} is not a number"
                if len(fields) < 6:
                    return f"{path}:{lineno}: expected at least 6 comma-separated fields"
                if not (frame == int(frame) and lo <= frame <= hi):
                    return (f"{path}:{lineno}: frame {fields[0].strip()} is outside the frames "
                            f"{lo}..{hi} of this sequence")
        return None
    raise ValueError(f"unknown output kind {kind!r}")


def finish_run(request: TaskRequest, *, status: str, message: str, **fields) -> TaskRun:
    """Build a TaskRun; an "ok" run is downgraded to "no-output"/"bad-output" if its output
    fails :func:`check_task_output`."""
    if status == "ok":
        problem = check_task_output(request.output, request.output_kind, request.first_frame,
                                    request.frames)
        if problem is not None:
            missing = not request.output.is_file() or request.output.stat().st_size == 0
            status = "no-output" if missing else "bad-output"
            message = f"{request.label}: {problem}"
    return TaskRun(status=status, output=request.output, output_kind=request.output_kind,
                   message=message, **{"wall_s": None, "cpu_s": None, **fields})


def remove_stale(path: Path) -> None:
    """Delete an old output so it is never mistaken for this run's."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
