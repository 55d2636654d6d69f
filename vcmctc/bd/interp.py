"""Interpolators for Bjøntegaard-delta integrals; each has ``__call__(x)`` and ``integrate(lo, hi)``.

The methods are those of the ``bjontegaard`` package (FAU-LMS), reimplemented on numpy/scipy:

- ``pchip``: piecewise cubic Hermite interpolation with shape-preserving derivatives (Fritsch and
  Butland's weighted harmonic mean inside, the three-point end rule of Moler's ``pchiptx``),
  integrated exactly; this is the method of the JVET/MPEG Excel sheets (``bjontegaard`` reports
  agreement with the sheet to 10 decimals). It is computed here in plain floating point, in the
  order of operations of scipy's ``PchipInterpolator(x, y).integrate(lo, hi)``, so its numbers
  are those of scipy bit for bit (tests/test_bd_interp.py) without importing scipy.interpolate,
  which costs a third of a second of every ``vcmctc evaluate``.
- ``cubic``: VCEG-M33, one least-squares cubic polynomial (``np.polyfit`` degree 3) over all points.
- ``akima``: scipy's Akima spline (original Akima weights, not "makima"); two points are joined by
  a straight line, as ``bjontegaard`` does.

``bjontegaard`` itself is a test-only dependency: it imports matplotlib at import time, raises or
returns NaN for the data problems this toolkit reports as statuses, and we want its numbers as an
independent reference, not as our implementation.

Callers pass strictly increasing ``x`` (the core sorts and checks); scipy is imported lazily.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Protocol

import numpy as np

#: Fewest points each method can interpolate (cubic: four coefficients need four points).
MIN_POINTS = {"pchip": 2, "akima": 2, "cubic": 4}


class Curve(Protocol):
    def __call__(self, x): ...

    def integrate(self, lo: float, hi: float) -> float: ...


class _Piecewise:
    """A scipy piecewise polynomial (PPoly or BSpline); its own integral is exact."""

    def __init__(self, spline):
        self._spline = spline

    def __call__(self, x):
        return self._spline(x)

    def integrate(self, lo: float, hi: float) -> float:
        return float(self._spline.integrate(lo, hi))


class _Pchip:
    """PCHIP: one cubic per interval, in the local power basis ``(x - x[i])**(3 - k)``."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        xs, ys = [float(v) for v in x], [float(v) for v in y]
        self.x = xs
        h = [b - a for a, b in zip(xs, xs[1:])]
        m = [(y1 - y0) / hk for y0, y1, hk in zip(ys, ys[1:], h)]
        d = _pchip_slopes(h, m)
        self.c = []   # per interval: the coefficients of s**3, s**2, s, 1 (s = x - x[i])
        for i, hk in enumerate(h):
            slope = (ys[i + 1] - ys[i]) / hk
            t = (d[i] + d[i + 1] - 2 * slope) / hk
            self.c.append((t / hk, (slope - d[i]) / hk - t, d[i], ys[i]))

    def _interval(self, v: float) -> int:
        """The interval holding ``v`` (the first or last one outside the range)."""
        n = len(self.x)
        if v >= self.x[-1]:
            return n - 2
        return min(max(bisect_right(self.x, v) - 1, 0), n - 2)

    def __call__(self, x):
        v = np.asarray(x, dtype=float)
        xs = np.asarray(self.x)
        i = np.clip(np.searchsorted(xs, v, side="right") - 1, 0, len(xs) - 2)
        c = np.asarray(self.c)[i]
        s = v - xs[i]
        s2 = s * s
        return c[..., 3] + c[..., 2] * s + c[..., 1] * s2 + c[..., 0] * (s2 * s)

    def _primitive(self, i: int, s: float) -> float:
        """Antiderivative of interval ``i`` at ``s`` from its start (zero there)."""
        c0, c1, c2, c3 = self.c[i]
        z2 = s * s
        z3 = z2 * s
        return (((0.0 + c3 * s * 1.0) + c2 * z2 * 0.5) + c1 * z3 * (1.0 / 3.0)) \
            + c0 * (z3 * s) * 0.25

    def integrate(self, lo: float, hi: float) -> float:
        sign = 1
        if hi < lo:
            lo, hi, sign = hi, lo, -1
        if lo != lo or hi != hi:
            return float("nan")
        first, last = self._interval(lo), self._interval(hi)
        total = 0.0
        for i in range(first, last + 1):
            end = hi - self.x[i] if i == last else self.x[i + 1] - self.x[i]
            start = lo - self.x[i] if i == first else 0.0
            total += self._primitive(i, end) - self._primitive(i, start)
        return float(total * sign)


def _sign(v: float) -> float:
    return (v > 0) - (v < 0) if v == v else v


def _pchip_end(h0: float, h1: float, m0: float, m1: float) -> float:
    """Slope at an end point: the one-sided three-point estimate, kept shape-preserving."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if _sign(d) != _sign(m0):
        return 0.0
    if _sign(m0) != _sign(m1) and abs(d) > 3.0 * abs(m0):
        return 3.0 * m0
    return d


def _pchip_slopes(h: list[float], m: list[float]) -> list[float]:
    """Slopes at the points from the interval widths ``h`` and secant slopes ``m``."""
    if len(h) == 1:
        return [m[0], m[0]]
    d = [0.0] * (len(h) + 1)
    for k in range(1, len(h)):
        if _sign(m[k]) != _sign(m[k - 1]) or m[k] == 0 or m[k - 1] == 0:
            continue
        w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
        d[k] = 1.0 / ((w1 / m[k - 1] + w2 / m[k]) / (w1 + w2))
    d[0] = _pchip_end(h[0], h[1], m[0], m[1])
    d[-1] = _pchip_end(h[-1], h[-2], m[-1], m[-2])
    return d


class _Polynomial:
    """One polynomial over the whole range (VCEG-M33 cubic)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, degree: int = 3):
        self.coefficients = np.polyfit(x, y, degree)  # highest power first
        self._antiderivative = np.polyint(self.coefficients)

    def __call__(self, x):
        return np.polyval(self.coefficients, x)

    def integrate(self, lo: float, hi: float) -> float:
        return float(np.polyval(self._antiderivative, hi) - np.polyval(self._antiderivative, lo))


def interpolate(method: str, x, y) -> Curve:
    """Interpolator of ``y(x)`` by ``method``; ``x`` strictly increasing, enough points for it."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if method not in MIN_POINTS:
        raise ValueError(f"unknown interpolation method {method!r} (known: {', '.join(MIN_POINTS)})")
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError("x and y must be 1-D arrays of the same length")
    if len(x) < MIN_POINTS[method]:
        raise ValueError(f"{method} needs at least {MIN_POINTS[method]} points, got {len(x)}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    if method == "cubic":
        return _Polynomial(x, y)
    if method == "pchip":
        return _Pchip(x, y)
    import scipy.interpolate as si

    if len(x) == 2:
        return _Piecewise(si.make_interp_spline(x, y, k=1))
    return _Piecewise(si.Akima1DInterpolator(x, y, method="akima"))
