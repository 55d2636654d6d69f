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


def md(value: Any) -> str:
    """Escape text for a Markdown table cell."""
    return (str(value).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
            .replace(">", "&gt;").replace("\n", " "))


def csvq(value: Any) -> str:
    """One CSV field: None is empty, floats are written exactly (repr), text is quoted if needed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value == value else ""
    text = str(value)
    if any(c in text for c in ',"\n\r') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _env(autoescape: bool):
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("vcmctc.reports", "templates"),
                      autoescape=autoescape, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, undefined=StrictUndefined)
    env.filters.update(tex=tex, md=md, csvq=csvq)
    return env


def _render(template: str, results: "Results", *, autoescape: bool = False, **extra) -> str:
    from vcmctc import __version__
    from vcmctc.reports.model import build_report

    report = build_report(results)
    return _env(autoescape).get_template(template).render(r=report, version=__version__, **extra)


def render_markdown(results: "Results") -> str:
    return _render("report.md.j2", results)


def render_latex(results: "Results") -> str:
    return _render("report.tex.j2", results)


def render_csv(results: "Results") -> str:
    return _render("report.csv.j2", results)


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
        test_color=TEST_COLOR)


def format_for(fmt: str | None, out: Path | None) -> str:
    """The format named, or the one implied by the output file's suffix, or Markdown."""
    if fmt:
        return FORMATS.check(fmt)
    if out is not None and out.suffix.lower() in SUFFIXES:
        return SUFFIXES[out.suffix.lower()]
    return "md"


def render(results: "Results", fmt: str) -> str | bytes:
    return FORMATS.get(fmt)(results)


def write_report(results: "Results", fmt: str, out: Path) -> Path:
    """Render and write atomically (a temporary file renamed into place)."""
    data = render(results, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8", newline="")
    tmp.replace(out)
    return out
