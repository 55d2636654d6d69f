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

from vcmctc.errors import UserError

SCHEMA_FAMILY = "vcmctc-results"
SUPPORTED_SCHEMAS = ("vcmctc-results/1",)

# Decimals shown for each kind of number (raw values stay available for CSV and xlsx).
DIGITS = {"kbps": 3, "bpp": 6, "metric": 3, "time": 2, "bd_rate": 2, "bd_metric": 3,
          "ratio_pct": 2, "overlap_pct": 1}
TIME_KEYS = ("enc_time_s", "dec_time_s", "time_s")


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results.json written by ``vcmctc evaluate``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError("no such results file", file=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError("not a UTF-8 text file", file=path) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"not valid JSON ({exc.msg})", file=path, line=exc.lineno) from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(SCHEMA_FAMILY + "/"):
        raise UserError("not a vcmctc results.json (no 'schema: vcmctc-results/...')", file=path)
    if data["schema"] not in SUPPORTED_SCHEMAS:
        raise UserError(f"schema {data['schema']!r} is not supported by this vcmctc "
                        f"(supported: {', '.join(SUPPORTED_SCHEMAS)})", file=path)
    for key in ("signature", "submission", "edition", "points", "sequences", "classes", "overall"):
        if key not in data:
            raise UserError(f"field {key!r} is missing", file=path)
    for key, ident in (("points", "sequence"), ("sequences", "sequence"), ("classes", "class")):
        rows = data[key]
        if not isinstance(rows, list):
            raise UserError(f"field {key!r}: expected a list", file=path)
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or ident not in row:
                raise UserError(f"field {key}[{i}]: expected an object with {ident!r}", file=path)
    return data


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
    from vcmctc.ctc.schema import METRICS

    info = METRICS.get(name) if name else None
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

    @property
    def bd_rows(self) -> list[BDRow]:
        return [*self.sequences, *self.classes, *([self.overall] if self.overall else [])]

    def points_by_class(self) -> list[tuple[str, list[PointRow]]]:
        groups: dict[str, list[PointRow]] = {}
        for p in self.points:
            groups.setdefault(p.cls, []).append(p)
        return list(groups.items())


# ---------------------------------------------------------------------------------------------
# building

def _anchor_points(results: dict) -> dict[str, list[dict]]:
    anchor = results.get("anchor") or {}
    return anchor.get("points") or {}


def _time_source(p: dict) -> str:
    parts = []
    for key, name in (("enc_time_source", "enc"), ("dec_time_source", "dec")):
        if p.get(key):
            parts.append(f"{name}: {p[key]}")
    return "; ".join(parts)


def _point_row(p: dict, anchor: dict | None) -> PointRow:
    unit = p.get("rate_unit")
    label, _ = metric_info(p.get("metric_name"))
    status = p.get("status") or "ok"
    reason = None if status == "ok" else status
    a = anchor or {}
    a_reason = None if anchor is not None else "not in anchor"
    bits = p.get("bits") or {}
    reported = p.get("reported_metric")
    return PointRow(
        sequence=p["sequence"], cls=str(p.get("class") or ""), label=str(p.get("label") or ""),
        qp=p.get("qp"), point=str(p["qp"]) if p.get("qp") is not None else str(p.get("label")),
        evidence=p.get("evidence") or "", status=status, message=p.get("message"),
        rate_unit=unit, metric_name=p.get("metric_name"), metric_label=label,
        rate=fmt(p.get("rate"), rate_digits(unit), reason=reason),
        metric=fmt(p.get("metric"), DIGITS["metric"], reason=reason),
        enc=fmt(p.get("enc_time_s"), DIGITS["time"]),
        dec=fmt(p.get("dec_time_s"), DIGITS["time"]),
        total=fmt(p.get("time_s"), DIGITS["time"]),
        time_source=_time_source(p),
        anchor_rate=fmt(a.get("rate"), rate_digits(unit), reason=a_reason),
        anchor_metric=fmt(a.get("metric"), DIGITS["metric"], reason=a_reason),
        anchor_enc=fmt(a.get("enc_time_s"), DIGITS["time"]),
        anchor_dec=fmt(a.get("dec_time_s"), DIGITS["time"]),
        anchor_total=fmt(a.get("time_s"), DIGITS["time"]),
        rate_source=p.get("rate_source"), metric_source=p.get("metric_source"),
        reported_metric=fmt(reported, DIGITS["metric"]) if reported is not None else None,
        bits_total=bits.get("total"), bits_components=dict(bits.get("components") or {}),
        bits_derived=bool(bits.get("derived_from_rate")),
        stats=dict(p.get("stats") or {}), warnings=list(p.get("warnings") or []),
        in_anchor=anchor is not None,
    )


