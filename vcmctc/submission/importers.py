"""Turn results of other pipelines into reported-level submissions (``vcmctc import``).

Sources (``--from``, detected from the columns when not given):

- ``points-csv``: columns ``sequence, qp, rate, metric`` and optionally ``time_s``,
  ``enc_time_s``, ``dec_time_s`` (the anchors' points format).
- ``compressai-vision``: CompressAI-Vision result files, as written at its commit 31165da
  (``compressai_vision/run/eval_split_inference.py`` and ``eval_remote_inference.py`` for
  ``summary.csv``; ``scripts/metrics/gen_mpeg_cttc_csv.py`` for ``final_<DATASET>.csv``):

  * ``summary.csv`` (one per sequence and QP): ``Dataset, fps, num_of_coded_frame, qp,
    bitrate (kbps), end_accuracy`` then the times ``nn_part_1, encode, decode, nn_part_2``
    (split inference; ``encode, decode, nn_task`` for remote inference; ``encode_*`` details
    and ``inv_mse`` may follow). Image sets have ``Dataset, qp, avg_bpp, end_accuracy, ...``.
    ``end_accuracy`` is on the evaluator's own scale: percent for COCO mAP and mIoU, 0-1 for
    MOTA and OpenImages mAP (the script multiplies those by 100 for the MPEG template).
  * ``final_<DATASET>.csv``: the summary rows of every sequence (``fps`` and
    ``num_of_coded_frame`` dropped) with a pandas index as first column, accuracies in percent,
    then class rows (``CLASS-AB``, ``TVD``, ``HIEVE-1080P``...; ``qp`` = point index) which are
    skipped here (vcmctc computes class rows itself). In VCM mode an ``ap`` column holds the
    curve-fitted accuracy; it is ignored: ``end_accuracy`` is used and the edition's BD policy
    decides about fitting.
  * a folder: every ``summary.csv`` below it.

  Times: ``encode`` -> encoding time, ``decode`` -> decoding time (seconds); the NN parts
  ``nn_part_1`` / ``nn_part_2`` are not codec time: they are kept beside it
  (``reported.nn_part_1_s``, ``nn_part_2_s``). A ``summary_complexity.csv`` beside a
  ``summary.csv`` (``Metric, nn_part1, feature reduction, feature restoration, nn_part2`` in
  kMAC/pixel) becomes the point's ``complexity``. The class rows of ``final_*.csv`` are kept as
  the submitter's reported class rows (``reported_classes``), shown beside vcmctc's own.

  The metric: ``end_accuracy`` holds whatever criterion the run used, and CompressAI-Vision's
  default for COCO detection is AP (mAP@[.5:.95]): ``def_criteria = "AP"`` in
  ``compressai_vision/run/eval_split_inference.py`` ``_summarize_performance`` and
  ``--metric`` default ``AP`` in ``scripts/metrics/gen_mpeg_cttc_csv.py`` (commit 31165da).
  When the edition scores a sequence with another metric (e.g. ``coco-bbox-ap50``), ``import``
  refuses the file unless ``--metric`` says which metric ``end_accuracy`` is; a ``--metric``
  that differs from the edition's is an error too.

VCM-RS logs (``--logs DIR``): every ``*.log`` below DIR with a VCM-RS timing line ("Encoding
completed in X seconds" / "Decoding completed in X seconds") or a VTM one is copied into the
submission (``logs/``) and referenced by its point, so ``vcmctc evaluate`` reads the time from it
(source "log vcm-rs (wall)"). File names follow the VCM-RS scripts::

    [encoding_|decoding_]<sequence>_qp<N>[_anything].log

``<sequence>`` is the edition's id or alias, or a CompressAI-Vision / VCM-RS file name such as
``Traffic_2560x1600_30`` or ``RaceHorses_832x480``; ``qp<N>`` is the rate point index as in the
VCM-RS scripts (``qp0`` = the lowest of the sequence's QPs in the edition) or, with
``--log-qp value``, the QP itself. Whether a log is an encoding or a decoding log comes from its
timing line, else from the ``encoding_``/``decoding_`` prefix, else from a parent folder
named ``decoding_log`` / ``coding_log``. A log given for a point wins over a reported time.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmctc.errors import UserError
from vcmctc.submission.manifest import MANIFEST_NAME

SOURCES = ("points-csv", "compressai-vision")
POINTS_COLUMNS = {"sequence", "qp", "rate", "metric"}
CAV_COLUMNS = {"dataset", "qp", "end_accuracy"}
CAV_RATE = {"bitrate (kbps)": "kbps", "avg_bpp": "bpp"}
CAV_TIMES = {"encode": "enc_time_s", "decode": "dec_time_s", "nn_part_1": "nn_part_1_s",
             "nn_part_2": "nn_part_2_s"}
CAV_PREFIXES = ("sfu-hw-", "mpeg-", "pandaset-")
LOG_NAME = re.compile(r"^(?:(?P<kind>encoding|decoding|enc|dec)_)?(?P<seq>.+?)_qp(?P<n>\d+)"
                      r"(?:_.*)?\.log$", re.IGNORECASE)


def _q(value: object) -> str:
    return json.dumps(value)


def _edition(edition):
    """An Edition from an id (loaded) or an Edition (as is): loading one takes a while."""
    if isinstance(edition, str):
        from vcmctc.ctc.editions import load_edition

        return load_edition(edition)
    return edition


@dataclass
class ImportResult:
    path: Path
    points: int
    sequences: int
    logs: int = 0
    warnings: list[str] = field(default_factory=list)


def manifest_from_points(rows: list[dict], *, codec: str, edition, anchor: str | None,
                         source: str, classes: dict[str, list[dict]] | None = None) -> str:
    """Manifest text for rows with sequence, qp, rate, metric, optional times and logs.

    A row may carry ``logs`` ({"encoder": path, "decoder": path}, relative to the submission);
    a log replaces the reported time of its kind. Rows may carry ``_where`` (file:line) for
    error messages; two rows of one sequence and QP are an error.
    """
    ed = _edition(edition)
    by_seq: dict[str, list[dict]] = {}
    seen: dict[tuple[str, int], str] = {}
    for row in rows:
        seq_id = ed.sequence(str(row["sequence"])).id
        key = (seq_id, int(row["qp"]))
        where = row.get("_where") or source
        if key in seen:
            raise UserError(f"sequence {seq_id} QP {key[1]} appears twice (also at {seen[key]})",
                            where=where)
        seen[key] = where
        by_seq.setdefault(seq_id, []).append(row)
    lines = [f"# Reported-level submission imported by vcmctc from {source}",
             f"codec: {_q(codec)}", f"track: {ed.track}", f"edition: {ed.id}"]
    if anchor:
        lines.append(f"anchor: {anchor}")
    lines.append("sequences:")
    for seq_id in [s for s in ed.sequences if s in by_seq]:
        lines.append(f"  {_q(seq_id)}:")
        for row in by_seq[seq_id]:
            logs = row.get("logs") or {}
            reported = {"rate": row["rate"], "metric": row["metric"]}
            for key in ("time_s", "enc_time_s", "dec_time_s", "nn_part_1_s", "nn_part_2_s"):
                if (key == "enc_time_s" and "encoder" in logs) or (
                        key == "dec_time_s" and "decoder" in logs):
                    continue
                if row.get(key) is not None and row[key] == row[key]:  # skip NaN
                    reported[key] = row[key]
            body = ", ".join(f"{k}: {v!r}" for k, v in reported.items())
            extra = ""
            if logs:
                extra = ", logs: {" + ", ".join(f"{k}: {_q(v)}" for k, v in sorted(logs.items())) + "}"
            if row.get("complexity"):
                extra += ", complexity: {" + ", ".join(
                    f"{_q(k)}: {v!r}" for k, v in sorted(row["complexity"].items())) + "}"
            lines.append(f"    - {{qp: {int(row['qp'])}, reported: {{{body}}}{extra}}}")
    if classes:
        lines.append("reported_classes:   # the source's own class rows, shown beside vcmctc's")
        for cls, pts in classes.items():
            lines.append(f"  {_q(cls)}:")
            lines += [f"    - {{label: {_q(c['label'])}, rate: {c['rate']!r}, "
                      f"metric: {c['metric']!r}}}" for c in pts]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# sequence names of other pipelines

def resolve_sequence(edition, name: str):
    """The edition's sequence for a name used by another pipeline, or None.

    Tries the name as is, then without a data-set prefix (``sfu-hw-``, ``mpeg-``...), then
    ``Name_WxH_fps`` -> ``Name_WxH`` -> ``Name`` (case-insensitive), and last the sequence whose
    id starts with ``Name`` and whose size is WxH (``RaceHorses_416x240_30`` -> RaceHorsesD).
    """
    index = {k.lower(): v for k, v in edition.name_index().items()}
    base = name.strip()
    candidates = [base]
    for prefix in CAV_PREFIXES:
        if base.lower().startswith(prefix):
            candidates.append(base[len(prefix):])
    for cand in list(candidates):
        for suffix in ("_val", "_test"):
            if cand.lower().endswith(suffix):
                candidates.append(cand[: -len(suffix)])
    sized = []
    for cand in list(candidates):
        m = re.match(r"^(?P<base>.+?)_(?P<w>\d+)x(?P<h>\d+)(?:_(?P<fps>\d+))?$", cand)
        if m:
            candidates += [f"{m['base']}_{m['w']}x{m['h']}", m["base"]]
            sized.append((m["base"].lower(), int(m["w"]), int(m["h"])))
    for cand in candidates:
        if cand.lower() in index:
            seq = edition.sequences[index[cand.lower()]]
            if not any(s[0] == cand.lower() and seq.width and (seq.width, seq.height) != s[1:]
                       for s in sized):
                return seq
    for base_name, w, h in sized:
        hits = [s for s in edition.sequences.values()
                if s.id.lower().startswith(base_name) and (s.width, s.height) == (w, h)]
        if len(hits) == 1:
            return hits[0]
    return None


def _is_class_row(edition, name: str) -> bool:
    upper = name.strip().upper()
    return upper.startswith("CLASS") or upper in {c.upper() for c in edition.classes} or \
        upper.startswith(("HIEVE-", "PANDAM"))


# ---------------------------------------------------------------------------------------------
# source detection and readers

def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header (trimmed, lower case) and (line number, cells) of the non-empty rows."""
    from vcmctc.csvfile import read_csv_rows

    table = read_csv_rows(path)
    return table.header, table.rows


