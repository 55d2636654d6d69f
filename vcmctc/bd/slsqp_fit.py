"""The monotonic cubic fit as the public VCM/FCM scripts compute it (fit solver ``slsqp``).

The constrained cubic of :mod:`vcmctc.bd.monotonic_fit` (H. Wang et al., PCS 2024) is, in the
public scripts, not solved exactly but by one call of ``scipy.optimize.minimize``. Read at
InterDigitalInc/CompressAI-Vision commit 31165da, ``scripts/metrics/cubic_polynomial.py``
(``fit_cubic``) and ``scripts/metrics/curve_fitting.py`` (``convert_to_monotonic_points_*``,
``_core_curve_fitting_function``); the same functions with the header "source codes of MPEG WG4
VCM proposal m63692" come with VCM-RS. That call is, in these terms:

- unknowns ``b = (b0, b1, b2, b3)`` of ``f(x) = b0 x^3 + b1 x^2 + b2 x + b3`` in the raw
  ``x = log10(kbps)`` (no normalisation), points in increasing rate order;
- objective ``sum((f(x_i) - y_i)^2)``;
- four inequality constraints, in this order: ``f'(x_i) >= 0`` at every point, ``-f''(x_i) >= 0``
  at every point, ``f(x_first) - 0 >= 0``, ``100 - f(x_last) >= 0``;
- ``method="SLSQP"`` from ``x0 = [1, 1, 1, 1]``, no gradients (finite differences) and default
  options (``maxiter=100``, ``ftol=1e-6``);
- when the solver reports success, every metric is replaced by ``f`` at its rate; when it does
  not, the measured metrics are kept unchanged.

:func:`fit_slsqp` repeats that call with the same floating-point expressions (array powers in the
objective and constraints, the fitted values point by point), so its fitted metrics are the
scripts' bit for bit with the same SciPy. SLSQP stops at its default tolerance from a poor start,
so the result can be noticeably short of the least-squares optimum that the ``exact`` solver
finds; tests/reference/test_bd_slsqp_vs_script.py measures both.

Not repeated: the scripts replace a NaN metric by 0 (vcmctc reports ``invalid-metric``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

START = (1.0, 1.0, 1.0, 1.0)


def _poly(b, x):
    """``b0 x^3 + b1 x^2 + b2 x + b3`` with array powers, evaluated left to right."""
    return b[0] * np.power(x, 3) + b[1] * np.power(x, 2) + b[2] * np.asarray(x) + b[3]


class _Problem:
    """The scripts' objective and constraint functions for one curve (x ascending)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, lower: float, upper: float):
        self.x, self.y, self.lower, self.upper = x, y, lower, upper

    def objective(self, b):
        return np.sum(np.power(_poly(b, self.x) - self.y, 2))

    def slope(self, b):                      # f'(x_i) >= 0
        return 3 * b[0] * np.power(self.x, 2) + 2 * b[1] * np.asarray(self.x) + b[2]

    def concavity(self, b):                  # -f''(x_i) >= 0
        return -1 * 6 * b[0] * np.asarray(self.x) - 2 * b[1]

    def above_lower(self, b):                # f(x_first) >= lower
        return _poly(b, self.x[0]) - self.lower

    def below_upper(self, b):                # f(x_last) <= upper
        return self.upper - _poly(b, self.x[-1])

    def constraints(self):
        return [{"type": "ineq", "fun": f}
                for f in (self.slope, self.concavity, self.above_lower, self.below_upper)]


@dataclass(frozen=True)
class SlsqpCubic:
    """The outcome of the scripts' SLSQP call: ``f(x) = sum(coefficients[k] * x**(3 - k))``,
    ``x = log10(rate)`` (highest power first, as the scripts store ``res.x``)."""

    coefficients: tuple[float, float, float, float]
    x_min: float
    x_max: float
    success: bool
    message: str
    iterations: int
    lower: float = 0.0
    upper: float = 100.0

    def __call__(self, x):
        """Metric at ``x = log10(rate)``, point by point as the scripts evaluate the fit."""
        x = np.asarray(x, dtype=float)
        values = [_poly(self.coefficients, np.float64(v)) for v in x.ravel()]
        return np.asarray(values, dtype=float).reshape(x.shape)

    def at_rate(self, rate):
        return self(np.log10(np.asarray(rate, dtype=float)))

    def derivative(self, x, order: int = 1):
        """``d^order f / dx^order`` at ``x = log10(rate)``."""
        c = np.polynomial.polynomial.polyder(self.coefficients[::-1], order)
        return np.polynomial.polynomial.polyval(np.asarray(x, dtype=float), c)

    def violation(self) -> float:
        """Largest violation of the constraints on [x_min, x_max] (f' and f'' checked at both
        ends, which bounds them on the interval for a cubic) and of the bounds; 0.0 when all
        hold."""
        ends = np.array([self.x_min, self.x_max])
        worst = max(0.0, -float(np.min(self.derivative(ends, 1))),
                    float(np.max(self.derivative(ends, 2))),
                    self.lower - float(self(self.x_min)), float(self(self.x_max)) - self.upper)
        return worst

    def to_dict(self) -> dict:
        return {"solver": "slsqp", "coefficients": list(self.coefficients),
                "basis": "x = log10(rate), highest power first", "x_min": self.x_min,
                "x_max": self.x_max, "success": self.success, "message": self.message,
                "iterations": self.iterations, "lower": self.lower, "upper": self.upper}


def fit_slsqp(rate, metric, *, lower: float = 0.0, upper: float = 100.0) -> SlsqpCubic:
    """The scripts' SLSQP fit of one curve; points are taken in increasing rate order.

    Needs at least 4 points with distinct positive rates; raises ValueError otherwise (the same
    preconditions as :func:`vcmctc.bd.monotonic_fit.fit_monotonic_cubic`).
    """
    from scipy.optimize import minimize

    from vcmctc.bd.monotonic_fit import checked_curve

    x, y = checked_curve(rate, metric)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    problem = _Problem(x, y, lower, upper)
    res = minimize(problem.objective, x0=np.array(START), method="SLSQP",
                   constraints=problem.constraints())
    return SlsqpCubic(tuple(float(c) for c in res.x), float(x[0]), float(x[-1]),
                      bool(res.success), str(res.message), int(getattr(res, "nit", 0) or 0),
                      float(lower), float(upper))
