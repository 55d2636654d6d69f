"""xlsx report laid out like the MPEG CTC reporting templates (openpyxl, no template file).

Sheet 1 "Rate points": one row per sequence and rate point, in the template's column order
(Sequence, QP, kbps or bpp, metric, encoding time, decoding time), followed by the total time,
the anchor's point of the same QP and the row's class, label, evidence and status. This is the
order of CompressAI-Vision's ``final_<dataset>.csv`` (Dataset, qp, bitrate (kbps) or avg_bpp,
end_accuracy, then times), which MPEG members paste into the CTC sheets.
Sheet 2 "BD-rate": sequence, class and overall rows. Sheet 3 "Signature": signature line,
signature fields, provenance, findings.
Numbers are numeric cells with number formats; a missing number is the text "n/a (reason)".
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from vcmctc.reports.model import DIGITS, Num, Report, build_report

if TYPE_CHECKING:
    from vcmctc.results.model import Results

SHEETS = ("Rate points", "BD-rate", "Signature")


def _fmt(digits: int) -> str:
    return "0" if digits == 0 else "0." + "0" * digits


def points_header(r: Report) -> list[str]:
    return ["Sequence", "QP", r.rate_header, r.metric_header, "EncT (s)", "DecT (s)", "Time (s)",
            f"Anchor {r.rate_header}", f"Anchor {r.metric_header}", "Anchor EncT (s)",
            "Anchor DecT (s)", "Anchor time (s)", "Class", "Label", "Rate unit", "Metric name",
            "Evidence", "Status"]


BD_HEADER = ["Row type", "Row", "Class", "Evidence", "Points", "BD-rate (%)", "BD-metric",
             "Status", "EncT ratio", "DecT ratio", "Time ratio", "Rule",
             "Fallback BD-rate (%) (not the CTC number)", "Note"]


def render_xlsx(results: "Results") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    r = build_report(results)
    wb = Workbook()
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDE3EC")
    good_fill = PatternFill("solid", fgColor="E3F4E1")
    bad_fill = PatternFill("solid", fgColor="FBE4E1")

    def put(ws, row: int, col: int, value: Any, number_format: str | None = None):
        cell = ws.cell(row=row, column=col)
        if isinstance(value, Num):
            if value.value is None:
                cell.value = value.text
                cell.alignment = Alignment(horizontal="right")
            else:
                cell.value = float(value.value)
                if number_format:
                    cell.number_format = number_format
                if value.tone == "good":
                    cell.fill = good_fill
                elif value.tone == "bad":
                    cell.fill = bad_fill
        else:
            cell.value = value
            if number_format and isinstance(value, (int, float)):
                cell.number_format = number_format
        return cell

    def header(ws, names: list[str]) -> None:
        for col, name in enumerate(names, start=1):
            c = ws.cell(row=1, column=col, value=name)
            c.font, c.fill = bold, head_fill
            c.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = "B2"

    def widths(ws, names: list[str], base: int = 11) -> None:
        for col, name in enumerate(names, start=1):
            ws.column_dimensions[get_column_letter(col)].width = max(base, min(len(name) + 2, 40))

    # sheet 1: rate points
    ws = wb.active
    ws.title = SHEETS[0]
    names = points_header(r)
    header(ws, names)
    time_fmt, metric_fmt = _fmt(DIGITS["time"]), _fmt(DIGITS["metric"])
    for i, p in enumerate(r.points, start=2):
        rate_fmt = _fmt(DIGITS["bpp"] if p.rate_unit == "bpp" else DIGITS["kbps"])
        values = [p.sequence, p.qp if p.qp is not None else p.label, p.rate, p.metric, p.enc,
                  p.dec, p.total, p.anchor_rate, p.anchor_metric, p.anchor_enc, p.anchor_dec,
                  p.anchor_total, p.cls, p.label, p.rate_unit, p.metric_label, p.evidence,
                  p.status + (f": {p.message}" if p.message else "")]
        formats = [None, "0", rate_fmt, metric_fmt, time_fmt, time_fmt, time_fmt, rate_fmt,
                   metric_fmt, time_fmt, time_fmt, time_fmt] + [None] * 6
        for col, (v, f) in enumerate(zip(values, formats), start=1):
            put(ws, i, col, v, f)
    widths(ws, names)
    ws.column_dimensions["A"].width = 18

    # sheet 2: BD-rate summary
    ws = wb.create_sheet(SHEETS[1])
    header(ws, BD_HEADER)
    bd_fmt, bdm_fmt, ratio_fmt = _fmt(DIGITS["bd_rate"]), _fmt(DIGITS["bd_metric"]), "0.00%"
    for i, row in enumerate(r.bd_rows, start=2):
        members = row.points if row.kind == "sequence" else f"{len(row.members)}"
        note = "; ".join(x for x in [row.note, row.fallback_label, *row.warnings] if x)
        values = [row.kind, row.name, row.cls, row.evidence, members, row.bd_rate, row.bd_metric,
                  row.status, row.enc_ratio, row.dec_ratio, row.time_ratio, row.rule,
                  row.fallback if row.fallback else None, note]
        formats = [None, None, None, None, None, bd_fmt, bdm_fmt, None, ratio_fmt, ratio_fmt,
                   ratio_fmt, None, bd_fmt, None]
        for col, (v, f) in enumerate(zip(values, formats), start=1):
            c = put(ws, i, col, v, f)
            if row.kind != "sequence":
                c.font = bold
    widths(ws, BD_HEADER)
    ws.column_dimensions["N"].width = 60
    note_row = len(r.bd_rows) + 3
    ws.cell(row=note_row, column=1,
            value="Negative BD-rate = bit-rate savings against the anchor. Time ratios: "
                  + r.ratio_averaging)
    ws.cell(row=note_row + 1, column=1,
            value=f"BD-rate: {r.bd_method} interpolation, policy {r.bd_policy}, at least "
                  f"{r.bd_min_points} points; class rows: {r.class_rows}; overall: {r.overall_rule}")

    # sheet 3: signature and provenance
    ws = wb.create_sheet(SHEETS[2])
    header(ws, ["Field", "Value"])
    rows: list[tuple[str, Any]] = [("signature", r.signature_line)]
    rows += [(f"signature.{k}", v) for k, v in r.signature]
    rows += list(r.provenance)
    for i, (k, v) in enumerate(rows, start=2):
        ws.cell(row=i, column=1, value=k)
        ws.cell(row=i, column=2, value=v)
    start = len(rows) + 3
    if r.findings:
        for col, name in enumerate(["Finding level", "Kind", "Sequence", "Point", "Message"], 1):
            c = ws.cell(row=start, column=col, value=name)
            c.font, c.fill = bold, head_fill
        for i, f in enumerate(r.findings, start=start + 1):
            for col, key in enumerate(["level", "kind", "sequence", "point", "message"], 1):
                ws.cell(row=i, column=col, value=f.get(key))
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 100

    wb.properties.creator = "vcmctc"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
