"""Render a saved results.json as a report (Markdown, HTML, LaTeX, CSV via Jinja2; xlsx via
openpyxl). Formats are looked up in :data:`FORMATS` (lazy registry); each takes the results
(:class:`~vcmctc.results.model.Results`) and returns text or bytes. Templates see only the view model of :mod:`vcmctc.reports.model`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmctc.registry import Registry

if TYPE_CHECKING:
    from vcmctc.results.model import Results

FORMATS: Registry = Registry("report format")
FORMATS.register("md", "vcmctc.reports.render:render_markdown")
FORMATS.register("html", "vcmctc.reports.render:render_html")
FORMATS.register("latex", "vcmctc.reports.render:render_latex")
FORMATS.register("csv", "vcmctc.reports.render:render_csv")
FORMATS.register("xlsx", "vcmctc.reports.xlsx:render_xlsx")

SUFFIXES = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".tex": "latex",
            ".csv": "csv", ".xlsx": "xlsx"}
BINARY = {"xlsx"}
MULTI = {"csv"}   # several tables: one file each (or one table on stdout with --table)

ANCHOR_COLOR, TEST_COLOR = "#1f5fa8", "#c0392b"

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))
_NUMBER = re.compile(r"^-\d")


def tex(value: Any) -> str:
    """Escape text for LaTeX; a leading minus of a number becomes a math minus."""
    text = _TEX_RE.sub(lambda m: _TEX[m.group(0)], str(value))
    text = text.replace("\u2026", r"\ldots{}")
    return "$-$" + text[1:] if _NUMBER.match(text) else text


_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def md(value: Any) -> str:
    """Escape text for a Markdown table cell. A ``<`` stays a ``<`` (``(< 75%)`` reads as it
    is), except where it could open an HTML tag: there it is backslash-escaped (``\\<beta>``),
    which CommonMark shows as ``<beta>``; entities such as ``&lt;`` would be shown literally by
    many Markdown viewers and in the source."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return _MD_TAG.sub(r"\\<", text)


def mdcode(value: Any) -> str:
    """A Markdown code span of ``value`` that no backtick inside it can close early (the fence
    is one backtick longer than the longest run inside), on one line."""
    text = " ".join(str(value).splitlines())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def oneline(value: Any) -> str:
    """``value`` on one line (for a LaTeX comment, where a newline would end the comment)."""
    return " ".join(str(value).splitlines())


