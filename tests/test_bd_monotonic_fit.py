"""The constrained monotonic cubic fit: constraints, optimality, hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from vcmctc.bd.monotonic_fit import fit_monotonic_cubic


def _random_curve(rng, n):
    """Accuracy-rate points as seen in VCM tables: noisy, often non-monotonic, 0-100."""
    x = np.sort(rng.uniform(1.0, 4.0, n))
    if np.min(np.diff(x)) < 1e-3:
        x = np.linspace(x[0], x[0] + rng.uniform(0.5, 2.0), n)
    base = rng.uniform(0, 60) + rng.uniform(5, 40) * (1 - np.exp(-(x - x[0]) * rng.uniform(0.3, 3)))
    y = np.clip(base + rng.normal(0, rng.uniform(0.1, 8), n), 0, 100)
    if rng.random() < 0.1:  # saturated or decreasing curves
        y = np.sort(y)[::-1] if rng.random() < 0.5 else np.minimum(y + 60, 100)
    return 10 ** x, y


def _check_constraints(fit, x_lo, x_hi, tol=1e-9):
    grid = np.linspace(x_lo, x_hi, 2001)
    assert np.min(fit.derivative(grid, 1)) >= -tol
    assert np.max(fit.derivative(grid, 2)) <= tol
    assert fit(x_lo) >= fit.lower - tol
    assert fit(x_hi) <= fit.upper + tol
    assert fit.violation() <= tol


def _slsqp_fit(rate, metric):
    """Independent solution of the same problem with scipy's SLSQP, tight tolerance, dense-grid
    constraints in t in [0, 1] (not the vcmctc formulation)."""
    from scipy.optimize import minimize

    x = np.log10(rate)
    t = (x - x.min()) / (x.max() - x.min())
    V = np.vander(t, 4, increasing=True)
    g = np.linspace(0, 1, 21)
    d1 = np.stack([np.zeros_like(g), np.ones_like(g), 2 * g, 3 * g ** 2], axis=1)
    d2 = np.stack([np.zeros_like(g), np.zeros_like(g), 2 * np.ones_like(g), 6 * g], axis=1)
    cons = [
        {"type": "ineq", "fun": lambda a: d1 @ a, "jac": lambda a: d1},
        {"type": "ineq", "fun": lambda a: -(d2 @ a), "jac": lambda a: -d2},
        {"type": "ineq", "fun": lambda a: np.array([a[0]]), "jac": lambda a: np.array([[1.0, 0, 0, 0]])},
        {"type": "ineq", "fun": lambda a: np.array([100 - a.sum()]), "jac": lambda a: -np.ones((1, 4))},
    ]
    res = minimize(lambda a: np.sum((V @ a - metric) ** 2), np.array([np.mean(metric), 0, 0, 0]),
                   jac=lambda a: 2 * V.T @ (V @ a - metric), method="SLSQP", constraints=cons,
                   options={"ftol": 1e-14, "maxiter": 1000})
    return res, V


@pytest.mark.parametrize("n", [4, 5, 6])
def test_constraints_and_optimality_on_random_curves(n):
    rng = np.random.default_rng(100 + n)
    worst = 0.0
    for _ in range(150):
        rate, metric = _random_curve(rng, n)
        fit = fit_monotonic_cubic(rate, metric)
        x = np.log10(rate)
        _check_constraints(fit, x.min(), x.max())
        ours = float(np.sum((fit.at_rate(rate) - metric) ** 2))
        res, V = _slsqp_fit(rate, metric)
        if res.success:
            theirs = float(np.sum((V @ res.x - metric) ** 2))
            # vcmctc's exact solution is never worse than the iterative one
            assert ours <= theirs + 1e-7 * max(1.0, theirs)
            worst = max(worst, float(np.max(np.abs(V @ res.x - fit.at_rate(rate)))))
    # the two solvers find the same fitted values (SLSQP is only accurate to its tolerance)
    assert worst < 1e-4


def test_feasible_data_is_reproduced_exactly():
    # Points on f(x) = 20 + 30x - 5x^2, increasing (f' = 30 - 10x > 0 for x < 3) and concave,
    # within 0-100 on x in [1, 2.5]: the unconstrained least-squares cubic through them is f itself
    # and it is feasible, so the fit returns the data.
    x = np.array([1.0, 1.5, 2.0, 2.25, 2.5])
    y = 20 + 30 * x - 5 * x ** 2
    fit = fit_monotonic_cubic(10 ** x, y)
    np.testing.assert_allclose(fit(x), y, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fit.derivative(x, 1), 30 - 10 * x, atol=1e-9)


def test_decreasing_data_gives_the_mean():
    # The best non-decreasing fit of strictly decreasing data (isotonic regression) is the constant
    # equal to their mean; a constant is an admissible cubic, so the constrained fit is that constant.
    y = np.array([80.0, 70.0, 60.0, 50.0])
    fit = fit_monotonic_cubic([10.0, 20.0, 40.0, 80.0], y)
    np.testing.assert_allclose(fit.at_rate([10.0, 20.0, 40.0, 80.0]), 65.0, atol=1e-10)


def test_upper_bound_active():
    # Linear data through 100 rising past it: the fit must stay <= 100 at the top rate.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([70.0, 80.0, 90.0, 100.0]) + np.array([0, 0, 0, 8.0])
    fit = fit_monotonic_cubic(10 ** x, y)
    assert fit(4.0) == pytest.approx(100.0, abs=1e-9)  # active bound
    _check_constraints(fit, 1.0, 4.0)


def test_order_does_not_matter():
    rate = np.array([300.0, 100.0, 50.0, 200.0, 30.0])
    metric = np.array([60.0, 55.0, 40.0, 58.0, 35.0])
    a = fit_monotonic_cubic(rate, metric)
    order = np.argsort(rate)
    b = fit_monotonic_cubic(rate[order], metric[order])
    np.testing.assert_allclose(a.coefficients, b.coefficients, atol=1e-12)


@pytest.mark.parametrize("rate, metric, match", [
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "at least 4"),
    ([1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], "at least 4"),
    ([1.0, 2.0, 0.0, 3.0], [1.0, 2.0, 3.0, 4.0], "finite and > 0"),
    ([1.0, 2.0, 3.0, 4.0], [1.0, np.nan, 3.0, 4.0], "finite"),
])
def test_bad_input(rate, metric, match):
    with pytest.raises(ValueError, match=match):
        fit_monotonic_cubic(rate, metric)
