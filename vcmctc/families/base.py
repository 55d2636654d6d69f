"""The contract of a task family: everything vcmctc knows about one kind of task metric.

A family (COCO detection, Open Images challenge detection, tracking, pose, mIoU...) says:

- its metric ids (:class:`MetricDef`: label, statistic, scale, higher-is-better), the only place
  where a metric id is defined;
- the ground truth it loads for a sequence or an image set (:meth:`Family.load_gt`);
- the task-output kind it reads, the file name an adapter writes it to, and a light check of the
  task-output contract (:meth:`Family.check_output`);
- how one rate point is measured into *all* the statistics of the family plus an additive state
  (:meth:`Family.measure` -> :class:`Measurement`), and how the states of several items pool into
  the statistics of a class row (:meth:`Family.pool`);
- the settings that change its numbers, for signatures and cache keys (:meth:`Family.settings`).

Families never read manifests, decide evidence levels or compute rates. A family module must stay
cheap to import (heavy libraries are imported inside methods): loading an edition imports every
family to know the metric ids.
"""

from __future__ import annotations

import hashlib
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmctc.errors import UserError

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence


@dataclass(frozen=True)
class MetricDef:
    """One metric id an edition may name. ``stat`` is the key of the family's statistics that
    holds it; values lie in ``[lower, upper]`` (0-100 for every CTC metric)."""

    id: str
    label: str
    stat: str
    task: str
    higher_is_better: bool = True
    lower: float = 0.0
    upper: float = 100.0

    def check(self, value: Any) -> str | None:
        """None if ``value`` is a usable value of this metric, else why not."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{self.label} is not a number ({value!r})"
        if not math.isfinite(value):
            return f"{self.label} is {value} (undefined)"
        if self.lower is not None and value < self.lower or self.upper is not None and value > self.upper:
            return f"{self.label} {value:g} is outside {self.lower:g}..{self.upper:g}"
        return None


@dataclass
class GroundTruth:
    """Ground truth of one sequence or image set as a family loaded it.

    ``files`` are the files it was read from (hashed into cache keys and signatures); ``items``
    the image ids of an image set (None for video); ``pixels`` the pixel count of the set when
    the ground truth gives image sizes (rates in bpp).
    """

    data: Any
    files: list[Path] = field(default_factory=list)
    items: list[str] | None = None
    pixels: int | None = None


@dataclass
class Measurement:
    """One rate point measured: every statistic of the family (ratios on a 0-100 scale, counts as
    integers, NaN where undefined) and the additive state that class rows pool.

    ``state`` holds numpy arrays and JSON-able values only (it is stored with
    :func:`vcmctc.families.state.save_state`, never pickled)."""

    stats: dict[str, float | int]
    state: dict[str, Any]


class Family:
    """Base class of the task families; see the module docstring for the contract."""

    name: str = ""
    metrics: tuple[MetricDef, ...] = ()
    output_kind: str = ""           # what a task network writes, e.g. "coco-results-json"
    output_name: str = "output"     # file (or folder) name an adapter writes into its work folder
    output_help: str = ""           # one sentence: the task-output contract, for messages and docs
    pool_needs_gt: bool = False     # whether :meth:`pool` needs the members' ground truth
    #: Version of :meth:`check_output`: verdicts are cached by content under it
    #: (:mod:`vcmctc.submission.checks`); bump it when the check changes.
    check_version: int = 1

    # -- identity -------------------------------------------------------------------------
    def metric(self, metric_id: str) -> MetricDef:
        for m in self.metrics:
            if m.id == metric_id:
                return m
        raise KeyError(metric_id)

    def settings(self, seq: "Sequence") -> dict[str, Any]:
        """What changes this family's numbers for ``seq`` (backend, versions, thresholds,
        protocol): recorded in the signature and in cache keys."""
        raise NotImplementedError

    # -- files ----------------------------------------------------------------------------
    def gt_files(self, seq: "Sequence", path: Path) -> list[Path]:
        """The files the ground truth at ``path`` is read from (hashed into cache keys without
        loading it): the file itself, or every file under the folder."""
        if path.is_file():
            return [path]
        return sorted(p for p in path.rglob("*") if p.is_file())

    def load_gt(self, seq: "Sequence", path: Path) -> GroundTruth:
        """Ground truth of ``seq`` from ``path`` (the edition's ``gt`` template under the data
        root). Errors are UserErrors naming the file."""
        raise NotImplementedError

    def check_output(self, seq: "Sequence", path: Path) -> str | None:
        """A light check of a task output (exists, parses, frames/images in range): None if it
        looks right, else a one-line problem. Everything else is checked when it is measured.
        It may read the file and these fields of ``seq`` only: metric, kind, first_frame,
        frames (its verdict is cached by them: :func:`vcmctc.submission.checks.check_key`)."""
        raise NotImplementedError

    # -- numbers --------------------------------------------------------------------------
    def measure(self, seq: "Sequence", gt: GroundTruth, output: Path) -> Measurement:
        raise NotImplementedError

    def pool(self, parts: list[tuple["Sequence", GroundTruth, dict[str, Any]]]) -> dict[str, Any]:
        """Statistics of a class row from the states of its members (same metric, in order)."""
        raise NotImplementedError


def gt_location(seq: "Sequence", data_root: Path | None, edition=None) -> Path:
    """Where the ground truth of ``seq`` lies: the edition's ``gt`` template under the data root,
    else (given the ``edition``) where another public layout keeps it (CompressAI-Vision's
    ``SFU_HW_Obj/<clip>_val/annotations``, its TVD folders...; see :mod:`vcmctc.ctc.checksums`)."""
    if not seq.gt:
        raise UserError(f"sequence {seq.id}: the edition says nothing about its ground truth")
    if data_root is None:
        raise UserError(f"sequence {seq.id}: scoring needs the ground truth; pass --data-root "
                        f"(expected at DATA_ROOT/{seq.gt.format(id=seq.id)})")
    path = Path(data_root) / seq.gt.format(id=seq.id)
    if not path.exists() and edition is not None:
        path = _other_layout(seq, Path(data_root), edition) or path
    if not path.exists():
        raise UserError(f"ground truth of sequence {seq.id} not found", file=path)
    return path


def _other_layout(seq: "Sequence", data_root: Path, edition) -> Path | None:
    """The ground-truth folder of ``seq`` in another layout with published checksums: the folder
    that holds the file as the edition's ``{gt}`` folder would."""
    from vcmctc.ctc.checksums import checksums

    for exp in checksums(edition, roles=("gt",)).get(seq.id, []):
        inner = exp.paths.get("vcmctc", "")
        gt = seq.gt.format(id=seq.id)
        if not inner.startswith(gt + "/"):
            continue
        depth = len(Path(inner[len(gt) + 1:]).parts)
        for layout, rel in exp.paths.items():
            found = data_root / rel
            if layout != "vcmctc" and found.is_file():
                return found.parents[depth - 1]
    return None