def detect_source(path: Path) -> str:
    """``points-csv`` or ``compressai-vision``, from a folder's files or a file's columns."""
    path = Path(path)
    if path.is_dir():
        if next(iter(path.rglob("summary.csv")), None) is not None:
            return "compressai-vision"
        raise UserError("folder has no summary.csv (CompressAI-Vision) below it; give a file "
                        "and --from", file=path)
    header, _ = _read_csv(path)
    if POINTS_COLUMNS <= set(header):
        return "points-csv"
    if CAV_COLUMNS <= set(header):
        return "compressai-vision"
    raise UserError(f"cannot tell the format from the columns ({', '.join(header)}): a points CSV "
                    f"has {', '.join(sorted(POINTS_COLUMNS))}; CompressAI-Vision has Dataset, qp, "
                    "end_accuracy; or give --from", file=path, line=1)


def read_points_rows(path: Path) -> list[dict]:
    from vcmctc.ctc.anchors import read_points_csv

    df = read_points_csv(path)
    rows = df.to_dict(orient="records")
    for i, row in enumerate(rows):
        row["_where"] = f"{path}:{i + 2}"
    return rows


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise UserError(f"column {column!r}: {text!r} is not a number", file=path, line=line) from None
    if value != value:
        raise UserError(f"column {column!r}: NaN", file=path, line=line)
    return value