def _anchor_only_row(seq: dict, a: dict, unit: str | None, metric_name: str | None) -> PointRow:
    label, _ = metric_info(metric_name)
    missing = Num(None, na("missing"))
    qp = a.get("qp")
    return PointRow(
        sequence=seq["sequence"], cls=str(seq.get("class") or ""), label=f"qp{qp}", qp=qp,
        point=str(qp), evidence="none", status="missing", message="point not in the submission",
        rate_unit=unit, metric_name=metric_name, metric_label=label,
        rate=missing, metric=missing, enc=missing, dec=missing, total=missing, time_source="",
        anchor_rate=fmt(a.get("rate"), rate_digits(unit)),
        anchor_metric=fmt(a.get("metric"), DIGITS["metric"]),
        anchor_enc=fmt(a.get("enc_time_s"), DIGITS["time"]),
        anchor_dec=fmt(a.get("dec_time_s"), DIGITS["time"]),
        anchor_total=fmt(a.get("time_s"), DIGITS["time"]),
        in_test=False,
    )


def _points(results: dict) -> list[PointRow]:
    anchor_pts = _anchor_points(results)
    by_seq: dict[str, list[dict]] = {}
    for p in results["points"]:
        by_seq.setdefault(p["sequence"], []).append(p)
    order = [s["sequence"] for s in results["sequences"]]
    order += [s for s in by_seq if s not in order]
    rows: list[PointRow] = []
    for seq_id in order:
        seq = next((s for s in results["sequences"] if s["sequence"] == seq_id),
                   {"sequence": seq_id, "class": (by_seq.get(seq_id) or [{}])[0].get("class")})
        remaining = list(anchor_pts.get(seq_id, []))
        mine = by_seq.get(seq_id, [])
        for p in mine:
            match = None
            for a in remaining:  # anchor point of the same QP (first one if a QP repeats)
                if p.get("qp") is not None and a.get("qp") == p.get("qp"):
                    match = a
                    break
            if match is not None:
                remaining.remove(match)
            rows.append(_point_row(p, match))
        unit = mine[0].get("rate_unit") if mine else None
        metric_name = mine[0].get("metric_name") if mine else None
        rows += [_anchor_only_row(seq, a, unit, metric_name) for a in remaining]
    return rows


def _ratios(tr: dict | None) -> tuple[Num, Num, Num]:
    tr = tr or {}
    return tuple(pct(tr.get(k)) for k in TIME_KEYS)  # type: ignore[return-value]


def _bd_missing_metric_reason(status: str, warnings: list[str]) -> str:
    if status != "ok":
        return status
    return "no rate overlap" if any("rate" in w and "overlap" in w for w in warnings) else "not given"


