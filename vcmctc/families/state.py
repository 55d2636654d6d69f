"""Storing a family's additive state: an ``.npz`` without pickles.

A state is a flat mapping of names to numpy arrays or JSON-able values (numbers, strings, lists,
mappings). Arrays are stored as they are; every other value is stored as its JSON text. Loading
never unpickles anything, so a state file cannot run code.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

_JSON = "json:"


def state_bytes(state: dict[str, Any]) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"state {name!r}: object arrays cannot be stored")
            arrays[name] = value
        else:
            arrays[_JSON + name] = np.array(json.dumps(value, allow_nan=True))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def state_from_bytes(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        for name in npz.files:
            if name.startswith(_JSON):
                out[name[len(_JSON):]] = json.loads(str(npz[name][()]))
            else:
                out[name] = npz[name]
    return out


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    Path(path).write_bytes(state_bytes(state))


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    return state_from_bytes(Path(path).read_bytes())
