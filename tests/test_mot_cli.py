"""``vcmctc score mot``: outputs and one-line errors with exit code 2."""

from __future__ import annotations

import math
from pathlib import Path

import pytest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def seq(tmp_path):
    """TVD-style folder, frames from 1: GT 1 on frames 1-3, tracker 7 misses frame 2 and a
    false positive in frame 3 -> TP 2, FN 1, FP 1, MOTA = 1 - 2/3."""
    root = tmp_path / "TVD-X"
    write(root / "seqinfo.ini", "[Sequence]\nname=TVD-X\nframeRate=50\nseqLength=3\n")
    write(root / "gt" / "gt.txt", "".join(f"{f},1,10,10,20,40,1,1,1\n" for f in (1, 2, 3)))
    pred = write(tmp_path / "pred.txt", "1,7,10,10,20,40,1,-1,-1,-1\n3,7,10,10,20,40,1,-1,-1,-1\n"
                                        "3,8,200,200,20,40,1,-1,-1,-1\n")
    return root, pred


def test_json(cli, seq):
    root, pred = seq
    r = cli("score", "mot", "--gt", root, "--pred", pred, "--protocol", "tvd", "--format", "json")
    assert r.code == 0, r.err
    s = r.json()
    assert (s["GT"], s["TP"], s["FN"], s["FP"], s["IDSW"], s["Frames"]) == (3, 2, 1, 1, 0, 3)
    assert s["MOTA"] == pytest.approx(100 / 3)
    assert s["MOTP"] == 0.0 and isinstance(s["IDSW"], int)
    assert s["IDF1"] == pytest.approx(100 * 2 * 2 / (3 + 3))


def test_text_and_csv(cli, seq):
    root, pred = seq
    r = cli("score", "mot", "--gt", root / "gt" / "gt.txt", "--pred", pred)
    assert r.code == 0, r.err
    assert "protocol:plain|iou:0.5|solver:scipy|offset:0,0" in r.out
    assert any(line.split() == ["MOTA", "33.333"] for line in r.out.splitlines())
    r = cli("score", "mot", "--gt", root, "--pred", pred, "--format", "csv", "--no-hota")
    header, row = r.out.strip().splitlines()
    values = dict(zip(header.split(","), row.split(",")))
    assert values["FN"] == "1" and values["HOTA"] == ""  # NaN (HOTA not computed) is empty


def test_offset_and_first_frame(cli, tmp_path):
    gt = write(tmp_path / "gt.txt", "0,1,10,10,10,10,1,1,1\n")
    pred = write(tmp_path / "pred.txt", "0,5,9,9,10,10,1,-1,-1,-1\n")
    r = cli("score", "mot", "--gt", gt, "--pred", pred, "--protocol", "hieve", "--offset", "1,1",
            "--format", "json")
    assert r.code == 0, r.err
    assert r.json()["MOTP"] == 0.0
    r = cli("score", "mot", "--gt", gt, "--pred", pred, "--format", "json")
    assert r.json()["MOTP"] == pytest.approx(1 - 81 / 119)
    # TVD numbers frames from 1: frame 0 is refused
    r = cli("score", "mot", "--gt", gt, "--pred", pred, "--protocol", "tvd")
    assert r.code == 2
    assert r.err.strip() == (f"vcmctc: error: {gt}:1: frame 0 outside the sequence's frames >= 1")


def _one_line_error(r, *parts):
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vcmctc: error: "), r.err
    for part in parts:
        assert part in lines[0]
    assert "Traceback" not in r.err


def test_errors_exit_2_with_one_line(cli, seq, tmp_path):
    root, pred = seq
    bad = write(tmp_path / "bad.txt", "1,7,10,10,20,40,1,-1,-1,-1\n2,7,10,ten,20,40,1,-1,-1,-1\n")
    _one_line_error(cli("score", "mot", "--gt", root, "--pred", bad), f"{bad}:2:",
                    "field 4 is not a number")
    short = write(tmp_path / "short.txt", "1,7,10,10,20\n")
    _one_line_error(cli("score", "mot", "--gt", root, "--pred", short), f"{short}:1:",
                    "expected 6 to 10 fields")
    late = write(tmp_path / "late.txt", "1,7,10,10,20,40\n4,7,10,10,20,40\n")
    _one_line_error(cli("score", "mot", "--gt", root, "--pred", late, "--protocol", "tvd"),
                    f"{late}:2:", "frame 4 outside the sequence's frames [1, 3]")
    _one_line_error(cli("score", "mot", "--gt", root, "--pred", pred, "--offset", "1;1"),
                    "--offset must be DX,DY")
    _one_line_error(cli("score", "mot", "--gt", tmp_path / "none", "--pred", pred),
                    "cannot read MOT file")
    mot15 = write(tmp_path / "mot15.txt", "1,1,10,10,20,40,1,-1,-1,-1\n")
    _one_line_error(cli("score", "mot", "--gt", mot15, "--pred", pred, "--protocol", "tvd"),
                    f"{mot15}:1:", "protocol tvd needs MOT16 class ids")
    _one_line_error(cli("score", "mot", "--gt", root, "--pred", pred, "--protocol", "mot17"),
                    "unknown MOT protocol 'mot17'")
    _one_line_error(cli("score", "mot", "--gt", root, "--pred", pred, "--solver", "lapjv"),
                    "unknown LAP solver 'lapjv'; did you mean lap?")


@pytest.mark.parametrize("solver", ["lap", "munkres"])
def test_solver_option(cli, seq, solver):
    pytest.importorskip(solver)
    root, pred = seq
    r = cli("score", "mot", "--gt", root, "--pred", pred, "--solver", solver, "--format", "json")
    assert r.code == 0, r.err
    assert r.json()["MOTA"] == pytest.approx(100 / 3)


def test_seqinfo_option_bounds_frames(cli, seq, tmp_path):
    root, pred = seq
    ini = write(tmp_path / "short.ini", "[Sequence]\nseqLength=2\n")
    _one_line_error(cli("score", "mot", "--gt", root / "gt" / "gt.txt", "--pred", pred,
                        "--seqinfo", ini, "--first-frame", "1"),
                    "frame 3 outside the sequence's frames [1, 2]")


def test_hota_null_in_json_for_repeated_ids(cli, tmp_path):
    gt = write(tmp_path / "gt.txt", "1,1,0,0,10,10,1,1,1\n1,1,50,0,10,10,1,1,1\n")
    pred = write(tmp_path / "pred.txt", "1,5,0,0,10,10,1,-1,-1,-1\n")
    r = cli("score", "mot", "--gt", gt, "--pred", pred, "--format", "json")
    assert r.code == 0
    assert r.json()["HOTA"] is None and not math.isnan(r.json()["MOTA"])
