"""`vcmctc tables`, `tables --check`, `anchors` through the CLI."""

from __future__ import annotations


def test_tables_json_shape(cli):
    r = cli("tables", "--edition", "fcm-fctm-v1", "--format", "json")
    assert r.code == 0, r.err
    rows = r.json()
    assert len(rows) == 24
    traffic = next(x for x in rows if x["sequence"] == "Traffic")
    assert traffic["class"] == "AB" and traffic["fps"] == 30 and traffic["frames_coded"] == 33
    assert traffic["qps"] == [24, 28, 29, 34] and traffic["aliases"] == []
    assert all(isinstance(q, int) for q in traffic["qps"])
    assert traffic["sources"]["qps"] == "fctm-v1-qps" and traffic["sources"]["fps"] == "sfu-clips"


def test_tables_track_filter_and_scenario(cli):
    rows = cli("tables", "--track", "vcm", "--format", "json").json()
    assert {r["edition"] for r in rows} == {"vcm-n0543", "vcm-n0592", "vcm-n0638", "vcm-n0663",
                                             "vcm-jbe2024"}
    ai = cli("tables", "-e", "vcm-n0638", "--scenario", "AI", "-f", "json").json()
    assert next(r for r in ai if r["sequence"] == "Traffic")["qps"] == [26, 30, 34, 38, 42, 46]


def test_tables_text_and_csv(cli):
    text = cli("tables", "-e", "vcm-jbe2024").out
    assert "BasketballDrill*" in text and "[other source sfu-clips: 50]" in text
    assert "BD pchip, policy fit-nonmonotonic (fit solver slsqp), low-overlap below 75%" in text
    assert "BD pchip, policy refuse, low-overlap below 75%" in cli("tables", "-e", "fcm-jbe2024").out
    csv_out = cli("tables", "-e", "vcm-jbe2024", "-f", "csv").out.splitlines()
    assert csv_out[0].startswith("edition,sequence,aliases")
    assert len(csv_out) == 1 + 16


def test_tables_check_passes(cli):
    r = cli("tables", "--check")
    assert r.code == 0
    assert "0 error(s)" in r.out and "12 edition(s) and 2 anchor(s)" in r.out
    # the gaps the public sources leave are warnings that quote their notes
    assert "warning: vcm-n0663: sequence Traffic: no QPs: the VCM-RS v1.0 QPs" in r.out
    assert "warning: vcm-n0638: sequence FLIR: no item count:" in r.out


def test_tables_check_fails_on_bad_edition(cli, tmp_path):
    from test_editions import MINIMAL, write

    path = write(tmp_path, "bad.yaml", MINIMAL.format(id="bad").replace("frames: 8,", "frames: 9,"))
    r = cli("tables", "--check", "--edition", path)
    assert r.code == 1
    assert "error: bad: sequence Seq1: skip 2 + frames 9 exceeds the 10 frames" in r.out


def test_unknown_edition_is_one_line_exit_2(cli):
    r = cli("tables", "--edition", "fcm-fctm-v9")
    assert r.code == 2
    assert r.err.strip().count("\n") == 0 and "unknown CTC edition 'fcm-fctm-v9'" in r.err
    assert "Traceback" not in r.err


def test_anchors_json(cli):
    r = cli("anchors", "--edition", "vcm-jbe2024", "-f", "json")
    assert r.code == 0
    [anchor] = r.json()
    assert anchor["anchor"] == "vcm-jbe2024-vcmrs" and len(anchor["points"]) == 32
    assert anchor["points"][0] == {"sequence": "BasketballDrill", "class": "C", "qp": 39,
                                   "rate": 195.57, "metric": 12.71}
    assert cli("anchors", "--anchor", "nope").code == 2


def test_bdrate_takes_method_and_policy_from_edition(cli):
    from conftest import REPO

    args = ("bdrate", "--anchor", REPO / "anchors/vcm-jbe2024-vcmrs/points.csv",
            "--test", REPO / "examples/jbe2024/vcm-dcvc-fm.csv", "--format", "json")
    by_edition = cli(*args, "--edition", "vcm-jbe2024").json()
    assert (by_edition["method"], by_edition["policy"]) == ("pchip", "fit-nonmonotonic")
    flagged = cli(*args, "--edition", "vcm-jbe2024", "--policy", "refuse").json()
    assert flagged["policy"] == "refuse"
    # The edition's policy changes the outcome: refuse gives no number where fitting does.
    statuses = {r["sequence"]: r["status"] for r in flagged["results"]}
    fitted = {r["sequence"]: r for r in by_edition["results"]}
    assert statuses["TVD-01"] == "ok" and fitted["TVD-01"]["fitted"] == []
    assert cli(*args, "--edition", "vcm-2099").code == 2
