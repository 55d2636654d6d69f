"""``vcmctc bdrate`` and the per-sequence summary: output layout, means, file errors."""

from __future__ import annotations

import pytest

from vcmctc.bd.settings import BDSettings
from vcmctc.bd.table import summarize

R = [100.0, 200.0, 400.0, 800.0]
M = [40.0, 50.0, 56.0, 60.0]


def _write(path, rows, header="sequence,qp,rate,metric"):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _rows(seq, rates, metrics):
    return [f"{seq},{22 + i},{r},{m}" for i, (r, m) in enumerate(zip(rates, metrics))]


@pytest.fixture
def tables(tmp_path):
    """Anchor A, B, C; test A (rates x0.8: -20 %), B (rates x0.5: -50 %), D (test only)."""
    anchor = _write(tmp_path / "anchor.csv",
                    _rows("A", R, M) + _rows("B", R, M) + _rows("C", R, M))
    test = _write(tmp_path / "test.csv",
                  _rows("A", [0.8 * r for r in R], M) + _rows("B", [0.5 * r for r in R], M)
                  + _rows("D", R, M))
    return anchor, test


# ----------------------------------------------------------------------------- summary / means

def test_summary_means_are_never_silently_partial():
    a = {"A": (R, M), "B": (R, M)}
    t = {"A": ([0.8 * r for r in R], M), "B": ([0.5 * r for r in R], M)}
    s = summarize(a, t)
    assert s["mean_bd_rate"] == pytest.approx(-35.0, abs=1e-9)  # (-20 - 50) / 2
    assert s["mean_bd_rate_partial"] == pytest.approx(-35.0, abs=1e-9)
    assert s["mean_over"] == ["A", "B"] and s["n_sequences"] == 2

    t["B"] = (R[:2], M[:2])  # too few points
    s = summarize(a, t)
    assert s["results"][1]["status"] == "too-few-points"
    assert s["mean_bd_rate"] is None
    assert s["mean_bd_rate_partial"] == pytest.approx(-20.0, abs=1e-9)
    assert s["mean_over"] == ["A"]


def test_summary_settings_are_passed_through():
    s = summarize({None: (R[:3], M[:3])}, {None: (R[:3], M[:3])},
                  settings=BDSettings(method="akima", policy="drop", min_points=3))
    assert (s["method"], s["policy"], s["min_points"]) == ("akima", "drop", 3)
    assert s["results"][0]["status"] == "ok" and s["results"][0]["method"] == "akima"


# ----------------------------------------------------------------------------- CLI output

def test_cli_json(cli, tables):
    anchor, test = tables
    r = cli("bdrate", "--anchor", anchor, "--test", test, "--format", "json")
    assert r.code == 0, r.err
    d = r.json()
    assert (d["method"], d["policy"], d["min_points"]) == ("pchip", "refuse", 4)
    by_seq = {x["sequence"]: x for x in d["results"]}
    assert [x["sequence"] for x in d["results"]] == ["A", "B", "C", "D"]
    assert by_seq["A"]["bd_rate"] == pytest.approx(-20.0, abs=1e-9)
    assert by_seq["B"]["bd_rate"] == pytest.approx(-50.0, abs=1e-9)
    assert by_seq["C"]["status"] == "missing-in-test" and by_seq["C"]["bd_rate"] is None
    assert by_seq["D"]["status"] == "missing-in-anchor"
    assert by_seq["D"]["warnings"] == ["sequence D is in the test but not in the anchor table"]
    for x in d["results"]:
        assert set(x) >= {"sequence", "bd_rate", "bd_metric", "overlap", "status", "warnings"}
    assert d["mean_bd_rate"] is None
    assert d["mean_bd_rate_partial"] == pytest.approx(-35.0, abs=1e-9)
    assert d["mean_over"] == ["A", "B"]


def test_cli_without_sequence_column(cli, tmp_path):
    anchor = _write(tmp_path / "a.csv", [f"{r},{m}" for r, m in zip(R, M)], header="rate,metric")
    test = _write(tmp_path / "t.csv", [f"{0.8 * r},{m}" for r, m in zip(R, M)],
                  header=" Rate , METRIC ")
    d = cli("bdrate", "--anchor", anchor, "--test", test, "--format", "json").json()
    assert len(d["results"]) == 1 and d["results"][0]["sequence"] is None
    assert d["mean_bd_rate"] == pytest.approx(-20.0, abs=1e-9)


def test_cli_options_reach_the_engine(cli, tables):
    anchor, test = tables
    d = cli("bdrate", "--anchor", anchor, "--test", test, "--method", "cubic", "--policy",
            "fit", "--min-points", "4", "--format", "json").json()
    assert (d["method"], d["policy"]) == ("cubic", "fit")
    a = d["results"][0]
    assert a["fitted"] == ["anchor", "test"] and a["method"] == "cubic"


def test_cli_fit_solver_and_min_overlap(cli, tmp_path):
    # a non-monotonic test curve: the two solvers give different fitted points
    anchor = _write(tmp_path / "a.csv", _rows("A", R + [1600.0, 3200.0], M + [62.0, 63.0]))
    test = _write(tmp_path / "t.csv", _rows("A", [90.0, 180.0, 390.0, 700.0, 1000.0, 2000.0],
                                            [40.0, 57.0, 55.0, 61.0, 62.0, 61.5]))
    base = ("bdrate", "--anchor", anchor, "--test", test, "--policy", "fit", "--format", "json")
    out = {s: cli(*base, "--fit-solver", s).json() for s in ("exact", "slsqp")}
    for solver, d in out.items():
        res = d["results"][0]
        assert d["fit_solver"] == solver and res["fit_solver"] == solver
        assert res["test_fit"]["solver"] == solver and res["fitted"] == ["anchor", "test"]
    assert out["exact"]["results"][0]["test_points"] != out["slsqp"]["results"][0]["test_points"]
    text = cli("bdrate", "--anchor", anchor, "--test", test, "--policy", "fit", "--fit-solver",
               "slsqp").out
    assert "policy fit, fit solver slsqp" in text and "low-overlap below 75%" in text
    # the threshold: the same curves with it at 0 and 1
    lo = cli(*base, "--min-overlap", "0").json()["results"][0]
    hi = cli(*base, "--min-overlap", "1").json()["results"][0]
    assert lo["status"] == "ok" and hi["status"] == "low-overlap"
    assert lo["bd_rate"] == hi["bd_rate"] and lo["min_overlap"] == 0.0
    assert cli(*base, "--min-overlap", "1.5").code == 2
    assert cli(*base, "--fit-solver", "newton").code == 2


