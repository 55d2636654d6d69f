"""Reports rendered from a saved results.json: golden files, xlsx cells, null fields.

Golden files live in tests/golden/ beside the hand-made fixture results_small.json. After an
intended change of a template, regenerate them and review the diff:

    VCMCTC_UPDATE_GOLDEN=1 /work/venv/bin/python -m pytest tests/test_reports.py -k golden

The same variable rewrites the bundled example reports (examples/jbe2024/reports/), which must
be what the commands in examples/jbe2024/README.md produce (they change when an edition file,
the BD engine's messages or a template change).
"""

from __future__ import annotations

import copy
import csv
import typing
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vcmctc.reports.model import build_report, fmt, load_results
from vcmctc.reports.render import csvq, md, render, tex

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
FIXTURE = GOLDEN / "results_small.json"
UPDATE = os.environ.get("VCMCTC_UPDATE_GOLDEN") == "1"
GOLDEN_FILES = {"md": "report_small.md", "html": "report_small.html", "latex": "report_small.tex",
                "csv": "report_small.csv"}


@pytest.fixture(scope="module")
def results():
    return load_results(FIXTURE)


@pytest.mark.parametrize("fmt_name", sorted(GOLDEN_FILES))
def test_golden(fmt_name, results):
    got = render(results, fmt_name)
    path = GOLDEN / GOLDEN_FILES[fmt_name]
    if UPDATE:
        path.write_text(got, encoding="utf-8", newline="")
    expected = path.read_text(encoding="utf-8")
    assert got == expected, (f"{path.name} differs from the rendered report; if the change is "
                             "intended: VCMCTC_UPDATE_GOLDEN=1 pytest tests/test_reports.py -k golden")


def test_cli_report_matches_render(cli, tmp_path, results):
    r = cli("report", FIXTURE, "--format", "md")
    assert r.code == 0 and r.out == render(results, "md")
    r = cli("report", FIXTURE, "-o", tmp_path / "x.tex")  # format from the suffix
    assert r.code == 0 and (tmp_path / "x.tex").read_text() == render(results, "latex")
    assert cli("report", FIXTURE, "-o", tmp_path / "x.csv").code == 0
    assert (tmp_path / "x.csv").read_text() == render(results, "csv")


def test_csv_is_one_rectangular_table_with_exact_numbers(results):
    rows = list(csv.DictReader(io.StringIO(render(results, "csv"))))
    text = render(results, "csv")
    widths = {len(r) for r in csv.reader(io.StringIO(text))}
    assert widths == {27}
    kinds = [r["row_type"] for r in rows]
    # 18 points of the submission + 1 anchor-only point, 5 sequences, 3 classes, overall, signature
    assert kinds.count("point") == 19 and kinds.count("sequence") == 5
    assert kinds.count("class") == 3 and kinds[-2:] == ["overall", "signature"]
    # numbers are the stored ones, full precision (nothing rounded or recomputed)
    seq = {r["sequence"]: r for r in rows if r["row_type"] == "sequence"}
    assert float(seq["SeqA"]["bd_rate"]) == -12.345678
    assert float(seq["SeqA"]["time_ratio"]) == results.sequences[0].time_ratio["time_s"]
    assert seq["SeqC"]["bd_rate"] == "" and seq["SeqC"]["status"] == "too-few-points"
    pts = [r for r in rows if r["row_type"] == "point" and r["sequence"] == "SeqA"]
    assert [float(p["rate"]) if p["rate"] else None for p in pts] == [812.5, 401.0, 190.25, 95.125, None]
    assert pts[-1]["status"] == "missing" and float(pts[-1]["anchor_rate"]) == 55.0
    cls = {r["class"]: r for r in rows if r["row_type"] == "class"}
    assert float(cls["TVD"]["fallback_bd_rate"]) == -60.5 and cls["TVD"]["bd_rate"] == ""
    assert "not the CTC number" in cls["TVD"]["note"]
    assert rows[-1]["note"] == results.signature["line"]


def test_markdown_shows_status_not_blank(results):
    text = render(results, "md")
    assert "| SeqC | C | reported | 2/2 | n/a (too-few-points) | n/a (too-few-points) |" in text
    assert "n/a (no rate overlap)" in text           # TVD-x: BD-rate ok, rate ranges disjoint
    assert "n/a (decode-failed)" in text             # a failed point shows why
    assert "fallback for the anchor-not-poolable pooled row: mean of the members' BD-rates " \
           "(mean_bd_rate): -60.50 %" in text
    assert "partial mean over the 1 with a BD-rate (missing: TVD): -3.75 %" in text
    assert results.timing["ratio_averaging"] in text
    assert f"Signature: `{results.signature['line']}`" in text
    # escaping: the pipe of the codec name must not split a table cell
    assert "Test_Codec \"X\", v2 & &lt;beta&gt; \\| 50%" in text


