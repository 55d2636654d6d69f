"""The run record of an evaluation: when, on what machine, with which library versions.

None of it changes a number (the signature holds what does); it is there so a result can be
reproduced and a cross-checker can compare times knowing both machines. Nothing in it is a path.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from importlib import metadata
from typing import Any

# Libraries whose versions can move numbers or times, recorded in every run.
LIBRARIES = ("numpy", "scipy", "pandas", "pycocotools", "faster-coco-eval", "openpyxl")


def version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "processor\t: ")) \
                        and ":" in line and not line.split(":", 1)[1].strip().isdigit():
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def run_record(signature: dict[str, Any] | None = None, *, now: _dt.datetime | None = None
               ) -> dict[str, Any]:
    """``date`` (UTC, ISO 8601), ``platform``, ``cpu``, ``cpu_count``, ``python`` and
    ``versions``: the libraries of :data:`LIBRARIES` and the metric backends the signature names
    (a backend that is part of vcmctc is listed with vcmctc's version, as the signature has it)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    versions: dict[str, str | None] = {name: version_of(name) for name in LIBRARIES}
    for settings in ((signature or {}).get("metrics") or {}).values():
        backend = settings.get("metric_backend")
        if backend and backend not in versions:
            versions[backend] = settings.get("metric_backend_version")
    return {"date": now.astimezone(_dt.timezone.utc).isoformat(timespec="seconds"),
            "platform": platform.platform(), "machine": platform.machine(),
            "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "versions": versions}
