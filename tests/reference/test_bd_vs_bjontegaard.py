"""vcmctc.bd against the ``bjontegaard`` package (FAU-LMS), the Python equivalent of the JVET sheet.

Generated curves: seeded random, strictly increasing accuracy-rate curves of 4 and 6 points,
rates 10 kbps - 30 Mbps, metrics 0-100. Agreement: |ours - ref| <= 1e-9 * max(1, |ref|) for
BD-rate (percent) and BD-metric, for pchip, cubic and akima alike (both sides use the same scipy
primitives, so the measured differences are at rounding level). Different by design, and so not
compared here: ``bjontegaard`` returns a number (cubic) or NaN (pchip) for non-monotonic curves
and fits a cubic through fewer than 4 points; vcmctc gives a status instead (see test_bd_core).

Real tables: the 2024 JBE paper's FCTM anchor vs a DCVC-FM codec (FCM), and VCM-RS vs the same
codec (VCM), through ``vcmctc bdrate --format json``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

bj = pytest.importorskip("bjontegaard")

from vcmctc.bd import bd_rate  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FCM_ANCHOR = REPO / "anchors" / "fcm-jbe2024-fctm" / "points.csv"
FCM_TEST = REPO / "examples" / "jbe2024" / "fcm-dcvc-fm.csv"
VCM_ANCHOR = REPO / "anchors" / "vcm-jbe2024-vcmrs" / "points.csv"
VCM_TEST = REPO / "examples" / "jbe2024" / "vcm-dcvc-fm.csv"

REF_FUNCS = {"bd_rate": bj.bd_rate, "bd_metric": bj.bd_psnr}


def _reference(kind, ra, ma, rt, mt, method):
    """(value, warned about overlap) from bjontegaard; value NaN when it finds no overlap."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = REF_FUNCS[kind](ra, ma, rt, mt, method=method, require_matching_points=False)
    low = any("Insufficient curve overlap" in str(w.message) for w in caught)
    return float(value), low


def _curve(rng, n, x_start, m_start):
    """Strictly increasing curve: log10-rate steps 0.08-0.45, metric steps 0.3-10 (mostly
    shrinking, i.e. concave), rescaled to end at or below 100."""
    x = x_start + np.concatenate([[0.0], np.cumsum(rng.uniform(0.08, 0.45, n - 1))])
    inc = rng.uniform(0.3, 10.0, n - 1)
    if rng.random() < 0.7:
        inc = np.sort(inc)[::-1]
    m = m_start + np.concatenate([[0.0], np.cumsum(inc)])
    if m[-1] > 100.0:
        m = m_start + (m - m_start) * (100.0 - m_start) / (m[-1] - m_start)
    return 10 ** x, m


def _pairs(seed, count):
    rng = np.random.default_rng(seed)
    for i in range(count):
        n_a, n_t = [(4, 4), (6, 6), (4, 6), (6, 4)][i % 4]
        x0, m0 = rng.uniform(1.0, 3.5), rng.uniform(0.0, 60.0)
        ra, ma = _curve(rng, n_a, x0, m0)
        rt, mt = _curve(rng, n_t, x0 + rng.uniform(-0.5, 0.5), max(0.0, m0 + rng.uniform(-8, 8)))
        yield ra, ma, rt, mt


