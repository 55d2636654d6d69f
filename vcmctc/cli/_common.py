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
