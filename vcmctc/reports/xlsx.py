"""xlsx report laid out like the MPEG reporting templates (openpyxl, no template file).

The MPEG templates (the FCM template of WG 4 N00459 that CompressAI-Vision's
``scripts/metrics/gen_mpeg_cttc_csv.py`` sorts its ``final_<dataset>.csv`` for, and the VCM
reporting sheets) keep one sheet per data set or task, one row per sequence and rate point with
the anchor's columns and then the test's columns, the sequence's BD-rate beside its rate points,
the class rows after the sequences and the overall row at the end. This workbook has:

- ``Summary``: the BD-rate table of every sequence, class and the overall row (BD-rate,
  BD-metric, encoding/decoding/total time ratios, status and notes), then the run's settings;
- one sheet per task block (one metric, e.g. ``mAP``, ``MOTA``): per sequence its rate points,
  anchor (rate, metric, EncT, DecT) then test (same), and on the sequence's rows (merged) the
  BD-rate, BD-metric, time ratios and status; then each class row with its pooled curve points;
- ``Complexity`` (when the results have kMAC/pixel): one row per sequence, class and overall
  row, one column per component (CompressAI-Vision's ``nn_part1``, ``feature_reduction``,
  ``feature_restoration``, ``nn_part2``);
- ``Features`` (when points decoded features, FCM): per point the split point, tensors, frames,
  MD5, MSE against the original features and the conformance file;
- ``Signature``: the signature line and fields, provenance and validation findings.

Numbers are numeric cells with number formats (never text); a missing number is the text
``n/a (reason)``. A row whose status is not ``ok`` or that carries a partial number is marked
(amber fill and the mark of :data:`~vcmctc.reports.model.FLAG_MARK`). Every sheet prints on A4
landscape, fitted to the page width, with its header rows repeated; panes are frozen below the
header and right of the row names.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from vcmctc.reports.model import (DIGITS, FLAG_LEGEND, FLAG_MARK, BDRow, Block, Num, Report,
                                  build_report)

if TYPE_CHECKING:
    from vcmctc.results.model import Results

SUMMARY, SIGNATURE, COMPLEXITY, FEATURES = "Summary", "Signature", "Complexity", "Features"
SUMMARY_HEADER = ["Row", "Class", "Metric", "Evidence", "Points", "BD-rate (%)", "BD-metric",
                  "EncT ratio", "DecT ratio", "Time ratio", "Status", "Note"]
SUMMARY_HEAD_ROW = 4          # title, subtitle, blank, header
BLOCK_HEAD_ROW = 4            # title, subtitle, group header, header

ANCHOR_FILL, TEST_FILL, BD_FILL = "DCE6F2", "F6DEDB", "E8E8E8"
HEAD_FILL, CLASS_FILL, OVERALL_FILL = "DDE3EC", "F2F2F8", "E4E9F4"
GOOD_FILL, BAD_FILL, FLAG_FILL = "E3F4E1", "FBE4E1", "FFF3CD"


def _set_text_or_value(cell, value: Any) -> None:
    """Store ``value``; text is always text, never a formula (a codec named ``=HYPERLINK(...)``
    must not become a live formula in the MPEG table)."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


def _fmt(digits: int) -> str:
    return "0" if digits == 0 else "0." + "0" * digits


RATE_FMT = {"bpp": _fmt(DIGITS["bpp"]), "kbps": _fmt(DIGITS["kbps"])}
METRIC_FMT, TIME_FMT = _fmt(DIGITS["metric"]), _fmt(DIGITS["time"])
BD_FMT, BDM_FMT, RATIO_FMT = _fmt(DIGITS["bd_rate"]), _fmt(DIGITS["bd_metric"]), "0.00%"


def sheet_title(label: str, taken: set[str]) -> str:
    """A valid, unique sheet name for a task block (Excel: at most 31 characters, none of
    ``[]:*?/\\``)."""
    base = re.sub(r"[\[\]:*?/\\]", "-", label).strip("'") or "Task"
    base = base[:31]
    name, k = base, 2
    while name.lower() in {t.lower() for t in taken}:
        suffix = f" ({k})"
        name, k = base[:31 - len(suffix)] + suffix, k + 1
    taken.add(name)
    return name


