"""Plausibility of rate-metric numbers before a BD-rate is computed from them (pure functions).

A BD-rate over rates in the wrong unit or metrics on the wrong scale is a number, but a wrong
one: rates entered in bps instead of kbps give a BD-rate of some +99900 % with status ok, and
accuracies on a 0-1 scale overlap nothing. These helpers look at the numbers and name the likely
mistake; ``vcmctc validate`` turns their findings into warnings or errors.

- :func:`rate_unit_check`: the test's rates against the anchor's **at the same QP**. When they
  differ by a factor 10 or more, the factor is compared with the factors of the usual unit
  confusions (bps vs kbps: 1000; Mbps vs kbps: 1/1000; bits per pixel vs kbps: the sequence's
  pixel rate / 1000; total bits vs kbps: 1000 x duration; bytes/s vs kbps: 125 ...; a factor
  below 10, such as bytes vs bits alone, is not reported). A factor within
  a factor 2 of one of them is named. The finding is an ``error`` when the match is certain:
  every compared point is within a factor 2 of the same confusion and that confusion is at least
  100x (no codec difference looks like that); otherwise a ``warning``.
- :func:`metric_scale_check`: metrics that look like a 0-1 scale where the edition expects
  0-100 (every value within [-1, 1] and at least one not 0). ``error`` when an anchor curve on
  the 0-100 scale is given and the values times 100 fall within its range widened by half its
  span (the curves then plainly are the same quantity on two scales); otherwise ``warning``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

#: Below this factor between test and anchor rates at the same QP nothing is reported.
RATE_FACTOR = 10.0
#: How close (as a factor) the observed ratio must be to a confusion's factor to name it.
MATCH_FACTOR = 2.0
#: A confusion this large or larger, matched at every point, is reported as an error.
CERTAIN_FACTOR = 100.0


@dataclass(frozen=True)
class Finding:
    level: str              # "warning" | "error"
    kind: str               # "rate-unit" | "metric-scale"
    message: str
    factor: float | None = None      # observed test / anchor (rate) or scale factor (metric)
    likely: str | None = None        # the named confusion, e.g. "bps instead of kbps"

    def to_dict(self) -> dict:
        return {"level": self.level, "kind": self.kind, "message": self.message,
                "factor": self.factor, "likely": self.likely}


def _fmt_factor(f: float) -> str:
    return f"{f:.3g}x" if f >= 1 else f"1/{1 / f:.3g}"


def unit_confusions(unit: str, *, width: int | None = None, height: int | None = None,
                    fps: float | None = None, frames: int | None = None,
                    pixels: int | None = None) -> dict[str, float]:
    """Confusion name -> factor (entered value / correct value) for rates in ``unit``.

    ``unit`` is the edition's rate unit (``kbps`` or ``bpp``). The pixel-based confusions need
    the sequence's size: ``width``, ``height`` and ``fps`` for video (``frames`` for the
    duration), ``pixels`` (total pixels of the set) for image sets.
    """
    out: dict[str, float] = {}
    if unit == "kbps":
        out.update({"bps instead of kbps": 1000.0, "Mbps instead of kbps": 1e-3,
                    "bytes/s instead of kbps": 125.0})
        if width and height and fps:
            pixel_rate = width * height * fps                  # pixels per second
            out["bpp instead of kbps"] = 1000.0 / pixel_rate  # bpp = kbps * 1000 / pixel rate
            if frames:
                duration = frames / fps
                out["total bits instead of kbps"] = 1000.0 * duration
                out["total kbit instead of kbps"] = duration
                out["total bytes instead of kbps"] = 125.0 * duration
    elif unit == "bpp":
        out["bits per kilopixel instead of bpp"] = 1000.0
        if pixels:
            out["total bits instead of bpp"] = float(pixels)
            out["total bytes instead of bpp"] = pixels / 8.0
            out["total kbit instead of bpp"] = pixels / 1000.0
        if width and height and fps:
            out["kbps instead of bpp"] = width * height * fps / 1000.0
    else:
        raise ValueError(f"unknown rate unit {unit!r}")
    return out


def rate_unit_check(anchor: Mapping[int, float], test: Mapping[int, float], *, unit: str,
                    width: int | None = None, height: int | None = None,
                    fps: float | None = None, frames: int | None = None,
                    pixels: int | None = None) -> Finding | None:
    """Compare rates at the QPs both sides have (``{qp: rate}``); None when they are within
    :data:`RATE_FACTOR` of each other (or the sides have no QP in common, or a rate is not positive)."""
    common = sorted(q for q in test if q in anchor)
    ratios = []
    for q in common:
        a, t = anchor[q], test[q]
        if not (isinstance(a, (int, float)) and isinstance(t, (int, float))) or \
                not (math.isfinite(a) and math.isfinite(t) and a > 0 and t > 0):
            return None
        ratios.append(t / a)
    if not ratios:
        return None
    logs = sorted(math.log10(r) for r in ratios)
    median = 10 ** logs[len(logs) // 2] if len(logs) % 2 else \
        10 ** ((logs[len(logs) // 2 - 1] + logs[len(logs) // 2]) / 2)
    if 1 / RATE_FACTOR < median < RATE_FACTOR:
        return None
    qps = ", ".join(str(q) for q in common)
    base = (f"rates are {_fmt_factor(median)} the anchor's at the same QP ({qps}; "
            f"unit {unit})")
    confusions = unit_confusions(unit, width=width, height=height, fps=fps, frames=frames,
                                 pixels=pixels)
    best = min(confusions.items(), key=lambda kv: abs(math.log10(median / kv[1])), default=None)
    if best is None or abs(math.log10(median / best[1])) > math.log10(MATCH_FACTOR):
        return Finding("warning", "rate-unit",
                       f"{base}: check the rate unit; no usual unit confusion gives that factor",
                       factor=median)
    name, factor = best
    every = all(abs(math.log10(r / factor)) <= math.log10(MATCH_FACTOR) for r in ratios)
    certain = every and max(factor, 1 / factor) >= CERTAIN_FACTOR
    return Finding("error" if certain else "warning", "rate-unit",
                   f"{base}: looks like {name} (a factor {_fmt_factor(factor)})",
                   factor=median, likely=name)


def metric_scale_check(values: Sequence[float], *, upper: float = 100.0,
                       anchor: Sequence[float] | None = None) -> Finding | None:
    """Metric values on a 0-1 scale where the edition expects 0-``upper`` (100); None otherwise
    (also when the edition's scale is not 0-100 or there are no finite values)."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if upper != 100.0 or not vals or max(abs(v) for v in vals) > 1.0 or all(v == 0 for v in vals):
        return None
    message = (f"metric values are all within [-1, 1] (max {max(vals):g}) where the edition "
               f"expects 0-100: looks like a 0-1 scale; multiply by 100")
    ref = [float(v) for v in (anchor or ()) if isinstance(v, (int, float)) and math.isfinite(v)]
    if ref and max(ref) > 1.0:
        lo, hi = min(ref), max(ref)
        margin = (hi - lo) / 2
        scaled = [100 * v for v in vals]
        if all(lo - margin <= v <= hi + margin for v in scaled):
            return Finding("error", "metric-scale",
                           f"{message} (times 100 they lie in the anchor's range {lo:g}-{hi:g})",
                           factor=100.0, likely="0-1 scale instead of percent")
    return Finding("warning", "metric-scale", message, factor=100.0,
                   likely="0-1 scale instead of percent")
