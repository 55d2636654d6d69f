"""What a submission is compared with: an anchor (bundled or the user's) or a previous results file.

A bundled anchor (points CSV) gives per-sequence curves only. A ``results.json`` of an anchor
evaluated by vcmctc (e.g. the demo's VVC anchor) also carries pooled class curves, which the
``pooled`` class-row rule needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmctc.errors import UserError
from vcmctc.results.model import CurvePoint

TIME_KEYS = ("enc_time_s", "dec_time_s", "time_s")


@dataclass
class AnchorSource:
    id: str
    codec: str
    edition: str
    kind: str                                     # "data" | "results"
    source: str                                   # the bundled id, or the file as the manifest names it
    sha256: str                                   # of the points CSV or the results file
    points: dict[str, list[dict[str, Any]]]       # sequence id -> [{qp, rate, metric, times}]
    class_curves: dict[str, list[CurvePoint]] = field(default_factory=dict)

    def curve(self, seq_id: str) -> list[dict[str, Any]]:
        return self.points.get(seq_id, [])


def load_anchor_source(name: str | Path, edition, root: Path | None = None) -> AnchorSource:
    """``name`` is an anchor id, or a results.json path (relative to ``root``, the submission)."""
    from vcmctc.submission.cache import file_sha256

    path = Path(name)
    if path.suffix == ".json":
        if root is not None and not path.is_absolute():
            path = (root / path).resolve()
        if not path.is_file():
            raise UserError("anchor results file not found", file=path)
        inside = root is not None and Path(root).resolve() in path.resolve().parents
        src = _from_results(path, str(name))
        # named as the file it is, never as the codec it claims: a results file is the
        # submitter's, not an anchor of the bundled or the user store
        src.id = (f"results file {name}{' (shipped in the submission)' if inside else ''} "
                  f"@{src.sha256[:8]}")
        return src
    from vcmctc.ctc.anchors import anchor_table, load_anchor

    anchor = load_anchor(name)
    if anchor.results_file is not None:   # a user anchor that is a vcmctc run
        src = _from_results(anchor.results_file, anchor.id)
        src.id, src.codec = anchor.id, anchor.codec
        return src
    table = anchor_table(anchor)
    points: dict[str, list[dict[str, Any]]] = {}
    for rec in table.to_dict(orient="records"):
        entry = {"qp": int(rec["qp"]), "rate": float(rec["rate"]), "metric": float(rec["metric"])}
        for key in TIME_KEYS:
            if key in rec and rec[key] == rec[key]:
                entry[key] = float(rec[key])
        points.setdefault(rec["sequence"], []).append(entry)
    return AnchorSource(anchor.id, anchor.codec, anchor.edition, "data", anchor.id,
                        file_sha256(anchor.points_file), points)


def _from_results(path: Path, source: str) -> AnchorSource:
    from vcmctc.results.model import load_results
    from vcmctc.submission.cache import file_sha256

    results = load_results(path)
    points: dict[str, list[dict[str, Any]]] = {}
    for p in results.points:
        if not p.ok:
            continue
        entry = {"qp": p.qp, "label": p.label, "rate": p.rate, "metric": p.metric}
        for key in TIME_KEYS:
            if getattr(p, key) is not None:
                entry[key] = getattr(p, key)
        points.setdefault(p.sequence, []).append(entry)
    curves = {c.name: c.curve for c in results.classes if c.rule == "pooled" and c.curve}
    codec = str(results.submission.get("codec", "?"))
    return AnchorSource(
        id=f"results of {codec}", codec=f"{codec} (as its results file says)", edition=str(results.edition.get("id", "?")),
        kind="results", source=source, sha256=file_sha256(path), points=points,
        class_curves=curves)