def test_html_colours_bd_by_sign_and_metric_direction(results):
    text = render(results, "html")
    assert '<td class="num good">-12.35</td>' in text       # negative BD-rate: savings
    assert '<td class="num bad">8.50</td>' in text
    assert '<td class="num good">1.235</td>' in text        # BD-mAP > 0, higher is better
    assert '<td class="num na">n/a (too-few-points)</td>' in text
    assert "&lt;beta&gt;" in text and "<beta>" not in text
    for external in ("http://", "https://", "<script", "<link", "@import", "src="):
        assert external not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_view_model_values_are_the_stored_ones(results):
    r = build_report(results)
    seq = {row.name: row for row in r.sequences}
    assert seq["SeqA"].bd_rate.value == -12.345678 and seq["SeqA"].bd_rate.text == "-12.35"
    assert seq["SeqA"].bd_rate.tone == "good" and seq["SeqB"].bd_rate.tone == "bad"
    assert seq["SeqA"].time_ratio.text == "130.19 %"       # 1.30188... as a percentage
    assert r.overall.bd_rate.missing and r.overall.fallback.value == -3.75
    assert r.rate_header == "kbps" and r.metric_header == "Metric" and r.mixed_metrics
    pairs = [(p.point, p.rate.value, p.anchor_rate.value) for p in r.points if p.sequence == "SeqA"]
    assert pairs == [("22", 812.5, 900.0), ("27", 401.0, 450.0), ("32", 190.25, 220.0),
                     ("37", 95.125, 110.0), ("42", None, 55.0)]


def test_lower_is_better_metric_flips_bd_metric_colour(results, monkeypatch):
    import vcmctc.families
    from vcmctc.families.base import MetricDef

    error_rate = MetricDef("coco-bbox-ap50", "error rate", "AP50", "object-detection",
                           higher_is_better=False)
    monkeypatch.setattr(vcmctc.families, "metric_def", lambda name: error_rate)
    r = build_report(results)
    seq = {row.name: row for row in r.sequences}
    assert seq["SeqA"].bd_metric.tone == "bad"    # +1.235 of an error rate is worse
    assert seq["SeqA"].bd_rate.tone == "good"     # BD-rate sign means the same for every metric


def test_number_formatting_hand_cases():
    assert fmt(-0.004, 2).text == "0.00"           # no "-0.00"
    assert fmt(-0.006, 2).text == "-0.01"
    assert fmt(None, 2, reason="too-few-points").text == "n/a (too-few-points)"
    assert fmt(float("nan"), 2).text == "n/a"
    assert csvq(None) == "" and csvq(0.1) == "0.1" and csvq(1 / 3) == repr(1 / 3)
    assert csvq('a,"b"') == '"a,""b"""' and csvq(" x") == '" x"'
    assert tex("a_b & 5% #1") == r"a\_b \& 5\% \#1"
    assert tex("-12.35") == "$-$12.35" and tex("x-1") == "x-1"
    assert md("a|b") == "a\\|b"


def _null_everything(results):
    """The fixture with every optional number and block set to null or emptied."""
    import dataclasses

    from vcmctc.results.model import StepRecord

    def nulled(obj, keep=()):
        """``obj`` with every field that may be null set to null (but those in ``keep``)."""
        hints = typing.get_type_hints(type(obj))
        return dataclasses.replace(obj, **{
            f.name: None for f in dataclasses.fields(obj)
            if f.name not in keep and type(None) in typing.get_args(hints[f.name])})

    r = copy.deepcopy(results)
    r.anchor = None
    r.findings = []
    r.submission = {"description": None, "complete": None}
    r.points = [dataclasses.replace(nulled(p), status="decode-failed", stats={},
                                    bits_components={}, decode=StepRecord("failed"))
                for p in r.points]
    r.sequences = [dataclasses.replace(nulled(s), status="no-anchor", warnings=[],
                                       time_ratio={}) for s in r.sequences]
    r.classes = [dataclasses.replace(nulled(c), time_ratio={}) for c in r.classes]
    r.overall = dataclasses.replace(nulled(r.overall), members=[], time_ratio={},
                                    status="empty")
    r.timing, r.run = {}, {}
    r.signature = {"line": "x", "evidence": []}
    return r


