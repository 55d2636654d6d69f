"""Anchor results as data: ``anchors/<id>/anchor.yaml`` (provenance) + a points CSV.

The points CSV has one row per sequence and rate point with columns ``sequence``, ``qp``, ``rate``
(in the edition's rate unit) and ``metric`` (0-100), optionally times (``time_s``, ``enc_time_s``,
``dec_time_s``). Numbers are kept exactly as the source prints them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmctc.errors import UserError
from vcmctc.paths import anchors_dir

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = ("sequence", "qp", "rate", "metric")
OPTIONAL_NUMERIC = ("time_s", "enc_time_s", "dec_time_s")
ANCHOR_FIELDS = {"id", "edition", "codec", "source", "points", "columns", "notes"}


@dataclass(frozen=True)
class Anchor:
    id: str
    edition: str
    codec: str
    source: str
    points_file: Path
    columns: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def points(self) -> "pd.DataFrame":
        return read_points_csv(self.points_file)

    def signature(self) -> dict[str, str]:
        import hashlib

        digest = hashlib.sha256(self.points_file.read_bytes()).hexdigest()[:16]
        return {"anchor": self.id, "anchor_codec": self.codec, "anchor_points_sha256": digest}


def read_points_csv(path: Path, *, required: tuple[str, ...] = REQUIRED_COLUMNS) -> "pd.DataFrame":
    """Read a rate-point CSV, checking columns and numbers; errors name the file, row and column."""
    import math

    import pandas as pd

    from vcmctc.csvfile import read_csv_rows

    table = read_csv_rows(path)
    missing = [c for c in required if c not in table.header]
    if missing:
        raise UserError(f"missing column(s) {', '.join(missing)} (columns: "
                        f"{', '.join(table.header)})", file=path)
    table.check_widths()
    numeric = {"rate", "metric", "qp", *OPTIONAL_NUMERIC}
    columns: dict[str, list] = {name: [] for name in table.header}
    for line, cells in table.rows:
        for name, cell in zip(table.header, cells):
            cell = cell.strip()
            if name in numeric and not (name in OPTIONAL_NUMERIC and cell == ""):
                try:
                    value = float(cell)
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    raise UserError(f"column {name!r}: {cell!r} is not a number", file=path,
                                    line=line)
                cell = int(value) if name == "qp" and value == int(value) else value
            elif name in numeric:
                cell = math.nan
            columns[name].append(cell)
    return pd.DataFrame(columns)


def anchor_ids() -> dict[str, Path]:
    return {p.parent.name: p for p in sorted(anchors_dir().glob("*/anchor.yaml"))}


def load_anchor(name: str | Path) -> Anchor:
    """Load an anchor by id (bundled ``anchors/``) or by path to an ``anchor.yaml``."""
    import yaml

    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        ids = anchor_ids()
        if str(name) not in ids:
            near = difflib.get_close_matches(str(name), list(ids), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise UserError(f"unknown anchor {str(name)!r}{hint} (known: {', '.join(ids)})")
        path = ids[str(name)]
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=path,
                        line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise UserError("expected a YAML mapping", file=path)
    extra = set(data) - ANCHOR_FIELDS
    if extra:
        raise UserError(f"unknown field(s) {', '.join(sorted(extra))}", file=path)
    for key in ("id", "edition", "codec", "source", "points"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise UserError(f"field {key!r}: expected a non-empty string", file=path)
    return Anchor(
        id=data["id"], edition=data["edition"], codec=data["codec"], source=data["source"],
        points_file=(path.parent / data["points"]).resolve(),
        columns=dict(data.get("columns") or {}), notes=dict(data.get("notes") or {}),
    )


def anchors_for(edition: str) -> list[Anchor]:
    return [a for a in (load_anchor(i) for i in anchor_ids()) if a.edition == edition]


def anchor_table(anchor: Anchor) -> "pd.DataFrame":
    """Tidy points of an anchor with the edition's canonical sequence ids and classes."""
    from vcmctc.ctc.editions import load_edition

    edition = load_edition(anchor.edition)
    df = anchor.points()
    ids, classes = [], []
    for row, name in enumerate(df["sequence"]):
        try:
            seq = edition.sequence(name)
        except UserError as exc:
            raise UserError(str(exc), file=anchor.points_file, line=row + 2) from None
        ids.append(seq.id)
        classes.append(seq.cls)
    df["sequence"] = ids
    df.insert(1, "class", classes)
    df.insert(0, "anchor", anchor.id)
    return df


def check_anchor(anchor: Anchor) -> list[str]:
    """Problems of an anchor against its edition: unknown sequences, QPs outside the edition."""
    from vcmctc.ctc.editions import load_edition

    edition = load_edition(anchor.edition)
    problems = []
    df = anchor.points()
    seen: set[tuple[str, int]] = set()
    for row, rec in enumerate(df.itertuples(index=False), start=2):
        try:
            seq = edition.sequence(rec.sequence)
        except UserError as exc:
            problems.append(f"error: {anchor.points_file.name}:{row}: {exc}")
            continue
        qps = edition.qps(seq)
        if qps is not None and int(rec.qp) not in qps:
            problems.append(f"warning: {anchor.points_file.name}:{row}: QP {int(rec.qp)} of "
                            f"{seq.id} is not one of the edition's {list(qps)}")
        if (seq.id, int(rec.qp)) in seen:
            problems.append(f"error: {anchor.points_file.name}:{row}: repeated point {seq.id} "
                            f"QP {int(rec.qp)}")
        seen.add((seq.id, int(rec.qp)))
    return problems
