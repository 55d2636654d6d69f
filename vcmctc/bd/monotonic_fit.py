"""Constrained monotonic cubic fit of an accuracy-rate curve (H. Wang et al., PCS 2024).

The fit used by VCM (MPEG WG4 m63692, shipped with VCM-RS): the metric is fitted as a cubic
``f(x)``, ``x = log10(rate)``, by least squares under

    f'(x) >= 0 and f''(x) <= 0 on [x_min, x_max],   f(x_min) >= lower,   f(x_max) <= upper

with ``lower, upper = 0, 100`` for accuracies in percent. Each measured metric is then replaced by
``f`` at its rate and the usual BD computation runs on those values.

Formulation. ``f''`` is linear, so ``f'' <= 0`` on the interval iff it holds at both ends; with
``f'' <= 0``, ``f'`` decreases, so ``f' >= 0`` on the interval iff ``f'(x_max) >= 0``. The
continuous constraints are therefore exactly five linear inequalities on the coefficients (VCM-RS
imposes ``f' >= 0`` and ``f'' <= 0`` at the data points, which for sorted points is the same
set). Minimising a convex quadratic under five linear inequalities in four unknowns is solved
exactly by trying every active set (31 small linear systems) and keeping the feasible candidate
with the smallest residual: the optimum is one of the candidates and every feasible candidate is a
feasible point, so no tolerance-driven iteration is needed and the fit cannot fail to converge
(the public scripts call SLSQP from ``[1, 1, 1, 1]`` instead: fit solver ``slsqp``,
:mod:`vcmctc.bd.slsqp_fit`). Work is done in ``t = (x - x_min) / (x_max - x_min)``
for conditioning.

Matched from VCM-RS: same objective, same constraints, same bounds (0, 100), ``x = log10(rate)``.
Not matched: VCM-RS replaces NaN metrics by 0 (here NaN is an ``invalid-metric`` status), and its
SLSQP result is only as exact as SLSQP's default tolerance (fit solver ``slsqp`` repeats it).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

# Rows of G in G @ a <= h, a = coefficients of f(t) = a0 + a1 t + a2 t^2 + a3 t^3.
_G = np.array([
    [0.0, 0.0, 2.0, 0.0],     # f''(0) <= 0
    [0.0, 0.0, 2.0, 6.0],     # f''(1) <= 0
    [0.0, -1.0, -2.0, -3.0],  # -f'(1) <= 0
    [-1.0, 0.0, 0.0, 0.0],    # -f(0) <= -lower
    [1.0, 1.0, 1.0, 1.0],     # f(1) <= upper
])


@dataclass(frozen=True)
class MonotonicCubic:
    """A fitted curve ``f(x) = sum(coefficients[k] * t**k)``, ``t = (x - x_min) / (x_max - x_min)``,
    ``x = log10(rate)``."""

    coefficients: tuple[float, float, float, float]
    x_min: float
    x_max: float
    lower: float = 0.0
    upper: float = 100.0

    def _t(self, x):
        return (np.asarray(x, dtype=float) - self.x_min) / (self.x_max - self.x_min)

    def __call__(self, x):
        """Metric at ``x = log10(rate)``."""
        return np.polynomial.polynomial.polyval(self._t(x), self.coefficients)

    def at_rate(self, rate):
        return self(np.log10(np.asarray(rate, dtype=float)))

    def derivative(self, x, order: int = 1):
        """``d^order f / dx^order`` at ``x = log10(rate)``."""
        c = np.polynomial.polynomial.polyder(self.coefficients, order)
        return np.polynomial.polynomial.polyval(self._t(x), c) / (self.x_max - self.x_min) ** order

    def violation(self) -> float:
        """Largest amount by which any constraint is violated (0.0 when all hold), exact."""
        a = np.asarray(self.coefficients)
        h = np.array([0.0, 0.0, 0.0, -self.lower, self.upper])
        return float(max(0.0, np.max(_G @ a - h)))

    def to_dict(self) -> dict:
        return {"solver": "exact", "coefficients": list(self.coefficients), "x_min": self.x_min,
                "x_max": self.x_max,
                "basis": "t = (log10(rate) - x_min) / (x_max - x_min)",
                "lower": self.lower, "upper": self.upper}


def checked_curve(rate, metric) -> tuple[np.ndarray, np.ndarray]:
    """``(log10(rate), metric)`` as float arrays, in the given order, after the preconditions of
    both fit solvers: 1-D, same length, finite, rates > 0, at least 4 distinct rates
    (ValueError otherwise)."""
    rate = np.asarray(rate, dtype=float)
    y = np.asarray(metric, dtype=float)
    if rate.ndim != 1 or rate.shape != y.shape:
        raise ValueError("rate and metric must be 1-D arrays of the same length")
    if not (np.all(np.isfinite(rate)) and np.all(rate > 0) and np.all(np.isfinite(y))):
        raise ValueError("rates must be finite and > 0, metrics finite")
    x = np.log10(rate)
    if len(np.unique(x)) < 4:
        raise ValueError(f"the monotonic cubic fit needs at least 4 distinct rates, got {len(np.unique(x))}")
    return x, y


def fit_monotonic_cubic(rate, metric, *, lower: float = 0.0, upper: float = 100.0) -> MonotonicCubic:
    """Least-squares cubic in log10(rate), increasing and concave on the data range, bounded.

    Needs at least 4 points with distinct positive rates (any order); raises ValueError otherwise.
    """
    x, y = checked_curve(rate, metric)
    if not lower < upper:
        raise ValueError("lower must be below upper")
    x_min, x_max = float(x.min()), float(x.max())
    t = (x - x_min) / (x_max - x_min)
    V = np.vander(t, 4, increasing=True)
    A, b = V.T @ V, V.T @ y
    h = np.array([0.0, 0.0, 0.0, -lower, upper])
    tol = 1e-9 * max(1.0, abs(lower), abs(upper), float(np.max(np.abs(y))))

    best, best_obj = None, np.inf
    for k in range(5):
        for active in combinations(range(5), k):
            idx = list(active)
            kkt = np.zeros((4 + k, 4 + k))
            kkt[:4, :4] = A
            kkt[:4, 4:] = _G[idx].T
            kkt[4:, :4] = _G[idx]
            rhs = np.concatenate([b, h[idx]])
            try:
                a = np.linalg.solve(kkt, rhs)[:4]
            except np.linalg.LinAlgError:
                continue
            if np.any(_G @ a - h > tol):
                continue
            obj = float(np.sum((V @ a - y) ** 2))
            if obj < best_obj:
                best, best_obj = a, obj
    assert best is not None, "unreachable: some active set is the optimum of a feasible convex QP"
    return MonotonicCubic(tuple(float(c) for c in best), x_min, x_max, float(lower), float(upper))
