"""``vcmctc crosscheck`` on a decoded-level run of a small real submission (real VVC bitstreams,
the submitted decoder run by vcmctc, the demo task network): a cross-checker's re-run agrees; a
tampered copy (one bitstream swapped for another real one) disagrees, and the report names the
point, the hash, the md5, the rate, the metric and the sequence's BD-rate."""

from __future__ import annotations

import json
import shutil

import pytest

from test_evaluate_decoded import QPS, SEQ, make_sub, world  # noqa: F401 (fixture)
from vcmctc.reports.crosscheck import crosscheck, tables
from vcmctc.results.model import load_results

QPS3 = QPS  # two real bitstreams: BD-rate with min_points 2


@pytest.fixture(scope="module")
def runs(world, tmp_path_factory):  # noqa: F811
    """The proponent's run, and the submission folder a cross-checker re-runs."""
    from vcmctc.cli import main

    root, _ = world
    points = [{"qp": qp, "bitstream": f"bitstream/{SEQ}_qp{qp}.266"} for qp in QPS]
    work = tmp_path_factory.mktemp("cc")
    # an anchor: a run of the same bitstreams, used as a results anchor (BD-rates are defined)
    sub = make_sub(world, "proponent", points)
    anchor_sub = work / "anchor-sub"
    shutil.copytree(sub, anchor_sub)      # same edition file, same bitstreams
    assert main(["evaluate", str(anchor_sub), "--data-root", str(root / "data"), "-q", "--out",
                 str(work / "anchor-out"), "--no-anchor"]) == 0
    anchor = work / "anchor-results.json"
    shutil.copyfile(work / "anchor-out" / "results.json", anchor)
    manifest = (sub / "submission.yaml").read_text()
    (sub / "submission.yaml").write_text(manifest.replace(
        "codec: test codec", f"codec: test codec\nanchor: {json.dumps(str(anchor))}"))
    out = work / "proponent-out"
    assert main(["evaluate", str(sub), "--data-root", str(root / "data"), "-q", "--out",
                 str(out)]) == 0
    return world, sub, out / "results.json"


def test_rerun_agrees(runs, cli, tmp_path):
    (root, _), sub, prop = runs
    r = cli("crosscheck", prop, sub, "--data-root", root / "data", "--eval-out",
            tmp_path / "cross", "--no-cache", "-q", "-f", "json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["verdict"] == "agree" and report["discrepancies"] == []
    assert len(report["points"]) == len(QPS)
    for p in report["points"]:
        assert p["bitstream"] == "match" and p["md5"] == "match" and p["ok"]
        assert p["rate_diff_pct"] == 0 and p["metric_diff"] == 0
        assert p["dec_ratio"] > 0            # timed, not judged
    (seq,) = report["sequences"]
    assert seq["bd_diff"] == 0 and seq["bd_p"] is not None
    # the re-run really ran: nothing came from the proponent's cache
    cross = load_results(tmp_path / "cross" / "results.json")
    assert cross.run["cached_steps"] == 0 and cross.run["steps"] == 3 * len(QPS)
    # and the two saved files compare the same way
    assert cli("crosscheck", prop, tmp_path / "cross" / "results.json").code == 0


def test_tampered_copy_disagrees_and_names_what(runs, cli, tmp_path):
    from vcmctc.demo.vvc import encode_vvc

    (root, paths), sub, prop = runs
    tampered = tmp_path / "tampered"
    shutil.copytree(sub, tampered)
    low, high = QPS
    # the high-QP bitstream replaced by another real VVC stream of the sequence (QP 40)
    encode_vvc(paths["yuv"], 416, 240, 33, 30, 40, tampered / "bitstream" / f"{SEQ}_qp{high}.266")
    for fmt, ext in (("md", "md"), ("html", "html"), ("xlsx", "xlsx"), ("json", "json")):
        r = cli("crosscheck", prop, tampered, "--data-root", root / "data", "--eval-out",
                tmp_path / "cross", "-q", "-o", tmp_path / f"cc.{ext}")
        assert r.code == 1, r.out + r.err
        assert "cross-check disagree" in r.err
    report = json.loads((tmp_path / "cc.json").read_text())
    assert report["verdict"] == "disagree"
    bad = {p["point"]: p for p in report["points"]}
    assert bad[f"qp{low}"]["ok"] and not bad[f"qp{high}"]["ok"]
    assert bad[f"qp{high}"]["bitstream"] == "differ" and bad[f"qp{high}"]["md5"] == "differ"
    assert bad[f"qp{high}"]["rate_diff_pct"] > 0.1 and bad[f"qp{high}"]["metric_diff"] != 0
    text = "\n".join(report["discrepancies"])
    assert f"{SEQ} qp{high}: bitstream hash differs" in text
    assert f"{SEQ} qp{high}: decoded md5 differs" in text
    assert f"{SEQ} qp{high}: rate " in text and f"{SEQ} qp{high}: metric " in text
    assert f"{SEQ} qp{low}" not in text
    md = (tmp_path / "cc.md").read_text()
    for path in (str(tmp_path), str(root)):      # no folder of this machine in the reports
        assert path not in md and path not in json.dumps(report)
    assert "| Verdict | DISAGREE" in md and f"{SEQ} qp{high}: bitstream hash differs" in md
    assert "## Per rate point" in md and "## Per sequence" in md and "## Environments" in md
    html = (tmp_path / "cc.html").read_text()
    assert '<td class="no">differ</td>' in html and 'class="disagree"' in html
    import openpyxl

    ws = openpyxl.load_workbook(tmp_path / "cc.xlsx")["Cross-check"]
    cells = [[c.value for c in row] for row in ws.iter_rows()]
    verdict = next(r for r in cells if r[0] == "Verdict")
    assert verdict[1].startswith("DISAGREE")
    point_rows = [r for r in cells if r[0] == SEQ and r[1] == f"qp{high}"]
    assert point_rows and point_rows[0][2:4] == ["differ", "differ"]
    assert ws.page_setup.orientation == "landscape"


def test_tolerances_decide_and_editions_must_match(runs, tmp_path):
    _, _, prop = runs
    p = load_results(prop)
    c = load_results(prop)
    c.points[0].metric += 0.005
    c.points[0].rate *= 1.0005
    assert crosscheck(p, c, names=("p", "c")).agree          # within 0.01 and 0.1 %
    c.points[0].metric += 0.01
    x = crosscheck(p, c, names=("p", "c"))
    assert not x.agree and len(x.discrepancies) == 1 and "metric" in x.discrepancies[0]
    assert crosscheck(p, c, names=("p", "c"), tol_metric=0.02).agree
    c.sequences[0].bd_rate += 0.2
    x = crosscheck(p, c, names=("p", "c"), tol_metric=0.02)
    assert [d.split(":")[0] for d in x.discrepancies] == [SEQ]
    c.points.pop()
    x = crosscheck(p, c, names=("p", "c"), tol_metric=0.02, tol_bd=1)
    assert any("not in the cross-checker's run" in d for d in x.discrepancies)
    assert [t for t, _, _ in tables(x)] == ["Per sequence", "Per rate point", "Environments"]
    c.edition["id"] = "other"
    from vcmctc.errors import UserError

    with pytest.raises(UserError, match="different editions"):
        crosscheck(p, c, names=("p", "c"))


def test_bad_output_suffix_is_refused(runs, cli, tmp_path):
    _, _, prop = runs
    r = cli("crosscheck", prop, prop, "-o", tmp_path / "x.pdf")
    assert r.code == 2 and "not a cross-check report format" in r.err
