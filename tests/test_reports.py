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
import re
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
                **{f"csv.{t}": f"report_small.{t}.csv" for t in
                   ("points", "sequences", "classes", "overall", "meta")}}


@pytest.fixture(scope="module")
def results():
    return load_results(FIXTURE)


@pytest.mark.parametrize("fmt_name", sorted(GOLDEN_FILES))
def test_golden(fmt_name, results):
    base, _, table = fmt_name.partition(".")
    got = render(results, base)
    if table:
        got = got[table]
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
    tables = render(results, "csv")
    for name in ("points", "sequences", "classes", "overall", "meta"):
        assert (tmp_path / f"x.{name}.csv").read_text() == tables[name]
    assert not (tmp_path / "x.csv").exists()
    r = cli("report", FIXTURE, "-f", "csv", "--table", "classes")
    assert r.code == 0 and r.out == tables["classes"]


def test_unknown_or_contradicting_suffix_is_refused(cli, tmp_path):
    for name in ("x.pdf", "x", "x.txt"):
        r = cli("report", FIXTURE, "-o", tmp_path / name)
        assert r.code == 2 and "is not a report format" in r.err, name
        assert not (tmp_path / name).exists()
    r = cli("report", FIXTURE, "-f", "md", "-o", tmp_path / "x.html")
    assert r.code == 2 and "the suffix says html, --format says md" in r.err
    r = cli("report", FIXTURE, "-f", "csv")
    assert r.code == 2 and "several tables" in r.err
    r = cli("report", FIXTURE, "-f", "md", "--table", "points")
    assert r.code == 2 and "--table" in r.err


def _table(results, name):
    return list(csv.DictReader(io.StringIO(render(results, "csv")[name])))


def test_csv_tables_are_tidy_with_exact_numbers(results):
    tables = render(results, "csv")
    for name, text in tables.items():   # each table rectangular
        assert len({len(r) for r in csv.reader(io.StringIO(text))}) == 1, name
    points, seqs = _table(results, "points"), _table(results, "sequences")
    classes, overall = _table(results, "classes"), _table(results, "overall")
    # 18 points of the submission + 1 anchor-only point; one row per BD row
    assert len(points) == 19 and len(seqs) == 5 and len(classes) == 3 and len(overall) == 1
    assert {r["kind"] for r in seqs} == {"sequence"} and overall[0]["kind"] == "overall"
    assert list(seqs[0]) == list(classes[0]) == list(overall[0])   # one row shape
    # numbers are the stored ones, full precision (nothing rounded or recomputed)
    seq = {r["name"]: r for r in seqs}
    assert float(seq["SeqA"]["bd_rate"]) == -12.345678
    assert float(seq["SeqA"]["time_ratio"]) == results.sequences[0].time_ratio["time_s"]
    assert (seq["SeqA"]["points"], seq["SeqA"]["points_ok"]) == ("4", "4")
    assert seq["SeqC"]["bd_rate"] == "" and seq["SeqC"]["status"] == "too-few-points"
    # a low-overlap row keeps its number and is flagged, as in every other format
    assert seq["SeqB"]["status"] == "low-overlap" and float(seq["SeqB"]["bd_rate"]) == 8.5
    assert seq["SeqB"]["flagged"] == "true" and seq["SeqA"]["flagged"] == "false"
    pts = [r for r in points if r["sequence"] == "SeqA"]
    assert [float(p["rate"]) if p["rate"] else None for p in pts] == [812.5, 401.0, 190.25, 95.125, None]
    assert pts[-1]["status"] == "missing" and float(pts[-1]["anchor_rate"]) == 55.0
    assert pts[-1]["in_submission"] == "false" and pts[0]["in_anchor"] == "true"
    cls = {r["name"]: r for r in classes}
    assert float(cls["TVD"]["fallback_bd_rate"]) == -60.5 and cls["TVD"]["bd_rate"] == ""
    assert "not the CTC number" in cls["TVD"]["note"] and cls["TVD"]["flagged"] == "true"
    assert float(overall[0]["fallback_bd_rate"]) == -3.75 and overall[0]["flagged"] == "true"
    meta = {r["field"]: r["value"] for r in _table(results, "meta")}
    assert meta["signature"] == results.signature["line"]


def test_metric_ids_and_labels_are_the_same_in_every_format(results, tmp_path):
    """Every format names each metric by its label from the metric catalog and its id."""
    import openpyxl

    from vcmctc.families import metric_def

    pairs = [(m, metric_def(m).label) for m in ("coco-bbox-ap50", "mota")]
    for fmt_name in ("md", "html", "latex"):
        text = render(results, fmt_name)
        for mid, label in pairs:
            shown = tex(f"{label} ({mid})") if fmt_name == "latex" else f"{label} ({mid})"
            assert shown in text, (fmt_name, mid)
    points = _table(results, "points")
    assert {(p["metric_id"], p["metric_label"]) for p in points} == set(pairs)
    path = tmp_path / "r.xlsx"
    path.write_bytes(render(results, "xlsx"))
    wb = openpyxl.load_workbook(path)
    for mid, label in pairs:
        assert f"{label} ({mid})" in wb["Summary"]["A2"].value
        assert wb[label]["A1"].value.startswith(f"{label} ({mid})")


