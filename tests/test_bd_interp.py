"""Interpolators of vcmctc.bd.interp on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from vcmctc.bd.interp import interpolate


def test_pchip_integral_hand_worked():
    # x = 0, 1, 2; y = 0, 1, 3: secants d0 = 1, d1 = 2, h = 1.
    # Interior slope (Fritsch-Butland weighted harmonic mean, w1 = w2 = 3): 6/s = 3/1 + 3/2 -> s = 4/3.
    # End slopes (three-point formula): s0 = (3*1 - 2)/2 = 1/2, s2 = (3*2 - 1)/2 = 5/2.
    # Hermite cubic integral per interval: h(y_i + y_i+1)/2 + h^2 (s_i - s_i+1)/12
    #   [0,1]: 1/2 + (1/2 - 4/3)/12 = 1/2 - 5/72;  [1,2]: 2 + (4/3 - 5/2)/12 = 2 - 7/72
    # total = 5/2 - 1/6 = 7/3.
    f = interpolate("pchip", [0.0, 1.0, 2.0], [0.0, 1.0, 3.0])
    assert f.integrate(0.0, 2.0) == pytest.approx(7 / 3, abs=1e-12)
    assert f.integrate(0.0, 1.0) == pytest.approx(0.5 - 5 / 72, abs=1e-12)
    assert f(1.0) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("method", ["pchip", "cubic", "akima"])
def test_collinear_points_give_the_line(method):
    # Every method reproduces a straight line: integral of 2x + 1 over [0.5, 3] = [x^2 + x] = 12 - 0.75.
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    f = interpolate(method, x, 2 * x + 1)
    assert f.integrate(0.5, 3.0) == pytest.approx(11.25, abs=1e-12)


def test_cubic_is_the_least_squares_cubic():
    # 5 points of a cubic plus noise on one point: polyfit of degree 3 is exact for a cubic, so the
    # integral of the fit of the exact cubic y = x^3 over [0, 2] is 4.
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    f = interpolate("cubic", x, x ** 3)
    assert f.integrate(0.0, 2.0) == pytest.approx(4.0, abs=1e-12)


def test_akima_two_points_is_linear():
    f = interpolate("akima", [1.0, 3.0], [10.0, 30.0])
    assert f.integrate(1.0, 3.0) == pytest.approx(40.0, abs=1e-12)  # trapezoid


@pytest.mark.parametrize("x, y, match", [
    ([0.0, 2.0, 1.0], [0.0, 1.0, 2.0], "strictly increasing"),
    ([0.0, 1.0, 1.0], [0.0, 1.0, 2.0], "strictly increasing"),
    ([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], "at least 4"),  # cubic
])
def test_interpolate_rejects_bad_x(x, y, match):
    method = "cubic" if match == "at least 4" else "pchip"
    with pytest.raises(ValueError, match=match):
        interpolate(method, x, y)


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown interpolation method"):
        interpolate("linear", [0, 1], [0, 1])


def _curves(seed: int, count: int):
    """Varied curves: random and monotonic metrics, ties (zero secants), flat pieces, 2 to 8
    points, x on a linear or a log10-rate scale."""
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        n = int(rng.integers(2, 9))
        x = (np.sort(rng.uniform(-3, 4, n)) if made % 3 else
             np.log10(np.sort(rng.uniform(10, 5000, n))))
        if len(np.unique(x)) < n:
            continue
        kind = made % 5
        y = rng.uniform(0, 100, n) if kind == 0 else np.sort(rng.uniform(0, 100, n))
        if kind == 2:
            y = np.round(y / 10)             # equal neighbours: zero secants
        if kind == 3 and n > 2:
            y[1:3] = y[1]                    # a flat piece
        if kind == 4:
            y = -y                           # falling
        made += 1
        yield rng, x, y


def test_pchip_equals_scipy_bit_for_bit():
    """vcmctc's PCHIP (no scipy import) against scipy's PchipInterpolator, which it replaced:
    the same floats, integrals and values, inside and outside the points."""
    from scipy.interpolate import PchipInterpolator

    for rng, x, y in _curves(7, 3000):
        ref, ours = PchipInterpolator(x, y), interpolate("pchip", x, y)
        inner = tuple(np.sort(rng.uniform(x[0], x[-1], 2)))
        for lo, hi in [(x[0], x[-1]), inner, inner[::-1], (x[0] - 0.3, x[-1] + 0.2),
                       (x[1], x[1]), (x[-1], x[-1] + 1.0)]:
            assert ours.integrate(lo, hi) == float(ref.integrate(lo, hi)), (x, y, lo, hi)
        at = np.concatenate([x, rng.uniform(x[0] - 1, x[-1] + 1, 15)])
        assert np.array_equal(ours(at), ref(at))


def test_bd_rate_with_pchip_equals_the_scipy_path(monkeypatch):
    """bd_rate end to end: the same BD-rate and BD-metric floats as with scipy's interpolator."""
    from scipy.interpolate import PchipInterpolator

    import vcmctc.bd.core as core
    from vcmctc.bd.interp import _Piecewise

    rng = np.random.default_rng(3)
    cases = []
    for _ in range(300):
        n = int(rng.integers(4, 7))
        rate = np.sort(rng.uniform(50, 5000, n))
        metric = np.sort(rng.uniform(20, 90, n))
        test_rate = rate * rng.uniform(0.6, 1.3, n)
        test_metric = np.sort(metric + rng.normal(0, 3, n))
        cases.append((rate, metric, np.sort(test_rate), test_metric))
    ours = [core.bd_rate(*c) for c in cases]
    monkeypatch.setattr(core, "interpolate", lambda method, x, y: _Piecewise(
        PchipInterpolator(np.asarray(x, float), np.asarray(y, float))))
    for c, mine in zip(cases, ours):
        ref = core.bd_rate(*c)
        assert (mine.status, mine.bd_rate, mine.bd_metric) == (ref.status, ref.bd_rate,
                                                               ref.bd_metric)
    assert sum(r.bd_rate is not None for r in ours) > 200


def test_evaluating_a_bd_rate_does_not_import_scipy_interpolate():
    import subprocess
    import sys

    code = ("import sys; from vcmctc.bd.core import bd_rate; "
            "r = bd_rate([1, 2, 4, 8], [30, 40, 50, 60], [1, 2, 4, 8], [31, 41, 51, 61]); "
            "assert r.bd_rate is not None; print('scipy.interpolate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
