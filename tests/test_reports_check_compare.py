"""``vcmctc check`` (regression against anchor numbers) and ``vcmctc compare``."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from vcmctc.reports.check import RefPoint, check

REPO = Path(__file__).resolve().parent.parent
FCM_ANCHOR = "fcm-jbe2024-fctm"


def _evaluate(folder: Path, out: Path) -> Path:
    from vcmctc.submission.pipeline import Options, evaluate

    _, path = evaluate(folder, Options(out=out, allow_incomplete=True))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """results.json of the FCM paper submission, of a run reproducing the FCM anchor exactly
    (its points CSV imported as a submission), and of the VCM paper submission."""
    from vcmctc.submission.importers import import_points_csv

    base = tmp_path_factory.mktemp("runs")
    sub = base / "anchor-sub"
    import_points_csv(REPO / "anchors" / FCM_ANCHOR / "points.csv", sub, codec="FCTM rerun",
                      edition="fcm-jbe2024", anchor=FCM_ANCHOR)
    return {"paper": _evaluate(REPO / "examples/jbe2024/fcm-dcvc-fm", base / "paper"),
            "repro": _evaluate(sub, base / "repro"),
            "vcm": _evaluate(REPO / "examples/jbe2024/vcm-dcvc-fm", base / "vcm")}


def _variant(path: Path, dest: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(data))
    return dest


def _point(data, seq, qp):
    return next(p for p in data["points"] if p["sequence"] == seq and p["qp"] == qp)


# ---------------------------------------------------------------------------------------------
# check

def test_reproduction_is_within_tolerance(cli, runs):
    r = cli("check", runs["repro"], "--against", FCM_ANCHOR)
    assert r.code == 0, r.out
    assert "55 point(s) compared: 0 outside tolerance, 0 missing in the results, 0 missing in " \
           "the reference: OK" in r.out
    # against another results file (itself) too
    assert cli("check", runs["repro"], "--against", runs["repro"]).code == 0


def test_perturbed_point_fails_and_is_named(cli, runs, tmp_path):
    def bump(data):
        _point(data, "ParkScene", 20)["rate"] *= 1.01       # +1 % > 0.1 %
        _point(data, "TVD-01", 29)["metric"] += 0.02        # 0.02 > 0.01
    bad = _variant(runs["repro"], tmp_path / "bad" / "results.json", bump)
    for against in (FCM_ANCHOR, str(runs["repro"])):
        r = cli("check", bad, "--against", against)
        assert r.code == 1
        lines = [line for line in r.out.splitlines() if line.startswith(("ParkScene", "TVD-01"))]
        assert len(lines) == 2
        assert lines[0].split()[:3] == ["ParkScene", "QP", "20"] and "rate" in lines[0]
        assert "+1.0000" in lines[0]                      # rate diff in percent
        assert lines[1].split()[:4] == ["TVD-01", "QP", "29", "metric"]
        assert "+0.0200" in lines[1]
        assert "2 outside tolerance" in r.out and r.out.rstrip().endswith("FAIL")
    # wider tolerances accept the same file
    assert cli("check", bad, "--against", FCM_ANCHOR, "--tol-rate", "1.5",
               "--tol-metric", "0.05").code == 0


def test_check_json_format(cli, runs, tmp_path):
    bad = _variant(runs["repro"], tmp_path / "b.json",
                   lambda d: _point(d, "Traffic", 21).__setitem__("rate", 1000.0))
    r = cli("check", bad, "--against", FCM_ANCHOR, "--format", "json")
    assert r.code == 1
    out = r.json()
    assert out["ok"] is False and out["compared"] == 55
    (d,) = out["outside"]
    assert (d["sequence"], d["point"], d["outside"]) == ("Traffic", "QP 21", ["rate"])
    assert d["rate_ref"] == 941.51 and d["rate"] == 1000.0
    assert d["rate_diff_pct"] == pytest.approx(100 * (1000.0 - 941.51) / 941.51, abs=1e-12)
    r = cli("check", runs["repro"], "--against", FCM_ANCHOR, "--format", "csv")
    assert r.code == 0 and r.out.splitlines() == [
        "sequence,point,kind,ref_rate,rate,rate_diff_pct,ref_metric,metric,metric_diff,note"]


def test_missing_points_on_either_side(cli, runs, tmp_path):
    def drop_and_add(data):
        data["points"] = [p for p in data["points"] if not (p["sequence"] == "BQMall" and p["qp"] == 27)]
        extra = dict(_point(data, "Traffic", 17), qp=99, label="qp99")
        data["points"].append(extra)
    f = _variant(runs["repro"], tmp_path / "m.json", drop_and_add)
    r = cli("check", f, "--against", FCM_ANCHOR)
    assert r.code == 1
    assert "BQMall    QP 27  in the reference only (missing in the results)" in r.out
    assert "Traffic   QP 99  in the results only (missing in the reference)" in r.out
    assert "1 missing in the results, 1 missing in the reference: FAIL" in r.out
    r = cli("check", f, "--against", FCM_ANCHOR, "--allow-missing")
    assert r.code == 0 and "(allowed by --allow-missing): OK" in r.out


def test_failed_point_has_no_value(cli, runs, tmp_path):
    def fail(data):
        p = _point(data, "BQTerrace", 16)
        p.update(status="decode-failed", rate=None, metric=None)
    f = _variant(runs["repro"], tmp_path / "f.json", fail)
    r = cli("check", f, "--against", FCM_ANCHOR, "--format", "json")
    assert r.code == 1
    (d,) = r.json()["outside"]
    assert d["outside"] == ["no value"] and d["note"] == "result status decode-failed"


def test_tolerance_hand_cases():
    """Rate diff = 100*(t-a)/a: 100.1 vs 100 -> +0.1 % (within 0.1, at the limit);
    100.2 vs 100 -> +0.2 % (outside). Metric: 50.01 vs 50 -> 0.01 (within 0.01)."""
    def run(rate, metric, **tol):
        res = _results(("S", 22, "qp22", rate, metric))
        return check(res, "ref", [RefPoint("S", 22, "qp22", 100.0, 50.0)], **tol)
    assert run(100.1, 50.01).ok
    rep = run(100.2, 50.0)
    assert not rep.ok and rep.outside[0].outside == ["rate"]
    assert rep.outside[0].rate_diff_pct == pytest.approx(0.2, abs=1e-12)
    assert run(99.9, 49.99).ok
    assert not run(100.0, 50.02).ok
    assert run(100.0, 50.02, tol_metric=0.05).ok
    assert not run(100.05, 50.0, tol_rate_pct=0.0).ok and run(100.0, 50.0, tol_rate_pct=0.0).ok


def _results(*points):
    """Just what check reads of a results file: its points."""
    from types import SimpleNamespace

    return SimpleNamespace(points=[SimpleNamespace(sequence=s, qp=qp, label=label, rate=rate,
                                                   metric=metric, status="ok")
                                   for s, qp, label, rate, metric in points])


def test_match_by_label_when_qp_is_absent():
    res = _results(("S", None, "a", 1.0, 2.0), ("S", None, "b", 3.0, 4.0))
    refs = [RefPoint("S", None, "b", 3.0, 4.0), RefPoint("S", None, "a", 1.0, 2.0)]
    rep = check(res, "ref", refs)
    assert rep.ok and rep.compared == 2


def test_check_bad_input(cli, runs, tmp_path):
    r = cli("check", runs["paper"], "--against", "no-such-anchor")
    assert r.code == 2 and "unknown anchor 'no-such-anchor'" in r.err and r.err.count("\n") == 1
    r = cli("check", runs["paper"], "--against", "vcm-jbe2024-vcmrs")
    assert r.code == 2 and "belongs to edition 'vcm-jbe2024'" in r.err
    r = cli("check", runs["paper"], "--against", runs["vcm"])
    assert r.code == 2 and "edition 'vcm-jbe2024'" in r.err
    r = cli("check", runs["paper"], "--against", tmp_path / "missing.json")
    assert r.code == 2 and "no such results file" in r.err
    assert cli("check", runs["paper"], "--against", FCM_ANCHOR, "--tol-rate", "-1").code == 2


# ---------------------------------------------------------------------------------------------
# compare

def test_pairwise_bd_rate_of_scaled_rates_is_minus_ten_percent(cli, runs, tmp_path):
    """Rates x 0.9 shift every log10-rate by log10(0.9); PCHIP of a shifted curve is the
    shifted interpolant, so the mean log difference is log10(0.9) and BD-rate = 0.9 - 1 = -10 %
    for every sequence with a BD-rate, whatever its metric values."""
    def scale(data):
        for p in data["points"]:
            if p.get("rate") is not None:
                p["rate"] *= 0.9
        data["submission"]["codec"] = "scaled"
    scaled = _variant(runs["paper"], tmp_path / "scaled" / "results.json", scale)
    r = cli("compare", runs["paper"], scaled, "--format", "json")
    assert r.code == 0, r.err
    out = r.json()
    (pair,) = out["pairs"]
    assert pair["reference"] == "paper" and pair["test"] == "scaled"
    ok = [s for s in pair["sequences"] if s["status"] == "ok"]
    assert len(ok) == 13   # 15 sequences; Kimono and Cactus have 1 and 2 points
    for s in ok:
        assert s["bd_rate"] == pytest.approx(-10.0, abs=1e-9), s["name"]
        assert s["bd_metric"] is not None
    statuses = {s["name"]: s["status"] for s in pair["sequences"]}
    assert statuses["Kimono"] == statuses["Cactus"] == "too-few-points"
    # BlowingBubbles is not-monotonic against the anchor (the anchor's curve), ok here
    assert statuses["BlowingBubbles"] == "ok"
    # pooled class rows need class curves, which reported-level results do not have
    cls = {c["name"]: c for c in pair["classes"]}
    assert cls["A"]["status"] == "not-poolable" and cls["A"]["mean_bd_rate"] == pytest.approx(-10, abs=1e-9)
    assert cls["B"]["mean_bd_rate"] is None and cls["B"]["partial_bd_rate"] == pytest.approx(-10, abs=1e-9)
    assert cls["D"]["mean_bd_rate"] == pytest.approx(-10, abs=1e-9)
    assert pair["overall"]["status"] == "incomplete"
    # the vs-anchor part is read from the files, not recomputed
    paper = json.loads(runs["paper"].read_text())
    seq_bd = {s["name"]: s["bd_rate"] for s in paper["sequences"]}
    for row in out["vs_anchor"]:
        assert row["results"][0]["bd_rate"] == seq_bd[row["sequence"]]
    # the reverse pair is +11.11 % (1/0.9 - 1)
    r = cli("compare", scaled, runs["paper"], "--format", "json")
    for s in r.json()["pairs"][0]["sequences"]:
        if s["status"] == "ok":
            assert s["bd_rate"] == pytest.approx(100 * (1 / 0.9 - 1), abs=1e-9)


def test_pairwise_equals_bd_engine_and_mean_rule(runs, tmp_path):
    """VCM edition (class rows: mean; overall: mean of sequences): rows follow the rule."""
    from vcmctc.bd import bd_rate
    from vcmctc.reports.compare import compare
    from vcmctc.results.model import load_results

    a = load_results(runs["vcm"])
    b = copy.deepcopy(a)
    for i, p in enumerate(b.points):
        p.metric += 0.5 + 0.1 * (i % 3)   # a different curve, still sorted by rate
    out = compare([("a", a), ("b", b)])
    pair = out["pairs"][0]
    sig = a.signature
    for s in pair["sequences"]:
        pa = sorted(a.points_of(s["name"]), key=lambda p: p.rate)
        pb = sorted(b.points_of(s["name"]), key=lambda p: p.rate)
        ref = bd_rate([p.rate for p in pa], [p.metric for p in pa],
                      [p.rate for p in pb], [p.metric for p in pb],
                      method=sig["bd_method"], policy=sig["bd_policy"],
                      min_points=sig["bd_min_points"], fit_solver=sig["bd_fit_solver"],
                      min_overlap=sig["bd_min_overlap"])
        assert (s["bd_rate"], s["status"]) == (ref.bd_rate, ref.status)
    for c in pair["classes"]:
        members = [s for s in pair["sequences"] if s["cls"] == c["name"]]
        values = [m["bd_rate"] for m in members]
        if None in values:
            assert c["bd_rate"] is None and c["status"] == "incomplete"
        else:
            assert c["bd_rate"] == pytest.approx(sum(values) / len(values), abs=1e-12)
    assert pair["overall"]["rule"] == "mean-of-sequences"


def test_compare_text_and_markdown(cli, runs):
    r = cli("compare", runs["paper"], runs["repro"])
    assert r.code == 0
    assert "BD-rate (%) of repro against paper (pchip, refuse, min 4 points)" in r.out
    assert "paper vs fcm-jbe2024-fctm" in r.out
    # repro reproduces the anchor: 0 against it; and the paper's Traffic BD-rate is 45.51,
    # so the anchor against the paper is 1/1.4551 - 1 = -31.27 %
    line = next(l for l in r.out.splitlines() if l.startswith("Traffic") and "-31.27" in l)
    assert line
    r = cli("compare", runs["paper"], runs["repro"], "--format", "md")
    assert r.code == 0 and r.out.startswith("# Comparison (fcm-jbe2024)")
    assert "| Traffic | A | -31.27 |" in r.out


def test_compare_mixed_editions_is_one_line_error(cli, runs):
    r = cli("compare", runs["paper"], runs["vcm"])
    assert r.code == 2 and r.err.count("\n") == 1
    assert "cannot compare results of different editions: paper is 'fcm-jbe2024', vcm is " \
           "'vcm-jbe2024'" in r.err
    r = cli("compare", runs["paper"])
    assert r.code == 2 and "at least two" in r.err


def test_compare_warns_when_edition_changed(runs):
    from vcmctc.reports.compare import compare
    from vcmctc.results.model import load_results

    a = load_results(runs["paper"])
    b = copy.deepcopy(a)
    b.signature["edition_hash"] = "0" * 16
    out = compare([("a", a), ("b", b)])
    assert any("was changed between these runs" in w for w in out["warnings"])
    assert all(math.isclose(s["bd_rate"], 0.0, abs_tol=1e-12)
               for s in out["pairs"][0]["sequences"] if s["status"] == "ok")
