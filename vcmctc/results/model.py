"""The results model (schema ``vcmctc-results/2``): one writer, one reader.

``vcmctc evaluate`` builds a :class:`Results` and writes it with :func:`write_results`; reports,
``check``, ``compare``, the anchor loader and the CLI summary read it with :func:`load_results`,
which checks every field's type and names the first bad one (``results.json: points[3].rate:
expected a number``). Every row - sequence, class or overall - is a :class:`Row` with the same
keys whatever the aggregation rule. See ``docs/results.md`` for the meaning of each field.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from vcmctc.errors import UserError
from vcmctc.jsonutil import to_jsonable

SCHEMA = "vcmctc-results/2"
SCHEMA_FAMILY = "vcmctc-results"
TIME_KEYS = ("enc_time_s", "dec_time_s", "time_s")
EVIDENCE_LEVELS = ("reported", "outputs", "decoded")


@dataclass
class CurvePoint:
    rate: float
    metric: float
    qp: int | None = None
    label: str | None = None


@dataclass
class StepRecord:
    """One program run by vcmctc for a point (the decoder, or the task network)."""

    status: str
    message: str | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    log: str | None = None          # relative to the output folder
    started: float | None = None
    ended: float | None = None
    md5: str | None = None          # of the decoded output (video: the YUV; images: see docs)
    frames_decoded: int | None = None
    items: int | None = None        # image sets: images decoded
    cached: bool = False
    # FCM decoded features: split point, tensors (dtype, per-frame shape), frames, MSE against
    # the original features, the conformance file (per-frame MD5s and channel statistics)
    features: dict[str, Any] | None = None


@dataclass
class PointResult:
    """One rate point of one sequence."""

    sequence: str
    cls: str
    label: str
    qp: int | None
    evidence: str                   # reported | outputs | decoded
    status: str                     # ok, or why the point has no number
    message: str | None
    warnings: list[str]
    rate_unit: str | None
    rate: float | None
    rate_source: str | None         # files | reported
    bits_total: float | None
    bits_components: dict[str, int]
    bits_derived: bool              # bits derived from a reported rate
    metric_id: str | None
    metric: float | None
    metric_source: str | None       # computed | reported
    reported_metric: float | None
    stats: dict[str, Any]
    enc_time_s: float | None
    dec_time_s: float | None
    time_s: float | None
    enc_time_source: str | None
    dec_time_source: str | None
    dec_cpu_s: float | None
    inputs: dict[str, list[dict[str, Any]]]   # role -> [{path, sha256[, files]}]
    decode: StepRecord | None = None
    task: StepRecord | None = None
    other_times: dict[str, float] = field(default_factory=dict)   # e.g. nn_part_1_s (FCM)
    complexity: dict[str, float] = field(default_factory=dict)    # component -> kMAC/pixel

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.rate is not None and self.metric is not None


@dataclass
class Row:
    """A sequence, class or overall row. ``bd_rate`` is always the CTC number of the row under
    its rule, or null with ``status`` saying why; ``mean_bd_rate`` is always the plain mean of
    the members' BD-rates (null for a sequence row); ``partial_bd_rate`` is a number over only
    some members, never to be read as the row's number."""

    kind: str                       # sequence | class | overall
    name: str
    cls: str | None
    optional: bool
    rule: str                       # sequence: curve; class: pooled | mean; overall: mean-of-*
    members: list[str]
    evidence: str | None
    metric_id: str | None           # None when the members mix metrics
    rate_unit: str | None
    points: int
    points_ok: int
    curve: list[CurvePoint] | None
    anchor_curve: list[CurvePoint] | None
    bd_rate: float | None
    bd_metric: float | None
    status: str
    overlap: float | None
    overlap_rate: float | None
    warnings: list[str]
    bd_detail: dict[str, Any] | None
    mean_bd_rate: float | None
    mean_bd_metric: float | None
    mean_status: str | None
    mean_over: int
    missing: list[str]
    partial_bd_rate: float | None
    time_ratio: dict[str, float | None]
    # the submitter's own curve of a class row (e.g. CompressAI-Vision's), never used for a BD
    reported_curve: list[CurvePoint] | None = None
    # kMAC/pixel per component, frame-weighted over the points of the row (null if one lacks it)
    complexity: dict[str, float | None] = field(default_factory=dict)


@dataclass
class AnchorInfo:
    id: str
    codec: str
    kind: str                       # data (an anchor of anchors/) | results (a results.json)
    edition: str
    source: str                     # where it was read from, relative or by id
    sha256: str
    points: dict[str, list[dict[str, Any]]]
    class_curves: dict[str, list[CurvePoint]]