def _cav_scale(metric: str | None, final: bool, choice: str) -> float:
    if choice != "auto":
        return float(choice)
    if final:
        return 1.0
    from vcmctc.families import family_name

    # CompressAI-Vision's MOT and Open Images evaluators report 0-1, the COCO ones percent
    return 100.0 if metric and family_name(metric) in ("tracking", "openimages") else 1.0


def cav_default_metric(edition_metric: str | None) -> str | None:
    """The metric CompressAI-Vision's ``end_accuracy`` holds by default for a sequence the
    edition scores with ``edition_metric`` (see the module doc for the sources)."""
    if not edition_metric:
        return None
    from vcmctc.families import family_name

    family = family_name(edition_metric)
    if family in ("coco", "pose"):   # COCOEVal / MMPOSECOCOEval: def_criteria "AP"
        return edition_metric.rsplit("-", 1)[0] + "-ap"
    return edition_metric            # mAP@0.5IOU (Open Images), mota, miou: the CTC metric


def _check_metric(seq, declared: str | None, path: Path, line: int) -> None:
    """``declared`` (``--metric``) speaks for the sequences of its task family only."""
    from vcmctc.families import family_name

    default = cav_default_metric(seq.metric)
    if declared is not None and seq.metric and family_name(declared) != family_name(seq.metric):
        declared = None
    if declared is not None:
        if declared != seq.metric:
            raise UserError(f"--metric {declared} but edition scores {seq.id} with {seq.metric}: "
                            "these numbers cannot give its BD-rates", file=path, line=line)
        return
    if default != seq.metric:
        raise UserError(f"the edition scores {seq.id} with {seq.metric}, but CompressAI-Vision's "
                        f"end_accuracy is {default} unless the run chose another criterion "
                        "(def_criteria 'AP'); say which metric end_accuracy is with --metric",
                        file=path, line=line)