def test_markdown_shows_status_not_blank(results):
    text = render(results, "md")
    assert "| SeqC | C | reported | 2/2 | n/a (too-few-points) | n/a (too-few-points) |" in text
    assert "n/a (no rate overlap)" in text           # TVD-x: BD-rate ok, rate ranges disjoint
    assert "n/a (decode-failed)" in text             # a failed point shows why
    assert "(< 75%)" in text and "&lt;" not in text  # a < reads as a <
    assert "fallback for the anchor-not-poolable pooled row: mean of the members' BD-rates " \
           "(mean_bd_rate): -60.50 %" in text
    assert "partial mean over the 1 with a BD-rate (missing: TVD): -3.75 %" in text
    assert results.timing["ratio_averaging"] in text
    assert f"Signature: `{results.signature['line']}`" in text
    # escaping: the pipe of the codec name must not split a table cell
    assert "Test_Codec \"X\", v2 & \\<beta> \\| 50%" in text
    # flagged rows: status not ok (low-overlap keeps its number) or a partial number
    assert "| SeqB | AB | outputs | 4/4 | 8.50 | -0.750 | **\u26a0 low-overlap** |" in text
    assert "| SeqA | AB | decoded | 4/4 | -12.35 | 1.235 | ok |" in text
    assert "**\u26a0 incomplete**" in text and "\u26a0 marks a row" in text


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


def _xlsx(results, tmp_path):
    import openpyxl

    path = tmp_path / "r.xlsx"
    path.write_bytes(render(results, "xlsx"))
    return openpyxl.load_workbook(path)


def _merged_value(ws, row, col):
    """The value shown at (row, col): the top-left cell of the merged range holding it."""
    for rng in ws.merged_cells.ranges:
        if rng.min_row <= row <= rng.max_row and rng.min_col <= col <= rng.max_col:
            return ws.cell(rng.min_row, rng.min_col).value
    return ws.cell(row, col).value


def test_xlsx_summary_sheet(results, tmp_path):
    wb = _xlsx(results, tmp_path)
    assert wb.sheetnames == ["Summary", "mAP@0.5", "MOTA", "Signature"]
    ws = wb["Summary"]
    assert [c.value for c in ws[4]] == ["Row", "Class", "Metric", "Evidence", "Points",
                                        "BD-rate (%)", "BD-metric", "EncT ratio", "DecT ratio",
                                        "Time ratio", "Status", "Note"]
    rows = {r[0].value: [c.value for c in r] for r in ws.iter_rows(min_row=5, max_row=13)}
    assert list(rows) == ["SeqA", "SeqB", "SeqC", "SeqD", "TVD-x", "Class AB", "Class C",
                          "Class TVD", "Overall"]
    assert rows["SeqA"][5] == -12.345678 and isinstance(rows["SeqA"][5], float)
    assert ws["F5"].number_format == "0.00" and ws["J5"].number_format == "0.00%"
    # openpyxl writes 15 significant digits, Excel's own precision
    assert rows["SeqA"][9] == pytest.approx(1.3018867924528301, rel=1e-14, abs=0)
    assert rows["SeqC"][5] == "n/a (too-few-points)"
    assert rows["SeqB"][10] == "\u26a0 low-overlap" and rows["SeqB"][5] == 8.5
    assert ws["K6"].fill.fgColor.rgb.endswith("FFF3CD") and rows["SeqA"][10] == "ok"
    assert rows["Class TVD"][5] == "n/a (anchor-not-poolable)"
    assert "not the CTC number" in rows["Class TVD"][11] and "-60.50 %" in rows["Class TVD"][11]
    assert rows["Overall"][10] == "\u26a0 incomplete" and "-3.75 %" in rows["Overall"][11]
    assert ws["A5"].font.b is False and ws["A10"].font.b is True   # class rows bold
    settings = {r[0].value: r[1].value for r in ws.iter_rows(min_row=15) if r[0].value}
    assert settings["Anchor"] == "golden-anchor (Anchor_Codec 1.0)"


