"""The CTC aggregation rules, implemented once: sequence, class and overall rows.

``vcmctc evaluate`` (test against the anchor) and ``vcmctc compare`` (one submission against
another) both build their rows here:

- a **sequence row** is the BD-rate of the sequence's rate-metric curve against the reference's
  curve of the same sequence; its time ratios are the sum of the test's times over the sum of the
  reference's, when every point of both sides has that time;
- a **class row** follows the edition's rule: ``pooled`` - one BD-rate of the class's pooled curve
  (point k: total bits over total duration or pixels, metric recomputed on the pooled task data)
  against the reference's pooled curve; ``mean`` - the arithmetic mean of the members' BD-rates.
  Either way ``mean_bd_rate`` is the mean of the members' BD-rates and the time ratios are the
  geometric mean of the members';
- the **overall row** is the mean over the non-optional classes (``mean-of-classes``) or sequences
  (``mean-of-sequences``).

A row whose members are not all there (or not all have a BD-rate) has ``bd_rate`` null, a status
saying so (``incomplete``; ``partial`` when members of the edition are absent from the
submission) and the number over what there is in ``partial_bd_rate``: a mean over some sequences
is never shown as the mean.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING, Any, Iterable

from vcmctc.results.model import TIME_KEYS, CurvePoint, PointResult, Row

if TYPE_CHECKING:
    from vcmctc.bd.settings import BDSettings

LEVELS = ("reported", "outputs", "decoded")


def weakest(levels: Iterable[str | None]) -> str | None:
    """The weakest evidence level among ``levels`` (None if there is none)."""
    known = [lv for lv in levels if lv in LEVELS]
    return min(known, key=LEVELS.index) if known else None


def curve_of(points: list[PointResult]) -> list[CurvePoint]:
    """The usable points of a sequence (status ok, rate and metric known), in rate order."""
    return sorted((CurvePoint(p.rate, p.metric, p.qp, p.label) for p in points if p.ok),
                  key=lambda c: c.rate)


def _bd(reference: list[CurvePoint], test: list[CurvePoint], settings: "BDSettings") -> dict[str, Any]:
    from vcmctc.bd import bd_rate

    res = bd_rate([c.rate for c in reference], [c.metric for c in reference],
                  [c.rate for c in test], [c.metric for c in test], **settings.kwargs())
    d = res.to_dict()
    return {"bd_rate": d["bd_rate"], "bd_metric": d["bd_metric"], "status": d["status"],
            "overlap": d["overlap"], "overlap_rate": d["overlap_rate"],
            "warnings": list(d["warnings"]),
            "bd_detail": {k: d[k] for k in ("method", "policy", "min_points", "fit_solver",
                                            "min_overlap", "anchor_points",
                                            "test_points", "anchor_dropped", "test_dropped",
                                            "fitted", "anchor_fit", "test_fit")}}


def _no_bd(status: str, *warnings: str) -> dict[str, Any]:
    return {"bd_rate": None, "bd_metric": None, "status": status, "overlap": None,
            "overlap_rate": None, "warnings": list(warnings), "bd_detail": None}


def mean_of(rows: list[Row], expected: int | None = None) -> dict[str, Any]:
    """Mean of the rows' BD-rates and BD-metrics; over only some rows it is a partial mean.

    ``expected`` is how many rows the rule asks for (members absent from the submission count
    as missing)."""
    expected = len(rows) if expected is None else expected
    rates = [r.bd_rate for r in rows if r.bd_rate is not None]
    metrics = [r.bd_metric for r in rows if r.bd_metric is not None]
    missing = [r.name for r in rows if r.bd_rate is None]
    complete = bool(rows) and not missing and len(rows) == expected
    if not rows:
        status = "empty"
    elif complete:
        status = "ok"
    else:
        status = "partial" if len(rows) < expected else "incomplete"
    return {"mean_bd_rate": statistics.fmean(rates) if complete else None,
            "mean_bd_metric": statistics.fmean(metrics) if complete and len(metrics) == len(rows) else None,
            "mean_status": status, "mean_over": len(rates), "missing": missing,
            "partial_bd_rate": None if complete or not rates else statistics.fmean(rates)}


def time_ratios(test: list[dict[str, Any]], reference: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per time key: sum of the test's times over the sum of the reference's (None unless
    every point of both sides has that time)."""
    out: dict[str, float | None] = {}
    for key in TIME_KEYS:
        t = [p.get(key) for p in test]
        a = [p.get(key) for p in reference]
        ok = t and a and None not in t and None not in a and sum(a) > 0
        out[key] = sum(t) / sum(a) if ok else None
    return out


