"""The light check of tracker outputs: the one-parse fast path gives the answers of the line
by line check, for good files and for each kind of bad line."""

from __future__ import annotations

import numpy as np
import pytest

from vcmctc.datasets import mot
from vcmctc.datasets.mot import _check_lines, check_output_lines

GOOD = "".join(f"{f},{i},10,20,30,40,1,-1,-1,-1\n" for f in range(1, 6) for i in (1, 2))


@pytest.mark.parametrize("text", [
    GOOD,
    GOOD.rstrip("\n"),                               # no final newline
    GOOD.replace(",-1,-1,-1\n", "\n"),               # 7 fields
    GOOD.replace(",1,-1,-1,-1\n", "\n"),             # 6 fields
    GOOD + "\n",                                     # a blank line (line by line)
    GOOD.replace("3,1,", "3.0,1,"),                  # integral float frame
    GOOD.replace("3,1,", "3.5,1,"),                  # not integral
    GOOD.replace("5,2,", "6,2,"),                    # after the last frame
    GOOD.replace("1,1,", "0,1,", 1),                 # before the first frame
    GOOD.replace("2,2,", "x,2,"),                    # not a number
    GOOD.replace("2,2,10,20,30,40,1,-1,-1,-1", "2,2,10,20"),  # too few fields
    GOOD.replace("4,1,", "nan,1,"), GOOD.replace("4,1,", "inf,1,"),
    GOOD.replace(",", " "),                          # white space: not comma-separated
    GOOD.replace("\n", "\r\n"),
    GOOD.replace("3,1,10", "3,1,,10"),               # an empty field
    " " + GOOD,
])
def test_fast_check_equals_line_by_line(tmp_path, text, monkeypatch):
    path = tmp_path / "out.txt"
    path.write_text(text, newline="")
    slow = _check_lines(path, 1, 5)
    assert check_output_lines(path, 1, 5) == slow
    # and the fast path alone decides the good files
    if slow is None and "\n\n" not in text and " " not in text and "\r" not in text \
            and ",," not in text:
        monkeypatch.setattr(mot, "_check_lines", lambda *a: pytest.fail("slow path used"))
        assert check_output_lines(path, 1, 5) is None


def test_messages(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text(GOOD.replace("5,2,", "6,2,"))
    assert check_output_lines(path, 1, 5) == ("out.txt:10: frame 6 is outside the frames 1..5 "
                                              "of this sequence")
    path.write_text(GOOD.replace("4,1,", "nan,1,"))
    assert check_output_lines(path, 1, 5) == ("out.txt:7: frame nan is outside the frames 1..5 "
                                              "of this sequence")
    path.write_bytes(GOOD.encode() + b"\xff,1,2,3,4,5\n")
    assert check_output_lines(path, 1, 5) == "out.txt:11: frame '\ufffd' is not a number"


def _random_output(rng) -> str:
    """Mostly good lines with, now and then, a line the check must refuse or a frame spelled in
    a way the byte check leaves to the other paths."""
    frames = ["1", "5", "3", "03", "0", "6", "+3", "-1", "3.0", "2e0", " 4", "1234567890", "9" * 9,
              "", "x", ":", "1:", "é", "٣"]  # the last one: an Arabic-Indic 3, float() reads it
    lines = []
    for _ in range(int(rng.integers(1, 12))):
        frame = frames[int(rng.integers(0, 3))] if rng.random() < 0.85 else \
            frames[int(rng.integers(0, len(frames)))]
        n_fields = int(rng.integers(6, 11)) if rng.random() < 0.9 else int(rng.integers(1, 6))
        rest = ["é" if rng.random() < 0.05 else str(int(rng.integers(-5, 50)))
                for _ in range(n_fields - 1)]
        line = ",".join([frame] + rest)
        if rng.random() < 0.05:
            line = ""  # a blank line
        lines.append(line)
    return "\n".join(lines) + ("\n" if rng.random() < 0.7 else "")


@pytest.mark.parametrize("hi", [5, 200])
def test_byte_check_never_accepts_a_bad_file(tmp_path, hi):
    rng = np.random.default_rng(hi)
    path = tmp_path / "out.txt"
    accepted = 0
    for _ in range(400):
        text = _random_output(rng)
        path.write_text(text, encoding="utf-8", newline="")
        slow = _check_lines(path, 1, hi)
        if mot._frames_in_range(path.read_bytes(), 1, hi):
            accepted += 1
            assert slow is None, text
        assert check_output_lines(path, 1, hi) == slow, text
    assert accepted > 50  # the byte check decided many good files itself


def test_byte_check_decides_plain_files(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    path.write_text(GOOD.replace("1,1,", "0001,1,", 1) + "5,3,1,1,1,1")
    monkeypatch.setattr(mot, "_csv_parse", lambda *a: pytest.fail("csv parse used"))
    monkeypatch.setattr(mot, "_check_lines", lambda *a: pytest.fail("slow path used"))
    assert check_output_lines(path, 1, 5) is None