def test_xlsx_task_sheet_is_laid_out_like_the_templates(results, tmp_path):
    """Anchor columns then test columns per rate point, the sequence's BD numbers beside its
    points (merged), class rows with their pooled points after the sequences."""
    wb = _xlsx(results, tmp_path)
    ws = wb["mAP@0.5"]
    assert [_merged_value(ws, 3, c) for c in (4, 8, 12)] == [
        "Anchor: golden-anchor (Anchor_Codec 1.0)", "Test: " + results.submission["codec"],
        "Test vs anchor"]
    assert [c.value for c in ws[4]] == [
        "Class", "Sequence", "QP", "kbps", "mAP@0.5", "EncT (s)", "DecT (s)", "kbps", "mAP@0.5",
        "EncT (s)", "DecT (s)", "BD-rate (%)", "BD-mAP@0.5", "EncT ratio", "DecT ratio",
        "Status", "Note"]
    body = [[c.value for c in r] for r in ws.iter_rows(min_row=5)]
    seqa = [r for r in body if r[1] == "SeqA"]
    assert [r[2] for r in seqa] == [22, 27, 32, 37, 42]
    assert seqa[0][3:11] == [900.0, 70.0, 100.0, 3.0, 812.5, 71.25, 120.5, 3.25]
    assert seqa[-1][3] == 55.0 and seqa[-1][7] == "n/a (missing)"
    assert ws["D5"].number_format == "0.000" and ws["F5"].number_format == "0.00"
    # the BD-rate is written once, on the sequence's first row, merged over its 5 points
    assert ws["L5"].value == -12.345678 and "L5:L9" in {str(m) for m in ws.merged_cells.ranges}
    seqd = [r for r in body if r[1] == "SeqD"]
    assert [r[7] for r in seqd][1] == "n/a (decode-failed)"
    pooled = [r for r in body if r[1] == "Class AB (pooled)"]
    stored = results.classes[0]
    assert [r[7] for r in pooled] == sorted(c.rate for c in stored.curve)
    assert [r[3] for r in pooled] == sorted(c.rate for c in stored.anchor_curve)
    assert any(r[1] == "Class C" for r in body)
    assert not any(r[1] == "Overall" for r in body)      # two task blocks: overall in Summary
    assert wb["MOTA"]["B5"].value == "TVD-x"


def test_xlsx_print_setup_and_panes(results, tmp_path):
    wb = _xlsx(results, tmp_path)
    for ws in wb:
        setup = ws.page_setup
        assert setup.orientation == "landscape" and int(setup.paperSize) == 9, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0)
        assert ws.freeze_panes and ws.print_title_rows
        assert ws["A1"].font.b and ws["A1"].font.sz == 13
    assert wb["mAP@0.5"].freeze_panes == "D5" and wb["Summary"].freeze_panes == "B5"
    assert wb["mAP@0.5"].print_title_rows == "$3:$4"
    # widths follow the contents: no column is left at the default, notes are wide and wrap
    ws = wb["Summary"]
    assert ws.column_dimensions["L"].width >= 60 and ws["L5"].alignment.wrap_text
    assert all(ws.column_dimensions[c].width for c in "ABCDEFGHIJK")


def test_xlsx_signature_sheet(results, tmp_path):
    ws = _xlsx(results, tmp_path)["Signature"]
    kv = {r[0].value: r[1].value for r in ws.iter_rows(min_row=5) if r[0].value}
    assert kv["signature"] == results.signature["line"]
    assert kv["signature.bd_method"] == "pchip" and kv["timing.ratio_averaging"]
    assert "Finding level" in kv


def test_sheet_titles_are_valid_and_unique():
    from vcmctc.reports.xlsx import sheet_title

    taken = {"Summary"}
    assert sheet_title("mAP@0.5 (OID segm)", taken) == "mAP@0.5 (OID segm)"
    assert sheet_title("a/b:c*d?[e]", taken) == "a-b-c-d--e-"
    assert sheet_title("summary", taken) == "summary (2)"
    assert len(sheet_title("x" * 40, taken)) == 31 and len(sheet_title("x" * 40, taken)) == 31


def test_report_errors_are_one_line(cli, tmp_path):
    r = cli("report", tmp_path / "nope.json")
    assert r.code == 2 and "no such results file" in r.err and r.err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other"}')
    r = cli("report", bad)
    assert r.code == 2 and "not a vcmctc results.json" in r.err
    bad.write_text('{"schema": "vcmctc-results/1",\n oops}')
    r = cli("report", bad)
    assert r.code == 2 and f"{bad}:2: invalid JSON" in r.err
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
    assert {"report.md.j2", "report.html.j2", "report.tex.j2"} <= names


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
    tables = render(data, "csv")
    expected = {"md": render(data, "md"), "tex": render(data, "latex"),
                **{f"{t}.csv": text for t, text in tables.items()}}
    for ext, text in expected.items():
        bundled = EXAMPLES / "reports" / f"{name}.{ext}"
        if ext == "meta.csv":   # the run record (wall time, date, machine) differs per run
            text, stored = (re.sub(r"(?m)^run\..*\n", "", t)
                            for t in (text, bundled.read_text(encoding="utf-8")))
            assert text == stored, f"{bundled} is out of date"
            continue
        assert text == bundled.read_text(encoding="utf-8"), (
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
