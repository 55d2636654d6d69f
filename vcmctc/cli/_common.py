"""Small helpers shared by the CLI command modules."""

from __future__ import annotations

import enum
import json
import math
import sys
from typing import Any


class OutputFormat(str, enum.Enum):
    text = "text"
    csv = "csv"
    json = "json"


def _jsonable(value: Any) -> Any:
    """Make numpy scalars and non-finite floats JSON-safe (NaN/inf become null)."""
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def print_json(obj: Any) -> None:
    json.dump(_jsonable(obj), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