def _sequence_row(s: dict, metric_of: dict[str, str | None]) -> BDRow:
    status = s.get("status") or "?"
    _, hib = metric_info(metric_of.get(s["sequence"]))
    warnings = list(s.get("warnings") or [])
    enc, dec, tot = _ratios(s.get("time_ratio"))
    bd = fmt(s.get("bd_rate"), DIGITS["bd_rate"], reason=status)
    bdm = fmt(s.get("bd_metric"), DIGITS["bd_metric"],
              reason=_bd_missing_metric_reason(status, warnings))
    notes = []
    if s.get("optional"):
        notes.append("optional (not in the overall row)")
    return BDRow(
        kind="sequence", name=s["sequence"], cls=str(s.get("class") or ""),
        evidence=s.get("evidence") or "", optional=bool(s.get("optional")), status=status,
        bd_rate=Num(bd.value, bd.text, bd_tone(bd.value, hib, is_rate=True)),
        bd_metric=Num(bdm.value, bdm.text, bd_tone(bdm.value, hib, is_rate=False)),
        enc_ratio=enc, dec_ratio=dec, time_ratio=tot,
        points=f"{s.get('points_ok', '?')}/{s.get('points', '?')}",
        overlap=(fmt(s["overlap"] * 100.0, DIGITS["overlap_pct"], suffix=" %")
                 if s.get("overlap") is not None else Num(None, na())),
        note="; ".join(notes), warnings=warnings,
    )


def _partial(row: dict) -> tuple[Num | None, str]:
    if row.get("partial_mean") is None:
        return None, ""
    missing = row.get("missing") or []
    text = (f"not the CTC number: partial mean over the {row.get('mean_over')} with a BD-rate"
            + (f" (missing: {', '.join(map(str, missing))})" if missing else ""))
    return fmt(row["partial_mean"], DIGITS["bd_rate"]), text


def _class_row(c: dict, hib: bool) -> BDRow:
    rule = c.get("rule") or ""
    status = c.get("status") or "?"
    enc, dec, tot = _ratios(c.get("time_ratio"))
    bd = fmt(c.get("bd_rate"), DIGITS["bd_rate"], reason=status)
    if rule == "pooled":
        bdm = fmt(c.get("bd_metric"), DIGITS["bd_metric"], reason=status)
    else:
        bdm = fmt(c.get("bd_metric_mean"), DIGITS["bd_metric"], reason=status)
    fallback, label, notes = None, "", []
    if rule == "pooled":
        notes.append("pooled curve of the members" if c.get("curve") else "pooled")
        if c.get("bd_rate") is None and c.get("mean_bd_rate") is not None:
            fallback = fmt(c["mean_bd_rate"], DIGITS["bd_rate"])
            label = (f"not the CTC number, fallback for the {status} pooled row: mean of the "
                     f"members' BD-rates (mean_bd_rate)")
        elif c.get("bd_rate") is None and c.get("partial_mean") is not None:
            fallback, label = _partial(c)
    else:
        notes.append("mean of the members' BD-rates")
        if c.get("bd_rate") is None:
            fallback, label = _partial(c)
    if c.get("optional"):
        notes.append("optional class")
    return BDRow(
        kind="class", name=str(c["class"]), cls=str(c["class"]), evidence=c.get("evidence") or "",
        optional=bool(c.get("optional")), status=status,
        bd_rate=Num(bd.value, bd.text, bd_tone(bd.value, hib, is_rate=True)),
        bd_metric=Num(bdm.value, bdm.text, bd_tone(bdm.value, hib, is_rate=False)),
        enc_ratio=enc, dec_ratio=dec, time_ratio=tot, rule=rule,
        members=[str(m) for m in c.get("sequences") or []], fallback=fallback,
        overlap=(fmt(c["overlap"] * 100.0, DIGITS["overlap_pct"], suffix=" %")
                 if c.get("overlap") is not None else Num(None, na())),
        fallback_label=label, note="; ".join(notes), warnings=list(c.get("warnings") or []),
    )


