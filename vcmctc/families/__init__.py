"""The task families and the one catalog of metric ids.

Each family lives in its own module and is registered here by one line; nothing outside a family
names its metrics. An edition's ``metric`` is looked up with :func:`metric_def`, the family that
computes it with :func:`family_for`. See :mod:`vcmctc.families.base` for the contract.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from vcmctc.registry import Registry

if TYPE_CHECKING:
    from vcmctc.families.base import Family, MetricDef

FAMILIES: Registry = Registry("task family")
FAMILIES.register("coco", "vcmctc.families.coco:CocoFamily")
FAMILIES.register("openimages", "vcmctc.families.openimages:OpenImagesFamily")
FAMILIES.register("tracking", "vcmctc.families.tracking:TrackingFamily")
FAMILIES.register("pose", "vcmctc.families.pose:PoseFamily")
FAMILIES.register("miou", "vcmctc.families.miou:MIoUFamily")


@lru_cache(maxsize=1)
def _catalog() -> dict[str, tuple[str, "MetricDef"]]:
    out: dict[str, tuple[str, MetricDef]] = {}
    for name in FAMILIES.names():
        for m in FAMILIES.get(name).metrics:
            if m.id in out:
                raise ValueError(f"metric {m.id!r} is defined by families {out[m.id][0]} and {name}")
            out[m.id] = (name, m)
    return out


def metric_ids() -> tuple[str, ...]:
    """Every metric id an edition may name."""
    return tuple(_catalog())


def metric_def(metric_id: str) -> "MetricDef":
    """The definition of a metric id (label, statistic, scale, higher-is-better)."""
    try:
        return _catalog()[metric_id][1]
    except KeyError:
        from vcmctc.errors import UserError

        raise UserError(f"unknown metric {metric_id!r} (known: {', '.join(metric_ids())})") from None


def family_name(metric_id: str) -> str:
    metric_def(metric_id)
    return _catalog()[metric_id][0]


def family_for(metric_id: str, **options) -> "Family":
    """A family instance for ``metric_id``; ``options`` are run settings such as
    ``coco_backend`` (families ignore the options that are not theirs)."""
    return FAMILIES.get(family_name(metric_id))(**options)
