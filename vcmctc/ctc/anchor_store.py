"""The user anchor store: a user's own anchor numbers, kept beside the bundled anchors.

``vcmctc anchors add ID SOURCE --edition E --codec NAME`` copies SOURCE into
``$VCMCTC_HOME/anchors/ID/`` (default ``~/.local/share/vcmctc/anchors``) as an ``anchor.yaml``
plus its data: a points CSV (from a points CSV, CompressAI-Vision result files, optionally with
VCM-RS timing logs) or a ``results.json`` of an anchor evaluated by vcmctc. ``anchor.yaml``
records where the numbers came from: the source files with their SHA-256, the date, the format
and a note. A user id never shadows a bundled one, and a stored anchor is checked against its
edition before it is kept.
"""

from __future__ import annotations

import datetime as _dt
import re
import shutil
from pathlib import Path
from typing import Any

from vcmctc.errors import UserError

FORMATS = ("points-csv", "compressai-vision", "results-json")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def store_dir() -> Path:
    from vcmctc.paths import user_home

    return user_home() / "anchors"


def user_anchor_ids() -> dict[str, Path]:
    folder = store_dir()
    if not folder.is_dir():
        return {}
    return {p.parent.name: p for p in sorted(folder.glob("*/anchor.yaml"))}


def _files_of(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.is_file())
    return [source]


def _detect(source: Path) -> str:
    if source.is_file() and source.suffix.lower() == ".json":
        return "results-json"
    from vcmctc.submission.importers import detect_source

    return detect_source(source)


def add_anchor(anchor_id: str, source: Path, *, edition: str, codec: str,
               fmt: str | None = None, logs: Path | None = None, log_qp: str = "index",
               metric: str | None = None, metric_scale: str = "auto", note: str | None = None,
               force: bool = False) -> tuple[Path, list[str]]:
    """Store an anchor; returns its anchor.yaml and warnings (what the anchor lacks)."""
    import yaml

    from vcmctc.ctc.anchors import bundled_anchor_ids, check_anchor, coverage, load_anchor
    from vcmctc.ctc.editions import load_edition
    from vcmctc.submission.cache import atomic_write_text, file_sha256

    if not _ID.match(anchor_id):
        raise UserError(f"anchor id {anchor_id!r}: use letters, digits, '.', '_' and '-' "
                        "(at most 80, starting with a letter or digit)")
    if anchor_id in bundled_anchor_ids():
        raise UserError(f"{anchor_id!r} is a bundled anchor; choose another id")
    source = Path(source)
    if not source.exists():
        raise UserError("no such file or folder", file=source)
    ed = load_edition(edition)
    kind = fmt or _detect(source)
    if kind not in FORMATS:
        raise UserError(f"unknown anchor source format {kind!r} (known: {', '.join(FORMATS)})")
    dest = store_dir() / anchor_id
    if dest.exists() and not force:
        raise UserError(f"anchor {anchor_id!r} exists already (anchors remove {anchor_id}, or "
                        "--force to replace it)", file=dest)
    tmp = store_dir() / f".{anchor_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    warnings: list[str] = []
    try:
        record: dict[str, Any] = {"id": anchor_id, "edition": ed.id, "codec": codec}
        if kind == "results-json":
            from vcmctc.results.model import load_results

            results = load_results(source)
            if results.edition.get("id") != ed.id:
                raise UserError(f"the results are of edition {results.edition.get('id')!r}, "
                                f"not {ed.id}", file=source)
            shutil.copyfile(source, tmp / "results.json")
            record["results"] = "results.json"
        else:
            from vcmctc.submission.importers import rows_of_source

            rows, warnings = rows_of_source(source, ed, fmt=kind, logs=logs, log_qp=log_qp,
                                            metric=metric, metric_scale=metric_scale)
            (tmp / "points.csv").write_text(_points_csv(rows), encoding="utf-8")
            record["points"] = "points.csv"
        files = [*_files_of(source), *(_files_of(Path(logs)) if logs else [])]
        record["source"] = (f"user anchor added {_dt.date.today().isoformat()} from "
                            f"{source.name} ({kind})" + (f": {note}" if note else ""))
        record["provenance"] = {
            "added": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "format": kind, "note": note,
            "files": [{"name": str(p.relative_to(source) if source.is_dir() else p.name),
                       "sha256": file_sha256(p)} for p in files]}
        atomic_write_text(tmp / "anchor.yaml", yaml.safe_dump(record, sort_keys=False,
                                                              allow_unicode=True))
        anchor = load_anchor(tmp / "anchor.yaml")
        errors = [p for p in check_anchor(anchor) if p.startswith("error")]
        if errors:
            raise UserError(f"the anchor does not fit edition {ed.id}: {errors[0]}")
        warnings += [p.split(": ", 1)[1] for p in check_anchor(anchor) if p.startswith("warning")]
        lacking = coverage(anchor)
        if lacking["sequences"]:
            warnings.append(f"no point of {len(lacking['sequences'])} sequence(s): "
                            + ", ".join(lacking["sequences"]))
        for seq_id, qps in lacking["points"].items():
            warnings.append(f"{seq_id}: no point at QP {', '.join(map(str, qps))}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest / "anchor.yaml", warnings


def _points_csv(rows: list[dict]) -> str:
    cols = ["sequence", "qp", "rate", "metric"]
    times = [k for k in ("enc_time_s", "dec_time_s", "time_s") if any(r.get(k) is not None
                                                                      for r in rows)]
    lines = [",".join(cols + times)]
    for r in rows:   # in the source's order
        cells = [str(r["sequence"]), str(int(r["qp"])), repr(float(r["rate"])),
                 repr(float(r["metric"]))]
        cells += ["" if r.get(k) is None else repr(float(r[k])) for k in times]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def remove_anchor(anchor_id: str) -> Path:
    from vcmctc.ctc.anchors import bundled_anchor_ids

    if anchor_id in bundled_anchor_ids():
        raise UserError(f"{anchor_id!r} is a bundled anchor; only user anchors can be removed")
    folder = store_dir() / anchor_id
    if not (folder / "anchor.yaml").is_file():
        raise UserError(f"no user anchor {anchor_id!r} (user anchors: "
                        f"{', '.join(user_anchor_ids()) or 'none'})")
    shutil.rmtree(folder)
    return folder