@dataclass
class Results:
    schema: str
    signature: dict[str, Any]
    submission: dict[str, Any]
    edition: dict[str, Any]
    anchor: AnchorInfo | None
    findings: list[dict[str, Any]]
    points: list[PointResult]
    sequences: list[Row]
    classes: list[Row]
    overall: Row
    timing: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)

    # ---- views used by readers
    def points_of(self, sequence: str) -> list[PointResult]:
        return [p for p in self.points if p.sequence == sequence]

    def sequence(self, name: str) -> Row | None:
        return next((r for r in self.sequences if r.name == name), None)

    def rows(self) -> list[Row]:
        return [*self.sequences, *self.classes, self.overall]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


# ------------------------------------------------------------------------------------------
# writing

def results_json(results: Results) -> str:
    return json.dumps(to_jsonable(results), indent=1, allow_nan=False)


def write_results(results: Results, path: Path) -> None:
    """Write atomically: readers see the old file or the new one, never half of one."""
    from vcmctc.submission.cache import atomic_write_text

    atomic_write_text(path, results_json(results))


# ------------------------------------------------------------------------------------------
# reading

class _Bad(Exception):
    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")


def _expect(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _expect(arg, value, where)
            except _Bad:
                continue
        names = " or ".join(_name(a) for a in args)
        raise _Bad(where, f"expected {names}, got {_show(value)}")
    if dataclasses.is_dataclass(tp):
        return _load(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise _Bad(where, f"expected a list, got {_show(value)}")
        (item,) = typing.get_args(tp)
        return [_expect(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Bad(where, f"expected an object, got {_show(value)}")
        _, item = typing.get_args(tp)
        return {str(k): _expect(item, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad(where, f"expected a number, got {_show(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(where, f"expected an integer, got {_show(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _Bad(where, f"expected true or false, got {_show(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _Bad(where, f"expected a string, got {_show(value)}")
        return value
    raise TypeError(f"unsupported type {tp!r}")


def _name(tp: Any) -> str:
    return {float: "a number", int: "an integer", str: "a string", bool: "true/false",
            type(None): "null"}.get(tp, "an object" if dataclasses.is_dataclass(tp) else
                                    ("a list" if typing.get_origin(tp) is list else "an object"))


def _show(value: Any) -> str:
    text = json.dumps(value)[:40] if not isinstance(value, str) else repr(value[:40])
    return text


_HINTS: dict[type, dict[str, Any]] = {}


def _load(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise _Bad(where, f"expected an object, got {_show(data)}")
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise _Bad(key, "missing")
        values[f.name] = _expect(hints[f.name], data[f.name], key)
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise _Bad(where or "top level", f"unknown field(s) {', '.join(map(repr, unknown[:5]))}")
    return cls(**values)


def results_from_dict(data: Any, source: Any = "<results>") -> Results:
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(SCHEMA_FAMILY + "/"):
        raise UserError(f"not a vcmctc results.json (no 'schema: {SCHEMA_FAMILY}/...')", file=source)
    if data["schema"] != SCHEMA:
        raise UserError(f"schema {data['schema']!r} is not supported by this vcmctc (it reads "
                        f"{SCHEMA}; run vcmctc evaluate again to rewrite it)", file=source)
    try:
        results = _load(Results, data, "")
    except _Bad as exc:
        raise UserError(str(exc), file=source) from None
    _check_values(results, source)
    return results


def _check_values(r: Results, source: Any) -> None:
    """What types cannot say: evidence levels, finite numbers (JSON cannot hold others)."""
    for i, p in enumerate(r.points):
        if p.evidence not in EVIDENCE_LEVELS:
            raise UserError(f"points[{i}].evidence: {p.evidence!r} is not one of "
                            f"{', '.join(EVIDENCE_LEVELS)}", file=source)
        if p.status == "ok" and (p.rate is None or p.metric is None):
            raise UserError(f"points[{i}]: status ok without a rate and a metric", file=source)
    for name, rows in (("sequences", r.sequences), ("classes", r.classes), ("overall", [r.overall])):
        for i, row in enumerate(rows):
            if row.status == "ok" and row.bd_rate is None:
                raise UserError(f"{name}[{i}] ({row.name}): status ok without a BD-rate",
                                file=source)


def load_results(path: str | Path) -> Results:
    """Read and check a results.json; any problem is one UserError naming the file and field."""
    path = Path(path)
    if not path.is_file():
        raise UserError("no such results file", file=path)
    from vcmctc.safeload import load_json

    return results_from_dict(load_json(path), path)   # limits: size, depth, duplicate keys
