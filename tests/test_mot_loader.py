"""MOTChallenge loader: parsing, defaults, frame ranges, and every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from vcmctc.datasets.mot import (
    MotTable,
    check_frames,
    load_mot_sequence,
    parse_mot_text,
    read_mot_txt,
    read_seqinfo,
)
from vcmctc.errors import UserError


def test_comma_and_space_separated_rows_with_defaults():
    text = ("2,7,10.5,20,30,40,1,1,0.75\n"
            "\n"  # blank lines are skipped but counted
            "1 3 1 2 3 4\n"
            "1, 4, 5, 6, 7, 8, 0.5, -1, -1, -1\n")
    t = parse_mot_text(text, "x.txt")
    # sorted by frame, file order kept within a frame
    assert t.frame.tolist() == [1, 1, 2]
    assert t.id.tolist() == [3, 4, 7]
    assert t.line.tolist() == [3, 4, 1]
    assert t.boxes.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [10.5, 20, 30, 40]]
    # a 6-column row gets conf 1, class -1, visibility -1
    assert t.conf.tolist() == [1.0, 0.5, 1.0]
    assert t.cls.tolist() == [-1.0, -1.0, 1.0]
    assert t.visibility.tolist() == [-1.0, -1.0, 0.75]
    assert t.frame.dtype == np.int64 and t.id.dtype == np.int64
    assert t.source == "x.txt"


def test_plain_comma_file_with_blank_lines_and_no_final_newline():
    t = parse_mot_text("\n3,1,0,0,5,5,1,1,1\n\n\n2,9,1,1,5,5,1,1,0.5")
    assert t.frame.tolist() == [2, 3] and t.line.tolist() == [5, 2]
    assert t.visibility.tolist() == [0.5, 1.0]


def test_fast_and_slow_paths_agree():
    """Uniform files take one numpy conversion; ragged ones are parsed line by line."""
    rng = np.random.default_rng(0)
    rows = [[int(rng.integers(1, 9)), int(rng.integers(1, 99)), *rng.uniform(-5, 500, 4).tolist(),
             1, -1, -1, -1] for _ in range(200)]
    uniform = "".join(",".join(repr(v) for v in r) + "\n" for r in rows)
    ragged = uniform + "9,1,1,2,3,4\n"  # one 6-column line forces the slow path
    a, b = parse_mot_text(uniform), parse_mot_text(ragged)
    for f in ("frame", "id", "x", "y", "w", "h", "conf", "cls", "visibility", "line"):
        assert np.array_equal(getattr(a, f), getattr(b, f)[:-1]), f
    # values are parsed exactly like Python's float() (as motmetrics' python-engine loader)
    assert a.x.tolist() == [float(repr(r[2])) for r in sorted(rows, key=lambda r: r[0])]


def test_from_rows_and_subset():
    t = MotTable.from_rows([(2, 1, 0, 0, 5, 5), (1, 2, 1, 1, 2, 2, 0.3, 2, 0.5)])
    assert t.frame.tolist() == [1, 2] and t.conf.tolist() == [0.3, 1.0]
    s = t.subset(t.conf > 0.5)
    assert len(s) == 1 and s.id.tolist() == [1]
    assert len(MotTable.from_rows([])) == 0
    with pytest.raises(ValueError, match="6 to 10 values"):
        MotTable.from_rows([(1, 1, 0, 0, 5)])


@pytest.mark.parametrize("text, message, line", [
    ("1,1,0,0,5,5\n1,2,0,0,5\n", "expected 6 to 10 fields", 2),
    ("1,1,0,0,5,5,1,1,1,1,1\n", "got 11", 1),
    ("1,1,0,0,5,5\n\n1,2,0,x,5,5\n", "field 4 is not a number: 'x'", 3),
    ("1,1,0,,5,5,1\n", "field 4 is not a number: ''", 1),
    ("1,1,0,0,5,5,\n", "not a number: ''", 1),
    ("1,1,0,0,5,5\n,1,1,0,0,5,5\n", "field 1 is not a number: ''", 2),
    ("1,1,0,0,5,5\n1,1,0, ,5,5\n", "field 4 is not a number: ''", 2),
    ("1.5,1,0,0,5,5\n", "frame must be an integer, got 1.5", 1),
    ("1,2,0,0,5,5\n3,2.25,0,0,5,5\n", "id must be an integer, got 2.25", 2),
    ("1,1,0,0,nan,5\n", "x, y, w, h must be finite", 1),
    ("1,1,0,0,inf,5\n", "x, y, w, h must be finite", 1),
])
def test_bad_lines_name_file_and_line(text, message, line):
    with pytest.raises(UserError) as err:
        parse_mot_text(text, "pred.txt")
    assert message in str(err.value)
    assert str(err.value).startswith(f"pred.txt:{line}: ")
    assert "\n" not in str(err.value)


def test_frame_range(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("1,1,0,0,5,5\n3,1,0,0,5,5\n4,1,0,0,5,5\n")
    assert len(read_mot_txt(p, first_frame=1, seq_length=4)) == 3
    with pytest.raises(UserError, match=r"gt.txt:3: frame 4 outside the sequence's frames \[0, 3\]"):
        read_mot_txt(p, first_frame=0, seq_length=4)
    with pytest.raises(UserError, match=r"gt.txt:1: frame 1 outside .* >= 2"):
        read_mot_txt(p, first_frame=2)
    t = read_mot_txt(p)
    check_frames(t, 1, 4)
    with pytest.raises(UserError, match="frame 3 outside"):
        check_frames(t, 1, 2)


def test_unreadable_file(tmp_path):
    with pytest.raises(UserError, match="cannot read MOT file"):
        read_mot_txt(tmp_path / "missing.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="bin.txt: cannot read MOT file"):
        read_mot_txt(tmp_path / "bin.txt")


def test_empty_file_is_an_empty_table(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("\n\n")
    assert len(read_mot_txt(p)) == 0


def test_seqinfo_and_sequence_folder(tmp_path):
    seq = tmp_path / "TVD-02"
    (seq / "gt").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=TVD-02\nimDir=img1\nframeRate=50\n"
                                     "seqLength=3\nimWidth=1920\nimHeight=1080\nimExt=.png\n")
    (seq / "gt" / "gt.txt").write_text("1,1,0,0,5,5,1,1,1\n3,1,1,1,5,5,1,1,1\n")
    gt, info = load_mot_sequence(seq, first_frame=1)
    assert (info.name, info.frame_rate, info.seq_length, info.im_width, info.im_height) == (
        "TVD-02", 50.0, 3, 1920, 1080)
    assert gt.frame.tolist() == [1, 3]
    with pytest.raises(UserError, match=r"gt.txt:2: frame 3 outside .*\[0, 2\]"):
        load_mot_sequence(seq, first_frame=0)


@pytest.mark.parametrize("body, message", [
    ("[Sequence]\nname=x\n", "missing key seqLength"),
    ("[Sequence]\nseqLength=abc\n", "seqLength is not a valid int: 'abc'"),
    ("[Sequence]\nseqLength=0\n", "seqLength must be positive"),
    ("[Other]\nseqLength=3\n", "missing [Sequence] section"),
    ("seqLength=3\n", "cannot read seqinfo"),
    ("[Sequence]\nseqLength=3\nframeRate=fast\n", "frameRate is not a valid float"),
])
def test_bad_seqinfo(tmp_path, body, message):
    p = tmp_path / "seqinfo.ini"
    p.write_text(body)
    with pytest.raises(UserError) as err:
        read_seqinfo(p)
    assert message in str(err.value) and str(err.value).startswith(str(p))


@pytest.mark.parametrize("row, message", [
    ("1,100000000000000000000000000000,0,0,5,5,1", r"id 1e\+29 does not fit a 64-bit integer"),
    ("1,-9223372036854775808,0,0,5,5,1", "id .* does not fit a 64-bit integer"),
    ("1e19,1,0,0,5,5,1", "frame .* does not fit a 64-bit integer"),
    ("1,2.5,0,0,5,5,1", "id must be an integer"),
    ("1,1,0,0,5,5,nan", "confidence must be a finite number, got nan"),
    ("1,1,0,0,5,5,inf", "confidence must be a finite number, got inf"),
    ("1,1,0,nan,5,5,1", "x, y, w, h must be finite"),
])
@pytest.mark.parametrize("ground_truth", [True, False])
def test_bad_rows_name_file_and_line(row, message, ground_truth, tmp_path):
    """Both fast (uniform) and slow (ragged) parsing report the first bad row by line."""
    for text, line in ((f"1,1,0,0,5,5,1\n{row}\n", 2),
                       (f"1,1,0,0,5,5\n\n{row}\n", 3)):   # a 6-field line: the slow path
        p = tmp_path / "t.txt"
        p.write_text(text)
        with pytest.raises(UserError, match=f"t.txt:{line}: {message}"):
            read_mot_txt(p, ground_truth=ground_truth)


def test_negative_box_sizes_are_refused_in_ground_truth_only(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("1,1,0,0,5,5,1\n2,1,0,0,-5,5,1\n")
    with pytest.raises(UserError, match=r"t.txt:2: box width and height must be >= 0, got "
                                        r"w=-5.0, h=5.0"):
        read_mot_txt(p, ground_truth=True)
    assert read_mot_txt(p).w.tolist() == [5.0, -5.0]  # a prediction: an unmatched FP


def test_csv_path_converts_like_python_float():
    """The pandas path (plain comma-separated files) gives float()'s bits on long decimals."""
    rng = np.random.default_rng(3)
    vals = ([f"{v:.25f}" for v in rng.uniform(0, 1, 3000)]
            + [f"{v:.17e}" for v in rng.uniform(0, 1e300, 300)]
            + ["2.2250738585072011e-308", "9007199254740993", "0.30000000000000004441"])
    text = "".join(f"1,{k + 1},{v},{v},1,1,{v}\n" for k, v in enumerate(vals))
    t = parse_mot_text(text)
    assert t.x.tolist() == [float(v) for v in vals] and t.conf.tolist() == t.x.tolist()
    assert t.line.tolist() == list(range(1, len(vals) + 1))