class _Sheet:
    """A worksheet with the shared styles and a record of the text width of each column."""

    def __init__(self, ws):
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        self.ws = ws
        self.widths: dict[int, float] = {}
        self.wrapped: dict[tuple[int, int], list] = {}   # (row, col) -> [text, last_row, last_col, size]
        self.Font, self.Alignment, self.PatternFill = Font, Alignment, PatternFill
        thin = Side(style="thin", color="B0B0B0")
        self.box = Border(left=thin, right=thin, top=thin, bottom=thin)
        self.top = Border(top=Side(style="medium", color="606060"), left=thin, right=thin,
                          bottom=thin)

    def fill(self, color: str):
        return self.PatternFill("solid", fgColor=color)

    def put(self, row: int, col: int, value: Any, number_format: str | None = None, *,
            bold: bool = False, fill: str | None = None, wrap: bool = False,
            align: str | None = None, measure: bool = True):
        cell = self.ws.cell(row=row, column=col)
        shown = ""
        if isinstance(value, Num):
            if value.value is None:   # "n/a (reason)": wrapped, so reasons do not widen columns
                cell.value = value.text
                align = align or "right"
                shown, wrap = value.text, True
            else:
                cell.value = float(value.value)
                cell.number_format = number_format or "General"
                fill = fill or {"good": GOOD_FILL, "bad": BAD_FILL}.get(value.tone)
                shown = value.text
        else:
            _set_text_or_value(cell, value)
            if number_format and isinstance(value, (int, float)) and not isinstance(value, bool):
                cell.number_format = number_format
            shown = "" if value is None else str(value)
            if isinstance(value, float) and number_format:
                decimals = len(number_format.split(".")[1]) if "." in number_format else 0
                shown = f"{value:.{decimals}f}" + ("%" if number_format.endswith("%") else "")
        cell.border = self.box
        cell.font = self.Font(bold=bold, size=10)
        cell.alignment = self.Alignment(horizontal=align, vertical="top", wrap_text=wrap)
        if fill:
            cell.fill = self.fill(fill)
        if wrap and shown:
            self.wrapped[(row, col)] = [shown, row, col, 10]
        elif measure:
            self.widths[col] = max(self.widths.get(col, 0), len(shown) * 1.1 + 2)
        return cell

    def merge(self, row: int, col: int, last_row: int, last_col: int) -> None:
        if (last_row, last_col) == (row, col):
            return
        self.ws.merge_cells(start_row=row, start_column=col, end_row=last_row,
                            end_column=last_col)
        if (row, col) in self.wrapped:
            self.wrapped[(row, col)][1:3] = [last_row, last_col]

    def text(self, row: int, text: str, last_col: int, *, size: float = 9, bold: bool = False,
             italic: bool = False) -> None:
        """A line of text over columns 1..last_col, wrapped."""
        c = self.ws.cell(row=row, column=1)
        _set_text_or_value(c, text)
        c.font = self.Font(size=size, bold=bold, italic=italic, color="000000" if bold else "404040")
        c.alignment = self.Alignment(vertical="top", wrap_text=True)
        self.ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last_col)
        self.wrapped[(row, 1)] = [text, row, last_col, size]

    def head(self, row: int, names: list[str], fills: list[str] | None = None) -> None:
        for col, name in enumerate(names, start=1):
            self.put(row, col, name, bold=True, fill=(fills[col - 1] if fills else HEAD_FILL),
                     wrap=True, align="center", measure=False)
            words = max((len(w) for w in str(name).split()), default=0)
            self.widths[col] = max(self.widths.get(col, 0), words * 1.1 + 3)

    def title(self, text: str, subtitle: str, last_col: int) -> None:
        self.text(1, text, last_col, size=13, bold=True)
        self.text(2, subtitle, last_col, italic=True)

    def finish(self, *, head_rows: str, freeze: str, wide: dict[int, float] | None = None,
               lo: float = 7, hi: float = 40) -> None:
        """Column widths from the contents, frozen panes, A4 landscape fitted to the width."""
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.page import PageMargins

        ws = self.ws
        final: dict[int, float] = {col: max(lo, min(w, hi)) for col, w in self.widths.items()}
        final.update(wide or {})
        for col, width in final.items():
            ws.column_dimensions[get_column_letter(col)].width = width
        # Row heights for wrapped text (spreadsheet programs do not always fit them on load):
        # lines = the text's length over the characters that fit in the cell's width
        need: dict[int, float] = {}
        for (row, col), (text, last_row, last_col, size) in self.wrapped.items():
            chars = sum(final.get(c, 8.43) for c in range(col, last_col + 1)) * 12 / size - 2
            lines = sum(max(1, -(-len(part) // max(int(chars), 1))) for part in text.split("\n"))
            per_row = lines * size * 1.3 / (last_row - row + 1)
            for r in range(row, last_row + 1):
                need[r] = max(need.get(r, 0), per_row + 2)
        for row, height in need.items():
            ws.row_dimensions[row].height = max(height, 13.5)
        ws.freeze_panes = freeze
        ws.print_title_rows = head_rows
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0      # as many pages down as needed
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        ws.oddFooter.center.text = "&A, page &P of &N"
        ws.oddFooter.center.size = 8


def _status(row: BDRow) -> str:
    return f"{FLAG_MARK} {row.status}" if row.flag else row.status


def _row_note(row: BDRow) -> str:
    parts = [row.note]
    if row.fallback is not None:
        parts.append(f"{row.fallback_label}: {row.fallback.text} %")
    return "; ".join(x for x in [*parts, *row.warnings] if x)


def _row_name(row: BDRow) -> str:
    return {"class": f"Class {row.name}", "overall": "Overall"}.get(row.kind, row.name)


def _summary(sheet: _Sheet, r: Report) -> None:
    last = len(SUMMARY_HEADER)
    sheet.title(f"{r.codec} vs {r.anchor_name} ({r.edition_id})",
                f"BD-rate: {r.bd_method} interpolation, policy {r.bd_policy}, at least "
                f"{r.bd_min_points} points; class rows: {r.class_rows}; overall: "
                f"{r.overall_rule}; metrics: {r.metrics_text or 'none'}", last)
    sheet.head(SUMMARY_HEAD_ROW, SUMMARY_HEADER)
    row_no = SUMMARY_HEAD_ROW
    for row in r.bd_rows:
        row_no += 1
        kind_fill = {"class": CLASS_FILL, "overall": OVERALL_FILL}.get(row.kind)
        bold = row.kind != "sequence"
        points = row.points if row.kind == "sequence" else f"{len(row.members)} rows"
        values: list[tuple[Any, str | None]] = [
            (_row_name(row), None), (row.cls, None), (row.metric_label, None),
            (row.evidence, None), (points, None), (row.bd_rate, BD_FMT),
            (row.bd_metric, BDM_FMT), (row.enc_ratio, RATIO_FMT), (row.dec_ratio, RATIO_FMT),
            (row.time_ratio, RATIO_FMT), (_status(row), None)]
        for col, (value, nf) in enumerate(values, start=1):
            fill = FLAG_FILL if row.flag and col == 11 else (
                kind_fill if not isinstance(value, Num) or value.tone == "" else None)
            c = sheet.put(row_no, col, value, nf, bold=bold, fill=fill)
            if row.kind == "overall":
                c.border = sheet.top
        c = sheet.put(row_no, 12, _row_note(row), wrap=True, fill=kind_fill)
        if row.kind == "overall":
            c.border = sheet.top
    row_no += 2
    notes = ["Negative BD-rate = bit-rate savings against the anchor at equal task performance; "
             "BD-metric in metric units (" + "; ".join(
                 f"{label}: {'higher' if hib else 'lower'} is better"
                 for _, label, hib in r.metrics) + ").",
             f"Time ratios: test over anchor; {r.ratio_averaging}.",
             FLAG_LEGEND]
    for text in notes:
        sheet.text(row_no, text, last)
        row_no += 1
    row_no += 1
    for key, value in r.header:
        sheet.put(row_no, 1, key, bold=True, fill=HEAD_FILL, measure=False)
        sheet.put(row_no, 2, value, wrap=True)
        for col in range(3, last + 1):
            sheet.put(row_no, col, None, measure=False)
        sheet.merge(row_no, 2, row_no, last)
        row_no += 1
    sheet.finish(head_rows=f"{SUMMARY_HEAD_ROW}:{SUMMARY_HEAD_ROW}",
                 freeze=f"B{SUMMARY_HEAD_ROW + 1}", wide={1: 18, 12: 70})


def _block(sheet: _Sheet, r: Report, block: Block, overall: BDRow | None) -> None:
    unit = block.rate_unit or "rate"
    rate_fmt = RATE_FMT.get(block.rate_unit, RATE_FMT["kbps"])
    label = block.label
    sheet.title(f"{label} ({block.metric_id or 'mixed metrics'}): {r.codec} vs {r.anchor_name}",
                f"Edition {r.edition_id}; rates in {unit}, times in seconds; time ratios: test "
                f"over anchor. {FLAG_LEGEND}", 17)
    groups = [("", 3, HEAD_FILL), (f"Anchor: {r.anchor_name}", 4, ANCHOR_FILL),
              (f"Test: {r.codec}", 4, TEST_FILL), ("Test vs anchor", 5, BD_FILL), ("", 1, HEAD_FILL)]
    col = 1
    fills = []
    for text, span, color in groups:
        sheet.put(BLOCK_HEAD_ROW - 1, col, text, bold=True, fill=color, align="center",
                  measure=False, wrap=True)
        for k in range(1, span):
            sheet.put(BLOCK_HEAD_ROW - 1, col + k, None, fill=color, measure=False)
        sheet.merge(BLOCK_HEAD_ROW - 1, col, BLOCK_HEAD_ROW - 1, col + span - 1)
        fills += [color] * span
        col += span
    names = ["Class", "Sequence", "QP", unit, label, "EncT (s)", "DecT (s)", unit, label,
             "EncT (s)", "DecT (s)", "BD-rate (%)", f"BD-{label}", "EncT ratio", "DecT ratio",
             "Status", "Note"]
    sheet.head(BLOCK_HEAD_ROW, names, fills)
    row_no = BLOCK_HEAD_ROW + 1

    def bd_cells(row: BDRow, first: int, last: int, fill: str | None, bold: bool) -> None:
        values = [(row.bd_rate, BD_FMT), (row.bd_metric, BDM_FMT), (row.enc_ratio, RATIO_FMT),
                  (row.dec_ratio, RATIO_FMT), (_status(row), None), (_row_note(row), None)]
        for k, (value, nf) in enumerate(values):
            col = 12 + k
            cell_fill = FLAG_FILL if row.flag and col == 16 else (
                fill if not isinstance(value, Num) or value.tone == "" else None)
            c = sheet.put(first, col, value, nf, bold=bold and col < 16, fill=cell_fill,
                          wrap=col == 17)
            c.alignment = sheet.Alignment(horizontal=c.alignment.horizontal,
                                          vertical="center", wrap_text=c.alignment.wrap_text)
            for extra in range(first + 1, last + 1):
                sheet.put(extra, col, None, fill=cell_fill, measure=False)
            sheet.merge(first, col, last, col)

    for row, points in block.sequences:
        first = row_no
        for p in points or [None]:
            if p is None:   # a sequence without points: its row alone
                sheet.put(row_no, 1, row.cls)
                sheet.put(row_no, 2, row.name, bold=True)
                for col in range(3, 12):
                    sheet.put(row_no, col, None)
            else:
                qp = p.qp if p.qp is not None else p.label
                test_rate = p.rate
                values = [(p.cls, None), (p.sequence, None), (qp, "0"),
                          (p.anchor_rate, rate_fmt), (p.anchor_metric, METRIC_FMT),
                          (p.anchor_enc, TIME_FMT), (p.anchor_dec, TIME_FMT),
                          (test_rate, rate_fmt), (p.metric, METRIC_FMT), (p.enc, TIME_FMT),
                          (p.dec, TIME_FMT)]
                for col, (value, nf) in enumerate(values, start=1):
                    sheet.put(row_no, col, value, nf, bold=col == 2)
            row_no += 1
        bd_cells(row, first, row_no - 1, None, False)
        _rule(sheet, first)

    for row, pairs in block.classes:
        first = row_no
        for k, (a, t) in enumerate(pairs or [(None, None)]):
            sheet.put(row_no, 1, row.cls, bold=True, fill=CLASS_FILL)
            name = f"Class {row.name}" + (" (pooled)" if pairs else "")
            sheet.put(row_no, 2, name, bold=True, fill=CLASS_FILL)
            sheet.put(row_no, 3, f"point {k + 1}" if pairs else None, fill=CLASS_FILL)
            values = [(a[0] if a else None, rate_fmt), (a[1] if a else None, METRIC_FMT),
                      (None, None), (None, None), (t[0] if t else None, rate_fmt),
                      (t[1] if t else None, METRIC_FMT), (None, None), (None, None)]
            for col, (value, nf) in enumerate(values, start=4):
                sheet.put(row_no, col, value, nf, fill=CLASS_FILL)
            row_no += 1
        bd_cells(row, first, row_no - 1, CLASS_FILL, True)
        _rule(sheet, first)

    if overall is not None:
        sheet.put(row_no, 1, None, fill=OVERALL_FILL)
        sheet.put(row_no, 2, "Overall", bold=True, fill=OVERALL_FILL)
        for col in range(3, 12):
            sheet.put(row_no, col, None, fill=OVERALL_FILL)
        bd_cells(overall, row_no, row_no, OVERALL_FILL, True)
        _rule(sheet, row_no)
        row_no += 1
    sheet.finish(head_rows=f"{BLOCK_HEAD_ROW - 1}:{BLOCK_HEAD_ROW}",
                 freeze=f"D{BLOCK_HEAD_ROW + 1}", wide={17: 48}, hi=24)


def _rule(sheet: _Sheet, row: int, last: int = 17) -> None:
    """A medium line above ``row`` (a new sequence, class or the overall row starts)."""
    for col in range(1, last + 1):
        sheet.ws.cell(row=row, column=col).border = sheet.top


def _signature(sheet: _Sheet, r: Report) -> None:
    sheet.title(f"Signature and provenance: {r.codec} vs {r.anchor_name}",
                "Every setting that changes a number; rendered from a saved results.json "
                "(no number recomputed).", 2)
    sheet.head(4, ["Field", "Value"])
    rows: list[tuple[str, Any]] = [("signature", r.signature_line)]
    rows += [(f"signature.{k}", v) for k, v in r.signature]
    rows += list(r.provenance)
    row_no = 5
    for key, value in rows:
        sheet.put(row_no, 1, key, measure=False)
        sheet.put(row_no, 2, value, wrap=True)
        row_no += 1
    if r.findings:
        row_no += 1
        sheet.head(row_no, ["Finding level", "Kind", "Sequence", "Point", "Message"])
        # the findings table shares columns A and B with the fields: keep their widths
        for f in r.findings:
            row_no += 1
            for col, key in enumerate(["level", "kind", "sequence", "point", "message"], 1):
                sheet.put(row_no, col, f.get(key), wrap=col == 5, measure=False)
    sheet.finish(head_rows="4:4", freeze="B5", wide={1: 34, 2: 100, 3: 14, 4: 10, 5: 60})


def _complexity(sheet: _Sheet, r: Report) -> None:
    names = ["Row", "Class", *r.complexity_components]
    sheet.title(f"Complexity (kMAC/pixel): {r.codec}",
                "Thousands of multiply-accumulates per pixel of the network input, by component; "
                "rows weight their points by frames (images).", len(names))
    sheet.head(4, names)
    row_no = 4
    for row in r.complexity_rows:
        row_no += 1
        fill = {"class": CLASS_FILL, "overall": OVERALL_FILL}.get(row.kind)
        sheet.put(row_no, 1, _row_name(row), bold=row.kind != "sequence", fill=fill)
        sheet.put(row_no, 2, row.cls, fill=fill)
        for col, comp in enumerate(r.complexity_components, start=3):
            sheet.put(row_no, col, row.complexity.get(comp, Num(None, "n/a")), "General",
                      fill=fill)
    sheet.finish(head_rows="4:4", freeze="C5", wide={1: 18})


def _features(sheet: _Sheet, r: Report) -> None:
    names = ["Sequence", "Class", "QP", "Split point", "Frames", "Tensors", "MD5", "MSE",
             "Conformance file"]
    sheet.title(f"Decoded features: {r.codec}",
                "MD5 of each frame: its tensors in the split point's order (name, dtype, shape, "
                "little-endian samples); of a point: the MD5 of its frames' MD5s; MSE against "
                "the submitter's original features.", len(names))
    sheet.head(4, names)
    for row_no, p in enumerate(r.feature_points, start=5):
        f = p.features
        for col, value in enumerate([p.sequence, p.cls, p.point, f.split_point, f.frames,
                                     f.tensors, f.md5, f.mse, f.conformance], start=1):
            sheet.put(row_no, col, value, "0.000000" if col == 8 else None,
                      wrap=col in (6, 9), measure=col not in (6, 9))
    sheet.finish(head_rows="4:4", freeze="C5", wide={6: 30, 7: 36, 9: 50})


def render_xlsx(results: "Results") -> bytes:
    from openpyxl import Workbook

    r = build_report(results)
    wb = Workbook()
    summary = _Sheet(wb.active)
    summary.ws.title = SUMMARY
    _summary(summary, r)
    taken = {SUMMARY, SIGNATURE, COMPLEXITY, FEATURES}
    for block in r.blocks:
        ws = wb.create_sheet(sheet_title(block.label, taken))
        _block(_Sheet(ws), r, block, r.overall if len(r.blocks) == 1 else None)
    if r.complexity_components:
        _complexity(_Sheet(wb.create_sheet(COMPLEXITY)), r)
    if r.feature_points:
        _features(_Sheet(wb.create_sheet(FEATURES)), r)
    _signature(_Sheet(wb.create_sheet(SIGNATURE)), r)
    wb.properties.creator = "vcmctc"
    wb.properties.title = f"{r.codec} vs {r.anchor_name} ({r.edition_id})"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
