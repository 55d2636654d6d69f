"""Turn results of other pipelines into reported-level submissions (``vcmctc import``)."""

from __future__ import annotations

import json
from pathlib import Path

from vcmctc.errors import UserError
from vcmctc.submission.manifest import MANIFEST_NAME


def _q(value: object) -> str:
    return json.dumps(value)


def manifest_from_points(rows: list[dict], *, codec: str, edition: str, anchor: str | None,
                         source: str) -> str:
    """Manifest text for rows with sequence, qp, rate, metric and optional times."""
    from vcmctc.ctc.editions import load_edition

    ed = load_edition(edition)
    by_seq: dict[str, list[dict]] = {}
    for row in rows:
        by_seq.setdefault(ed.sequence(str(row["sequence"])).id, []).append(row)
    lines = [f"# Reported-level submission imported by vcmctc from {source}",
             f"codec: {_q(codec)}", f"track: {ed.track}", f"edition: {ed.id}"]
    if anchor:
        lines.append(f"anchor: {anchor}")
    lines.append("sequences:")
    for seq_id in [s for s in ed.sequences if s in by_seq]:
        lines.append(f"  {_q(seq_id)}:")
        for row in by_seq[seq_id]:
            reported = {"rate": row["rate"], "metric": row["metric"]}
            for key in ("time_s", "enc_time_s", "dec_time_s"):
                if row.get(key) is not None and row[key] == row[key]:  # skip NaN
                    reported[key] = row[key]
            body = ", ".join(f"{k}: {v!r}" for k, v in reported.items())
            lines.append(f"    - {{qp: {int(row['qp'])}, reported: {{{body}}}}}")
    return "\n".join(lines) + "\n"


def import_points_csv(csv_path: Path, folder: Path, *, codec: str, edition: str,
                      anchor: str | None, force: bool = False) -> Path:
    from vcmctc.ctc.anchors import read_points_csv

    df = read_points_csv(csv_path)
    rows = df.to_dict(orient="records")
    text = manifest_from_points(rows, codec=codec, edition=edition, anchor=anchor,
                                source=Path(csv_path).name)
    return write_manifest(folder, text, force=force)


def write_manifest(folder: Path, text: str, *, force: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST_NAME
    if path.exists() and not force:
        raise UserError("a manifest already exists (use --force to overwrite)", file=path)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
