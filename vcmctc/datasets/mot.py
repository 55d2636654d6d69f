"""MOTChallenge tracking files (TVD, HiEve) turned into neutral numpy tables.

A ground-truth ``gt/gt.txt`` row is ``frame,id,x,y,w,h,conf,class,visibility`` (MOT16/17) or
``frame,id,x,y,w,h,conf,wx,wy,wz`` (MOT15, whose last three columns the loader reads as class,
visibility and an unused column, like motmetrics does). A tracker output row is
``frame,id,x,y,w,h[,conf[,-1,-1,-1]]``. Fields are separated by commas or white space. Missing
trailing columns take ``conf=1``, ``class=-1``, ``visibility=-1``. (motmetrics' own loader turns a
missing confidence into NaN and then drops the row; files written by JDE always have 10 columns.)

Evaluators never read files: they receive :class:`MotTable` objects.
"""

from __future__ import annotations

import configparser
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcmctc.errors import UserError

# Column defaults for the optional trailing columns conf, class, visibility, unused.
_DEFAULTS = (1.0, -1.0, -1.0, -1.0)
_MIN_COLS, _MAX_COLS = 6, 10


@dataclass(frozen=True, eq=False)
class MotTable:
    """One MOTChallenge file as columns, sorted by frame (stable: file order within a frame).

    ``line`` holds each row's 1-based line number in ``source`` for error messages.
    """

    frame: np.ndarray  # int64
    id: np.ndarray  # int64
    x: np.ndarray  # float64, top-left corner as written in the file
    y: np.ndarray
    w: np.ndarray
    h: np.ndarray
    conf: np.ndarray  # float64
    cls: np.ndarray  # float64 (class id; MOT15 world x)
    visibility: np.ndarray  # float64
    line: np.ndarray  # int64
    source: str = "<memory>"

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    @property
    def boxes(self) -> np.ndarray:
        """``(N, 4)`` float64 array of ``x, y, w, h``."""
        return np.stack([self.x, self.y, self.w, self.h], axis=1)

    def subset(self, keep: np.ndarray) -> "MotTable":
        """Rows selected by a boolean mask or an index array (order kept)."""
        return MotTable(*(getattr(self, f)[keep] for f in _ARRAY_FIELDS), source=self.source)

    @classmethod
    def from_rows(cls, rows, source: str = "<memory>") -> "MotTable":
        """Build a table from rows ``(frame, id, x, y, w, h[, conf[, class[, visibility]]])``."""
        rows = [tuple(r) for r in rows]
        if any(not _MIN_COLS <= len(r) <= _MAX_COLS for r in rows):
            raise ValueError(f"rows need {_MIN_COLS} to {_MAX_COLS} values")
        rows = [r + _DEFAULTS[len(r) - _MIN_COLS:] for r in rows]
        data = np.asarray(rows, dtype=np.float64).reshape(-1, _MAX_COLS)
        return _table_from_array(data, np.arange(1, data.shape[0] + 1), source)


