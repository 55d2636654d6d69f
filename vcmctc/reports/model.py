"""The view model of a report: rows, columns and formatted values taken from a saved results.json.

Nothing here recomputes a number: every value shown is a value of the results file (a ratio is
only written as a percentage). A value that is missing is shown with its reason, e.g.
``n/a (too-few-points)``, never as a blank cell that could be read as 0. Every format (Markdown,
HTML, LaTeX, CSV, xlsx) renders from :class:`Report`, so they all show the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmctc.results.model import TIME_KEYS, Results, Row, load_results  # noqa: F401 (re-export)

# Decimals shown for each kind of number (raw values stay available for CSV and xlsx).
DIGITS = {"kbps": 3, "bpp": 6, "metric": 3, "time": 2, "bd_rate": 2, "bd_metric": 3,
          "ratio_pct": 2, "overlap_pct": 1}


# ---------------------------------------------------------------------------------------------
# formatted values

@dataclass(frozen=True)
class Num:
    """A number with its display text; ``value`` None means missing (``text`` says why)."""

    value: float | None
    text: str
    tone: str = ""  # "good" / "bad" / "" (for colouring BD numbers)

    @property
    def missing(self) -> bool:
        return self.value is None


def na(reason: str | None = None) -> str:
    return f"n/a ({reason})" if reason else "n/a"


def fmt(value: float | None, digits: int, *, reason: str | None = None, suffix: str = "") -> Num:
    if value is None or (isinstance(value, float) and value != value):
        return Num(None, na(reason))
    text = f"{value:.{digits}f}"
    if text.lstrip("-").strip("0.") == "" and text.startswith("-"):
        text = text[1:]  # no "-0.00"
    return Num(value, text + suffix)


def pct(ratio: float | None, reason: str | None = None) -> Num:
    """A time ratio (test / anchor) shown as a percentage."""
    if ratio is None:
        return Num(None, na(reason))
    shown = fmt(ratio * 100.0, DIGITS["ratio_pct"])
    return Num(ratio, shown.text + " %")


def bd_tone(value: float | None, higher_is_better: bool, *, is_rate: bool) -> str:
    if value is None or value == 0:
        return ""
    good = value < 0 if is_rate else (value > 0) == higher_is_better
    return "good" if good else "bad"


def rate_digits(unit: str | None) -> int:
    return DIGITS["bpp"] if unit == "bpp" else DIGITS["kbps"]


def metric_info(name: str | None) -> tuple[str, bool]:
    """(label, higher_is_better) of an edition metric id."""
    from vcmctc.errors import UserError
    from vcmctc.families import metric_def

    try:
        info = metric_def(name) if name else None
    except UserError:   # a metric of another vcmctc version: show its id
        info = None
    if info is None:
        return (name or "metric"), True
    return info.label, info.higher_is_better


# ---------------------------------------------------------------------------------------------
# rows

@dataclass
class PointRow:
    """One rate point: the submission's values beside the anchor's point of the same QP."""

    sequence: str
    cls: str
    label: str
    qp: int | None
    point: str                 # QP if known, else the label
    evidence: str
    status: str
    message: str | None
    rate_unit: str | None
    metric_name: str | None
    metric_label: str
    rate: Num
    metric: Num
    enc: Num
    dec: Num
    total: Num
    time_source: str
    anchor_rate: Num
    anchor_metric: Num
    anchor_enc: Num
    anchor_dec: Num
    anchor_total: Num
    rate_source: str | None = None
    metric_source: str | None = None
    reported_metric: Num | None = None
    bits_total: float | None = None
    bits_components: dict[str, Any] = field(default_factory=dict)
    bits_derived: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    in_test: bool = True
    in_anchor: bool = True
    decoded_md5: str | None = None          # MD5 of the output of the decoder vcmctc ran
    features: "FeatureRow | None" = None    # FCM: the decoded features of the point
    complexity: dict[str, Num] = field(default_factory=dict)   # component -> kMAC/pixel


@dataclass
class FeatureRow:
    """The decoded features of one point (FCM): what the decode step recorded."""

    split_point: str
    frames: int
    tensors: str                # "a 8x60x104 float32; b 3x30x52 float32"
    md5: str
    mse: Num
    conformance: str | None     # the conformance file, relative to the output folder


@dataclass
class BDRow:
    """A sequence, class or overall row of the BD-rate summary."""

    kind: str                  # "sequence" | "class" | "overall"
    name: str
    cls: str
    evidence: str
    optional: bool
    status: str
    bd_rate: Num
    bd_metric: Num
    enc_ratio: Num
    dec_ratio: Num
    time_ratio: Num
    rule: str = ""
    members: list[str] = field(default_factory=list)
    points: str = ""           # "ok/total" for sequences
    overlap: Num | None = None
    fallback: Num | None = None  # a number that is not the CTC number (mean fallback, partial mean)
    fallback_label: str = ""
    note: str = ""
    warnings: list[str] = field(default_factory=list)
    metric_id: str | None = None
    metric_label: str = ""
    flag: str = ""             # why the row is marked (status not ok, or a partial number)
    complexity: dict[str, Num] = field(default_factory=dict)   # component -> kMAC/pixel

    @property
    def flagged(self) -> bool:
        return bool(self.flag)


@dataclass
class Block:
    """One task block (one metric, as one sheet of the MPEG reporting templates): each sequence's
    BD row with its rate points, and each class row with its pooled curve points (anchor, test)
    paired by rank."""

    metric_id: str | None
    label: str
    rate_unit: str
    sequences: list[tuple[BDRow, list[PointRow]]]
    classes: list[tuple[BDRow, list[tuple[tuple[float, float] | None, tuple[float, float] | None]]]]


@dataclass
class Curve:
    """Points of one R-P plot: the anchor's and the submission's curves of a sequence or class."""

    name: str
    title: str
    rate_unit: str
    metric_label: str
    anchor: list[tuple[float, float]]
    test: list[tuple[float, float]]
    bd_text: str = ""
    note: str = ""


@dataclass
class Report:
    codec: str
    description: str | None
    complete: bool | None
    manifest: str | None
    edition_id: str
    edition_title: str
    track: str
    scenario: str
    class_rows: str
    overall_rule: str
    anchor_id: str
    anchor_codec: str
    anchor_kind: str
    bd_method: str
    bd_policy: str
    bd_min_points: Any
    evidence: str
    ratio_averaging: str
    timing_mode: str
    signature_line: str
    signature: list[tuple[str, str]]
    provenance: list[tuple[str, str]]
    header: list[tuple[str, str]]
    rate_header: str
    metric_header: str
    mixed_metrics: bool
    metrics: list[tuple[str, str, bool]]   # (id, label, higher_is_better)
    points: list[PointRow]
    sequences: list[BDRow]
    classes: list[BDRow]
    overall: BDRow | None
    findings: list[dict[str, Any]]
    curves: list[Curve]
    class_curves: list[Curve]
    anchor_name: str = ""
    metrics_text: str = ""
    blocks: list[Block] = field(default_factory=list)
    # kMAC/pixel components present in the results (empty: no complexity section is shown)
    complexity_components: list[str] = field(default_factory=list)

    @property
    def bd_rows(self) -> list[BDRow]:
        return [*self.sequences, *self.classes, *([self.overall] if self.overall else [])]

    @property
    def complexity_rows(self) -> list[BDRow]:
        return [r for r in self.bd_rows if r.complexity]

    @property
    def feature_points(self) -> list[PointRow]:
        """Points whose decoded output is features (FCM)."""
        return [p for p in self.points if p.features is not None]

    def points_by_class(self) -> list[tuple[str, list[PointRow]]]:
        groups: dict[str, list[PointRow]] = {}
        for p in self.points:
            groups.setdefault(p.cls, []).append(p)
        return list(groups.items())


# ---------------------------------------------------------------------------------------------
# building

def _time_source(p) -> str:
    parts = []
    for source, name in ((p.enc_time_source, "enc"), (p.dec_time_source, "dec")):
        if source:
            parts.append(f"{name}: {source}")
    return "; ".join(parts)


def _anchor_values(a: dict | None, unit: str | None, reason: str | None) -> dict[str, Num]:
    a = a or {}
    return {"anchor_rate": fmt(a.get("rate"), rate_digits(unit), reason=reason),
            "anchor_metric": fmt(a.get("metric"), DIGITS["metric"], reason=reason),
            "anchor_enc": fmt(a.get("enc_time_s"), DIGITS["time"]),
            "anchor_dec": fmt(a.get("dec_time_s"), DIGITS["time"]),
            "anchor_total": fmt(a.get("time_s"), DIGITS["time"])}


def kmac(value: float | None) -> Num:
    """kMAC/pixel, shown with 4 significant digits (values span 0.001 to 1000)."""
    if value is None:
        return Num(None, na("not given for every point"))
    return Num(value, f"{value:.4g}")


def _complexity(values: dict[str, float | None]) -> dict[str, Num]:
    return {k: kmac(v) for k, v in values.items()}


def _features(p) -> FeatureRow | None:
    info = p.decode.features if p.decode is not None else None
    if not info:
        return None
    tensors = "; ".join(
        f"{name} {'x'.join(map(str, t['shape'])) if t.get('shape') else 'varied'} {t['dtype']}"
        for name, t in info.get("tensors", {}).items())
    return FeatureRow(split_point=str(info.get("split_point")), frames=int(info.get("frames", 0)),
                      tensors=tensors, md5=str(p.decode.md5),
                      mse=(fmt(info["mse"], 6) if info.get("mse") is not None
                           else Num(None, na("no original features"))),
                      conformance=info.get("conformance"))


def _point_row(p, anchor: dict | None) -> PointRow:
    unit = p.rate_unit
    label, _ = metric_info(p.metric_id)
    reason = None if p.status == "ok" else p.status
    return PointRow(
        sequence=p.sequence, cls=p.cls, label=p.label, qp=p.qp,
        point=str(p.qp) if p.qp is not None else p.label, evidence=p.evidence,
        status=p.status, message=p.message, rate_unit=unit, metric_name=p.metric_id,
        metric_label=label, rate=fmt(p.rate, rate_digits(unit), reason=reason),
        metric=fmt(p.metric, DIGITS["metric"], reason=reason),
        enc=fmt(p.enc_time_s, DIGITS["time"]), dec=fmt(p.dec_time_s, DIGITS["time"]),
        total=fmt(p.time_s, DIGITS["time"]), time_source=_time_source(p),
        **_anchor_values(anchor, unit, None if anchor is not None else "not in anchor"),
        rate_source=p.rate_source, metric_source=p.metric_source,
        reported_metric=(fmt(p.reported_metric, DIGITS["metric"])
                         if p.reported_metric is not None else None),
        bits_total=p.bits_total, bits_components=dict(p.bits_components),
        bits_derived=p.bits_derived, stats=dict(p.stats), warnings=list(p.warnings),
        in_anchor=anchor is not None,
        decoded_md5=p.decode.md5 if p.decode is not None else None, features=_features(p),
        complexity=_complexity(p.complexity),
    )


def _anchor_only_row(seq: Row, a: dict, unit: str | None, metric_name: str | None) -> PointRow:
    label, _ = metric_info(metric_name)
    missing = Num(None, na("missing"))
    qp = a.get("qp")
    return PointRow(
        sequence=seq.name, cls=seq.cls or "", label=f"qp{qp}", qp=qp, point=str(qp),
        evidence="none", status="missing", message="point not in the submission",
        rate_unit=unit, metric_name=metric_name, metric_label=label, rate=missing,
        metric=missing, enc=missing, dec=missing, total=missing, time_source="",
        **_anchor_values(a, unit, None), in_test=False,
    )


def _points(results: Results) -> list[PointRow]:
    anchor_pts = results.anchor.points if results.anchor else {}
    rows: list[PointRow] = []
    for seq in results.sequences:
        remaining = list(anchor_pts.get(seq.name, []))
        mine = results.points_of(seq.name)
        for p in mine:
            match = next((a for a in remaining if p.qp is not None and a.get("qp") == p.qp), None)
            if match is not None:   # the anchor point of the same QP (the first if one repeats)
                remaining.remove(match)
            rows.append(_point_row(p, match))
        rows += [_anchor_only_row(seq, a, seq.rate_unit, seq.metric_id) for a in remaining]
    return rows


def _ratios(tr: dict | None) -> tuple[Num, Num, Num]:
    tr = tr or {}
    return tuple(pct(tr.get(k)) for k in TIME_KEYS)  # type: ignore[return-value]


def _overlap(row: Row) -> Num:
    if row.overlap is None:
        return Num(None, na())
    return fmt(row.overlap * 100.0, DIGITS["overlap_pct"], suffix=" %")


def _partial(row: Row) -> tuple[Num | None, str]:
    if row.partial_bd_rate is None:
        return None, ""
    missing = [m for m in row.missing] + [w.split(": ", 1)[1] for w in row.warnings
                                          if w.startswith("not in the submission: ")]
    what = ("BD-rate of the pooled curve of the members present"
            if row.rule == "pooled" and row.curve else
            f"partial mean over the {row.mean_over} with a BD-rate")
    text = f"not the CTC number: {what}" + (f" (missing: {', '.join(missing)})" if missing else "")
    return fmt(row.partial_bd_rate, DIGITS["bd_rate"]), text


def _bd_row(row: Row, hib: bool) -> BDRow:
    enc, dec, tot = _ratios(row.time_ratio)
    bd = fmt(row.bd_rate, DIGITS["bd_rate"], reason=row.status)
    bdm_reason = row.status
    if row.status == "ok" and row.bd_metric is None:
        bdm_reason = ("no rate overlap" if any("rate" in w and "overlap" in w for w in row.warnings)
                      else "not given")
    bdm = fmt(row.bd_metric, DIGITS["bd_metric"], reason=bdm_reason)
    fallback, label, notes = None, "", []
    if row.kind == "sequence":
        if row.optional:
            notes.append("optional (not in the overall row)")
    elif row.kind == "class":
        if row.rule == "pooled":
            notes.append("pooled curve of the members" if row.curve else "pooled")
            if row.bd_rate is None and row.mean_bd_rate is not None:
                fallback = fmt(row.mean_bd_rate, DIGITS["bd_rate"])
                label = (f"not the CTC number, fallback for the {row.status} pooled row: mean "
                         "of the members' BD-rates (mean_bd_rate)")
        else:
            notes.append("mean of the members' BD-rates")
        if row.optional:
            notes.append("optional class")
    else:
        notes.append(f"{row.rule or 'mean'} over "
                     f"{', '.join(row.members) if row.members else 'nothing'}")
    if fallback is None and row.bd_rate is None:
        fallback, label = _partial(row)
    metric_label = metric_info(row.metric_id)[0] if row.metric_id else "mixed"
    return BDRow(
        kind=row.kind, name=row.name, cls=row.cls or "", evidence=row.evidence or "",
        optional=row.optional, status=row.status,
        bd_rate=Num(bd.value, bd.text, bd_tone(bd.value, hib, is_rate=True)),
        bd_metric=Num(bdm.value, bdm.text, bd_tone(bdm.value, hib, is_rate=False)),
        enc_ratio=enc, dec_ratio=dec, time_ratio=tot,
        rule=row.rule if row.kind != "sequence" else "", members=list(row.members),
        points=f"{row.points_ok}/{row.points}" if row.kind == "sequence" else "",
        overlap=_overlap(row), fallback=fallback, fallback_label=label,
        note="; ".join(notes), warnings=list(row.warnings),
        metric_id=row.metric_id, metric_label=metric_label, flag=row_flag(row),
        complexity=_complexity(row.complexity),
    )


FLAG_MARK = "\u26a0"   # the sign that marks a row whose number is not a plain CTC number
FLAG_LEGEND = (f"{FLAG_MARK} marks a row whose status is not ok (e.g. low-overlap, partial, "
               "too-few-points) or that carries a partial number: read its status and note "
               "before quoting it.")


def row_flag(row: Row) -> str:
    """Why a row is marked: its status when not ``ok``, else ``partial`` when it carries a number
    over only some members; empty for a plain CTC number."""
    if row.status != "ok":
        return row.status
    if row.partial_bd_rate is not None:
        return "partial"
    return ""


def anchor_name(anchor) -> str:
    """The anchor's id, with its codec only when the id does not already say it."""
    if anchor is None:
        return "no anchor"
    if not anchor.codec or anchor.codec in anchor.id:
        return anchor.id
    return f"{anchor.id} ({anchor.codec})"