def test_cli_text_shows_status_and_warnings(cli, tables):
    anchor, test = tables
    r = cli("bdrate", "--anchor", anchor, "--test", test)
    assert r.code == 0
    lines = r.out.splitlines()
    row = {ln.split()[0]: ln for ln in lines if ln and ln.split()[0] in "ABCD"}
    assert "-20.00" in row["A"] and row["A"].rstrip().endswith("ok")
    assert "missing-in-test" in row["C"]
    assert any(ln.startswith("mean (4)") and "not every sequence" in ln for ln in lines)
    assert any(ln.startswith("mean over 2/4") and "-35.00" in ln for ln in lines)
    assert "  D: sequence D is in the test but not in the anchor table" in lines
    # aligned: the status column starts at the same place on every table row
    starts = {row[k].index(s) for k, s in (("A", "ok"), ("C", "missing"), ("D", "missing"))}
    assert len(starts) == 1


def test_cli_csv(cli, tables):
    anchor, test = tables
    r = cli("bdrate", "--anchor", anchor, "--test", test, "--format", "csv")
    lines = r.out.splitlines()
    assert lines[0] == "sequence,bd_rate,bd_metric,overlap,overlap_rate,status,warnings"
    assert lines[1].startswith("A,-20.0") and lines[3].startswith("C,,,,,missing-in-test,")


def test_cli_nan_in_file_is_a_status_not_an_error(cli, tmp_path):
    anchor = _write(tmp_path / "a.csv", _rows("A", R, M))
    test = _write(tmp_path / "t.csv", _rows("A", R, [40, "nan", 56, 60]))
    d = cli("bdrate", "--anchor", anchor, "--test", test, "--format", "json").json()
    assert d["results"][0]["status"] == "invalid-metric"


# ----------------------------------------------------------------------------- file errors

def _error(cli, anchor, test):
    r = cli("bdrate", "--anchor", anchor, "--test", test)
    assert r.code == 2 and r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    return lines[0]


def test_missing_file(cli, tables, tmp_path):
    anchor, _ = tables
    msg = _error(cli, anchor, tmp_path / "nope.csv")
    assert "nope.csv" in msg and "no such file" in msg


def test_missing_column(cli, tables, tmp_path):
    anchor, _ = tables
    bad = _write(tmp_path / "bad.csv", ["A,1,2"], header="sequence,rate,psnr")
    msg = _error(cli, anchor, bad)
    assert f"{bad}:1" in msg and "missing column 'metric'" in msg


def test_non_numeric_value(cli, tables, tmp_path):
    anchor, _ = tables
    bad = _write(tmp_path / "bad.csv", _rows("A", R, M)[:2] + ["A,30,12.5kbps,50"])
    msg = _error(cli, bad, anchor)
    assert f"{bad}:4: column 'rate': not a number: '12.5kbps'" in msg


def test_wrong_field_count(cli, tables, tmp_path):
    anchor, _ = tables
    bad = _write(tmp_path / "bad.csv", ["A,22,100,40", "A,27,200"])
    msg = _error(cli, anchor, bad)
    assert f"{bad}:3" in msg and "3 fields but the header has 4" in msg


def test_not_a_csv(cli, tables, tmp_path):
    anchor, _ = tables
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    msg = _error(cli, anchor, binary)
    assert "image.png" in msg and "not a text CSV file" in msg
    nul = tmp_path / "nul.csv"
    nul.write_text("rate,metric\n1,\x002\n")
    msg = _error(cli, anchor, nul)
    assert "nul.csv" in msg


@pytest.mark.parametrize("content, expected", [
    ("", "empty file"),
    ("sequence,rate,metric\n", "no data rows"),
    ("sequence,rate,metric,rate\nA,1,2,3\n", "column 'rate' appears 2 times"),
    ("sequence,rate,metric\n,100,40\n", "column 'sequence': empty sequence name"),
])
def test_other_malformed_files(cli, tables, tmp_path, content, expected):
    anchor, _ = tables
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    msg = _error(cli, anchor, bad)
    assert "bad.csv" in msg and expected in msg


def test_sequence_column_in_one_file_only(cli, tables, tmp_path):
    anchor, _ = tables
    plain = _write(tmp_path / "plain.csv", [f"{r},{m}" for r, m in zip(R, M)], header="rate,metric")
    msg = _error(cli, anchor, plain)
    assert msg.startswith(f"vcmctc: error: {plain}: no 'sequence' column, but {anchor} has one")


def test_directory_and_bad_option(cli, tables, tmp_path):
    anchor, _ = tables
    msg = _error(cli, anchor, tmp_path)
    assert "is a directory" in msg
    r = cli("bdrate", "--anchor", anchor, "--test", anchor, "--min-points", "1")
    assert r.code == 2
    r = cli("bdrate", "--anchor", anchor, "--test", anchor, "--method", "linear")
    assert r.code == 2
