"""Plausibility helpers: rate-unit confusions at the same QP, 0-1 metric scales."""

from __future__ import annotations

import math

import pytest

from vcmctc.bd.plausibility import metric_scale_check, rate_unit_check, unit_confusions

ANCHOR = {22: 2000.0, 27: 1100.0, 32: 600.0, 37: 330.0}
CLIP = dict(width=416, height=240, fps=50, frames=97)   # BasketballPass: 4,992,000 pixels/s


def _scaled(factor, jitter=(1.0, 1.0, 1.0, 1.0)):
    return {q: r * factor * j for (q, r), j in zip(ANCHOR.items(), jitter)}


def test_plain_codec_differences_are_not_reported():
    assert rate_unit_check(ANCHOR, _scaled(0.4), unit="kbps", **CLIP) is None
    assert rate_unit_check(ANCHOR, _scaled(9.0), unit="kbps", **CLIP) is None
    assert rate_unit_check(ANCHOR, _scaled(0.11), unit="kbps", **CLIP) is None


def test_bps_instead_of_kbps_is_an_error():
    f = rate_unit_check(ANCHOR, _scaled(1000.0, (1.0, 0.9, 1.2, 1.05)), unit="kbps", **CLIP)
    assert f.level == "error" and f.kind == "rate-unit" and f.likely == "bps instead of kbps"
    assert f.factor == pytest.approx(1000 * math.sqrt(1.0 * 1.05), rel=1e-12)  # median of 4
    assert "at the same QP (22, 27, 32, 37; unit kbps)" in f.message and "1e+03x" in f.message


def test_mbps_and_bpp_are_told_apart_by_the_pixel_rate():
    f = rate_unit_check(ANCHOR, _scaled(1e-3), unit="kbps", **CLIP)
    assert f.likely == "Mbps instead of kbps" and f.level == "error"
    bpp = {q: r * 1000 / (416 * 240 * 50) for q, r in ANCHOR.items()}     # the same rates in bpp
    f = rate_unit_check(ANCHOR, bpp, unit="kbps", **CLIP)
    assert f.likely == "bpp instead of kbps" and f.level == "error"
    assert f.factor == pytest.approx(1000 / 4_992_000, rel=1e-12)
    # without the clip's size, bpp cannot be named; the closest confusion (Mbps, 5x away) is not
    # close enough to be named either
    f = rate_unit_check(ANCHOR, bpp, unit="kbps")
    assert f.level == "warning" and f.likely is None and "no usual unit confusion" in f.message


def test_total_bits_for_a_long_sequence():
    tvd = dict(width=1920, height=1080, fps=50, frames=3000)                # 60 s
    f = rate_unit_check(ANCHOR, _scaled(60_000.0), unit="kbps", **tvd)
    assert f.likely == "total bits instead of kbps" and f.level == "error"


def test_mixed_points_give_a_warning_not_an_error():
    # median 1000x but one point only 30x off: the confusion is likely, not certain
    f = rate_unit_check(ANCHOR, _scaled(1000.0, (1.0, 1.0, 1.1, 0.03)), unit="kbps", **CLIP)
    assert f.level == "warning" and f.likely == "bps instead of kbps"


def test_only_shared_qps_are_compared_and_bad_values_give_nothing():
    test = {22: 2_000_000.0, 42: 1.0}
    f = rate_unit_check(ANCHOR, test, unit="kbps", **CLIP)
    assert f.likely == "bps instead of kbps" and "(22; unit kbps)" in f.message
    assert rate_unit_check(ANCHOR, {47: 1.0}, unit="kbps") is None
    assert rate_unit_check(ANCHOR, {22: 0.0}, unit="kbps") is None
    assert rate_unit_check(ANCHOR, {22: float("nan")}, unit="kbps") is None


def test_image_sets_in_bpp():
    anchor = {22: 0.8, 27: 0.45, 32: 0.25, 37: 0.13}
    pixels = 5000 * 500 * 375
    total = {q: v * pixels for q, v in anchor.items()}
    f = rate_unit_check(anchor, total, unit="bpp", pixels=pixels)
    assert f.likely == "total bits instead of bpp" and f.level == "error"
    f = rate_unit_check(anchor, {q: v * 1000 for q, v in anchor.items()}, unit="bpp", pixels=pixels)
    assert f.likely == "bits per kilopixel instead of bpp"


def test_unit_confusions_factors():
    c = unit_confusions("kbps", **CLIP)
    assert c["bps instead of kbps"] == 1000.0
    assert c["bpp instead of kbps"] == pytest.approx(1000 / 4_992_000)
    assert c["total bits instead of kbps"] == pytest.approx(1000 * 97 / 50)
    assert "bpp instead of kbps" not in unit_confusions("kbps")
    with pytest.raises(ValueError, match="unknown rate unit"):
        unit_confusions("kB")


def test_zero_one_metrics():
    f = metric_scale_check([0.41, 0.52, 0.58, 0.61])
    assert f.level == "warning" and f.kind == "metric-scale" and "multiply by 100" in f.message
    # with an anchor in percent whose range the scaled values fall in: certain
    f = metric_scale_check([0.41, 0.52, 0.58, 0.61], anchor=[40.0, 50.0, 56.0, 60.0])
    assert f.level == "error" and "anchor's range 40-60" in f.message
    # MOTA on a 0-1 scale can be negative
    assert metric_scale_check([-0.2, 0.1, 0.3, 0.45]).kind == "metric-scale"
    # scaled values far from the anchor's range: only a warning
    assert metric_scale_check([0.01, 0.02], anchor=[60.0, 70.0]).level == "warning"


def test_percent_metrics_and_other_scales_are_fine():
    assert metric_scale_check([40.0, 50.0, 56.0, 60.0]) is None
    assert metric_scale_check([0.4, 1.5]) is None          # one value above 1: percent
    assert metric_scale_check([0.0, 0.0]) is None           # all zero: nothing to say
    assert metric_scale_check([0.4, 0.5], upper=1.0) is None
    assert metric_scale_check([]) is None and metric_scale_check([float("nan")]) is None