def _blocks(results: Results, points: list[PointRow], seq_rows: list[BDRow],
            class_rows: list[BDRow]) -> list[Block]:
    """Task blocks in the order their metrics first appear."""
    order: dict[str | None, Block] = {}
    for row, seq in zip(seq_rows, results.sequences):
        block = order.get(row.metric_id)
        if block is None:
            block = order[row.metric_id] = Block(row.metric_id, row.metric_label,
                                                 seq.rate_unit or "", [], [])
        block.sequences.append((row, [p for p in points if p.sequence == row.name]))
    for row, cls in zip(class_rows, results.classes):
        block = order.get(row.metric_id)
        if block is None:   # a class whose members mix metrics: a block of its own
            block = order[row.metric_id] = Block(row.metric_id, row.metric_label,
                                                 cls.rate_unit or "", [], [])
        anchor = sorted((c.rate, c.metric) for c in cls.anchor_curve or [])
        test = sorted((c.rate, c.metric) for c in cls.curve or [])
        n = max(len(anchor), len(test))
        pairs = [(anchor[k] if k < len(anchor) else None, test[k] if k < len(test) else None)
                 for k in range(n)]
        block.classes.append((row, pairs))
    return list(order.values())


def _curve(row: Row, title: str, anchor, test, note: str = "") -> Curve:
    label, _ = metric_info(row.metric_id)
    bd = fmt(row.bd_rate, DIGITS["bd_rate"], reason=row.status)
    return Curve(name=row.name if row.kind == "sequence" else f"class-{row.name}", title=title,
                 rate_unit=row.rate_unit or "", metric_label=label,
                 anchor=sorted((c.rate, c.metric) for c in anchor or []),
                 test=sorted((c.rate, c.metric) for c in test or []),
                 bd_text=f"BD-rate {bd.text}{' %' if bd.value is not None else ''}", note=note)


