"""vcmctc: evaluation and conformance toolkit for MPEG VCM / FCM common test conditions.

Importing this package is cheap: heavy dependencies (pandas, pycocotools, torch) are imported
only by the modules that need them. The Python API (see docs/api.md) is reached through lazy
attributes: ``vcmctc.evaluate``, ``vcmctc.load_results``, ``vcmctc.bd_rate``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {"evaluate": "vcmctc.api", "load_results": "vcmctc.api", "Results": "vcmctc.api",
         "bd_rate": "vcmctc.bd", "UserError": "vcmctc.errors"}
__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vcmctc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