def frame_range(seq: "Sequence") -> tuple[int, int]:
    """First and last frame number of a video sequence as its task outputs number them."""
    return seq.first_frame, seq.first_frame + (seq.frames or 1) - 1


def read_output_json(path: Path) -> tuple[Any, str | None]:
    """(data, None) for a readable JSON task output, else (None, a one-line problem).

    The parsed data is kept for :func:`take_output_json` (see there): do not modify it."""
    if not path.is_file():
        return None, f"{path.name} was not written"
    if path.stat().st_size == 0:
        return None, f"{path.name} is empty"
    try:
        return _output_json(path, take=False), None
    except UserError as exc:   # name the file, not where it lies (results carry no local paths)
        return None, str(exc).replace(str(path), path.name, 1)


def take_output_json(path: Path) -> Any:
    """The parsed JSON task output at ``path`` (errors are UserErrors naming the file).

    A run checks a task output (:meth:`Family.check_output`, which parses it with
    :func:`read_output_json`) before measuring it: the measure takes that parse instead of
    parsing the file again when the file's bytes are the same (same SHA-256), and the entry is
    dropped, so the caller may modify what it gets."""
    return _output_json(path, take=True)


# Parsed outputs kept from their check to their measure. By default the 4 most recent (a check
# right before its measure: task outputs a run just made); inside :func:`keep_parsed_outputs`
# (``evaluate`` checks every submitted output while it validates, then measures them) also as
# many as fit in a budget of source bytes; an output beyond it is parsed again by its measure.
_RECENT_MAX = 4
_recent: "dict[tuple[str, bytes], tuple[Any, int]]" = {}
_recent_lock = threading.Lock()
_budget = [0]                 # source bytes that may be kept beyond the 4 most recent


@contextmanager
def keep_parsed_outputs(budget_bytes: int = 64 << 20):
    """Within the block, keep the parses of task outputs of up to ``budget_bytes`` of source in
    total until their measure takes them (64 MiB of COCO results JSON take ~160 MiB parsed);
    everything kept is dropped when the block ends."""
    with _recent_lock:
        _budget[0] = budget_bytes
    try:
        yield
    finally:
        with _recent_lock:
            _budget[0] = 0
            _recent.clear()


def _output_json(path: Path, *, take: bool) -> Any:
    from vcmctc.safeload import JSON_MAX_BYTES, loads_json, read_bytes

    raw = read_bytes(path, JSON_MAX_BYTES, what="JSON file")
    key = (str(path), hashlib.sha256(raw).digest())
    with _recent_lock:
        data, size = _recent.pop(key, (_MISSING, 0))
        if data is not _MISSING and not take:
            _recent[key] = data, size        # most recent last
    if data is _MISSING:
        data = loads_json(raw, source=path)  # (an error is raised, never kept)
        if not take:
            _keep(key, data, len(raw))
    return data


def _keep(key: tuple[str, bytes], data: Any, size: int) -> None:
    with _recent_lock:
        kept = sum(s for _, s in _recent.values())
        if len(_recent) < _RECENT_MAX or kept + size <= _budget[0]:
            _recent[key] = data, size
        elif not _budget[0]:     # the 4 most recent only: the oldest goes
            del _recent[next(iter(_recent))]
            _recent[key] = data, size


_MISSING = object()
