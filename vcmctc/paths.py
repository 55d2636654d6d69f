"""Where the bundled data folders (``cfg/`` editions, ``anchors/``) are.

In a wheel they are shipped as ``vcmctc/_data/{cfg,anchors}``; in a source checkout (editable
install, tests) they are the repository's top-level ``cfg/`` and ``anchors/``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled data folder {name!r} not found beside {_PKG}")


def cfg_dir() -> Path:
    return data_dir("cfg")


def anchors_dir() -> Path:
    return data_dir("anchors")


def user_home() -> Path:
    """vcmctc's per-user folder: ``$VCMCTC_HOME``, else ``$XDG_DATA_HOME/vcmctc``, else
    ``~/.local/share/vcmctc`` (the key that signs caches lives there; user anchors too)."""
    import os

    if os.environ.get("VCMCTC_HOME"):
        return Path(os.environ["VCMCTC_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "vcmctc"
