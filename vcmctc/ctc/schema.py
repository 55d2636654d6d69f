"""The CTC edition data model: what an edition file may say, and how it is checked on load.

An edition file (``cfg/<id>.yaml``) is YAML. After includes are merged (see
:mod:`vcmctc.ctc.editions`) it must match the field tables below; a violation raises a
:class:`~vcmctc.errors.UserError` naming the file, the sequence and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vcmctc.errors import UserError

TRACKS = ("vcm", "fcm", "demo")
RATE_UNITS = ("kbps", "bpp")
KINDS = ("video", "images", "video-set")
# How class rows are formed: "pooled" recomputes the metric on the pooled data of the class and
# the rate as total bits over total duration, then takes one BD-rate of that curve; "mean" is the
# arithmetic mean of the per-sequence BD-rates.
CLASS_ROW_RULES = ("pooled", "mean")
OVERALL_RULES = ("mean-of-classes", "mean-of-sequences")


# Facts about a clip (as opposed to choices of an edition such as QPs or classes). An edition
# that overrides one of these from an included file must say why in ``notes`` (see check).
FACT_FIELDS = ("width", "height", "fps", "total_frames", "skip", "frames", "intra_period",
               "bit_depth", "items", "pixels")


def _metric(ctx: str, v: Any) -> str | None:
    """A metric id of one of the task families (:mod:`vcmctc.families`), or None."""
    from vcmctc.families import metric_ids

    return _str(ctx, "metric", v, choices=metric_ids())


def _err(ctx: str, msg: str) -> UserError:
    return UserError(msg, where=ctx)


def _int(ctx: str, name: str, v: Any, *, minimum: int = 0, nullable: bool = True) -> int | None:
    if v is None and nullable:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise _err(ctx, f"field {name!r}: expected an integer >= {minimum}, got {v!r}")
    return v


def _num(ctx: str, name: str, v: Any, *, nullable: bool = True) -> float | None:
    if v is None and nullable:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise _err(ctx, f"field {name!r}: expected a positive number, got {v!r}")
    return v


def _str(ctx: str, name: str, v: Any, *, choices: tuple[str, ...] | None = None,
         nullable: bool = True) -> str | None:
    if v is None and nullable:
        return None
    if not isinstance(v, str) or not v:
        raise _err(ctx, f"field {name!r}: expected a non-empty string, got {v!r}")
    if choices is not None and v not in choices:
        raise _err(ctx, f"field {name!r}: {v!r} is not one of {', '.join(choices)}")
    return v


def _options(ctx: str, v: Any) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _err(ctx, f"field 'metric_options': expected a mapping, got {v!r}")
    return dict(v)


def _unknown_keys(ctx: str, data: dict, allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        import difflib

        hints = []
        for key in extra:
            near = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        raise _err(ctx, f"unknown field(s) {', '.join(hints)}")


@dataclass(frozen=True)
class Dataset:
    """Defaults common to the sequences of one data set (SFU, TVD, HiEve, OIV6...)."""

    id: str
    kind: str = "video"
    task: str | None = None
    task_network: str | None = None
    metric: str | None = None
    rate_unit: str | None = None
    first_frame: int = 0
    gt: str | None = None
    description: str | None = None
    metric_options: dict[str, Any] = field(default_factory=dict)
    split_point: str | None = None   # FCM: id of the split point (the edition's split_points)

    FIELDS = ("kind", "task", "task_network", "metric", "rate_unit", "first_frame", "gt",
              "description", "metric_options", "split_point")

    @classmethod
    def parse(cls, ctx: str, ds_id: str, data: Any) -> "Dataset":
        ctx = f"{ctx}: dataset {ds_id}"
        if not isinstance(data, dict):
            raise _err(ctx, "expected a mapping")
        _unknown_keys(ctx, data, set(cls.FIELDS))
        return cls(
            id=ds_id,
            kind=_str(ctx, "kind", data.get("kind", "video"), choices=KINDS, nullable=False),
            task=_str(ctx, "task", data.get("task")),
            task_network=_str(ctx, "task_network", data.get("task_network")),
            metric=_metric(ctx, data.get("metric")),
            rate_unit=_str(ctx, "rate_unit", data.get("rate_unit"), choices=RATE_UNITS),
            first_frame=_int(ctx, "first_frame", data.get("first_frame", 0), nullable=False),
            gt=_str(ctx, "gt", data.get("gt")),
            description=_str(ctx, "description", data.get("description")),
            metric_options=_options(ctx, data.get("metric_options")),
            split_point=_str(ctx, "split_point", data.get("split_point")),
        )


@dataclass(frozen=True)
class Sequence:
    """One test sequence (or image set) of an edition, with every inherited default resolved."""

    id: str
    dataset: str
    cls: str
    kind: str
    aliases: tuple[str, ...] = ()
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    total_frames: int | None = None
    skip: int | None = None
    frames: int | None = None
    tail: bool = False
    items: int | None = None
    pixels: int | None = None       # image sets of varied image sizes: total pixels of the set
    intra_period: int | None = None
    bit_depth: int | None = None
    chroma: str = "420"
    qps: dict[str, tuple[int, ...]] | None = None
    task: str | None = None
    task_network: str | None = None
    metric: str | None = None
    rate_unit: str | None = None
    first_frame: int = 0
    gt: str | None = None
    metric_options: dict[str, Any] = field(default_factory=dict)
    split_point: str | None = None  # FCM: the split point whose tensors a decoder outputs
    optional: bool = False
    notes: dict[str, str] = field(default_factory=dict)
    field_sources: dict[str, str] = field(default_factory=dict)
    # Fact fields this edition overrides from an included file: field -> (other value, its source)
    disagreements: dict[str, tuple[Any, str]] = field(default_factory=dict)

    # Keys a sequence entry may carry in a file ("class" is stored as ``cls``).
    FILE_FIELDS = ("aliases", "dataset", "class", "kind", "width", "height", "fps",
                   "total_frames", "skip", "frames", "tail", "items", "pixels", "intra_period",
                   "bit_depth", "chroma", "qps", "task", "task_network", "metric", "rate_unit",
                   "first_frame", "gt", "metric_options", "split_point", "optional", "notes",
                   "source")

    def qps_for(self, scenario: str) -> tuple[int, ...] | None:
        """QPs of ``scenario``; image sets are intra coded, so they use their AI QPs."""
        if not self.qps:
            return None
        if scenario not in self.qps and self.kind == "images":
            return self.qps.get("AI")
        return self.qps.get(scenario)

    @property
    def duration_s(self) -> float | None:
        if self.frames is None or not self.fps:
            return None
        return self.frames / self.fps

    @property
    def metric_info(self):
        """The :class:`~vcmctc.families.base.MetricDef` of the sequence's metric (None if unset)."""
        from vcmctc.families import metric_def

        return metric_def(self.metric) if self.metric else None


