"""Interpolators for Bjøntegaard-delta integrals; each has ``__call__(x)`` and ``integrate(lo, hi)``.

The methods are those of the ``bjontegaard`` package (FAU-LMS), reimplemented on numpy/scipy:

- ``pchip``: piecewise cubic Hermite interpolation with scipy's shape-preserving derivatives,
  integrated exactly; this is the method of the JVET/MPEG Excel sheets (``bjontegaard`` reports
  agreement with the sheet to 10 decimals).
- ``cubic``: VCEG-M33, one least-squares cubic polynomial (``np.polyfit`` degree 3) over all points.
- ``akima``: scipy's Akima spline (original Akima weights, not "makima"); two points are joined by
  a straight line, as ``bjontegaard`` does.

``bjontegaard`` itself is a test-only dependency: it imports matplotlib at import time, raises or
returns NaN for the data problems this toolkit reports as statuses, and we want its numbers as an
independent reference, not as our implementation.

Callers pass strictly increasing ``x`` (the core sorts and checks); scipy is imported lazily.
"""

from __future__ import annotations

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
    import scipy.interpolate as si

    if method == "pchip":
        return _Piecewise(si.PchipInterpolator(x, y))
    if len(x) == 2:
        return _Piecewise(si.make_interp_spline(x, y, k=1))
    return _Piecewise(si.Akima1DInterpolator(x, y, method="akima"))