def _class_of(ed, name: str) -> str | None:
    key = name.strip().upper()
    for prefix in ("CLASS-", "CLASS_"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return next((c for c in ed.classes if c.upper() == key), None)


def _complexity_of(summary: Path) -> dict[str, float]:
    """kMAC/pixel per component from the ``summary_complexity.csv`` beside a summary.csv."""
    path = summary.with_name("summary_complexity.csv")
    if not path.is_file():
        return {}
    header, data = _read_csv(path)
    if not data:
        return {}
    line, cells = data[0]
    return {name.replace(" ", "_"): _number(cell, path, line, name)
            for name, cell in zip(header, cells) if name and name != "metric" and cell.strip()}


def read_compressai_vision(source: Path, edition, *, metric_scale: str = "auto",
                           metric: str | None = None,
                           classes: dict[str, list[dict]] | None = None
                           ) -> tuple[list[dict], list[str]]:
    """Rate points of CompressAI-Vision ``summary.csv`` / ``final_*.csv`` files (see module doc).
    ``metric`` declares what ``end_accuracy`` is; class rows go into ``classes`` when given."""
    ed = _edition(edition)
    declared = metric
    source = Path(source)
    files = sorted(source.rglob("summary.csv")) if source.is_dir() else [source]
    if not files:
        raise UserError("no summary.csv below this folder", file=source)
    rows: list[dict] = []
    warnings: list[str] = []
    skipped_classes: set[str] = set()
    for path in files:
        header, data = _read_csv(path)
        missing = sorted(CAV_COLUMNS - set(header))
        rate_cols = [c for c in CAV_RATE if c in header]
        if missing or not rate_cols:
            need = missing + ([] if rate_cols else ["'bitrate (kbps)' or 'avg_bpp'"])
            raise UserError(f"not a CompressAI-Vision result file: missing column(s) "
                            f"{', '.join(need)} (columns: {', '.join(header)})", file=path, line=1)
        final = path.name.lower().startswith("final_") or header[0] == ""
        if "ap" in header:
            warnings.append(f"{path}: column 'ap' (curve-fitted accuracy of CompressAI-Vision's VCM "
                            "mode) ignored; end_accuracy is used and the edition's BD policy applies")
        col = {name: header.index(name) for name in header if name}
        rate_col = rate_cols[0]
        for line, cells in data:
            cells = cells + [""] * (len(header) - len(cells))
            name = cells[col["dataset"]].strip()
            seq = resolve_sequence(ed, name)
            if seq is None and path.name == "summary.csv":
                for parent in path.parents:  # the run folder names the sequence too
                    seq = resolve_sequence(ed, parent.name)
                    if seq is not None or parent == source:
                        break
            if seq is None:
                if _is_class_row(ed, name):
                    cls = _class_of(ed, name)
                    if classes is None or cls is None or not final:
                        skipped_classes.add(name)
                        continue
                    scale = _cav_scale(ed.class_members(cls)[0].metric, final, metric_scale)
                    classes.setdefault(cls, []).append({
                        "label": f"point {int(_number(cells[col['qp']], path, line, 'qp'))}",
                        "rate": _number(cells[col[rate_cols[0]]], path, line, rate_cols[0]),
                        "metric": _number(cells[col["end_accuracy"]], path, line,
                                          "end_accuracy") * scale})
                    continue
                raise UserError(f"column 'Dataset': {name!r} is not a sequence of edition {ed.id}",
                                file=path, line=line)
            unit = CAV_RATE[rate_col]
            if seq.rate_unit and seq.rate_unit != unit:
                raise UserError(f"column {rate_col!r} is in {unit} but {seq.id} is rated in "
                                f"{seq.rate_unit} in edition {ed.id}", file=path, line=line)
            _check_metric(seq, declared, path, line)
            qp = _number(cells[col["qp"]], path, line, "qp")
            if qp != int(qp):
                raise UserError(f"column 'qp': {cells[col['qp']]!r} is not an integer",
                                file=path, line=line)
            scale = _cav_scale(seq.metric, final, metric_scale)
            metric = _number(cells[col["end_accuracy"]], path, line, "end_accuracy") * scale
            if metric > 100.0 + 1e-9:
                raise UserError(f"column 'end_accuracy': {metric:g} after scaling by {scale:g} is "
                                "above 100; use --metric-scale 1 or 100 to say its scale",
                                file=path, line=line)
            row: dict[str, Any] = {"sequence": seq.id, "qp": int(qp),
                                   "rate": _number(cells[col[rate_col]], path, line, rate_col),
                                   "metric": metric, "_where": f"{path}:{line}"}
            for src, key in CAV_TIMES.items():
                if src in col and cells[col[src]].strip():
                    row[key] = _number(cells[col[src]], path, line, src)
            if path.name == "summary.csv":
                row["complexity"] = _complexity_of(path)
            rows.append(row)
    if skipped_classes:
        warnings.append(f"class rows not imported (vcmctc computes class rows; only those of a "
                        f"final_*.csv are kept as reported): {', '.join(sorted(skipped_classes))}")
    if not rows:
        raise UserError("no rate point of a sequence found", file=source)
    return rows, warnings


# ---------------------------------------------------------------------------------------------
# VCM-RS logs

@dataclass(frozen=True)
class LogFile:
    path: Path
    sequence: str
    qp: int
    kind: str        # "encoder" | "decoder"
    seconds: float
    clock: str       # "wall" | "cpu"
    source: str      # "vcm-rs" | "vtm"


def _log_kind(path: Path, step: str | None, prefix: str | None) -> str | None:
    if step == "encoding":
        return "encoder"
    if step == "decoding":
        return "decoder"
    if prefix:
        return "encoder" if prefix.lower().startswith("enc") else "decoder"
    for parent in path.parents:
        low = parent.name.lower()
        if low.startswith("decod"):
            return "decoder"
        if low.startswith("encod") or low == "coding_log":
            return "encoder"
    return None


def read_vcmrs_logs(folder: Path, edition, *, log_qp: str = "index"
                    ) -> tuple[list[LogFile], list[str]]:
    """Timing logs below ``folder`` mapped to (sequence, QP, encoder/decoder); see module doc."""
    from vcmctc.runner import read_log_time

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("not a folder of logs", file=folder)
    ed = _edition(edition)
    logs: list[LogFile] = []
    warnings: list[str] = []
    seen: dict[tuple[str, int, str], Path] = {}
    for path in sorted(folder.rglob("*.log")):
        m = LOG_NAME.match(path.name)
        if not m:
            warnings.append(f"{path}: ignored (name is not [encoding_|decoding_]SEQUENCE_qpN"
                            "[_...].log)")
            continue
        seq = resolve_sequence(ed, m["seq"])
        if seq is None:
            raise UserError(f"sequence {m['seq']!r} in the file name is not a sequence of "
                            f"edition {ed.id}", file=path)
        n = int(m["n"])
        if log_qp == "index":
            qps = sorted(ed.qps(seq) or ())
            if not qps:
                raise UserError(f"edition {ed.id} lists no QPs for {seq.id}, so qp{n} cannot be "
                                "mapped to a QP; use --log-qp value", file=path)
            if n >= len(qps):
                raise UserError(f"qp{n} is a rate point index but {seq.id} has {len(qps)} QPs in "
                                f"edition {ed.id} ({', '.join(map(str, qps))}); use --log-qp "
                                "value if N is the QP itself", file=path)
            qp = qps[n]
        else:
            qp = n
        parsed = read_log_time(path)
        if parsed is None:
            warnings.append(f"{path}: ignored (no 'Encoding/Decoding completed in X seconds' "
                            "or VTM 'Total Time' line)")
            continue
        kind = _log_kind(path.relative_to(folder), parsed.step, m["kind"])
        if kind is None:
            raise UserError("cannot tell whether this is an encoding or a decoding log (no "
                            "VCM-RS line, no encoding_/decoding_ prefix, no coding_log / "
                            "decoding_log folder)", file=path)
        key = (seq.id, qp, kind)
        if key in seen:
            raise UserError(f"two {kind} logs for {seq.id} QP {qp}: {seen[key]} and {path} "
                            "(chunked or repeated runs cannot be timed; keep one)", file=path)
        seen[key] = path
        wall = parsed.wall_s is not None
        logs.append(LogFile(path, seq.id, qp, kind, parsed.wall_s if wall else parsed.cpu_s,
                            "wall" if wall else "cpu", parsed.source))
    if not logs:
        raise UserError("no timing log found (*.log with an 'Encoding/Decoding completed in X "
                        "seconds' line)", file=folder)
    return logs, warnings


def attach_logs(rows: list[dict], folder: Path, log_root: Path) -> int:
    """Copy the logs matched to rows (``_logs``, from :func:`rows_of_source`) into
    ``folder/logs`` and reference them from their rows."""
    used = 0
    for row in rows:
        for log in row.pop("_logs", []):
            rel = Path("logs") / log.path.relative_to(log_root)
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log.path, dest)
            row.setdefault("logs", {})[log.kind] = rel.as_posix()
            used += 1
    return used