#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csvq(value: Any) -> str:
    """One CSV field: None is empty, floats are written exactly (repr), text is quoted if needed;
    text a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value == value else ""
    text = str(value)
    if not isinstance(value, int) and text.startswith(FORMULA_START):
        text = "'" + text
    if any(c in text for c in ',"\n\r') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _env(autoescape: bool):
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("vcmctc.reports", "templates"),
                      autoescape=autoescape, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, undefined=StrictUndefined)
    env.filters.update(tex=tex, md=md, csvq=csvq, mdcode=mdcode, oneline=oneline)
    return env


def _render(template: str, results: "Results", *, autoescape: bool = False, **extra) -> str:
    from vcmctc import __version__
    from vcmctc.reports.model import build_report

    report = build_report(results)
    return _env(autoescape).get_template(template).render(r=report, version=__version__,
                                                          **_marks(), **extra)


def _marks() -> dict[str, str]:
    from vcmctc.reports.model import FLAG_LEGEND, FLAG_MARK

    return {"mark": FLAG_MARK, "legend": FLAG_LEGEND}


def render_markdown(results: "Results") -> str:
    return _render("report.md.j2", results)


def render_latex(results: "Results") -> str:
    return _render("report.tex.j2", results)


CSV_TABLES = ("points", "sequences", "classes", "overall", "meta")
# Tables written only when the results have such data (FCM): kMAC/pixel of points and rows
# (long format), and the decoded features of points.
EXTRA_TABLES = ("complexity", "features")
COMPLEXITY_COLUMNS = ["kind", "name", "class", "qp", "component", "kmac_per_pixel"]
FEATURE_COLUMNS = ["sequence", "class", "qp", "label", "split_point", "frames", "tensors",
                   "md5", "mse", "conformance"]
POINT_COLUMNS = ["sequence", "class", "qp", "label", "evidence", "status", "metric_id",
                 "metric_label", "rate_unit", "rate", "metric", "enc_time_s", "dec_time_s",
                 "time_s", "anchor_rate", "anchor_metric", "anchor_enc_time_s",
                 "anchor_dec_time_s", "anchor_time_s", "in_submission", "in_anchor",
                 "rate_source", "metric_source", "bits_total", "message"]
ROW_COLUMNS = ["kind", "name", "class", "optional", "rule", "members", "evidence", "metric_id",
               "metric_label", "points", "points_ok", "bd_rate", "bd_metric", "status", "flagged",
               "overlap_pct", "enc_time_ratio", "dec_time_ratio", "time_ratio",
               "fallback_bd_rate", "note"]


class Tables(dict):
    """A report made of several tables (name -> CSV text), written as one file per table."""


def _csv_table(columns: list[str], rows: list[list[Any]]) -> str:
    lines = [",".join(columns)]
    lines += [",".join(csvq(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def tidy_tables(results: "Results") -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The tidy tables (name -> (columns, rows)) the CSV report writes and the Python API turns
    into DataFrames: ``points`` (one row per rate point, the anchor's point of the same QP
    beside it), ``sequences``, ``classes``, ``overall`` (one row per BD row, the same columns in
    the three) and ``meta`` (signature and provenance as field, value); when the results have
    them, ``complexity`` (kMAC/pixel: one row per point or row and component) and ``features``
    (the decoded features of each point: split point, tensors, MD5, MSE, conformance file).
    Values are the stored ones (None where missing: ``status`` says why)."""
    from vcmctc.reports.model import build_report

    r = build_report(results)
    points = [[p.sequence, p.cls, p.qp, p.label, p.evidence, p.status, p.metric_name,
               p.metric_label, p.rate_unit, p.rate.value, p.metric.value, p.enc.value,
               p.dec.value, p.total.value, p.anchor_rate.value, p.anchor_metric.value,
               p.anchor_enc.value, p.anchor_dec.value, p.anchor_total.value, p.in_test,
               p.in_anchor, p.rate_source, p.metric_source, p.bits_total, p.message]
              for p in r.points]

    def row(b) -> list[Any]:
        note = "; ".join(x for x in [b.note, b.fallback_label, *b.warnings] if x)
        ok, total = (int(n) for n in b.points.split("/")) if b.points else (None, None)
        return [b.kind, b.name, b.cls, b.optional, b.rule or "curve", " ".join(b.members),
                b.evidence, b.metric_id, b.metric_label, total, ok, b.bd_rate.value,
                b.bd_metric.value, b.status, b.flagged,
                b.overlap.value if b.overlap is not None else None, b.enc_ratio.value,
                b.dec_ratio.value, b.time_ratio.value,
                b.fallback.value if b.fallback is not None else None, note]

    meta = [["signature", r.signature_line], *[[f"signature.{k}", v] for k, v in r.signature],
            *[[k, v] for k, v in r.provenance]]
    tables = {"points": (POINT_COLUMNS, points),
              "sequences": (ROW_COLUMNS, [row(b) for b in r.sequences]),
              "classes": (ROW_COLUMNS, [row(b) for b in r.classes]),
              "overall": (ROW_COLUMNS, [row(r.overall)] if r.overall else []),
              "meta": (["field", "value"], meta)}
    complexity = [["point", p.sequence, p.cls, p.qp, c, n.value]
                  for p in r.points if p.in_test for c, n in p.complexity.items()]
    complexity += [[b.kind, b.name, b.cls or None, None, c, n.value]
                   for b in r.complexity_rows for c, n in b.complexity.items()]
    if complexity:
        tables["complexity"] = (COMPLEXITY_COLUMNS, complexity)
    if r.feature_points:
        tables["features"] = (FEATURE_COLUMNS, [
            [p.sequence, p.cls, p.qp, p.label, p.features.split_point, p.features.frames,
             p.features.tensors, p.features.md5, p.features.mse.value, p.features.conformance]
            for p in r.feature_points])
    return tables


