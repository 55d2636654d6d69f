"""A submission is untrusted input from a party whose numbers vcmctc judges: bad values, spoofed
provenance and faults give a clear one-line error (exit 2), a validation finding (exit 1) or a
point status - never a traceback, a silent number or work lost. Ends with a bounded fuzz test
of mutated manifests."""

from __future__ import annotations

import json
import os
import random
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import REPO

EDITION = textwrap.dedent("""\
    id: hostile-ed
    title: two clips, four reported points
    track: demo
    sources: {gen: "tests/test_hostile.py"}
    default_source: gen
    scenarios: [RA]
    rate_points: 4
    rate_unit: kbps
    bd: {method: pchip, policy: refuse, min_points: 4}
    aggregation: {class_rows: mean, overall: mean-of-classes}
    classes: {A: {}}
    datasets:
      D: {task: object-detection, metric: coco-bbox-ap, first_frame: 0, gt: "x/{id}"}
    sequences:
      S1: {dataset: D, class: A, width: 64, height: 64, fps: 30, frames: 10, qps: {RA: [22, 27, 32, 37]}}
      S2: {dataset: D, class: A, width: 64, height: 64, fps: 30, frames: 10, qps: {RA: [22, 27, 32, 37]}}
    """)


def base_manifest(edition: Path, *, anchor_csv: str | None = None) -> dict:
    points = {s: [{"qp": qp, "reported": {"rate": 1000.0 / (i + 1) + j, "metric": 60.0 - 5 * i + j,
                                          "enc_time_s": 10.0, "dec_time_s": 1.0}}
                  for i, qp in enumerate((22, 27, 32, 37))] for j, s in enumerate(("S1", "S2"))}
    m = {"codec": "fuzzed", "edition": str(edition), "sequences": points}
    if anchor_csv:
        m["anchor"] = anchor_csv
    return m


@pytest.fixture
def world(tmp_path):
    edition = tmp_path / "hostile-ed.yaml"
    edition.write_text(EDITION)
    sub = tmp_path / "sub"
    sub.mkdir()
    return tmp_path, edition, sub


def write(sub: Path, manifest: dict | str) -> Path:
    text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest, sort_keys=False)
    (sub / "submission.yaml").write_text(text)
    return sub


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# values checked where they are read

@pytest.mark.parametrize("path, value, message", [
    (("sequences", "S1", 0, "reported", "rate"), float("nan"), "is not a finite number"),
    (("sequences", "S1", 0, "reported", "metric"), float("inf"), "is not a finite number"),
    (("sequences", "S1", 0, "reported", "rate"), -5.0, "must be positive"),
    (("sequences", "S1", 0, "reported", "rate"), 10 ** 400, "is not a finite number"),
    (("sequences", "S1", 0, "reported", "enc_time_s"), -1.0, "must be >= 0"),
    (("sequences", "S1", 0, "qp"), 10 ** 30, "expected an integer QP"),
    (("decoder",), {"argv": ["dec"], "timeout_s": float("nan")}, "timeout_s"),
    (("decoder",), {"argv": ["dec"], "timeout_s": 1e10}, "must be <= 604800"),
    (("decoder",), {"argv": ["dec"], "timeout_s": -1}, "must be positive"),
    (("anchor",), ["not", "a", "string"], "field 'anchor': expected a non-empty string"),
    (("codec",), 5, "field 'codec': expected a non-empty string"),
])
def test_bad_numbers_and_types_are_one_line_errors(cli, world, path, value, message):
    _, edition, sub = world
    m = base_manifest(edition)
    target = m
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[path[-1]] = value
    write(sub, m)
    for command in ("validate", "evaluate"):
        r = cli(command, sub, *(("--out", sub.parent / "o") if command == "evaluate" else ()))
        assert r.code == 2 and message in r.err and one_line(r.err), (command, r.err)


@pytest.mark.parametrize("change, message", [
    (lambda m: m["sequences"]["S1"][0]["reported"].__setitem__("metric", 578.0),
     "mAP 578 is outside 0..100"),
    (lambda m: m["sequences"]["S1"][0]["reported"].__setitem__("metric", -1.0),
     "mAP -1 is outside 0..100"),
    (lambda m: m.__setitem__("decoder", {"argv": ["dec", "{width:zz}"]}),
     "Unknown format code 'z'"),
])
def test_out_of_range_values_fail_validation(cli, world, change, message):
    _, edition, sub = world
    m = base_manifest(edition)
    change(m)
    write(sub, m)
    r = cli("validate", sub)
    assert r.code == 1 and message in r.out, r.out