# ---------------------------------------------------------------------------------------------
# entry points

def rows_of_source(source: Path, edition, *, fmt: str | None = None, logs: Path | None = None,
                   log_qp: str = "index", metric: str | None = None, metric_scale: str = "auto",
                   classes: dict[str, list[dict]] | None = None
                   ) -> tuple[list[dict], list[str]]:
    """Rate points (canonical sequence ids) of a points CSV or CompressAI-Vision results, with
    the times of VCM-RS logs when ``logs`` is given (a log wins over a reported time)."""
    source = Path(source)
    ed = _edition(edition)
    if not source.exists():
        raise UserError("no such file or folder", file=source)
    kind = fmt or detect_source(source)
    if kind not in SOURCES:
        raise UserError(f"unknown source format {kind!r} (known: {', '.join(SOURCES)})")
    warnings: list[str] = []
    if kind == "points-csv":
        if source.is_dir():
            raise UserError("a points CSV is a file, not a folder", file=source)
        if metric is not None:
            warnings.append("--metric ignored: a points CSV holds the edition's metric")
        rows = read_points_rows(source)
        for row in rows:  # canonical ids, so logs can be matched
            try:
                row["sequence"] = ed.sequence(str(row["sequence"])).id
            except UserError as exc:
                raise UserError(str(exc), where=row["_where"]) from None
    else:
        rows, warnings = read_compressai_vision(source, ed, metric_scale=metric_scale,
                                                metric=metric, classes=classes)
    if logs is not None:
        found, log_warnings = read_vcmrs_logs(logs, ed, log_qp=log_qp)
        warnings += log_warnings
        index = {(str(r["sequence"]), int(r["qp"])): r for r in rows}
        for log in found:
            row = index.get((log.sequence, log.qp))
            if row is None:
                warnings.append(f"{log.path}: no rate point {log.sequence} QP {log.qp} in the "
                                "source; log ignored")
                continue
            row.setdefault("_logs", []).append(log)
            row["enc_time_s" if log.kind == "encoder" else "dec_time_s"] = log.seconds
    return rows, warnings


