"""Anchors as data and the rate formulas."""

from __future__ import annotations

import csv

import pytest

from vcmctc.ctc.anchors import anchor_table, check_anchor, load_anchor, read_points_csv
from vcmctc.errors import UserError
from vcmctc.rate import Bits, bits_of_files, bpp, kbps, pooled_kbps

from conftest import REPO


def test_fcm_anchor_equals_paper_table():
    df = anchor_table(load_anchor("fcm-jbe2024-fctm"))
    assert len(df) == 55
    row = df[(df.sequence == "BQTerrace") & (df.qp == 25)].iloc[0]
    assert (row.rate, row.metric, row.time_s, row["class"]) == (621.68, 56.58, 806.35, "B")
    # Every anchor row appears in the bundled source table with the same text.
    printed = {(r["sequence"], r["qp"]): r for r in csv.DictReader(
        open(REPO / "anchors/fcm-jbe2024-fctm/points.csv"))}
    for rec in df.itertuples():
        assert float(printed[(rec.sequence, str(rec.qp))]["rate"]) == rec.rate


def test_anchors_check_clean():
    for name in ("fcm-jbe2024-fctm", "vcm-jbe2024-vcmrs"):
        assert check_anchor(load_anchor(name)) == []


def test_anchor_unknown_sequence_names_line(tmp_path):
    (tmp_path / "points.csv").write_text("sequence,qp,rate,metric\nTraffic,17,1.0,2.0\nTrafic,21,1,2\n")
    (tmp_path / "anchor.yaml").write_text(
        "id: t\nedition: fcm-jbe2024\ncodec: X\nsource: test\npoints: points.csv\n")
    anchor = load_anchor(tmp_path / "anchor.yaml")
    with pytest.raises(UserError, match=r"points.csv:3: unknown sequence 'Trafic'.*did you mean Traffic"):
        anchor_table(anchor)
    (tmp_path / "points.csv").write_text("sequence,qp,rate,metric\nTraffic,18,1.0,2.0\n")
    assert check_anchor(anchor) == [
        "warning: points.csv:2: QP 18 of Traffic is not one of the edition's [17, 21, 24, 29]"]


@pytest.mark.parametrize("content, message", [
    ("sequence,qp,rate\nA,1,2\n", "missing column(s) metric"),
    ("sequence,qp,rate,metric\nA,1,2,x\n", ":2: column 'metric': 'x' is not a number"),
    ("sequence,qp,rate,metric\nA,1,2,3\nB,2,,3\n", ":3: column 'rate': '' is not a number"),
    ("", "empty file"),
])
def test_points_csv_errors(tmp_path, content, message):
    path = tmp_path / "p.csv"
    path.write_text(content)
    with pytest.raises(UserError) as err:
        read_points_csv(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_kbps_bpp_by_hand(tmp_path):
    # 33 frames at 30 fps = 1.1 s; 137,500 bytes = 1,100,000 bits -> 1000 kbps.
    assert kbps(1_100_000, 30, 33) == pytest.approx(1000.0, rel=1e-15)
    assert bpp(3_000, 1000 * 1000) == 0.003
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "side.bin").write_bytes(b"y" * 25)
    bits = bits_of_files({"bitstream": [tmp_path / "a.bin"], "side-info": [tmp_path / "side.bin"]})
    assert bits.components == {"bitstream": 800, "side-info": 200} and bits.total == 1000
    assert (bits + Bits({"side-info": 8})).components == {"bitstream": 800, "side-info": 208}
    with pytest.raises(UserError, match="missing.bin: side-info file not found"):
        bits_of_files({"side-info": [tmp_path / "missing.bin"]})


def test_pooled_kbps_is_duration_weighted():
    # 1 s at 100 kbps and 3 s at 200 kbps -> 700 kbit over 4 s = 175 kbps (mean would be 150).
    parts = [(100_000, 30, 30), (600_000, 50, 150)]
    assert pooled_kbps(parts) == pytest.approx(175.0, rel=1e-15)
