"""Rate-performance plots as inline SVG (no matplotlib): axes, ticks, legend, one path per curve.

The rate axis is logarithmic: BD-rate compares log-rates, so equal horizontal distances are
equal rate ratios, and a constant BD-rate is a constant horizontal shift. The metric axis is
linear. Output is deterministic (coordinates rounded to 0.01) so reports can be golden-tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float]]   # (rate, metric)
    css: str                            # "anchor" | "test"
    color: str
    marker: str = "circle"              # "circle" | "square"


WIDTH, HEIGHT = 440, 300
MARGIN = {"left": 58, "right": 16, "top": 62, "bottom": 46}
LEGEND_ROW = 14        # one legend row per series, under the title, above the plot area
CHAR_W = 6.2           # width of one legend character at 11 px (sans-serif, generous)


def nice_step(span: float, target: int = 5) -> float:
    """A 1-2-5 step giving about ``target`` intervals over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / target
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10 ** exp >= raw:
            return m * 10 ** exp
    return 10 ** (exp + 1)  # pragma: no cover


def linear_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    step = nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over [lo, hi] (values, not logs): 1-2-5 per decade (only the powers
    of ten over more than three decades), or nice linear ticks when the range is under a decade
    and 1-2-5 gives fewer than three."""
    found = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** k
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                found.append((m, v))
    if len(found) >= 3:
        many = math.log10(hi) - math.log10(lo) > 3
        return [v for m, v in found if not many or m == 1]
    return [v for v in linear_ticks(lo, hi, 4) if v > 0]


def tick_label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.0e}"
    return f"{v:.6g}"


def _range(values: list[float], pad: float, *, floor: float | None = None) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi - lo <= 0:
        width = abs(lo) * 0.05 or 1.0
        lo, hi = lo - width, hi + width
    span = hi - lo
    lo, hi = lo - pad * span, hi + pad * span
    if floor is not None:
        lo = max(lo, floor)
    return lo, hi


def rp_plot(series: list[Series], *, title: str, x_label: str, y_label: str,
            width: int = WIDTH, height: int = HEIGHT) -> str:
    """One R-P plot as an ``<svg>`` element. Each series is a ``<path class="series NAME">``
    with ``data-points`` = its number of points, plus one marker per point."""
    x0, x1 = MARGIN["left"], width - MARGIN["right"]
    y0, y1 = height - MARGIN["bottom"], MARGIN["top"]   # y0 = bottom pixel
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="rp-plot" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" class="frame" '
           'fill="#ffffff" stroke="#888888"/>']
    rates = [r for s in series for r, _ in s.points if r > 0]
    metrics = [m for s in series for r, m in s.points if r > 0]
    if not rates:
        out.append(f'<text x="{(x0 + x1) / 2:.2f}" y="{(y0 + y1) / 2:.2f}" text-anchor="middle" '
                   'class="empty">no points</text></svg>')
        return "\n".join(out)
    llo, lhi = _range([math.log10(r) for r in rates], 0.06)
    mlo, mhi = _range(metrics, 0.08)

    def px(rate: float) -> float:
        return x0 + (math.log10(rate) - llo) / (lhi - llo) * (x1 - x0)

    def py(metric: float) -> float:
        return y0 - (metric - mlo) / (mhi - mlo) * (y0 - y1)

    # grid and ticks
    for v in log_ticks(10 ** llo, 10 ** lhi):
        x = px(v)
        out.append(f'<line class="grid" x1="{x:.2f}" y1="{y1}" x2="{x:.2f}" y2="{y0}" '
                   'stroke="#e5e5e5"/>')
        out.append(f'<line class="tick" x1="{x:.2f}" y1="{y0}" x2="{x:.2f}" y2="{y0 + 5}" '
                   'stroke="#444444"/>')
        out.append(f'<text class="xtick" x="{x:.2f}" y="{y0 + 17}" text-anchor="middle">'
                   f"{tick_label(v)}</text>")
    for v in linear_ticks(mlo, mhi):
        y = py(v)
        out.append(f'<line class="grid" x1="{x0}" y1="{y:.2f}" x2="{x1}" y2="{y:.2f}" '
                   'stroke="#e5e5e5"/>')
        out.append(f'<line class="tick" x1="{x0 - 5}" y1="{y:.2f}" x2="{x0}" y2="{y:.2f}" '
                   'stroke="#444444"/>')
        out.append(f'<text class="ytick" x="{x0 - 8}" y="{y + 4:.2f}" text-anchor="end">'
                   f"{tick_label(v)}</text>")
    out.append(f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#444444"/>')
    out.append(f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#444444"/>')
    out.append(f'<text class="xlabel" x="{(x0 + x1) / 2:.2f}" y="{height - 8}" '
               f'text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text class="ylabel" x="14" y="{(y0 + y1) / 2:.2f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(y0 + y1) / 2:.2f})">{escape(y_label)}</text>')
    out.append(f'<text class="plot-title" x="{x0}" y="16">{escape(title)}</text>')

    # curves
    for s in series:
        pts = [(px(r), py(m)) for r, m in sorted(s.points) if r > 0]
        if not pts:
            continue
        d = " ".join(f"{'M' if i == 0 else 'L'}{x:.2f},{y:.2f}" for i, (x, y) in enumerate(pts))
        out.append(f'<path class="series {s.css}" data-points="{len(pts)}" d="{d}" fill="none" '
                   f'stroke="{s.color}" stroke-width="2"/>')
        for x, y in pts:
            if s.marker == "square":
                out.append(f'<rect class="marker {s.css}" x="{x - 3.5:.2f}" y="{y - 3.5:.2f}" '
                           f'width="7" height="7" fill="{s.color}"/>')
            else:
                out.append(f'<circle class="marker {s.css}" cx="{x:.2f}" cy="{y:.2f}" r="3.5" '
                           f'fill="{s.color}"/>')

    # legend: one row per series in the top margin, under the title (never over the data), the
    # whole name unless it is wider than the plot (then it is shortened and the full name is
    # the row's tooltip)
    lx, ly = x0, 16 + LEGEND_ROW
    fits = int((width - MARGIN["right"] - lx - 22) / CHAR_W)
    for s in [s for s in series if s.points]:
        name = s.name if len(s.name) <= fits else s.name[:fits - 1] + "\u2026"
        out.append(f'<line class="legend-line {s.css}" x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" '
                   f'y2="{ly - 4}" stroke="{s.color}" stroke-width="2"/>')
        if s.marker == "square":
            out.append(f'<rect x="{lx + 5.5}" y="{ly - 7.5}" width="7" height="7" fill="{s.color}"/>')
        else:
            out.append(f'<circle cx="{lx + 9}" cy="{ly - 4}" r="3.5" fill="{s.color}"/>')
        out.append(f'<text class="legend-text" x="{lx + 22}" y="{ly}">{escape(name)}'
                   f'<title>{escape(s.name)}</title></text>')
        ly += LEGEND_ROW
    out.append("</svg>")
    return "\n".join(out)