def import_source(source: Path, folder: Path, *, codec: str, edition, anchor: str | None,
                  fmt: str | None = None, logs: Path | None = None, log_qp: str = "index",
                  metric_scale: str = "auto", metric: str | None = None,
                  force: bool = False) -> ImportResult:
    """Write ``folder/submission.yaml`` (reported level) from another pipeline's results."""
    source, folder = Path(source), Path(folder)
    ed = _edition(edition)
    if (folder / MANIFEST_NAME).exists() and not force:
        raise UserError("a manifest already exists (use --force to overwrite)",
                        file=folder / MANIFEST_NAME)
    classes: dict[str, list[dict]] = {}
    rows, warnings = rows_of_source(source, ed, fmt=fmt, logs=logs, log_qp=log_qp, metric=metric,
                                    metric_scale=metric_scale, classes=classes)
    n_logs = attach_logs(rows, folder, Path(logs)) if logs is not None else 0
    text = manifest_from_points(rows, codec=codec, edition=ed, anchor=anchor,
                                source=source.name
                                + (f" with logs from {Path(logs).name}" if logs else ""),
                                classes=classes)
    path = write_manifest(folder, text, force=force)
    return ImportResult(path, len(rows), len({r["sequence"] for r in rows}), n_logs, warnings)


def import_points_csv(csv_path: Path, folder: Path, *, codec: str, edition: str,
                      anchor: str | None, force: bool = False) -> Path:
    return import_source(csv_path, folder, codec=codec, edition=edition, anchor=anchor,
                         fmt="points-csv", force=force).path


def write_manifest(folder: Path, text: str, *, force: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST_NAME
    if path.exists() and not force:
        raise UserError("a manifest already exists (use --force to overwrite)", file=path)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
