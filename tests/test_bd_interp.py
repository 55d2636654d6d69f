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