# ---------------------------------------------------------------------------------------------
# provenance that cannot be spoofed

def test_an_edition_file_cannot_take_a_bundled_id(cli, world):
    _, _, sub = world
    spoof = sub / "ctc-demo.yaml"
    spoof.write_text((REPO / "cfg" / "ctc-demo.yaml").read_text().replace("fps: 30", "fps: 15"))
    m = {"codec": "x", "edition": "ctc-demo.yaml",
         "sequences": {"SynthStreet": [{"qp": 32, "reported": {"rate": 1.0, "metric": 2.0}}]}}
    write(sub, m)
    os.chdir(sub)
    try:
        r = cli("validate", ".")
    finally:
        os.chdir(REPO)
    assert r.code == 2 and "uses the id 'ctc-demo' of a bundled edition" in r.err


def test_a_shipped_anchor_results_file_is_named_as_a_file(cli, world):
    tmp, edition, sub = world
    anchor_sub = tmp / "anchor-sub"
    anchor_sub.mkdir()
    write(anchor_sub, base_manifest(edition))
    assert cli("evaluate", anchor_sub, "--out", tmp / "a", "-q", "--no-anchor").code == 0
    forged = json.loads((tmp / "a" / "results.json").read_text())
    for p in forged["points"]:
        p["rate"] *= 2                       # doubled rates make the submission look better
    forged["submission"]["codec"] = "VVC anchor (official)"
    (sub / "anchor.json").write_text(json.dumps(forged))
    write(sub, {**base_manifest(edition), "anchor": "anchor.json"})
    r = cli("evaluate", sub, "--out", tmp / "o", "-q")
    res = json.loads((tmp / "o" / "results.json").read_text())
    assert res["anchor"]["id"].startswith("results file anchor.json (shipped in the submission)")
    assert "as its results file says" in res["anchor"]["codec"]
    assert "results file anchor.json" in res["signature"]["line"]
    # and check verifies it against the real numbers
    r = cli("check", sub / "anchor.json", "--against", tmp / "a" / "results.json")
    assert r.code == 1 and "8 outside tolerance" in r.out


# ---------------------------------------------------------------------------------------------
# faults

def test_a_second_run_on_the_same_output_folder_is_refused(cli, world):
    from vcmctc.submission.pipeline import output_lock

    tmp, edition, sub = world
    write(sub, base_manifest(edition))
    out = tmp / "o"
    out.mkdir()
    with output_lock(out):
        r = cli("evaluate", sub, "--out", out, "-q", "--no-anchor")
        assert r.code == 2 and "is in use by vcmctc pid" in r.err and one_line(r.err)
    assert cli("evaluate", sub, "--out", out, "-q", "--no-anchor").code == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_is_one_line(cli, world):
    tmp, edition, sub = world
    write(sub, base_manifest(edition))
    out = tmp / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        r = cli("evaluate", sub, "--out", out, "-q", "--no-anchor")
    finally:
        out.chmod(0o700)
    assert r.code == 2 and one_line(r.err) and "Permission denied" in r.err


def test_output_path_that_is_a_file(cli, world):
    tmp, edition, sub = world
    write(sub, base_manifest(edition))
    (tmp / "file").write_text("x")
    r = cli("evaluate", sub, "--out", tmp / "file", "-q", "--no-anchor")
    assert r.code == 2 and "exists and is not a folder" in r.err and one_line(r.err)


