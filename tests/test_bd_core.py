"""vcmctc.bd.core.bd_rate: hand-worked values, every status, every policy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vcmctc.bd import BDResult, bd_rate
from vcmctc.bd.settings import STATUSES

METHODS = ["pchip", "cubic", "akima"]

# A well-behaved 4-point accuracy curve (rate ascending).
R = [100.0, 200.0, 400.0, 800.0]
M = [40.0, 50.0, 56.0, 60.0]


def _has(result: BDResult, text: str) -> bool:
    return any(text in w for w in result.warnings)


# ----------------------------------------------------------------------------- hand-worked values

@pytest.mark.parametrize("method", METHODS)
def test_rates_times_0_8_is_minus_20_percent(method):
    # log10(0.8 r) = log10(r) + log10(0.8) at every metric value, so the mean log difference is
    # log10(0.8) and BD-rate = (0.8 - 1) * 100 = -20 exactly (up to rounding).
    r = bd_rate(R, M, [0.8 * v for v in R], M, method=method)
    assert r.status == "ok" and r.warnings == ()
    assert r.bd_rate == pytest.approx(-20.0, abs=1e-9)
    assert r.overlap == 1.0
    # log-rate ranges [a, b] and [a + c, b + c], c = log10(0.8) < 0: (b - a + c) / (b - a - c)
    span, c = math.log10(8.0), math.log10(0.8)
    assert r.overlap_rate == pytest.approx((span + c) / (span - c), abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_quality_shift_is_the_bd_metric(method):
    # The same rates with every metric + 3: each interpolant is the anchor's + 3, so BD-metric = 3.
    r = bd_rate(R, M, R, [m + 3 for m in M], method=method)
    assert r.status == "low-overlap"  # metric overlap 17/23 = 73.9 % < 75 %
    assert r.bd_metric == pytest.approx(3.0, abs=1e-9)
    assert r.bd_rate < 0  # a better test codec saves bits
    assert r.overlap_rate == 1.0
    assert r.overlap == pytest.approx((20 - 3) / (20 + 3), abs=1e-12)  # [40,60] vs [43,63]


@pytest.mark.parametrize("method", METHODS)
def test_straight_lines_hand_worked(method):
    # Anchor: log10 r = 1 + m/10; test: log10 r = 1 + m/20, m in [0, 10] (5 collinear points each,
    # so every method interpolates the straight line).
    # BD-rate: mean over m in [0,10] of (m/20 - m/10) = -5/20 = -0.25 -> (10^-0.25 - 1) * 100.
    # BD-metric: over x in [1, 1.5] (common log-rate range): anchor m = 10(x-1), test m = 20(x-1);
    # mean of 10(x-1) over [1, 1.5] = 2.5. Log-rate overlap = 0.5 / 1.0 = 0.5 -> warning.
    m = np.array([0.0, 2.5, 5.0, 7.5, 10.0])
    r = bd_rate(10 ** (1 + m / 10), m, 10 ** (1 + m / 20), m, method=method)
    assert r.status == "ok"
    assert r.bd_rate == pytest.approx((10 ** -0.25 - 1) * 100, abs=1e-9)
    assert r.bd_metric == pytest.approx(2.5, abs=1e-9)
    assert r.overlap == 1.0 and r.overlap_rate == pytest.approx(0.5, abs=1e-12)
    assert _has(r, "rate ranges overlap only 50.0%")


def test_identical_curves():
    r = bd_rate(R, M, R, M)
    assert (r.bd_rate, r.bd_metric, r.status) == (0.0, 0.0, "ok")


# ----------------------------------------------------------------------------- input handling

def test_unsorted_input_is_sorted_with_a_warning():
    order = [2, 0, 3, 1]
    r = bd_rate([R[i] for i in order], [M[i] for i in order], R, [m + 1 for m in M])
    ref = bd_rate(R, M, R, [m + 1 for m in M])
    assert r.status == "ok" and _has(r, "anchor: points were not in rate order; sorted by rate")
    assert r.bd_rate == ref.bd_rate and r.bd_metric == ref.bd_metric
    assert r.anchor.rate == tuple(R)


def test_descending_input_is_accepted_silently():
    r = bd_rate(R[::-1], M[::-1], R, [m + 1 for m in M])
    ref = bd_rate(R, M, R, [m + 1 for m in M])
    assert r.warnings == () and r.bd_rate == ref.bd_rate


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan"), float("inf")])
def test_invalid_rate(bad):
    r = bd_rate(R, M, [R[0], bad, R[2], R[3]], M)
    assert r.status == "invalid-rate" and r.bd_rate is None and r.bd_metric is None
    assert _has(r, "test: rate must be finite and > 0") and _has(r, "(point 2)")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_invalid_metric(bad):
    r = bd_rate(R, [M[0], M[1], bad, M[3]], R, M)
    assert r.status == "invalid-metric" and r.bd_rate is None
    assert _has(r, "anchor: metric must be finite") and _has(r, "(point 3)")


def test_too_few_points():
    r = bd_rate(R[:3], M[:3], R, M)
    assert r.status == "too-few-points" and r.bd_rate is None
    assert _has(r, "anchor: 3 point(s), at least 4 needed")
    assert bd_rate(R[:3], M[:3], R[:3], M[:3], min_points=3).status == "ok"


def test_cubic_needs_four_points_whatever_min_points():
    r = bd_rate(R[:3], M[:3], R[:3], M[:3], method="cubic", min_points=3)
    assert r.status == "too-few-points" and _has(r, "at least 4 needed")


def test_empty_curve():
    assert bd_rate([], [], R, M).status == "too-few-points"


@pytest.mark.parametrize("policy", ["refuse", "drop", "fit", "fit-nonmonotonic"])
def test_duplicate_rates(policy):
    r = bd_rate([100, 200, 200, 400, 800], [40, 50, 51, 56, 60], R, M, policy=policy)
    assert r.status == "duplicate-values" and r.bd_rate is None
    assert _has(r, "anchor: several points at rate 200")


def test_duplicate_metric_refused():
    r = bd_rate(R, [40, 50, 50, 60], R, M)
    assert r.status == "duplicate-values" and _has(r, "anchor: several points with metric 50")


def test_not_monotonic_refused():
    r = bd_rate(R, M, R, [40, 55, 52, 60])
    assert r.status == "not-monotonic" and r.bd_rate is None and r.bd_metric is None
    assert _has(r, "test: metric does not increase with rate: 55 at rate 200, then 52 at rate 400")


def test_metric_ranges_disjoint():
    # Test is 30 points better everywhere: no common metric range, so no BD-rate; the rate
    # ranges are the same, so BD-metric is still defined (= 30).
    r = bd_rate(R, M, R, [m + 30 for m in M])
    assert r.status == "no-overlap" and r.bd_rate is None
    assert r.bd_metric == pytest.approx(30.0, abs=1e-9) and r.overlap == 0.0
    assert _has(r, "metric ranges do not overlap")


def test_rate_ranges_disjoint():
    # Same metrics at 1/100 of the rates: BD-rate = -99 %, but no common rate range for BD-metric.
    r = bd_rate(R, M, [v / 100 for v in R], M)
    assert r.status == "ok" and r.bd_rate == pytest.approx(-99.0, abs=1e-9)
    assert r.bd_metric is None and r.overlap_rate == 0.0
    assert _has(r, "rate ranges do not overlap")


def test_low_overlap_is_a_status_that_keeps_the_number():
    # Metric ranges [40, 60] and [55, 75]: overlap 5 / 35.
    r = bd_rate(R, M, R, [m + 15 for m in M])
    assert r.status == "low-overlap" and r.has_number and not r.ok
    assert r.overlap == pytest.approx(5 / 35, abs=1e-12)
    assert _has(r, "metric ranges overlap only 14.3% (< 75%)")
    # the number is the plain computation's: with the threshold at 0 the same value is "ok"
    plain = bd_rate(R, M, R, [m + 15 for m in M], min_overlap=0.0)
    assert plain.status == "ok" and plain.bd_rate == r.bd_rate and plain.bd_metric == r.bd_metric
    assert r.to_dict()["min_overlap"] == 0.75 and plain.to_dict()["min_overlap"] == 0.0


@pytest.mark.parametrize("threshold, status", [(0.14, "ok"), (0.15, "low-overlap"), (1.0, "low-overlap")])
def test_min_overlap_threshold(threshold, status):
    # overlap 5/35 = 0.1428...: below 0.15, above 0.14
    assert bd_rate(R, M, R, [m + 15 for m in M], min_overlap=threshold).status == status
    # full overlap is never low, whatever the threshold
    assert bd_rate(R, M, [0.8 * v for v in R], M, min_overlap=1.0).status == "ok"


def test_rate_overlap_alone_does_not_change_the_status():
    # Same metrics, rates shifted by a factor 4 on 8x ranges: metric overlap 1, rate overlap 1/5.
    r = bd_rate(R, M, [4 * v for v in R], M)
    assert r.status == "ok" and r.overlap == 1.0 and r.overlap_rate < 0.75
    assert _has(r, "rate ranges overlap only")


def test_metric_scale_warnings():
    r = bd_rate(R, [0.40, 0.50, 0.56, 0.60], R, [0.41, 0.51, 0.57, 0.61])
    assert r.status == "ok" and _has(r, "all metric values are <= 1")
    r = bd_rate(R, [90, 100, 105, 110], R, [91, 101, 106, 111])
    assert r.status == "ok" and _has(r, "metric outside 0-100")


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="linear"), "unknown BD method"),
    (dict(policy="ignore"), "unknown BD policy"),
    (dict(min_points=1), "min_points"),
    (dict(fit_solver="newton"), "unknown fit solver"),
    (dict(min_overlap=1.5), "min_overlap"),
    (dict(min_overlap=float("nan")), "min_overlap"),
])
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bd_rate(R, M, R, M, **kwargs)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="test: 4 rates but 3 metric values"):
        bd_rate(R, M, R, M[:3])
    with pytest.raises(ValueError, match="1-D"):
        bd_rate([R], [M], R, M)


# ----------------------------------------------------------------------------- policies

def test_drop_keeps_longest_increasing_with_highest_sum():
    # metric in rate order 50 60 55 70 65 80: the longest strictly increasing subsequences have 4
    # points: 50 60 70 80 (sum 260), 50 55 70 80, 50 60 65 80 (255), 50 55 65 80 (250) -> keep the
    # first, drop 55 (rate 30) and 65 (rate 50).
    rates = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    metric = [50.0, 60.0, 55.0, 70.0, 65.0, 80.0]
    r = bd_rate(rates, metric, rates, [m + 1 for m in metric], policy="drop")
    assert r.anchor.rate == (10.0, 20.0, 40.0, 60.0) and r.anchor.metric == (50.0, 60.0, 70.0, 80.0)
    assert r.anchor_dropped.rate == (30.0, 50.0) and r.anchor_dropped.metric == (55.0, 65.0)
    assert r.test_dropped.rate == (30.0, 50.0)
    assert r.status == "ok" and _has(r, "anchor: dropped point rate=30 metric=55")
    ref = bd_rate(r.anchor.rate, r.anchor.metric, r.test.rate, r.test.metric)
    assert r.bd_rate == ref.bd_rate


def test_drop_removes_a_high_outlier_and_ties_keep_the_first():
    # 90 50 60 70 -> the 90 at the lowest rate goes (a dip rule would drop three points instead).
    r = bd_rate([10, 20, 30, 40, 50], [90, 50, 60, 70, 75], R, M, policy="drop")
    assert r.anchor_dropped.metric == (90.0,)
    # 50 60 60 70: two equal candidates of length 3 and equal sum; the first 60 (rate 20) stays.
    r = bd_rate([10, 20, 30, 40], [50, 60, 60, 70], R, M, policy="drop", min_points=3)
    assert r.anchor.rate == (10.0, 20.0, 40.0) and r.anchor_dropped.rate == (30.0,)
    assert r.status == "low-overlap" and r.overlap == pytest.approx(10 / 30)  # [50,70] vs [40,60]


def test_drop_then_too_few_points():
    r = bd_rate([10, 20, 30, 40], [50, 60, 55, 70], R, M, policy="drop")
    assert r.status == "too-few-points" and r.anchor_dropped.metric == (55.0,)
    assert _has(r, "anchor: 3 point(s) left after dropping, at least 4 needed")


def test_drop_leaves_monotonic_curves_alone():
    r = bd_rate(R, M, R, [m + 1 for m in M], policy="drop")
    ref = bd_rate(R, M, R, [m + 1 for m in M], policy="refuse")
    assert (r.bd_rate, r.bd_metric, r.anchor, r.test) == (ref.bd_rate, ref.bd_metric, ref.anchor, ref.test)
    assert len(r.anchor_dropped) == 0 and r.warnings == ()


# A concave increasing cubic in x = log10(rate): f(x) = 20 + 30x - 5x^2 on x in [1, 2.5].
X = np.array([1.0, 1.5, 2.0, 2.5])
RF, MF = 10 ** X, 20 + 30 * X - 5 * X ** 2


def test_fit_reproduces_feasible_curves():
    # Both curves already satisfy the constraints, so the fit returns them and the BD numbers are
    # those of the plain computation.
    r = bd_rate(RF, MF, RF * 0.9, MF, policy="fit")
    ref = bd_rate(RF, MF, RF * 0.9, MF)
    assert r.status == "ok" and r.fitted == ("anchor", "test")
    assert r.bd_rate == pytest.approx(ref.bd_rate, abs=1e-9)
    assert r.bd_rate == pytest.approx(-10.0, abs=1e-9)


def test_fit_both_curves_and_constraints_hold():
    test_metric = [40.0, 57.0, 55.0, 61.0, 62.0]
    test_rate = [90.0, 180.0, 390.0, 700.0, 1000.0]
    r = bd_rate(R, M, test_rate, test_metric, policy="fit")
    assert r.status == "ok" and r.fitted == ("anchor", "test")
    for fit, pts in ((r.anchor_fit, r.anchor), (r.test_fit, r.test)):
        assert fit.violation() <= 1e-9
        grid = np.linspace(fit.x_min, fit.x_max, 501)
        assert np.min(fit.derivative(grid)) >= -1e-9 and np.max(fit.derivative(grid, 2)) <= 1e-9
        np.testing.assert_allclose(pts.metric, fit.at_rate(pts.rate), atol=1e-12)
        assert all(a < b for a, b in zip(pts.metric, pts.metric[1:]))
    assert _has(r, "test: metric replaced by the monotonic cubic fit")
    # then the normal method on the fitted points
    ref = bd_rate(r.anchor.rate, r.anchor.metric, r.test.rate, r.test.metric)
    assert r.bd_rate == ref.bd_rate and r.bd_metric == ref.bd_metric


def test_fit_nonmonotonic_fits_only_what_needs_it():
    r = bd_rate(R, M, R, [41.0, 55.0, 52.0, 60.0], policy="fit-nonmonotonic")
    assert r.fitted == ("test",) and r.anchor.metric == tuple(M) and r.anchor_fit is None
    assert r.status == "ok"


def test_fit_of_decreasing_curve_is_flat():
    # Strictly decreasing data: the fit is the constant mean (65), not increasing -> no number.
    r = bd_rate(R, M, R, [80.0, 70.0, 60.0, 50.0], policy="fit")
    assert r.status == "not-monotonic" and r.bd_rate is None
    np.testing.assert_allclose(r.test.metric, 65.0, atol=1e-9)
    assert _has(r, "test: the monotonic fit is flat")


def test_fit_requires_percent_scale_and_four_points():
    r = bd_rate(R, M, R, [50, 60, 101, 102], policy="fit")
    assert r.status == "invalid-metric" and _has(r, "within 0-100 for the monotonic fit")
    r = bd_rate(R[:3], M[:3], R[:3], M[:3], policy="fit", min_points=3)
    assert r.status == "too-few-points"
    r = bd_rate(R[:3], [40, 56, 50], R[:3], M[:3], policy="fit-nonmonotonic", min_points=3)
    assert r.status == "too-few-points" and _has(r, "the monotonic fit needs at least 4")


# ----------------------------------------------------------------------------- result object

def test_result_to_dict_is_json_and_statuses_known():
    r = bd_rate(R, M, [90.0, 180.0, 390.0, 700.0, 1000.0], [40.0, 57.0, 55.0, 61.0, 62.0],
                policy="fit")
    d = json.loads(json.dumps(r.to_dict()))
    assert d["status"] == "ok" and d["fitted"] == ["anchor", "test"]
    assert d["test_points"]["rate"] == [90.0, 180.0, 390.0, 700.0, 1000.0]
    assert d["anchor_fit"]["x_min"] == pytest.approx(2.0)
    assert set(d) >= {"bd_rate", "bd_metric", "status", "warnings", "overlap", "method", "policy"}
    assert r.status in STATUSES
    with pytest.raises(Exception):
        r.status = "ok"  # frozen
