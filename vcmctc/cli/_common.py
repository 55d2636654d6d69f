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