def test_moved_copied_and_damaged_caches_recompute_what_they_cannot_trust(cli, tmp_path):
    """Outputs level: the measure step is cached; a moved cache is reused, a damaged record is
    recomputed, a record signed with another user's key is recomputed."""
    from test_evaluate_families import coco_case

    import numpy as np

    data, sub = tmp_path / "data", tmp_path / "sub"
    (data / "x").mkdir(parents=True)
    sub.mkdir()
    edition = tmp_path / "hostile-ed.yaml"
    edition.write_text(EDITION)
    points = {}
    for s in ("S1", "S2"):
        gt, dets = coco_case(np.random.default_rng(len(s) + ord(s[-1])))
        for img in gt["images"]:
            img.update(width=64, height=64)
        gt["images"] = [i for i in gt["images"] if i["id"] < 10]
        (data / "x" / f"{s}.json").write_text(json.dumps(gt))
        (sub / f"{s}.json").write_text(json.dumps([d for d in dets if d["image_id"] < 10]))
        points[s] = [{"qp": qp, "task_output": f"{s}.json", "reported": {"rate": 100.0 / (i + 1)}}
                     for i, qp in enumerate((22, 27, 32, 37))]
    (sub / "submission.yaml").write_text(yaml.safe_dump(
        {"codec": "x", "edition": str(edition), "sequences": points}))
    edition.write_text(EDITION.replace('gt: "x/{id}"', 'gt: "x/{id}.json"'))
    run = ["--data-root", data, "-q", "--no-anchor", "--allow-incomplete"]
    assert cli("evaluate", sub, "--out", tmp_path / "o1", *run).code == 0
    first = json.loads((tmp_path / "o1" / "results.json").read_text())
    shutil.move(tmp_path / "o1", tmp_path / "moved")            # a moved cache is still valid
    assert cli("evaluate", sub, "--out", tmp_path / "moved", *run).code == 0
    moved = json.loads((tmp_path / "moved" / "results.json").read_text())
    assert moved["run"]["cached_steps"] == moved["run"]["steps"] == 8
    assert [p["metric"] for p in moved["points"]] == [p["metric"] for p in first["points"]]
    for done in (tmp_path / "moved" / "cache").rglob("done.json"):   # damaged records
        done.write_text(done.read_text()[:40])
    for state in (tmp_path / "moved" / "cache").rglob("state.npz"):   # and damaged files
        state.write_bytes(b"junk")
    assert cli("evaluate", sub, "--out", tmp_path / "moved", *run).code == 0
    again = json.loads((tmp_path / "moved" / "results.json").read_text())
    # nothing of the damaged cache is trusted: every step is this run's (the four points of a
    # clip share one task output: two measurements are made, six points read them)
    assert again["run"]["cached_steps"] == 0
    assert [p["metric"] for p in again["points"]] == [p["metric"] for p in first["points"]]
    os.environ["VCMCTC_CACHE_KEY"] = "another user's key"   # copied from another user
    try:
        assert cli("evaluate", sub, "--out", tmp_path / "moved", *run).code == 0
    finally:
        del os.environ["VCMCTC_CACHE_KEY"]
    other = json.loads((tmp_path / "moved" / "results.json").read_text())
    assert other["run"]["cached_steps"] == 0          # records signed with another key


# ---------------------------------------------------------------------------------------------
# a bounded fuzz test: mutated manifests never give a traceback

WEIRD = [None, True, 0, -1, 2 ** 70, 1e308, -1e-300, float("nan"), float("inf"), "", "x",
         "../../etc/passwd", "/etc/passwd", "{output}", "{nope}", "\x00\n\x1b[31m", [], {},
         [1, [2, [3]]], {"a": {"b": {}}}, "ä" * 300]


def _mutate(rng: random.Random, node):
    """One random change somewhere in a YAML-like tree; returns the new tree."""
    if isinstance(node, dict) and node and rng.random() < 0.8:
        key = rng.choice(list(node))
        choice = rng.random()
        if choice < 0.15:
            del node[key]
        elif choice < 0.25:
            node[rng.choice(["extra", "reported", "qp", "decoder", "task", key + "x"])] = _weird(rng)
        else:
            node[key] = _mutate(rng, node[key])
        return node
    if isinstance(node, list) and node and rng.random() < 0.8:
        i = rng.randrange(len(node))
        if rng.random() < 0.15:
            node.pop(i)
        else:
            node[i] = _mutate(rng, node[i])
        return node
    return _weird(rng)


def _weird(rng: random.Random):
    import copy

    return copy.deepcopy(rng.choice(WEIRD))