def geomean_ratios(ratios: list[dict[str, float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in TIME_KEYS:
        values = [r.get(key) for r in ratios]
        ok = values and None not in values and all(v > 0 for v in values)
        out[key] = math.exp(statistics.fmean(math.log(v) for v in values)) if ok else None
    return out


def _times(p: PointResult) -> dict[str, Any]:
    return {k: getattr(p, k) for k in TIME_KEYS}


def sequence_row(name: str, cls: str, optional: bool, points: list[PointResult],
                 reference: list[dict[str, Any]] | None, settings: "BDSettings", *,
                 reference_name: str = "anchor") -> Row:
    """The row of one sequence. ``reference`` is the reference's points of this sequence
    (dicts with rate, metric, qp and times), or None when there is no reference at all."""
    ok = [p for p in points if p.ok]
    curve = curve_of(points)
    ref_curve = None
    if reference is None:
        bd = _no_bd(f"no-{reference_name}")
    elif not reference:
        bd = _no_bd(f"missing-in-{reference_name}")
    else:
        ref_curve = sorted((CurvePoint(float(a["rate"]), float(a["metric"]), a.get("qp"),
                                       a.get("label")) for a in reference
                            if a.get("rate") is not None and a.get("metric") is not None),
                           key=lambda c: c.rate)
        bd = _bd(ref_curve, curve, settings)
    failed = [p for p in points if not p.ok]
    if failed:
        bd["warnings"].append(f"{len(failed)} rate point(s) without a number: "
                              + ", ".join(f"{p.label} ({p.status})" for p in failed))
    metrics = {p.metric_id for p in points}
    return Row(kind="sequence", name=name, cls=cls, optional=optional, rule="curve",
               members=[name], evidence=weakest(p.evidence for p in points),
               metric_id=metrics.pop() if len(metrics) == 1 else None,
               rate_unit=points[0].rate_unit if points else None,
               points=len(points), points_ok=len(ok), curve=curve, anchor_curve=ref_curve,
               **bd, mean_bd_rate=None, mean_bd_metric=None, mean_status=None, mean_over=0,
               missing=[], partial_bd_rate=None,
               time_ratio=time_ratios([_times(p) for p in ok], reference or []))


def class_row(cls: str, optional: bool, rule: str, members: list[Row], expected: list[str],
              settings: "BDSettings", *, pooled: list[CurvePoint] | None = None,
              pooled_reference: list[CurvePoint] | None = None, not_poolable: str | None = None,
              reference_name: str = "anchor", has_reference: bool = True) -> Row:
    """The row of one class under ``rule``. ``expected`` lists the members the edition asks for
    (absent ones make the row partial). For ``pooled``: the test's pooled curve (or
    ``not_poolable``, why there is none) and the reference's pooled curve."""
    mean = mean_of(members, expected=len(set(expected) | {m.name for m in members}))
    absent = [name for name in expected if name not in {m.name for m in members}]
    if rule == "pooled":
        if not has_reference:
            bd = _no_bd(f"no-{reference_name}")
        elif pooled is None:
            bd = _no_bd("not-poolable", not_poolable or "no pooled curve")
        elif not pooled_reference:
            bd = _no_bd(f"{reference_name}-not-poolable",
                        f"the {reference_name} has no pooled class curve")
        else:
            bd = _bd(pooled_reference, pooled, settings)
    else:
        bd = {**_no_bd(mean["mean_status"]), "bd_rate": mean["mean_bd_rate"],
              "bd_metric": mean["mean_bd_metric"]}
        if mean["mean_status"] == "ok":
            bd["status"] = "ok"
    partial = mean["partial_bd_rate"]
    if absent and bd["bd_rate"] is not None:
        partial = bd["bd_rate"] if rule == "pooled" else partial
        bd.update(bd_rate=None, bd_metric=None, status="partial")
    if absent:
        bd["warnings"].append(f"not in the submission: {', '.join(absent)}")
    metrics = {m.metric_id for m in members}
    units = {m.rate_unit for m in members}
    return Row(kind="class", name=cls, cls=cls, optional=optional, rule=rule,
               members=[m.name for m in members], evidence=weakest(m.evidence for m in members),
               metric_id=metrics.pop() if len(metrics) == 1 else None,
               rate_unit=units.pop() if len(units) == 1 else None,
               points=sum(m.points for m in members), points_ok=sum(m.points_ok for m in members),
               curve=pooled if rule == "pooled" else None,
               anchor_curve=pooled_reference if rule == "pooled" else None, **bd,
               **{**mean, "partial_bd_rate": partial},
               time_ratio=geomean_ratios([m.time_ratio for m in members]))


def overall_row(rule: str, sequences: list[Row], classes: list[Row],
                expected: list[str]) -> Row:
    """The overall row: the mean over the non-optional classes or sequences (``rule``);
    ``expected`` names the rows the edition asks for."""
    used = [r for r in (sequences if rule == "mean-of-sequences" else classes) if not r.optional]
    mean = mean_of(used, expected=len(set(expected) | {r.name for r in used}))
    absent = [name for name in expected if name not in {r.name for r in used}]
    warnings = [f"not in the submission: {', '.join(absent)}"] if absent else []
    seqs = [r for r in sequences if not r.optional]
    statuses = {r.status for r in used}
    no_reference = len(statuses) == 1 and next(iter(statuses)).startswith("no-")
    return Row(kind="overall", name="Overall", cls=None, optional=False, rule=rule,
               members=[r.name for r in used], evidence=weakest(r.evidence for r in used),
               metric_id=None, rate_unit=None, points=sum(r.points for r in seqs),
               points_ok=sum(r.points_ok for r in seqs), curve=None, anchor_curve=None,
               bd_rate=mean["mean_bd_rate"], bd_metric=mean["mean_bd_metric"],
               status=statuses.pop() if no_reference else mean["mean_status"], overlap=None, overlap_rate=None, warnings=warnings,
               bd_detail=None, **mean, time_ratio=geomean_ratios([r.time_ratio for r in seqs]))


def weighted_complexity(items: list[tuple[dict[str, float], float]]) -> dict[str, float | None]:
    """kMAC/pixel per component over (complexity, weight) items, weighted (by frames or images);
    a component some item lacks is null (a mean over some points is not the row's number)."""
    components = sorted({k for c, _ in items for k in c})
    out: dict[str, float | None] = {}
    for k in components:
        if all(k in c for c, _ in items) and sum(w for _, w in items) > 0:
            out[k] = sum(c[k] * w for c, w in items) / sum(w for _, w in items)
        else:
            out[k] = None
    return out