@pytest.mark.parametrize("method", ["pchip", "cubic", "akima"])
def test_generated_curves_agree(method):
    compared = no_overlap = low_overlap = 0
    for ra, ma, rt, mt in _pairs(seed={"pchip": 1, "cubic": 2, "akima": 3}[method], count=400):
        ours = bd_rate(ra, ma, rt, mt, method=method)
        for kind, key, label in (("bd_rate", "bd_rate", "metric ranges overlap only"),
                                 ("bd_metric", "bd_metric", "rate ranges overlap only")):
            ref, low = _reference(kind, ra, ma, rt, mt, method)
            value = getattr(ours, key)
            if np.isnan(ref):
                assert value is None
                no_overlap += 1
                continue
            assert value is not None, (kind, ours.status, ours.warnings)
            assert abs(value - ref) <= 1e-9 * max(1.0, abs(ref)), (kind, value, ref)
            # same overlap definition: we warn exactly when bjontegaard does
            assert any(label in w for w in ours.warnings) == low
            compared += 1
        if ours.bd_rate is None:
            assert ours.status == "no-overlap"
        else:
            # low-overlap exactly when bjontegaard warns about the metric overlap (same 75 %)
            _, low = _reference("bd_rate", ra, ma, rt, mt, method)
            assert ours.status == ("low-overlap" if low else "ok")
            low_overlap += low
    assert compared > 700 and no_overlap < 50 and low_overlap > 20


@pytest.mark.parametrize("method", ["pchip", "akima"])
def test_two_and_three_point_curves_agree(method):
    # With min_points lowered, pchip and akima also match bjontegaard on 2-3 points (akima with
    # 2 points is a straight line on both sides).
    rng = np.random.default_rng(11)
    for i in range(100):
        n = 2 + i % 2
        x0, m0 = rng.uniform(1.0, 3.5), rng.uniform(0.0, 60.0)
        ra, ma = _curve(rng, n, x0, m0)
        rt, mt = _curve(rng, n, x0 + rng.uniform(-0.2, 0.2), m0 + rng.uniform(-3, 3))
        ours = bd_rate(ra, ma, rt, mt, method=method, min_points=2)
        ref, _ = _reference("bd_rate", ra, ma, rt, mt, method)
        if np.isnan(ref):
            assert ours.bd_rate is None
        else:
            assert abs(ours.bd_rate - ref) <= 1e-9 * max(1.0, abs(ref))


def _read(path):
    import csv

    curves = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            rates, metrics = curves.setdefault(row["sequence"], ([], []))
            rates.append(float(row["rate"]))
            metrics.append(float(row["metric"]))
    return curves


def _expected_status(curves):
    """Independent classification of a sequence's two curves under ``refuse``, min 4 points."""
    statuses = []
    for rates, metrics in curves:
        order = np.argsort(rates)
        m = np.asarray(metrics)[order]
        if len(m) < 4:
            statuses.append("too-few-points")
        elif len(set(m)) < len(m):
            statuses.append("duplicate-values")
        elif np.any(np.diff(m) <= 0):
            statuses.append("not-monotonic")
    order = ["too-few-points", "duplicate-values", "not-monotonic"]
    return min(statuses, key=order.index) if statuses else "ok"


def test_fcm_table_through_cli(cli):
    r = cli("bdrate", "--anchor", FCM_ANCHOR, "--test", FCM_TEST, "--format", "json")
    assert r.code == 0, r.err
    out = r.json()
    anchor, test = _read(FCM_ANCHOR), _read(FCM_TEST)
    assert [x["sequence"] for x in out["results"]] == list(anchor)
    ok = []
    for res in out["results"]:
        seq = res["sequence"]
        expected = _expected_status((anchor[seq], test[seq]))
        if expected != "ok":
            assert res["status"] == expected and res["bd_rate"] is None, seq
            continue
        ref, low = _reference("bd_rate", *anchor[seq], *test[seq], "pchip")
        assert res["status"] == ("low-overlap" if low else "ok"), seq
        assert abs(res["bd_rate"] - ref) <= 1e-6 * max(1.0, abs(ref)), seq
        ref_m, _ = _reference("bd_metric", *anchor[seq], *test[seq], "pchip")
        assert abs(res["bd_metric"] - ref_m) <= 1e-6 * max(1.0, abs(ref_m)), seq
        assert any("metric ranges overlap only" in w for w in res["warnings"]) == low
        ok.append(seq)
    # Kimono (1 point), Cactus (2 points), BlowingBubbles (anchor dips at QP 19) have no number
    assert {x["sequence"]: x["status"] for x in out["results"]
            if x["bd_rate"] is None} == {"Kimono": "too-few-points", "Cactus": "too-few-points",
                                         "BlowingBubbles": "not-monotonic"}
    assert len(ok) == 12
    assert out["mean_bd_rate"] is None and out["mean_over"] == ok
    assert out["mean_bd_rate_partial"] == pytest.approx(
        np.mean([x["bd_rate"] for x in out["results"] if x["bd_rate"] is not None]), abs=1e-12)