@pytest.mark.parametrize("fmt_name", ["md", "html", "latex", "csv", "xlsx"])
def test_every_format_renders_with_every_field_null(fmt_name, results):
    out = render(_null_everything(results), fmt_name)
    assert out
    if fmt_name == "md":
        assert "n/a (decode-failed)" in out and "n/a (no-anchor)" in out
    if fmt_name == "html":
        assert "no points" in out  # empty plots say so


def _minimal():
    from vcmctc.results.model import results_from_dict

    overall = {"kind": "overall", "name": "Overall", "cls": None, "optional": False,
               "rule": "mean-of-classes", "members": [], "evidence": None, "metric_id": None,
               "rate_unit": None, "points": 0, "points_ok": 0, "curve": None,
               "anchor_curve": None, "bd_rate": None, "bd_metric": None, "status": "empty",
               "overlap": None, "overlap_rate": None, "warnings": [], "bd_detail": None,
               "mean_bd_rate": None, "mean_bd_metric": None, "mean_status": "empty",
               "mean_over": 0, "missing": [], "partial_bd_rate": None, "time_ratio": {}}
    return results_from_dict({"schema": "vcmctc-results/2", "signature": {}, "submission": {},
                              "edition": {}, "anchor": None, "findings": [], "points": [],
                              "sequences": [], "classes": [], "overall": overall,
                              "timing": {}})


@pytest.mark.parametrize("fmt_name", ["md", "html", "latex", "csv", "xlsx"])
def test_every_format_renders_a_minimal_results_file(fmt_name):
    assert render(_minimal(), fmt_name)


def test_xlsx_cells(results, tmp_path):
    import openpyxl

    path = tmp_path / "r.xlsx"
    path.write_bytes(render(results, "xlsx"))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Rate points", "BD-rate", "Signature"]
    ws = wb["Rate points"]
    head = [c.value for c in ws[1]]
    assert head[:7] == ["Sequence", "QP", "kbps", "Metric", "EncT (s)", "DecT (s)", "Time (s)"]
    assert head[7:12] == ["Anchor kbps", "Anchor Metric", "Anchor EncT (s)", "Anchor DecT (s)",
                          "Anchor time (s)"]
    first = [c.value for c in ws[2]]
    assert first[:7] == ["SeqA", 22, 812.5, 71.25, 120.5, 3.25, 123.75]
    assert all(isinstance(v, (int, float)) for v in first[1:12])
    assert ws["C2"].number_format == "0.000" and ws["E2"].number_format == "0.00"
    rows = {(r[0].value, r[1].value): [c.value for c in r] for r in ws.iter_rows(min_row=2)}
    missing = rows[("SeqA", 42)]
    assert missing[2] == "n/a (missing)" and missing[7] == 55.0
    failed = rows[("SeqD", 27)]
    assert failed[2] == "n/a (decode-failed)" and failed[4] == 8.0
    assert ws.max_row == 1 + 19

    ws = wb["BD-rate"]
    head = [c.value for c in ws[1]]
    assert head[:8] == ["Row type", "Row", "Class", "Evidence", "Points", "BD-rate (%)",
                        "BD-metric", "Status"]
    bd = {r[1].value: [c.value for c in r] for r in ws.iter_rows(min_row=2, max_row=10)}
    assert bd["SeqA"][5] == -12.345678 and isinstance(bd["SeqA"][5], float)
    assert ws.cell(row=2, column=6).number_format == "0.00"
    assert bd["SeqC"][5] == "n/a (too-few-points)"
    assert bd["TVD"][0] == "class" and bd["TVD"][5] == "n/a (anchor-not-poolable)"
    assert bd["TVD"][12] == -60.5 and "not the CTC number" in bd["TVD"][13]
    assert bd["Overall"][0] == "overall" and bd["Overall"][12] == -3.75
    # openpyxl writes 15 significant digits, Excel's own precision
    assert bd["SeqA"][10] == pytest.approx(1.3018867924528301, rel=1e-14, abs=0)
    assert ws.cell(row=2, column=11).number_format == "0.00%"

    ws = wb["Signature"]
    kv = {r[0].value: r[1].value for r in ws.iter_rows(min_row=2) if r[0].value}
    assert kv["signature"] == results.signature["line"]
    assert kv["signature.bd_method"] == "pchip" and kv["timing.ratio_averaging"]
    assert "Finding level" in kv


