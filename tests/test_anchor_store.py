"""The user anchor store (``vcmctc anchors add/remove``), no silent no-BD, and what
CompressAI-Vision results bring besides rate and metric (class rows, NN times, kMAC/pixel)."""

from __future__ import annotations

import json

import pytest

from conftest import REPO

FCM_POINTS = REPO / "anchors" / "fcm-jbe2024-fctm" / "points.csv"
PAPER_FCM = REPO / "examples" / "jbe2024" / "fcm-dcvc-fm"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh user folder for each test (the store lives in it)."""
    monkeypatch.setenv("VCMCTC_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _evaluate(cli, folder, out, *extra) -> dict:
    r = cli("evaluate", folder, "--out", out, "-q", *extra)
    assert r.code == 0, r.out + r.err
    return json.loads((out / "results.json").read_text())


def test_add_list_use_and_remove_a_points_anchor(cli, home, tmp_path):
    r = cli("anchors", "add", "my-fctm", FCM_POINTS, "--edition", "fcm-jbe2024",
            "--codec", "FCTM (my run)", "--note", "reproduced on our cluster")
    assert r.code == 0, r.err
    # honest about what it lacks: the paper prints no point of TVD-02/03 and few of Kimono
    assert "no point of 2 sequence(s): TVD-02, TVD-03" in r.err
    assert "Kimono: no point at QP" in r.err
    stored = home / "anchors" / "my-fctm"
    assert (stored / "points.csv").is_file()
    listed = {a["anchor"]: a for a in cli("anchors", "-e", "fcm-jbe2024", "-f", "json").json()}
    mine = listed["my-fctm"]
    assert mine["origin"] == "user" and listed["fcm-jbe2024-fctm"]["origin"] == "bundled"
    assert mine["provenance"]["files"] == [
        {"name": "points.csv", "sha256": __import__("hashlib").sha256(FCM_POINTS.read_bytes()).hexdigest()}]
    assert mine["provenance"]["note"] == "reproduced on our cluster"
    assert mine["points"] == listed["fcm-jbe2024-fctm"]["points"]
    # a submission naming the user anchor gets the same BD-rates as with the bundled one
    sub = tmp_path / "sub"
    text = (PAPER_FCM / "submission.yaml").read_text()
    sub.mkdir()
    (sub / "submission.yaml").write_text(text.replace("anchor: fcm-jbe2024-fctm", "anchor: my-fctm"))
    a = _evaluate(cli, PAPER_FCM, tmp_path / "a", "--allow-incomplete")
    b = _evaluate(cli, sub, tmp_path / "b", "--allow-incomplete")
    assert [s["bd_rate"] for s in a["sequences"]] == [s["bd_rate"] for s in b["sequences"]]
    assert b["anchor"]["id"] == "my-fctm" and b["signature"]["anchor"] == "my-fctm"
    # ids: no shadowing of a bundled id, no silent replacement, removal of user anchors only
    r = cli("anchors", "add", "fcm-jbe2024-fctm", FCM_POINTS, "-e", "fcm-jbe2024", "--codec", "x")
    assert r.code == 2 and "is a bundled anchor" in r.err
    r = cli("anchors", "add", "my-fctm", FCM_POINTS, "-e", "fcm-jbe2024", "--codec", "x")
    assert r.code == 2 and "exists already" in r.err
    assert cli("anchors", "remove", "fcm-jbe2024-fctm").code == 2
    assert cli("anchors", "remove", "my-fctm").code == 0 and not stored.exists()
    assert cli("anchors", "remove", "my-fctm").code == 2


def test_a_bad_anchor_is_not_stored(cli, home, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence,qp,rate,metric\nNoSuchClip,22,100,50\n")
    r = cli("anchors", "add", "bad", bad, "-e", "fcm-jbe2024", "--codec", "x")
    assert r.code == 2 and "bad.csv:2: unknown sequence 'NoSuchClip' in edition fcm-jbe2024" in r.err
    assert not (home / "anchors" / "bad").exists()
    assert not list((home / "anchors").glob(".*"))   # no temporary folder left behind
    r = cli("anchors", "add", "../evil", bad, "-e", "fcm-jbe2024", "--codec", "x")
    assert r.code == 2 and "anchor id '../evil'" in r.err


def test_results_json_anchor_carries_class_curves(cli, home, tmp_path):
    """A results.json of an anchor run stored as a user anchor: same BD-rates as naming the file."""
    from vcmctc.submission.importers import import_points_csv

    run = tmp_path / "anchor-run"
    import_points_csv(FCM_POINTS, run, codec="FCTM rerun", edition="fcm-jbe2024", anchor=None)
    res = _evaluate(cli, run, tmp_path / "anchor-out", "--allow-incomplete", "--no-anchor")
    assert res["submission"]["codec"] == "FCTM rerun"
    r = cli("anchors", "add", "rerun", tmp_path / "anchor-out" / "results.json",
            "-e", "fcm-jbe2024", "--codec", "FCTM rerun")
    assert r.code == 0, r.err
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "submission.yaml").write_text((PAPER_FCM / "submission.yaml").read_text().replace(
        "anchor: fcm-jbe2024-fctm", "anchor: rerun"))
    out = _evaluate(cli, sub, tmp_path / "o", "--allow-incomplete")
    ref = _evaluate(cli, PAPER_FCM, tmp_path / "r", "--allow-incomplete")
    assert out["anchor"]["kind"] == "results" and out["anchor"]["id"] == "rerun"
    assert [s["bd_rate"] for s in out["sequences"]] == [s["bd_rate"] for s in ref["sequences"]]
    r = cli("anchors", "add", "wrong", tmp_path / "anchor-out" / "results.json",
            "-e", "fcm-fctm-v1", "--codec", "x")
    assert r.code == 2 and "the results are of edition 'fcm-jbe2024'" in r.err


def test_init_and_import_accept_user_anchors(cli, home, tmp_path):
    r = cli("init", "--edition", "fcm-fctm-v1", tmp_path / "s1")
    assert r.code == 0 and "no anchor for edition fcm-fctm-v1" in r.err
    assert "vcmctc anchors add ID SOURCE --edition fcm-fctm-v1" in (tmp_path / "s1/submission.yaml").read_text()
    csv = tmp_path / "pts.csv"
    csv.write_text("sequence,qp,rate,metric\n" + "".join(
        f"Traffic,{qp},{2000 / (i + 1)},{70 - 5 * i}\n" for i, qp in enumerate((24, 28, 29, 34))))
    assert cli("anchors", "add", "mine", csv, "-e", "fcm-fctm-v1", "--codec", "x").code == 0
    cli("init", "--edition", "fcm-fctm-v1", tmp_path / "s2")
    assert "anchor: mine" in (tmp_path / "s2/submission.yaml").read_text()
    r = cli("import", csv, tmp_path / "s3", "-e", "fcm-fctm-v1", "--codec", "y", "--anchor", "mine")
    assert r.code == 0, r.err
    r = cli("validate", tmp_path / "s3", "--allow-incomplete")
    assert "the anchor mine has no points" not in r.out


def test_no_silent_no_bd(cli, home, tmp_path):
    """No anchor: validate warns; evaluate exits 1 with the rows named, 0 with --no-anchor."""
    csv = tmp_path / "pts.csv"
    csv.write_text("sequence,qp,rate,metric\n" + "".join(
        f"{s},{qp},{2000 / (i + 1)},{70 - 5 * i}\n" for s in ("TVD-01", "TVD-02", "TVD-03")
        for i, qp in enumerate({"TVD-01": (25, 30, 33, 38), "TVD-02": (25, 30, 35, 37),
                                "TVD-03": (28, 33, 34, 36)}[s])))
    assert cli("import", csv, tmp_path / "sub", "-e", "fcm-fctm-v1", "--codec", "x").code == 0
    r = cli("validate", tmp_path / "sub", "--allow-incomplete")
    assert "no anchor: no BD-rate can be computed" in r.out
    r = cli("evaluate", tmp_path / "sub", "--allow-incomplete", "--out", tmp_path / "o1", "-q")
    assert r.code == 0 and "TVD-01 (no-anchor)" in r.err and "accepted" in r.err


def test_rows_without_bd_fail_a_complete_run(cli, home, tmp_path):
    """A complete submission whose anchor lacks a sequence: exit 1, the row named."""
    pts = tmp_path / "pts.csv"
    rows = [(s, qp, 1000 / (i + 1), 60 - 4 * i)
            for s, qps in (("SynthStreet", (32, 37, 42, 47)), ("SynthPark", (32, 37, 42, 47)),
                           ("SynthCrossing", (32, 37, 42, 47)), ("SynthImages", (32, 37, 42, 47)),
                           ("SynthDance", (22, 27, 32, 37))) for i, qp in enumerate(qps)]
    pts.write_text("sequence,qp,rate,metric\n" + "".join(f"{s},{q},{r},{m}\n" for s, q, r, m in rows))
    anchor_pts = tmp_path / "anchor.csv"
    anchor_pts.write_text("sequence,qp,rate,metric\n" + "".join(
        f"{s},{q},{r * 1.2},{m}\n" for s, q, r, m in rows if s != "SynthPark"))
    assert cli("anchors", "add", "demo-partial", anchor_pts, "-e", "ctc-demo", "--codec", "a").code == 0
    assert cli("import", pts, tmp_path / "sub", "-e", "ctc-demo", "--codec", "t",
               "--anchor", "demo-partial").code == 0
    r = cli("validate", tmp_path / "sub")
    assert "the anchor demo-partial has no points for this sequence: no BD-rate" in r.out
    r = cli("evaluate", tmp_path / "sub", "--out", tmp_path / "o", "-q")
    assert r.code == 1 and "SynthPark (missing-in-anchor)" in r.err
    res = json.loads((tmp_path / "o/results.json").read_text())
    street = next(s for s in res["sequences"] if s["name"] == "SynthStreet")
    assert street["bd_rate"] == pytest.approx(100 * (1 / 1.2 - 1), abs=1e-9)
    r = cli("evaluate", tmp_path / "sub", "--out", tmp_path / "o2", "-q", "--no-anchor")
    assert r.code == 0


def test_compressai_vision_class_rows_times_and_complexity(cli, home, tmp_path):
    """final_SFU.csv class rows are kept as the submitter's class rows beside vcmctc's; the NN
    parts are kept beside (never in) the codec time; summary_complexity.csv gives kMAC/pixel,
    frame-weighted in class rows."""
    head = ",Dataset,qp,bitrate (kbps),end_accuracy,nn_part_1,encode,decode,nn_part_2"
    lines, i = [head], 0
    for name, qps in (("Traffic_2560x1600_30", (24, 28, 29, 34)),
                      ("BQTerrace_1920x1080_60", (22, 27, 29, 32))):
        for k, qp in enumerate(qps):
            lines.append(f"{i},{name},{qp},{1000.0 / (k + 1)},{60.0 - 3 * k},1.5,{10.0 + k},1.0,2.5")
            i += 1
    for k in range(4):
        lines.append(f"{i},CLASS-AB,{k},{900.0 / (k + 1)},{59.0 - 3 * k},1.5,5.0,1.0,2.5")
        i += 1
    src = tmp_path / "final_SFU.csv"
    src.write_text("\n".join(lines) + "\n")
    r = cli("import", src, tmp_path / "sub", "-e", "fcm-fctm-v1", "--codec", "X",
            "--from", "compressai-vision", "--metric", "coco-bbox-ap50")
    assert r.code == 0, r.err
    text = (tmp_path / "sub" / "submission.yaml").read_text()
    assert "reported_classes:" in text and '"AB":' in text
    res = _evaluate(cli, tmp_path / "sub", tmp_path / "o", "--allow-incomplete", "--no-anchor")
    ab = next(c for c in res["classes"] if c["name"] == "AB")
    assert [(c["label"], c["rate"], c["metric"]) for c in ab["reported_curve"]] == [
        (f"point {k}", 900.0 / (k + 1), 59.0 - 3 * k) for k in range(4)]
    p = next(p for p in res["points"] if p["sequence"] == "Traffic" and p["qp"] == 28)
    assert p["other_times"] == {"nn_part_1_s": 1.5, "nn_part_2_s": 2.5}
    assert p["time_s"] == 11.0 + 1.0            # encode + decode only

    # a summary.csv with its summary_complexity.csv beside it
    run = tmp_path / "runs"
    for seq, frames, kmac in (("Traffic_2560x1600_30", 33, 100.0), ("BQTerrace_1920x1080_60", 129, 200.0)):
        for k, qp in enumerate({"Traffic_2560x1600_30": (24, 28, 29, 34),
                                "BQTerrace_1920x1080_60": (22, 27, 29, 32)}[seq]):
            ev = run / seq / f"qp{qp}" / "evaluation"
            ev.mkdir(parents=True)
            (ev / "summary.csv").write_text(
                "Dataset,fps,num_of_coded_frame,qp,bitrate (kbps),end_accuracy,nn_part_1,encode,"
                f"decode,nn_part_2\n{seq},30,{frames},{qp},{1000 / (k + 1)},{60 - 3 * k},1,2,3,4\n")
            (ev / "summary_complexity.csv").write_text(
                "Metric,nn_part1,feature reduction,feature restoration,nn_part2\n"
                f"KMAC/pixel,{kmac},{kmac / 10},{kmac / 20},{kmac * 2}\n")
    r = cli("import", run, tmp_path / "sub2", "-e", "fcm-fctm-v1", "--codec", "X",
            "--metric", "coco-bbox-ap50")
    assert r.code == 0, r.err
    res = _evaluate(cli, tmp_path / "sub2", tmp_path / "o2", "--allow-incomplete", "--no-anchor")
    traffic = next(s for s in res["sequences"] if s["name"] == "Traffic")
    assert traffic["complexity"] == {"feature_reduction": 10.0, "feature_restoration": 5.0,
                                     "nn_part1": 100.0, "nn_part2": 200.0}
    ab = next(c for c in res["classes"] if c["name"] == "AB")
    # frame-weighted: Traffic 33 frames at 100, BQTerrace 129 frames at 200
    assert ab["complexity"]["nn_part1"] == pytest.approx((33 * 100 + 129 * 200) / (33 + 129),
                                                         abs=1e-9)