_ARRAY_FIELDS = ("frame", "id", "x", "y", "w", "h", "conf", "cls", "visibility", "line")


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini``."""

    name: str
    frame_rate: float | None
    seq_length: int
    im_width: int | None
    im_height: int | None


def _table_from_array(data: np.ndarray, lines: np.ndarray, source: str,
                      ground_truth: bool = False) -> MotTable:
    frame, ids = data[:, 0], data[:, 1]
    for col, what in ((frame, "frame"), (ids, "id")):
        bad = np.flatnonzero(~np.isfinite(col) | (col != np.round(col)))
        if bad.size:
            i = bad[0]
            raise UserError(f"{what} must be an integer, got {float(col[i])!r}", file=source,
                            line=int(lines[i]))
    for col, what in ((frame, "frame"), (ids, "id")):
        # 2**63 and above would wrap around in int64 (an id of 1e29 must not become another id)
        bad = np.flatnonzero(np.abs(col) >= 2.0 ** 63)
        if bad.size:
            i = bad[0]
            raise UserError(f"{what} {float(col[i])!r} does not fit a 64-bit integer",
                            file=source, line=int(lines[i]))
    bad = np.flatnonzero(~np.isfinite(data[:, 2:6]).all(axis=1))
    if bad.size:
        raise UserError("x, y, w, h must be finite numbers", file=source, line=int(lines[bad[0]]))
    # A GT box of negative size is a broken file. A predicted one is kept: motmetrics (and
    # vcmctc) give it IoU 0 with everything, so it is an unmatched false positive.
    bad = np.flatnonzero((data[:, 4] < 0) | (data[:, 5] < 0)) if ground_truth else []
    if len(bad):
        i = bad[0]
        raise UserError(f"box width and height must be >= 0, got w={float(data[i, 4])!r}, "
                        f"h={float(data[i, 5])!r}", file=source, line=int(lines[i]))
    bad = np.flatnonzero(~np.isfinite(data[:, 6]))
    if bad.size:
        i = bad[0]
        raise UserError(f"confidence must be a finite number, got {float(data[i, 6])!r}",
                        file=source, line=int(lines[i]))
    order = np.argsort(frame, kind="stable")
    d = data[order]
    return MotTable(frame=d[:, 0].astype(np.int64), id=d[:, 1].astype(np.int64),
                    x=d[:, 2].copy(), y=d[:, 3].copy(), w=d[:, 4].copy(), h=d[:, 5].copy(),
                    conf=d[:, 6].copy(), cls=d[:, 7].copy(), visibility=d[:, 8].copy(),
                    line=np.asarray(lines, dtype=np.int64)[order], source=source)


def _split(line: str) -> list[str]:
    return [f.strip() for f in line.split(",")] if "," in line else line.split()


def _line_widths(text: str) -> np.ndarray | None:
    """Fields per line (0 for a blank line), or None if a line has an empty field."""
    if not any(c in text for c in " \t\r\f\v"):  # plain comma-separated: count in numpy
        buf = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        if len(buf) and buf[-1] != 10:
            ends = np.r_[ends, len(buf)]
        starts = np.r_[0, ends[:-1] + 1]
        commas = np.r_[0, np.cumsum(buf == 44)]
        n_commas = commas[ends] - commas[starts]
        blank = ends == starts
        if ",," in text or (buf[starts[~blank]] == 44).any() or (buf[ends[~blank] - 1] == 44).any():
            return None  # an empty field
        return np.where(blank, 0, n_commas + 1)
    norm = text.replace(",", " ")
    widths = np.fromiter((len(ln.split()) for ln in norm.splitlines()), dtype=np.int64)
    commas = np.fromiter((ln.count(",") for ln in text.splitlines()), dtype=np.int64)
    if ((commas > 0) & (widths != commas + 1)).any():
        return None  # an empty field (",," or a leading / trailing comma)
    return widths


def _fast_parse(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The whole file in one C-level conversion when every line is well formed, else None."""
    widths = _line_widths(text)
    if widths is None:
        return None
    lines = np.flatnonzero(widths) + 1
    widths = widths[widths > 0]
    if widths.size == 0:
        return np.empty((0, _MAX_COLS)), lines
    width = int(widths[0])
    if not (_MIN_COLS <= width <= _MAX_COLS and (widths == width).all()):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # correctly rounded like Python's float(), as motmetrics' python-engine loader
            flat = np.fromstring(text.replace(",", " "), dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
    if flat.size != widths.size * width:
        return None
    data = flat.reshape(-1, width)
    if width < _MAX_COLS:
        pad = np.broadcast_to(np.asarray(_DEFAULTS[width - _MIN_COLS:]),
                              (len(data), _MAX_COLS - width))
        data = np.hstack([data, pad])
    return data, lines


def _csv_parse(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The common case, a plain comma-separated file without blank lines, parsed by pandas' C
    reader with Python's own float conversion (``round_trip``: values equal ``float()``'s); None
    when anything is unusual (the other paths then parse it, or find the bad line)."""
    if (not text or any(c in text for c in " \t\r\f\v") or text[0] in ",\n"
            or text.endswith(",")):
        return None
    buf = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)  # no multibyte code has , or \n
    comma, newline = buf == 44, buf == 10
    sep = comma | newline
    if np.count_nonzero(sep[1:] & sep[:-1]):  # ",,", ",\n", "\n," or "\n\n": an empty field
        return None
    n_rows = int(np.count_nonzero(newline)) + (not text.endswith("\n"))
    first = text[:text.find("\n")] if "\n" in text else text
    width = first.count(",") + 1
    # equal total means equal widths: a longer row makes pandas fail, so none is shorter
    if not _MIN_COLS <= width <= _MAX_COLS or np.count_nonzero(comma) != n_rows * (width - 1):
        return None
    import io

    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas 3 deprecates the (default) option
            frame = pd.read_csv(io.StringIO(text), header=None, dtype=np.float64,
                                na_filter=False, engine="c", float_precision="round_trip")
    except (ValueError, pd.errors.ParserError):
        return None
    data = frame.to_numpy(dtype=np.float64)
    if data.shape != (n_rows, width):
        return None
    if width < _MAX_COLS:
        pad = np.broadcast_to(np.asarray(_DEFAULTS[width - _MIN_COLS:]),
                              (len(data), _MAX_COLS - width))
        data = np.hstack([data, pad])
    return data, np.arange(1, n_rows + 1)


def parse_mot_text(text: str, source: str = "<memory>", *,
                   ground_truth: bool = False) -> MotTable:
    """Parse MOTChallenge text (see the module docstring); blank lines are skipped.

    Every row needs integral frame and id that fit int64, finite x, y, w, h and a finite
    confidence; ``ground_truth`` also refuses negative widths and heights."""
    fast = _csv_parse(text)
    if fast is None:
        fast = _fast_parse(text)
    if fast is not None:
        return _table_from_array(fast[0], fast[1], source, ground_truth)
    # slow path: find the first bad line, or pad rows of different widths
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append(_split(line))
            lines.append(number)
    out = np.empty((len(rows), _MAX_COLS))
    for k, (fields, number) in enumerate(zip(rows, lines)):
        if not _MIN_COLS <= len(fields) <= _MAX_COLS:
            raise UserError(f"expected {_MIN_COLS} to {_MAX_COLS} fields "
                            "(frame,id,x,y,w,h,conf,class,visibility), "
                            f"got {len(fields)}", file=source, line=number)
        for c, field in enumerate(fields):
            try:
                out[k, c] = float(field)
            except ValueError:
                raise UserError(f"field {c + 1} is not a number: {field!r}", file=source,
                                line=number) from None
        out[k, len(fields):] = _DEFAULTS[len(fields) - _MIN_COLS:]
    return _table_from_array(out, np.asarray(lines, dtype=np.int64), source, ground_truth)


def check_output_lines(path: Path, lo: int, hi: int) -> str | None:
    """The light check of a tracker output (see :meth:`TrackingFamily.check_output`): None when
    every non-blank line has a numeric, integral first field (the frame) in ``lo..hi`` and at
    least 6 comma-separated fields, else the problem of the first line that has not.

    A file whose frames are plain digits is checked on its bytes (:func:`_frames_in_range`), a
    plain comma-separated one by one C-level parse (:func:`_csv_parse`); anything else, and
    every file with a problem, is checked line by line for the exact message."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text and _frames_in_range(data, lo, hi):
        return None
    parsed = _csv_parse(text) if text else None
    if parsed is not None:
        frame = parsed[0][:, 0]
        if ((frame == np.floor(frame)) & (frame >= lo) & (frame <= hi)).all():
            return None
    return _check_lines(path, lo, hi)


def _frames_in_range(data: bytes, lo: int, hi: int) -> bool:
    """True when every line has at least 5 commas and a first field of 1 to 9 ASCII digits
    whose value lies in ``lo..hi`` (then every line passes :func:`_check_lines`). False
    decides nothing: a blank line, a carriage return, a sign or a decimal point say False."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if not len(buf) or b"\r" in data:
        return False
    ends = np.flatnonzero(buf == 10)
    if buf[-1] != 10:
        ends = np.r_[ends, len(buf)]
    starts = np.r_[0, ends[:-1] + 1]
    commas = np.flatnonzero(buf == 44)
    first = np.searchsorted(commas, starts)  # each line's first comma, if it has one
    fifth = first + 4
    if (fifth >= len(commas)).any() or (commas[fifth] >= ends).any():
        return False  # a line with fewer than 5 commas
    length = commas[first] - starts  # the first field
    if length.min() < 1 or length.max() > 9:
        return False
    frame = np.zeros(len(starts), np.int64)
    for k in range(int(length.max())):
        inside = k < length
        digit = buf[np.minimum(starts + k, len(buf) - 1)].astype(np.int64) - 48
        if (inside & ((digit < 0) | (digit > 9))).any():
            return False
        frame = np.where(inside, frame * 10 + digit, frame)
    return bool(((frame >= lo) & (frame <= hi)).all())


def _check_lines(path: Path, lo: int, hi: int) -> str | None:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            fields = line.split(",")
            try:
                frame = float(fields[0])
            except ValueError:
                return f"{path.name}:{lineno}: frame {fields[0].strip()!r} is not a number"
            if len(fields) < 6:
                return f"{path.name}:{lineno}: expected at least 6 comma-separated fields"
            if not (np.isfinite(frame) and frame == int(frame) and lo <= frame <= hi):
                return (f"{path.name}:{lineno}: frame {fields[0].strip()} is outside the "
                        f"frames {lo}..{hi} of this sequence")
    return None


def check_frames(table: MotTable, first_frame: int, seq_length: int | None = None) -> None:
    """Raise a UserError unless every frame lies in ``[first_frame, first_frame + seq_length)``."""
    last = None if seq_length is None else first_frame + seq_length - 1
    bad = table.frame < first_frame
    if last is not None:
        bad |= table.frame > last
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        span = f"[{first_frame}, {last}]" if last is not None else f">= {first_frame}"
        raise UserError(f"frame {int(table.frame[i])} outside the sequence's frames {span}",
                        file=table.source, line=int(table.line[i]))


def read_mot_txt(path: str | Path, *, first_frame: int | None = None,
                 seq_length: int | None = None, ground_truth: bool = False) -> MotTable:
    """Read a MOTChallenge txt file; with ``first_frame`` check the frame range too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read MOT file: {exc}", file=path) from None
    table = parse_mot_text(text, source=str(path), ground_truth=ground_truth)
    if first_frame is not None:
        check_frames(table, first_frame, seq_length)
    return table


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Read ``seqinfo.ini`` (section ``[Sequence]``; ``seqLength`` is required)."""
    path = Path(path)
    parser = configparser.ConfigParser()
    try:
        with path.open(encoding="utf-8") as fh:
            parser.read_file(fh)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise UserError(f"cannot read seqinfo: {exc}", file=path) from None
    if not parser.has_section("Sequence"):
        raise UserError("missing [Sequence] section", file=path)
    sec = parser["Sequence"]

    def get(key: str, kind, required: bool = False):
        value = sec.get(key)
        if value is None or not value.strip():
            if required:
                raise UserError(f"missing key {key}", file=path, where="[Sequence]")
            return None
        try:
            return kind(value.strip())
        except ValueError:
            raise UserError(f"{key} is not a valid {kind.__name__}: {value!r}", file=path,
                            where="[Sequence]") from None

    length = get("seqLength", int, required=True)
    if length <= 0:
        raise UserError(f"seqLength must be positive, got {length}", file=path,
                        where="[Sequence]")
    return SeqInfo(name=sec.get("name", path.parent.name), frame_rate=get("frameRate", float),
                   seq_length=length, im_width=get("imWidth", int),
                   im_height=get("imHeight", int))


def load_mot_sequence(seq_dir: str | Path, *, first_frame: int) -> tuple[MotTable, SeqInfo]:
    """Load ``<seq>/gt/gt.txt`` and ``<seq>/seqinfo.ini``, checking the GT frame range."""
    seq_dir = Path(seq_dir)
    info = read_seqinfo(seq_dir / "seqinfo.ini")
    gt = read_mot_txt(seq_dir / "gt" / "gt.txt", first_frame=first_frame,
                      seq_length=info.seq_length, ground_truth=True)
    return gt, info
