"""What a submission is compared with: an anchor from ``anchors/`` or a previous results file.

A bundled anchor (points CSV) gives per-sequence curves only. A ``results.json`` of an anchor
evaluated by vcmctc (e.g. the demo's VVC anchor) also carries pooled class curves, which the
``pooled`` class-row rule needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmctc.errors import UserError

TIME_KEYS = ("enc_time_s", "dec_time_s", "time_s")


@dataclass
class AnchorSource:
    id: str
    codec: str
    edition: str
    kind: str                                     # "data" | "results"
    signature: dict[str, str]
    points: dict[str, list[dict[str, Any]]]       # sequence id -> [{qp, rate, metric, times}]
    class_curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def curve(self, seq_id: str) -> list[dict[str, Any]]:
        return self.points.get(seq_id, [])


def load_anchor_source(name: str | Path, edition, root: Path | None = None) -> AnchorSource:
    """``name`` is an anchor id, or a results.json path (relative to ``root``, the submission)."""
    path = Path(name)
    if path.suffix == ".json":
        if root is not None and not path.is_absolute():
            path = (root / path).resolve()
        if not path.is_file():
            raise UserError("anchor results file not found", file=path)
        return _from_results(path, edition)
    from vcmctc.ctc.anchors import anchor_table, load_anchor

    anchor = load_anchor(name)
    table = anchor_table(anchor)
    points: dict[str, list[dict[str, Any]]] = {}
    for rec in table.to_dict(orient="records"):
        entry = {"qp": int(rec["qp"]), "rate": float(rec["rate"]), "metric": float(rec["metric"])}
        for key in TIME_KEYS:
            if key in rec and rec[key] == rec[key]:
                entry[key] = float(rec[key])
        points.setdefault(rec["sequence"], []).append(entry)
    return AnchorSource(anchor.id, anchor.codec, anchor.edition, "data", anchor.signature(), points)


def _from_results(path: Path, edition) -> AnchorSource:
    from vcmctc.submission.cache import file_sha256

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"not a readable results file ({exc})", file=path) from None
    if not isinstance(data, dict) or data.get("schema", "").split("/")[0] != "vcmctc-results":
        raise UserError("not a vcmctc results.json (no 'schema: vcmctc-results/...')", file=path)
    points: dict[str, list[dict[str, Any]]] = {}
    for p in data["points"]:
        if p.get("metric") is None or p.get("rate") is None:
            continue
        entry = {"qp": p.get("qp"), "rate": p["rate"], "metric": p["metric"]}
        for key in TIME_KEYS:
            if p.get(key) is not None:
                entry[key] = p[key]
        points.setdefault(p["sequence"], []).append(entry)
    curves = {c["class"]: c["curve"] for c in data.get("classes", []) if c.get("curve")}
    sub = data.get("submission", {})
    return AnchorSource(
        id=f"results of {sub.get('codec', '?')}", codec=sub.get("codec", "?"),
        edition=data.get("signature", {}).get("edition", "?"), kind="results",
        signature={"anchor": str(path), "anchor_codec": sub.get("codec", "?"),
                   "anchor_results_sha256": file_sha256(path)[:16]},
        points=points, class_curves=curves)
