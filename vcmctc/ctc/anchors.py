"""Anchor results as data: ``<id>/anchor.yaml`` (provenance) + a points CSV or a results.json.

Bundled anchors live in the package's ``anchors/``; a user's own anchors in the user anchor store
(``$VCMCTC_HOME/anchors/<id>/``, see :mod:`vcmctc.ctc.anchor_store`). An id names one anchor:
a user anchor cannot take a bundled id.

The points CSV has one row per sequence and rate point with columns ``sequence``, ``qp``, ``rate``
(in the edition's rate unit) and ``metric`` (0-100), optionally times (``time_s``, ``enc_time_s``,
``dec_time_s``). Numbers are kept exactly as the source prints them. A user anchor may instead be
a ``results.json`` of an anchor evaluated by vcmctc (``results:`` in anchor.yaml), which also
carries pooled class curves.
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
ANCHOR_FIELDS = {"id", "edition", "codec", "source", "points", "results", "columns", "notes",
                 "provenance"}


@dataclass(frozen=True)
class Anchor:
    id: str
    edition: str
    codec: str
    source: str
    points_file: Path | None
    columns: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    results_file: Path | None = None     # a results.json instead of a points CSV
    origin: str = "bundled"              # bundled | user
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def data_file(self) -> Path:
        return self.results_file or self.points_file

    def points(self) -> "pd.DataFrame":
        if self.results_file is not None:
            return _results_points(self.results_file)
        return read_points_csv(self.points_file)

    def signature(self) -> dict[str, str]:
        import hashlib

        digest = hashlib.sha256(self.data_file.read_bytes()).hexdigest()[:16]
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


def _results_points(path: Path) -> "pd.DataFrame":
    """The rate points of a results.json anchor in the points-CSV columns."""
    import pandas as pd

    from vcmctc.results.model import load_results

    rows = [{"sequence": p.sequence, "qp": p.qp, "rate": p.rate, "metric": p.metric,
             **{k: getattr(p, k) for k in OPTIONAL_NUMERIC}}
            for p in load_results(path).points if p.ok]
    return pd.DataFrame(rows, columns=[*REQUIRED_COLUMNS, *OPTIONAL_NUMERIC])


def bundled_anchor_ids() -> dict[str, Path]:
    return {p.parent.name: p for p in sorted(anchors_dir().glob("*/anchor.yaml"))}


def anchor_ids() -> dict[str, Path]:
    """Every anchor id: the bundled ones, then the user's (which cannot shadow a bundled id)."""
    from vcmctc.ctc.anchor_store import user_anchor_ids

    ids = bundled_anchor_ids()
    for name, path in user_anchor_ids().items():
        ids.setdefault(name, path)
    return ids


def load_anchor(name: str | Path) -> Anchor:
    """Load an anchor by id (bundled ``anchors/``) or by path to an ``anchor.yaml``."""
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        ids = anchor_ids()
        if str(name) not in ids:
            near = difflib.get_close_matches(str(name), list(ids), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise UserError(f"unknown anchor {str(name)!r}{hint} (known: {', '.join(ids)})")
        path = ids[str(name)]
    from vcmctc.safeload import load_yaml

    data: Any = load_yaml(path)   # limits: size, depth, no aliases, no duplicate keys
    if not isinstance(data, dict):
        raise UserError("expected a YAML mapping", file=path)
    extra = set(data) - ANCHOR_FIELDS
    if extra:
        raise UserError(f"unknown field(s) {', '.join(sorted(extra))}", file=path)
    for key in ("id", "edition", "codec", "source"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise UserError(f"field {key!r}: expected a non-empty string", file=path)
    if ("points" in data) == ("results" in data):
        raise UserError("give either 'points' (a points CSV) or 'results' (a results.json)",
                        file=path)
    for key in ("points", "results"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            raise UserError(f"field {key!r}: expected a file name", file=path)
    from vcmctc.ctc.anchor_store import store_dir

    user = store_dir().resolve() in path.resolve().parents
    return Anchor(
        id=data["id"], edition=data["edition"], codec=data["codec"], source=data["source"],
        points_file=(path.parent / data["points"]).resolve() if "points" in data else None,
        results_file=(path.parent / data["results"]).resolve() if "results" in data else None,
        columns=dict(data.get("columns") or {}), notes=dict(data.get("notes") or {}),
        origin="user" if user else "bundled", provenance=dict(data.get("provenance") or {}),
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
            raise UserError(str(exc), file=anchor.data_file,
                            line=row + 2 if anchor.results_file is None else None) from None
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
    name = anchor.data_file.name
    seen: set[tuple[str, int]] = set()
    for row, rec in enumerate(df.itertuples(index=False), start=2):
        try:
            seq = edition.sequence(rec.sequence)
        except UserError as exc:
            problems.append(f"error: {name}:{row}: {exc}")
            continue
        if rec.qp != rec.qp:   # a results.json point without a QP
            continue
        qps = edition.qps(seq)
        if qps is not None and int(rec.qp) not in qps:
            problems.append(f"warning: {name}:{row}: QP {int(rec.qp)} of "
                            f"{seq.id} is not one of the edition's {list(qps)}")
        if (seq.id, int(rec.qp)) in seen:
            problems.append(f"error: {name}:{row}: repeated point {seq.id} QP {int(rec.qp)}")
        seen.add((seq.id, int(rec.qp)))
    return problems


def coverage(anchor: Anchor) -> dict[str, list]:
    """What an anchor lacks against its edition: sequences without a point, and sequences whose
    points do not cover the edition's QPs (sequence -> missing QPs)."""
    from vcmctc.ctc.editions import load_edition

    edition = load_edition(anchor.edition)
    table = anchor_table(anchor)
    have: dict[str, set] = {}
    for rec in table.itertuples(index=False):
        have.setdefault(rec.sequence, set()).add(rec.qp)
    missing_sequences = [s.id for s in edition.sequences.values() if s.id not in have]
    missing_points = {}
    for seq_id, qps in have.items():
        wanted = edition.qps(edition.sequences[seq_id]) or ()
        lacking = [q for q in wanted if q not in qps]
        if lacking:
            missing_points[seq_id] = lacking
    return {"sequences": missing_sequences, "points": missing_points}