def test_report_errors_are_one_line(cli, tmp_path):
    r = cli("report", tmp_path / "nope.json")
    assert r.code == 2 and "no such results file" in r.err and r.err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other"}')
    r = cli("report", bad)
    assert r.code == 2 and "not a vcmctc results.json" in r.err
    bad.write_text('{"schema": "vcmctc-results/1",\n oops}')
    r = cli("report", bad)
    assert r.code == 2 and f"{bad}:2: not valid JSON" in r.err
    good = json.loads(FIXTURE.read_text())
    good["points"][3] = {"qp": 1}
    bad.write_text(json.dumps(good))
    r = cli("report", bad)
    assert r.code == 2 and f"{bad}: points[3].sequence: missing" in r.err
    good = json.loads(FIXTURE.read_text())
    good["sequences"][1]["bd_rate"] = "12"
    bad.write_text(json.dumps(good))
    r = cli("report", bad)
    assert r.code == 2 and "sequences[1].bd_rate: expected a number or null, got '12'" in r.err
    bad.write_text('{"schema": "vcmctc-results/1"}')
    assert "run vcmctc evaluate again" in cli("report", bad).err
    bad.write_text('{"schema": "vcmctc-results/9"}')
    assert "not supported" in cli("report", bad).err
    r = cli("report", FIXTURE, "--format", "xlsx")
    assert r.code == 2 and "-o FILE" in r.err
    assert cli("report", FIXTURE, "--format", "pdf").code == 2


def test_templates_are_package_data():
    """Templates load through the package loader (so they ship in the wheel)."""
    from importlib.resources import files

    names = {p.name for p in files("vcmctc.reports").joinpath("templates").iterdir()}
    assert {"report.md.j2", "report.html.j2", "report.tex.j2", "report.csv.j2"} <= names


def test_import_vcmctc_stays_light():
    code = ("import sys, vcmctc, vcmctc.reports.render, vcmctc.reports.model; "
            "print(any(m in sys.modules for m in ('openpyxl', 'jinja2', 'pandas', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# the bundled example reports are the ones the documented commands produce

EXAMPLES = REPO / "examples" / "jbe2024"


@pytest.mark.parametrize("name", ["fcm-dcvc-fm", "vcm-dcvc-fm"])
def test_bundled_example_reports_are_current(name, cli, tmp_path):
    out = tmp_path / name
    r = cli("evaluate", EXAMPLES / name, "--allow-incomplete", "--out", out, "-q")
    assert r.code == 0, r.err
    data = load_results(out / "results.json")
    if UPDATE:  # VCMCTC_UPDATE_GOLDEN=1 rewrites the bundled reports too (all five formats)
        from vcmctc.reports.render import write_report

        for ext, fmt_name in (("md", "md"), ("csv", "csv"), ("tex", "latex"), ("html", "html"),
                              ("xlsx", "xlsx")):
            write_report(data, fmt_name, EXAMPLES / "reports" / f"{name}.{ext}")
    for ext, fmt_name in (("md", "md"), ("csv", "csv"), ("tex", "latex")):
        bundled = EXAMPLES / "reports" / f"{name}.{ext}"
        assert render(data, fmt_name) == bundled.read_text(encoding="utf-8"), (
            f"{bundled} is out of date: regenerate it with the commands in "
            "examples/jbe2024/README.md, or VCMCTC_UPDATE_GOLDEN=1 pytest tests/test_reports.py")


def test_svg_axes_hand_cases():
    from vcmctc.reports.svg import Series, linear_ticks, log_ticks, nice_step, rp_plot

    assert nice_step(7.3) == 2 and nice_step(10) == 2 and nice_step(0.3) == 0.1
    assert linear_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert log_ticks(50, 1000) == [50, 100, 200, 500, 1000]
    assert log_ticks(0.001, 10) == pytest.approx([0.001, 0.01, 0.1, 1, 10])  # 4 decades: 10^k only
    assert log_ticks(300, 600) == [300, 400, 500, 600]   # under a decade: linear ticks
    # rates 10 and 1000: log10 range [1, 3] padded by 6 % of its span -> [0.88, 3.12]; the plot
    # area is x 58..424 (440 - 16 right margin), so rate 10 sits at 58 + 0.12 / 2.24 * 366
    svg = rp_plot([Series("a", [(1000.0, 60.0), (10.0, 40.0)], "anchor", "#000000")],
                  title="t", x_label="x", y_label="y")
    d = svg.split('class="series anchor" data-points="2" d="')[1].split('"')[0]
    x_first = float(d[1:].split(",")[0])
    assert x_first == pytest.approx(58 + 0.12 / 2.24 * 366, abs=0.006)
    assert d.count("L") == 1
    assert "no points" in rp_plot([Series("a", [], "anchor", "#000000")], title="t",
                                  x_label="x", y_label="y")