def _overall_row(o: dict, evidence: str, hib: bool) -> BDRow:
    status = o.get("status") or "?"
    enc, dec, tot = _ratios(o.get("time_ratio"))
    bd = fmt(o.get("bd_rate"), DIGITS["bd_rate"], reason=status)
    bdm = fmt(o.get("bd_metric_mean"), DIGITS["bd_metric"], reason=status)
    fallback, label = _partial(o) if o.get("bd_rate") is None else (None, "")
    over = [str(x) for x in o.get("over") or []]
    return BDRow(
        kind="overall", name="Overall", cls="", evidence=evidence, optional=False, status=status,
        bd_rate=Num(bd.value, bd.text, bd_tone(bd.value, hib, is_rate=True)),
        bd_metric=Num(bdm.value, bdm.text, bd_tone(bdm.value, hib, is_rate=False)),
        enc_ratio=enc, dec_ratio=dec, time_ratio=tot, rule=o.get("rule") or "", members=over,
        fallback=fallback, fallback_label=label,
        note=f"{o.get('rule') or 'mean'} over {', '.join(over) if over else 'nothing'}",
    )


def _curves(results: dict) -> tuple[list[Curve], list[Curve]]:
    anchor_pts = _anchor_points(results)
    curves = []
    for s in results["sequences"]:
        pts = [p for p in results["points"] if p["sequence"] == s["sequence"]]
        unit = pts[0].get("rate_unit") if pts else ""
        label, _ = metric_info(pts[0].get("metric_name") if pts else None)
        test = sorted((p["rate"], p["metric"]) for p in pts
                      if p.get("status", "ok") == "ok" and p.get("rate") is not None
                      and p.get("metric") is not None)
        anchor = sorted((a["rate"], a["metric"]) for a in anchor_pts.get(s["sequence"], [])
                        if a.get("rate") is not None and a.get("metric") is not None)
        bd = fmt(s.get("bd_rate"), DIGITS["bd_rate"], reason=s.get("status"))
        curves.append(Curve(name=s["sequence"], title=f"{s['sequence']} (class {s.get('class')})",
                            rate_unit=unit or "", metric_label=label, anchor=anchor, test=test,
                            bd_text=f"BD-rate {bd.text}{' %' if bd.value is not None else ''}"))
    class_curves = []
    for c in results["classes"]:
        if not c.get("curve"):
            continue
        members = [p for p in results["points"] if p.get("class") == c["class"]]
        unit = members[0].get("rate_unit") if members else ""
        label, _ = metric_info(members[0].get("metric_name") if members else None)
        bd = fmt(c.get("bd_rate"), DIGITS["bd_rate"], reason=c.get("status"))
        anchor_curve = sorted((k["rate"], k["metric"]) for k in c.get("anchor_curve") or []
                              if k.get("rate") is not None and k.get("metric") is not None)
        class_curves.append(Curve(
            name=f"class-{c['class']}", title=f"class {c['class']} (pooled)", rate_unit=unit or "",
            metric_label=label, anchor=anchor_curve,
            test=sorted((k["rate"], k["metric"]) for k in c["curve"]
                        if k.get("rate") is not None and k.get("metric") is not None),
            bd_text=f"BD-rate {bd.text}{' %' if bd.value is not None else ''}",
            note="" if anchor_curve else "the anchor has no pooled class curve"))
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


