"""Task-network adapters: turn a decoded sequence or image set into task outputs for scoring.

Every adapter has ``run(request: TaskRequest) -> TaskRun`` and is registered by name in
:data:`ADAPTERS` (lazy: ``detectron2`` is imported only when asked for):

- ``provided``: the submitter gave the task output; it is only checked, nothing runs;
- ``command``: an external program, given as an argv template, writes the output;
- ``detectron2``: a detectron2 predictor runs in-process (optional extra);
- ``torch``: part 2 of a split network (FCM) runs in-process on decoded features, built by a
  ``module:callable`` entry point (optional extra);
- ``detectron2-split``: part 2 of a detectron2 R-CNN fed with decoded FPN features, as
  CompressAI-Vision does (optional extra).

Decoded features (a decoder with ``output: features``) are read by ``command`` (the program gets
the feature file as ``{decoded}``), ``torch`` and ``detectron2-split``.

The output contract belongs to the task family of the sequence's metric (see
:mod:`vcmctc.families`): the request names it (``output_kind``) and carries its check.

A failing rate point gives a status, not an exception; bad configuration is a UserError.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from vcmctc.errors import UserError
from vcmctc.media.yuv import YuvFormat
from vcmctc.registry import Registry

TASK_STATUSES = ("ok", "failed", "timeout", "no-output", "bad-output")


@dataclass(frozen=True)
class TaskRequest:
    """One task-network run on one decoded sequence or image set (one rate point).

    ``decoded`` is the decoded YUV of a video sequence, or the folder of decoded images
    (``<image id>.png``) of an image set (None is allowed only for ``provided``); ``fmt`` the YUV
    format (None for image sets); ``output`` is where the adapter writes its result (for
    ``provided``: the submitter's file); ``output_kind`` names the task family's output contract
    and ``check`` checks an output against it (None if fine, else a one-line problem); ``log``
    receives the program's messages; ``timeout_s`` None means no limit; ``workdir`` (default: the
    output's folder) is where a ``command`` runs.
    """

    decoded: Path | None
    fmt: YuvFormat | None
    frames: int
    first_frame: int
    fps: float | None
    task: str
    output: Path
    log: Path
    output_kind: str
    check: Callable[[Path], "str | None"] | None = None
    timeout_s: float | None = None
    sequence: str = ""
    workdir: Path | None = None
    # FCM: decoded features (``decoded`` is a feature file, or a folder of them for an image
    # set); the Layout of vcmctc.features.spec says the split point and the tensor shapes
    features: object | None = None

    def __post_init__(self):
        if self.frames <= 0:
            raise UserError(f"frames must be positive, got {self.frames}")
        for name in ("decoded", "output", "log", "workdir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

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
    complexity: dict[str, float] | None = None   # kMAC/pixel the adapter measured, by component

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
ADAPTERS.register("torch", "vcmctc.adapters.torch:TorchAdapter")
ADAPTERS.register("detectron2-split", "vcmctc.adapters.detectron2:Detectron2SplitAdapter")
#: Adapters that run a task network (and can therefore serve the decoded level).
RUNS_A_NETWORK = ("command", "detectron2", "torch", "detectron2-split")
#: What each adapter reads at the decoded level: decoded pixels, decoded features, or both.
READS = {"command": ("pixels", "features"), "detectron2": ("pixels",), "torch": ("features",),
         "detectron2-split": ("features",)}


def get_adapter(name: str, **options) -> TaskAdapter:
    """Build the adapter registered as ``name`` with its options (see each class)."""
    return ADAPTERS.get(name)(**options)


def from_spec(spec, root: Path, contain=None) -> TaskAdapter:
    """The adapter of a manifest's ``task`` section (paths relative to the submission ``root``);
    ``contain`` confines the programs it runs (:class:`~vcmctc.runner.Containment`)."""
    if spec.adapter == "command":
        return get_adapter("command", argv=list(spec.argv), extra_values={"submission": root},
                           contain=contain)
    if spec.adapter == "detectron2":
        if not spec.config or not spec.weights:
            raise UserError("the detectron2 adapter needs 'config' and 'weights'")
        return get_adapter("detectron2", config_file=root / spec.config,
                           weights=root / spec.weights, **spec.options)
    if spec.adapter in ("torch", "detectron2-split"):
        from vcmctc.adapters.torch import spec_options

        return get_adapter(spec.adapter, **spec_options(spec, root))
    return get_adapter(spec.adapter)


def adapter_problem(spec, root: Path, decoded: str = "pixels") -> str | None:
    """Why the manifest's task adapter cannot run a task network on decoded data (None if it
    can): checked by ``validate`` whenever a point is evaluated at the decoded level.
    ``decoded``: what the decoder outputs (``pixels`` or ``features``)."""
    if spec.adapter not in ADAPTERS:
        try:
            ADAPTERS.check(spec.adapter)
        except UserError as exc:
            return str(exc)
    if spec.adapter not in RUNS_A_NETWORK:
        return (f"the {spec.adapter!r} adapter runs no task network, so decoded points cannot be "
                f"scored: use 'command' or 'detectron2' (or evaluate at --level outputs)")
    if decoded not in READS.get(spec.adapter, ("pixels",)):
        fits = ", ".join(a for a, r in READS.items() if decoded in r)
        return (f"the decoder outputs {decoded} (decoder output: {decoded}) but the "
                f"{spec.adapter!r} adapter reads {' and '.join(READS[spec.adapter])}: use {fits}")
    try:
        from_spec(spec, root)
    except UserError as exc:
        return str(exc)
    return None


def finish_run(request: TaskRequest, *, status: str, message: str, **fields) -> TaskRun:
    """Build a TaskRun; an "ok" run is downgraded to "no-output"/"bad-output" if its output
    fails the request's check."""
    if status == "ok" and request.check is not None:
        problem = request.check(request.output)
        if problem is not None:
            out = request.output
            missing = not out.exists() or (out.is_file() and out.stat().st_size == 0)
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