def test_vcm_table_statuses_are_honest(cli):
    out = cli("bdrate", "--anchor", VCM_ANCHOR, "--test", VCM_TEST, "--format", "json").json()
    anchor, test = _read(VCM_ANCHOR), _read(VCM_TEST)
    for res in out["results"]:
        seq = res["sequence"]
        expected = _expected_status((anchor[seq], test[seq]))
        if expected == "ok":
            ref, low = _reference("bd_rate", *anchor[seq], *test[seq], "pchip")
            if np.isnan(ref):
                assert res["status"] == "no-overlap"
            else:
                assert res["status"] == ("low-overlap" if low else "ok")
                assert abs(res["bd_rate"] - ref) <= 1e-9 * max(1.0, abs(ref))
        else:
            assert res["status"] == expected and res["bd_rate"] is None, seq


def _check_fit(fit, rates, metrics):
    """The JSON fit satisfies f' >= 0, f'' <= 0 on [x_min, x_max], f(x_min) >= 0, f(x_max) <= 100,
    and the points used are the fit's values at the measured rates."""
    c = np.asarray(fit["coefficients"])
    P = np.polynomial.polynomial
    t = np.linspace(0.0, 1.0, 1001)
    assert np.min(P.polyval(t, P.polyder(c, 1))) >= -1e-9
    assert np.max(P.polyval(t, P.polyder(c, 2))) <= 1e-9
    assert P.polyval(0.0, c) >= -1e-9 and P.polyval(1.0, c) <= 100 + 1e-9
    tr = (np.log10(rates) - fit["x_min"]) / (fit["x_max"] - fit["x_min"])
    np.testing.assert_allclose(metrics, P.polyval(tr, c), atol=1e-9)


@pytest.mark.parametrize("policy", ["fit", "fit-nonmonotonic"])
def test_vcm_table_fit_policy(cli, policy):
    out = cli("bdrate", "--anchor", VCM_ANCHOR, "--test", VCM_TEST, "--policy", policy,
              "--format", "json").json()
    anchor, test = _read(VCM_ANCHOR), _read(VCM_TEST)
    numbers = 0
    for res in out["results"]:
        seq = res["sequence"]
        if min(len(anchor[seq][0]), len(test[seq][0])) < 4:
            assert res["status"] == "too-few-points", seq
            continue
        for side, raw in (("anchor", anchor[seq]), ("test", test[seq])):
            pts = res[f"{side}_points"]
            mono = bool(np.all(np.diff(np.asarray(raw[1])[np.argsort(raw[0])]) > 0))
            if policy == "fit" or not mono:
                assert side in res["fitted"], (seq, side)
                _check_fit(res[f"{side}_fit"], pts["rate"], pts["metric"])
            else:
                assert side not in res["fitted"]
                assert pts["metric"] == sorted(raw[1])
        assert res["status"] in ("ok", "low-overlap", "no-overlap", "not-monotonic"), seq
        if res["bd_rate"] is not None:
            numbers += 1
            # the normal pchip computation on the fitted points
            ref, _ = _reference("bd_rate", res["anchor_points"]["rate"], res["anchor_points"]["metric"],
                                res["test_points"]["rate"], res["test_points"]["metric"], "pchip")
            assert abs(res["bd_rate"] - ref) <= 1e-9 * max(1.0, abs(ref))
    assert numbers >= 3