def build_report(results: dict) -> Report:
    """The view model of a results dict (as written by ``vcmctc evaluate``)."""
    sig = results.get("signature") or {}
    sub = results.get("submission") or {}
    ed = results.get("edition") or {}
    agg = ed.get("aggregation") or {}
    anchor = results.get("anchor") or {}
    timing = results.get("timing") or {}
    points = _points(results)
    test_points = [p for p in points if p.in_test]

    metric_of: dict[str, str | None] = {}
    for p in results["points"]:
        metric_of.setdefault(p["sequence"], p.get("metric_name"))
    metric_ids = list(dict.fromkeys(m for m in metric_of.values() if m))
    metrics = [(m, *metric_info(m)) for m in metric_ids]
    labels = list(dict.fromkeys(label for _, label, _ in metrics))
    units = list(dict.fromkeys(p.rate_unit for p in test_points if p.rate_unit))
    hib_all = all(h for _, _, h in metrics) if metrics else True
    evidence = "+".join(sig.get("evidence") or []) or "?"

    class_hib: dict[str, bool] = {}
    for p in test_points:
        class_hib.setdefault(p.cls, metric_info(p.metric_name)[1])

    seq_rows = [_sequence_row(s, metric_of) for s in results["sequences"]]
    class_rows = [_class_row(c, class_hib.get(str(c["class"]), True)) for c in results["classes"]]
    overall = _overall_row(results["overall"], evidence, hib_all) if results.get("overall") else None
    curves, class_curves = _curves(results)

    complete = sub.get("complete")
    header = [
        ("Submission", str(sub.get("codec", "?"))),
        ("Edition", f"{ed.get('id', '?')}: {ed.get('title', '')}".rstrip(": ")),
        ("Track / scenario", f"{ed.get('track', '?')} / {ed.get('scenario', '?')}"),
        ("Anchor", f"{anchor.get('id', sig.get('anchor'))} ({anchor.get('codec', sig.get('anchor_codec', '?'))})"
         if anchor or sig.get("anchor") else "none"),
        ("BD-rate", f"{sig.get('bd_method', '?')} interpolation, policy {sig.get('bd_policy', '?')}, "
                    f"at least {sig.get('bd_min_points', '?')} points"),
        ("Class rows", str(agg.get("class_rows", sig.get("class_rows", "?")))),
        ("Overall row", str(agg.get("overall", sig.get("overall", "?")))),
        ("Evidence", evidence),
        ("Complete", "yes" if complete else ("no (see findings)" if complete is False else "?")),
        ("Times", f"relative to the anchor; {timing.get('ratio_averaging', 'averaging not stated')}"
                  + (f"; vcmctc ran decoders in {timing['mode']} mode with {timing.get('jobs', '?')} "
                     "job(s)" if timing.get("mode") else "")),
    ]
    if sub.get("description"):
        header.insert(1, ("Description", str(sub["description"])))

    signature: list[tuple[str, str]] = []
    _flat("", {k: v for k, v in sig.items() if k != "line"}, signature)
    provenance: list[tuple[str, str]] = []
    _flat("submission", sub, provenance)
    _flat("edition", {k: v for k, v in ed.items() if k != "classes"}, provenance)
    _flat("anchor", {k: v for k, v in anchor.items() if k != "points"}, provenance)
    _flat("timing", timing, provenance)
    _flat("run", results.get("run") or {}, provenance)

    return Report(
        codec=str(sub.get("codec", "?")), description=sub.get("description"), complete=complete,
        manifest=sub.get("manifest"), edition_id=str(ed.get("id", sig.get("edition", "?"))),
        edition_title=str(ed.get("title", "")), track=str(ed.get("track", "?")),
        scenario=str(ed.get("scenario", sig.get("scenario", "?"))),
        class_rows=str(agg.get("class_rows", sig.get("class_rows", "?"))),
        overall_rule=str(agg.get("overall", sig.get("overall", "?"))),
        anchor_id=str(anchor.get("id") or sig.get("anchor") or "no anchor"),
        anchor_codec=str(anchor.get("codec", sig.get("anchor_codec", "?"))),
        anchor_kind=str(anchor.get("kind", "?")),
        bd_method=str(sig.get("bd_method", "?")), bd_policy=str(sig.get("bd_policy", "?")),
        bd_min_points=sig.get("bd_min_points", "?"), evidence=evidence,
        ratio_averaging=str(timing.get("ratio_averaging", "not stated")),
        timing_mode=str(timing.get("mode", "?")), signature_line=str(sig.get("line", "")),
        signature=signature, provenance=provenance, header=header,
        rate_header=units[0] if len(units) == 1 else "Rate",
        metric_header=labels[0] if len(labels) == 1 else "Metric",
        mixed_metrics=len(labels) > 1, metrics=metrics,
        points=points, sequences=seq_rows, classes=class_rows, overall=overall,
        findings=list(results.get("findings") or []), curves=curves, class_curves=class_curves,
    )