def render_csv(results: "Results") -> Tables:
    """The tidy tables of :func:`tidy_tables` as CSV: numbers at full precision, a missing
    number an empty field."""
    return Tables({name: _csv_table(cols, rows)
                   for name, (cols, rows) in tidy_tables(results).items()})


def table_path(out: Path, name: str) -> Path:
    """``out.csv`` -> ``out.NAME.csv`` (also for ``out`` without a suffix)."""
    stem = out.name[:-len(out.suffix)] if out.suffix.lower() == ".csv" else out.name
    return out.with_name(f"{stem}.{name}.csv")


def render_html(results: "Results") -> str:
    from markupsafe import Markup

    from vcmctc.reports.model import build_report
    from vcmctc.reports.svg import Series, rp_plot

    report = build_report(results)
    plots = {}
    for curve in [*report.curves, *report.class_curves]:
        series = []
        if curve.anchor:
            series.append(Series(f"anchor: {report.anchor_codec}", curve.anchor, "anchor",
                                 ANCHOR_COLOR, "circle"))
        series.append(Series(f"test: {report.codec}", curve.test, "test", TEST_COLOR, "square"))
        unit = curve.rate_unit or "rate"
        plots[curve.name] = Markup(rp_plot(series, title=curve.title,
                                           x_label=f"rate ({unit}, log scale)",
                                           y_label=curve.metric_label))
    from vcmctc import __version__

    return _env(True).get_template("report.html.j2").render(
        r=report, version=__version__, plots=plots, anchor_color=ANCHOR_COLOR,
        test_color=TEST_COLOR, **_marks())


def format_for(fmt: str | None, out: Path | None) -> str:
    """The format named, or the one the output file's suffix implies, or Markdown (stdout).
    An output file whose suffix is not a report format's is refused (``report -o x.pdf`` must
    not write Markdown into x.pdf); with ``fmt`` given, the suffix must agree with it."""
    from vcmctc.errors import UserError

    known = ", ".join(sorted(SUFFIXES))
    if out is not None and out.suffix.lower() not in SUFFIXES:
        what = f"suffix {out.suffix!r}" if out.suffix else "no suffix"
        raise UserError(f"{out.name}: {what} is not a report format (known: {known})")
    implied = SUFFIXES[out.suffix.lower()] if out is not None else None
    if fmt:
        fmt = FORMATS.check(fmt)
        if implied is not None and implied != fmt:
            raise UserError(f"{out.name}: the suffix says {implied}, --format says {fmt}")
        return fmt
    return implied or "md"


def render(results: "Results", fmt: str) -> "str | bytes | Tables":
    return FORMATS.get(fmt)(results)


def write_report_files(results: "Results", fmt: str, out: Path) -> list[Path]:
    """Render and write atomically (temporary files renamed into place, with the permissions
    the umask gives); a report of several tables (CSV) is one file per table."""
    from vcmctc.submission.cache import atomic_write_bytes

    data = render(results, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = ({table_path(out, name): text for name, text in data.items()}
             if isinstance(data, Tables) else {out: data})
    for path, content in files.items():
        atomic_write_bytes(path, content if isinstance(content, bytes)
                           else content.encode("utf-8"))
    return list(files)


def write_report(results: "Results", fmt: str, out: Path) -> Path:
    """:func:`write_report_files`, returning the first file (the points table of a CSV)."""
    return write_report_files(results, fmt, out)[0]