def parse_sequence(ctx: str, seq_id: str, data: Any, *, track: str,
                   datasets: dict[str, Dataset], classes: dict[str, Any],
                   field_sources: dict[str, str],
                   disagreements: dict[str, tuple[Any, str]] | None = None) -> Sequence:
    """Validate a merged sequence entry and resolve dataset defaults and per-track classes."""
    ctx = f"{ctx}: sequence {seq_id}"
    if not isinstance(data, dict):
        raise _err(ctx, "expected a mapping of fields")
    _unknown_keys(ctx, data, set(Sequence.FILE_FIELDS))
    ds_id = _str(ctx, "dataset", data.get("dataset"), nullable=False)
    if ds_id not in datasets:
        raise _err(ctx, f"field 'dataset': {ds_id!r} is not defined in 'datasets' "
                        f"(known: {', '.join(datasets)})")
    ds = datasets[ds_id]

    cls = data.get("class")
    if isinstance(cls, dict):  # per-track class, e.g. {vcm: A, fcm: AB}
        if track not in cls:
            raise _err(ctx, f"field 'class': no class for track {track!r} in {cls!r}")
        cls = cls[track]
    cls = _str(ctx, "class", cls, nullable=False)
    if cls not in classes:
        raise _err(ctx, f"field 'class': {cls!r} is not defined in 'classes' "
                        f"(known: {', '.join(classes)})")

    aliases = data.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise _err(ctx, f"field 'aliases': expected a list of names, got {aliases!r}")

    qps_raw = data.get("qps")
    qps: dict[str, tuple[int, ...]] | None = None
    if qps_raw is not None:
        if not isinstance(qps_raw, dict) or not qps_raw:
            raise _err(ctx, f"field 'qps': expected a mapping scenario -> list of QPs, got {qps_raw!r}")
        qps = {}
        for scen, values in qps_raw.items():
            if not isinstance(values, list) or not all(
                    isinstance(q, int) and not isinstance(q, bool) for q in values):
                raise _err(ctx, f"field 'qps.{scen}': expected a list of integers, got {values!r}")
            qps[str(scen)] = tuple(values)

    notes = data.get("notes") or {}
    if not isinstance(notes, dict) or not all(isinstance(v, str) for v in notes.values()):
        raise _err(ctx, "field 'notes': expected a mapping field -> text")

    chroma = str(data.get("chroma", "420"))
    if chroma not in ("420", "400", "444"):
        raise _err(ctx, f"field 'chroma': {chroma!r} is not one of 420, 400, 444")

    def pick(name: str):
        return data[name] if name in data else getattr(ds, name)

    return Sequence(
        id=seq_id,
        dataset=ds_id,
        cls=cls,
        kind=_str(ctx, "kind", pick("kind"), choices=KINDS, nullable=False),
        aliases=tuple(aliases),
        width=_int(ctx, "width", data.get("width"), minimum=1),
        height=_int(ctx, "height", data.get("height"), minimum=1),
        fps=_num(ctx, "fps", data.get("fps")),
        total_frames=_int(ctx, "total_frames", data.get("total_frames"), minimum=1),
        skip=_int(ctx, "skip", data.get("skip")),
        frames=_int(ctx, "frames", data.get("frames"), minimum=1),
        tail=bool(data.get("tail", False)),
        items=_int(ctx, "items", data.get("items"), minimum=1),
        pixels=_int(ctx, "pixels", data.get("pixels"), minimum=1),
        intra_period=_int(ctx, "intra_period", data.get("intra_period"), minimum=1),
        bit_depth=_int(ctx, "bit_depth", data.get("bit_depth"), minimum=8),
        chroma=chroma,
        qps=qps,
        task=_str(ctx, "task", pick("task")),
        task_network=_str(ctx, "task_network", pick("task_network")),
        metric=_metric(ctx, pick("metric")),
        rate_unit=_str(ctx, "rate_unit", pick("rate_unit"), choices=RATE_UNITS),
        first_frame=_int(ctx, "first_frame", pick("first_frame"), nullable=False),
        gt=_str(ctx, "gt", pick("gt")),
        metric_options={**ds.metric_options, **_options(ctx, data.get("metric_options"))},
        split_point=_str(ctx, "split_point", pick("split_point")),
        optional=bool(data.get("optional", False)),
        notes=dict(notes),
        field_sources=dict(field_sources),
        disagreements=dict(disagreements or {}),
    )