def test_fuzzed_manifests_never_give_a_traceback(cli, tmp_path):
    """1000 manifests mutated from a seed: validate and evaluate (reported level) exit 0, 1 or 2
    with a one-line error, never an exception."""
    import copy

    edition = tmp_path / "hostile-ed.yaml"
    edition.write_text(EDITION)
    sub = tmp_path / "sub"
    sub.mkdir()
    anchor = tmp_path / "a.csv"
    anchor.write_text("sequence,qp,rate,metric\n" + "".join(
        f"{s},{qp},{1100.0 / (i + 1)},{59.0 - 5 * i}\n" for s in ("S1", "S2")
        for i, qp in enumerate((22, 27, 32, 37))))
    base = base_manifest(edition)
    rng = random.Random(20261205)
    codes = {0: 0, 1: 0, 2: 0}
    for n in range(1000):
        m = copy.deepcopy(base)
        for _ in range(rng.randint(1, 4)):
            m = _mutate(rng, m)
        try:
            text = yaml.safe_dump(m, sort_keys=False, allow_unicode=True)
        except yaml.YAMLError:
            continue
        if rng.random() < 0.1:   # text-level damage too
            cut = rng.randrange(len(text) + 1)
            text = text[:cut] + rng.choice(["\n  - ", ": [", "&a x", "*b", "\t", "}}"]) + text[cut:]
        write(sub, text)
        command = "validate" if n % 2 else "evaluate"
        extra = ("--out", tmp_path / "out", "-q", "--allow-incomplete") if command == "evaluate" else ()
        r = cli(command, sub, *extra)
        assert r.code in codes, (n, r.code, text)
        assert "Traceback" not in r.err and (r.code != 2 or one_line(r.err)), (n, r.err, text)
        codes[r.code] += 1
    assert all(v > 0 for v in codes.values()), codes


# ---------------------------------------------------------------------------------------------
# reports: what a submission names is shown, never run or parsed

def test_hostile_names_in_reports(cli, world):
    """A codec named like a spreadsheet formula stays text in xlsx and CSV; a backtick in a
    name cannot break the Markdown code span of the signature; a newline cannot end the LaTeX
    comment; HTML escapes everything."""
    import openpyxl

    tmp, edition, sub = world
    anchor = sub / "we`ird.json"
    anchor_sub = tmp / "a-sub"
    anchor_sub.mkdir()
    write(anchor_sub, base_manifest(edition))
    assert cli("evaluate", anchor_sub, "--out", tmp / "a", "-q", "--no-anchor").code == 0
    anchor.write_bytes((tmp / "a" / "results.json").read_bytes())
    m = {**base_manifest(edition), "codec": '=HYPERLINK("http://evil","x")', "anchor": anchor.name,
         "description": "line one\n\\end{document} <script>alert(1)</script>"}
    write(sub, m)
    assert cli("evaluate", sub, "--out", tmp / "o", "-q").code == 0
    res = tmp / "o" / "results.json"
    assert cli("report", res, "-o", tmp / "r.xlsx").code == 0
    wb = openpyxl.load_workbook(tmp / "r.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" for c in cells)
    assert cli("report", res, "-o", tmp / "r.csv").code == 0
    text = "".join(p.read_text() for p in tmp.glob("r.*.csv"))
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text and '"=HYPERLINK' not in text
    md = cli("report", res, "-f", "md").out
    sig = next(line for line in md.splitlines() if line.startswith("Signature: "))
    assert sig.startswith("Signature: ``") and sig.endswith("``") and "we`ird" in sig
    tex = cli("report", res, "-f", "latex").out
    assert "\n\\end{document} <script>" not in tex
    html = cli("report", res, "-f", "html").out
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_validate_with_data_root_finds_missing_ground_truth(cli, tmp_path):
    """Outputs-level points need ground truth: validate --data-root says what is missing
    before anything runs."""
    edition = tmp_path / "hostile-ed.yaml"
    edition.write_text(EDITION.replace('gt: "x/{id}"', 'gt: "x/{id}.json"'))
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "o.json").write_text("[]")
    m = base_manifest(edition)
    for p in m["sequences"]["S1"]:
        p["task_output"] = "o.json"
    write(sub, m)
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    r = cli("validate", sub, "--data-root", data)
    assert r.code == 1 and "ground truth of sequence S1 not found" in r.out
    assert "S2" not in r.out.split("ground truth")[0].splitlines()[-1]   # S2 is reported only
    (data / "x" / "S1.json").write_text("{}")
    assert cli("validate", sub, "--data-root", data).code == 0
