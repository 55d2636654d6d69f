"""Submissions: manifest parsing, validation findings, init/import, reported-level evaluation."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from vcmctc.submission.manifest import load_manifest
from vcmctc.submission.validate import validate

from conftest import REPO

PAPER_FCM = REPO / "examples/jbe2024/fcm-dcvc-fm"


def test_paper_fcm_submission_equals_bdrate_command(cli, tmp_path):
    """Issue 4 done criterion: reported-level evaluation == `vcmctc bdrate` on the same data."""
    r = cli("evaluate", PAPER_FCM, "--allow-incomplete", "--out", tmp_path / "out", "-q")
    assert r.code == 0, r.err
    results = json.loads((tmp_path / "out/results.json").read_text())
    bd = cli("bdrate", "--anchor", REPO / "anchors/fcm-jbe2024-fctm/points.csv",
             "--test", REPO / "examples/jbe2024/fcm-dcvc-fm.csv", "--method", "pchip",
             "--policy", "refuse", "--format", "json").json()
    expected = {row["sequence"]: row for row in bd["results"]}
    assert len(results["sequences"]) == 15
    for row in results["sequences"]:
        exp = expected[row["name"]]
        assert row["status"] == exp["status"], row["name"]
        if exp["bd_rate"] is None:
            assert row["bd_rate"] is None
        else:
            assert row["bd_rate"] == pytest.approx(exp["bd_rate"], rel=0, abs=1e-12)
        assert row["evidence"] == "reported"
    assert {p["evidence"] for p in results["points"]} == {"reported"}
    assert results["submission"]["complete"] is False
    assert results["signature"]["edition"] == "fcm-jbe2024"
    assert results["signature"]["bd_policy"] == "refuse"
    # Pooled class rows cannot be formed from reported numbers: said, with the mean beside it.
    cls_a = next(c for c in results["classes"] if c["name"] == "A")
    assert cls_a["status"] == "not-poolable" and cls_a["bd_rate"] is None
    assert cls_a["mean_bd_rate"] == pytest.approx(expected["Traffic"]["bd_rate"], abs=1e-12)


def test_incomplete_submission_is_refused_without_flag(cli, tmp_path):
    r = cli("evaluate", PAPER_FCM, "--out", tmp_path / "out", "-q")
    assert r.code == 1
    assert "missing sequence TVD-02" in r.out
    assert "--allow-incomplete" in r.err
    assert not (tmp_path / "out" / "results.json").exists()


# ------------------------------------------------------------------------------ a tiny edition

EDITION = textwrap.dedent("""\
    id: tiny
    title: tiny test edition
    track: vcm
    sources: {s: test}
    default_source: s
    scenarios: [RA]
    rate_points: 2
    rate_unit: kbps
    bd: {method: pchip, policy: refuse, min_points: 2}
    classes: {A: {}}
    datasets: {SFU: {metric: coco-bbox-ap, gt: "gt/{id}", task: object-detection}}
    sequences:
      SeqA: {dataset: SFU, class: A, width: 16, height: 8, fps: 10, frames: 2, intra_period: 8,
             bit_depth: 8, qps: {RA: [22, 27]}}
    """)


def make_submission(tmp_path: Path, points: str, extra: str = "") -> Path:
    ed = tmp_path / "tiny.yaml"
    ed.write_text(EDITION)
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    (sub / "submission.yaml").write_text(
        f"codec: test\nedition: {ed}\n{extra}sequences:\n  SeqA:\n" + textwrap.indent(points, "    "))
    return sub


def findings(sub: Path) -> list[str]:
    return [f"{f.level}: {f.point or '-'}: {f.message}" for f in validate(load_manifest(sub)).findings]


def test_validate_files_paths_and_rates(tmp_path):
    sub = make_submission(tmp_path, textwrap.dedent("""\
        - {qp: 22, bitstream: a.bin, decoded: a.yuv, decoded_md5: 0123456789abcdef0123456789abcdef}
        - {qp: 27, bitstream: ../escape.bin, reported: {metric: 3.0}}
        """))
    (sub / "a.bin").write_bytes(b"x" * 100)
    (sub / "a.yuv").write_bytes(b"\0" * (16 * 8 * 3 // 2 * 2 - 1))  # one byte short
    got = findings(sub)
    assert "error: qp27: path '../escape.bin' contains '..': paths must stay inside the submission" in got
    assert ("error: qp22: decoded file a.yuv has 383 bytes; 2 frames of 16x8 420 8-bit need 384" in got)
    assert "error: qp22: no evidence: give a bitstream with a decoder, task outputs, or a reported metric" in got
    (sub / "a.yuv").write_bytes(b"\0" * 384)
    assert "error: qp22: decoded file a.yuv: md5 differs from decoded_md5" in findings(sub)


def test_validate_absolute_path_symlink_missing_and_empty(tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"y" * 10)
    sub = make_submission(tmp_path, textwrap.dedent(f"""\
        - {{qp: 22, bitstream: {outside}, reported: {{metric: 1.0}}}}
        - {{qp: 27, bitstream: [link.bin, empty.bin, missing.bin], reported: {{metric: 2.0}}}}
        """))
    os.symlink(outside, sub / "link.bin")
    (sub / "empty.bin").write_bytes(b"")
    got = findings(sub)
    assert f"error: qp22: absolute path '{outside}': paths must be relative to the submission" in got
    assert "error: qp27: path 'link.bin' leaves the submission through a symbolic link" in got
    (sub / "link.bin").unlink()
    (sub / "link.bin").write_bytes(b"z")
    got = findings(sub)
    assert "error: qp27: bitstream file empty.bin is empty" in got
    assert "error: qp27: bitstream file missing.bin does not exist" in got


def test_validate_rates_labels_and_completeness(tmp_path):
    sub = make_submission(tmp_path, textwrap.dedent("""\
        - {qp: 22, reported: {rate: 10.0, metric: 1.0}}
        - {qp: 22, reported: {rate: 10.0, metric: 2.0}}
        """))
    got = findings(sub)
    assert "error: qp22: rate point listed twice" in got
    assert "error: qp22: rate 10 repeats another point's rate" in got
    sub = make_submission(tmp_path, "- {qp: 22, reported: {rate: 5.0, metric: 1.0}}\n"
                                    "- {qp: 27, reported: {rate: 9.0, metric: 2.0}}\n")
    got = findings(sub)
    assert got == ["warning: -: no anchor: no BD-rate can be computed; set 'anchor:' (vcmctc "
                   "anchors lists the bundled and your own; vcmctc anchors add stores one) or "
                   "evaluate with --no-anchor",
                   "warning: -: rate does not fall as the QP rises: QP 22: 5.00, QP 27: 9.00"]
    sub = make_submission(tmp_path, "- {qp: 22, reported: {rate: 9.0, metric: 1.0}}\n")
    v = validate(load_manifest(sub))
    assert [f.kind for f in v.errors()] == ["incomplete"] and v.errors(allow_incomplete=True) == []


@pytest.mark.parametrize("text, message", [
    ("codec: x\nedition: fcm-jbe2024\nsequences:\n  Traffic:\n    - {qp: 17, reported: {rate: 1, metric: [}\n",
     "submission.yaml:5: invalid YAML"),
    ("codec: x\nedition: fcm-jbe2024\nsequence: {}\n", "unknown field(s) 'sequence' (did you mean 'sequences'?)"),
    ("codec: x\nedition: fcm-jbe2024\nsequences:\n  Traffic:\n    - {qp: 17, reported: {rate: fast}}\n",
     "sequence Traffic, point qp17: field 'reported.rate': expected a number, got 'fast'"),
    ("codec: x\nedition: fcm-jbe2024\nsequences:\n  Traffic:\n    - {rate: 3}\n",
     "sequence Traffic, point 1: unknown field(s) 'rate'"),
    ("codec: x\nedition: fcm-jbe2024\ndecoder: {argv: 'ffmpeg -i x'}\nsequences:\n  Traffic: [{qp: 1}]\n",
     "decoder: field 'argv': expected a non-empty list of arguments (never a shell string)"),
])
def test_malformed_manifest_one_line(cli, tmp_path, text, message):
    (tmp_path / "submission.yaml").write_text(text)
    r = cli("validate", tmp_path)
    assert r.code == 2
    assert message in r.err and str(tmp_path / "submission.yaml") in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_unknown_sequence_and_edition(cli, tmp_path):
    (tmp_path / "submission.yaml").write_text(
        "codec: x\nedition: fcm-jbe2024\nsequences:\n  Trafic: [{qp: 1, reported: {rate: 1, metric: 1}}]\n")
    r = cli("validate", tmp_path)
    assert r.code == 1 and "unknown sequence 'Trafic' in edition fcm-jbe2024; did you mean Traffic?" in r.out
    (tmp_path / "submission.yaml").write_text("codec: x\nedition: fcm-2099\nsequences:\n  A: [{qp: 1}]\n")
    r = cli("validate", tmp_path)
    assert r.code == 2 and "unknown CTC edition 'fcm-2099'" in r.err


def test_init_lists_every_sequence_and_point(cli, tmp_path):
    r = cli("init", "--edition", "fcm-fctm-v1", tmp_path / "s")
    assert r.code == 0
    m = load_manifest(tmp_path / "s")
    assert m.anchor is None and m.edition == "fcm-fctm-v1"
    assert len(m.sequences()) == 24
    assert [p.qp for p in m.points if p.sequence == "Traffic"] == [24, 28, 29, 34]
    assert [p.label for p in m.points if p.sequence == "HiEve-13"] == [f"point{i}" for i in range(4)]
    assert cli("init", "--edition", "fcm-fctm-v1", tmp_path / "s").code == 2  # no overwrite


def test_import_points_csv_round_trip(cli, tmp_path):
    r = cli("import", REPO / "examples/jbe2024/vcm-dcvc-fm.csv", tmp_path / "v",
            "--edition", "vcm-jbe2024", "--codec", "DCVC-FM", "--anchor", "vcm-jbe2024-vcmrs")
    assert r.code == 0
    m = load_manifest(tmp_path / "v")
    assert len(m.points) == 32 and m.points[0].reported == {"rate": 193.42, "metric": 59.19}
    shipped = load_manifest(REPO / "examples/jbe2024/vcm-dcvc-fm")
    assert [(p.sequence, p.qp, p.reported) for p in m.points] == [
        (p.sequence, p.qp, p.reported) for p in shipped.points]
