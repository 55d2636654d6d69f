"""Small helpers shared by the CLI command modules."""

from __future__ import annotations

import enum
import sys
from typing import Any

from vcmctc.jsonutil import dumps


class OutputFormat(str, enum.Enum):
    text = "text"
    csv = "csv"
    json = "json"


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj, indent=2) + "\n")


def print_metrics_csv(values: dict[str, Any]) -> None:
    """A metric dict as a two-line CSV: names, then values (NaN as an empty cell)."""
    sys.stdout.write(",".join(values) + "\n")
    sys.stdout.write(",".join("" if v != v else repr(v) for v in values.values()) + "\n")


def evaluation_summary(results, path) -> dict[str, Any]:
    """What ``vcmctc evaluate --format json`` prints: where the results are, the signature,
    and every row's BD-rate and status (the full numbers are in results.json)."""

    def row(r) -> dict[str, Any]:
        return {"kind": r.kind, "name": r.name, "class": r.cls, "metric_id": r.metric_id,
                "bd_rate": r.bd_rate, "bd_metric": r.bd_metric, "status": r.status,
                "partial_bd_rate": r.partial_bd_rate, "points": r.points,
                "points_ok": r.points_ok}

    failed = [{"sequence": p.sequence, "point": p.label, "status": p.status,
               "message": p.message} for p in results.points if p.status != "ok"]
    return {"results": str(path), "schema": results.schema,
            "signature": results.signature.get("line"),
            "codec": results.submission.get("codec"), "edition": results.edition.get("id"),
            "complete": results.submission.get("complete"),
            "sequences": [row(r) for r in results.sequences],
            "classes": [row(r) for r in results.classes], "overall": row(results.overall),
            "failed_points": failed, "run": results.run}