def _curves(results: Results) -> tuple[list[Curve], list[Curve]]:
    curves = [_curve(s, f"{s.name} (class {s.cls})", s.anchor_curve, s.curve)
              for s in results.sequences]
    class_curves = [_curve(c, f"class {c.name} (pooled)", c.anchor_curve, c.curve,
                           "" if c.anchor_curve else "the anchor has no pooled class curve")
                    for c in results.classes if c.curve]
    return curves, class_curves


def _flat(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        if not value:
            out.append((prefix, "{}"))
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        out.append((prefix, ", ".join(str(v) for v in value) if value else "(none)"))
    else:
        out.append((prefix, "null" if value is None else str(value)))


def build_report(results: Results) -> Report:
    """The view model of a :class:`~vcmctc.results.model.Results`."""
    sig, sub, ed = results.signature, results.submission, results.edition
    agg = ed.get("aggregation") or {}
    anchor = results.anchor
    timing = results.timing
    points = _points(results)
    test_points = [p for p in points if p.in_test]

    metric_ids = list(dict.fromkeys(p.metric_id for p in results.points if p.metric_id))
    metrics = [(m, *metric_info(m)) for m in metric_ids]
    labels = list(dict.fromkeys(label for _, label, _ in metrics))
    units = list(dict.fromkeys(p.rate_unit for p in test_points if p.rate_unit))
    hib_all = all(h for _, _, h in metrics) if metrics else True
    evidence = "+".join(sig.get("evidence") or []) or "?"

    seq_rows = [_bd_row(s, metric_info(s.metric_id)[1]) for s in results.sequences]
    class_rows = [_bd_row(c, metric_info(c.metric_id)[1]) for c in results.classes]
    overall = _bd_row(results.overall, hib_all)
    overall.evidence = evidence
    aname = anchor_name(anchor)
    curves, class_curves = _curves(results)

    complete = sub.get("complete")
    ran = timing.get("decoders_run")
    header = [
        ("Submission", str(sub.get("codec", "?"))),
        ("Edition", f"{ed.get('id', '?')}: {ed.get('title', '')}".rstrip(": ")),
        ("Track / scenario", f"{ed.get('track', '?')} / {ed.get('scenario', '?')}"),
        ("Anchor", aname if anchor else "none"),
        ("Metrics", ", ".join(f"{label} ({mid})" for mid, label, _ in metrics) or "none"),
        ("BD-rate", f"{sig.get('bd_method', '?')} interpolation, policy {sig.get('bd_policy', '?')}"
                    + (f" (monotonic cubic fitted with the {sig['bd_fit_solver']} solver)"
                       if str(sig.get("bd_policy", "")).startswith("fit") and sig.get("bd_fit_solver")
                       else "")
                    + f", at least {sig.get('bd_min_points', '?')} points"
                    + (f"; overlap below {100 * sig['bd_min_overlap']:g} % is marked low-overlap"
                       if sig.get("bd_min_overlap") is not None else "")),
        ("Class rows", str(agg.get("class_rows", sig.get("class_rows", "?")))),
        ("Overall row", str(agg.get("overall", sig.get("overall", "?")))),
        ("Evidence", evidence),
        ("Complete", "yes" if complete else ("no (see findings)" if complete is False else "?")),
        ("Times", f"relative to the anchor; {timing.get('ratio_averaging', 'averaging not stated')}"
                  + (f"; vcmctc ran decoders in {timing['mode']} mode with {timing.get('jobs', '?')} "
                     "job(s)" if ran else "")),
    ]
    if sub.get("description"):
        header.insert(1, ("Description", str(sub["description"])))

    signature: list[tuple[str, str]] = []
    _flat("", {k: v for k, v in sig.items() if k != "line"}, signature)
    provenance: list[tuple[str, str]] = []
    _flat("submission", sub, provenance)
    _flat("edition", {k: v for k, v in ed.items() if k != "classes"}, provenance)
    if anchor:
        _flat("anchor", {"id": anchor.id, "codec": anchor.codec, "kind": anchor.kind,
                         "source": anchor.source, "sha256": anchor.sha256}, provenance)
    _flat("timing", timing, provenance)
    _flat("run", results.run, provenance)

    return Report(
        codec=str(sub.get("codec", "?")), description=sub.get("description"), complete=complete,
        manifest=sub.get("manifest"), edition_id=str(ed.get("id", sig.get("edition", "?"))),
        edition_title=str(ed.get("title", "")), track=str(ed.get("track", "?")),
        scenario=str(ed.get("scenario", sig.get("scenario", "?"))),
        class_rows=str(agg.get("class_rows", sig.get("class_rows", "?"))),
        overall_rule=str(agg.get("overall", sig.get("overall", "?"))),
        anchor_id=anchor.id if anchor else "no anchor",
        anchor_codec=anchor.codec if anchor else "?", anchor_kind=anchor.kind if anchor else "?",
        bd_method=str(sig.get("bd_method", "?")), bd_policy=str(sig.get("bd_policy", "?")),
        bd_min_points=sig.get("bd_min_points", "?"), evidence=evidence,
        ratio_averaging=str(timing.get("ratio_averaging", "not stated")),
        timing_mode=str(timing.get("mode", "?")), signature_line=str(sig.get("line", "")),
        signature=signature, provenance=provenance, header=header,
        rate_header=units[0] if len(units) == 1 else "Rate",
        metric_header=labels[0] if len(labels) == 1 else "Metric",
        mixed_metrics=len(labels) > 1, metrics=metrics,
        points=points, sequences=seq_rows, classes=class_rows, overall=overall,
        findings=list(results.findings), curves=curves, class_curves=class_curves,
        anchor_name=aname,
        metrics_text=", ".join(f"{label} ({mid})" for mid, label, _ in metrics),
        blocks=_blocks(results, points, seq_rows, class_rows),
        complexity_components=_components(results),
    )


def _components(results: Results) -> list[str]:
    """kMAC/pixel components of the results, CompressAI-Vision's four first, in their order."""
    from vcmctc.features.complexity import COMPONENTS

    seen = {k for r in results.rows() for k in r.complexity}
    seen |= {k for p in results.points for k in p.complexity}
    return [c for c in COMPONENTS if c in seen] + sorted(seen - set(COMPONENTS))
