"""Test-only compatibility layer that lets motmetrics 1.4.0 run on NumPy 2 and pandas 2+.

motmetrics 1.4.0 (the newest release) calls ``np.asfarray`` (removed in NumPy 2.0) and
``DataFrame.append`` (removed in pandas 2.0, used by ``MOTAccumulator.merge_event_dataframes``).
:func:`patch` restores both as thin aliases, once, before motmetrics is imported, and
:func:`import_motmetrics` returns the patched module. Nothing of motmetrics is vendored.

The LAP solver matters for exact ties: motmetrics picks the first installed of lapsolver, lap,
scipy, munkres, ortools. :func:`solver` pins one for a block of code so that reference numbers do
not depend on what else happens to be installed.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import pandas as pd

_PATCHED = False


def _asfarray(a, dtype=np.float64):
    """``np.asfarray`` as NumPy 1.x defined it: an array of a floating dtype."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.dtype(np.float64)
    return np.asarray(a, dtype=dtype)


def _dataframe_append(self, other, ignore_index=False, verify_integrity=False, sort=False):
    """``DataFrame.append`` as pandas 1.x defined it for DataFrame/Series/list arguments."""
    if isinstance(other, pd.Series):
        other = other.to_frame().T
    elif isinstance(other, (list, tuple)):
        other = pd.concat([o.to_frame().T if isinstance(o, pd.Series) else o for o in other])
    frames = [self, other]
    if len(self) == 0 and len(self.columns) and len(other):
        # pandas 1.x kept the dtypes of ``other`` when appending to an empty frame
        frames = [other]
    return pd.concat(frames, ignore_index=ignore_index, verify_integrity=verify_integrity,
                     sort=sort)


def patch() -> None:
    """Install the two shims (idempotent). Only adds attributes that are missing."""
    global _PATCHED
    if _PATCHED:
        return
    if not hasattr(np, "asfarray"):
        np.asfarray = _asfarray
    if not hasattr(pd.DataFrame, "append"):
        pd.DataFrame.append = _dataframe_append
    _PATCHED = True


def import_motmetrics():
    """Return the motmetrics module with the shims installed."""
    patch()
    import motmetrics

    return motmetrics


@contextlib.contextmanager
def solver(name: str) -> Iterator[None]:
    """Pin motmetrics' default LAP solver ("scipy", "lap", "munkres", ...) inside the block.

    Sets ``motmetrics.lap.default_solver`` directly, as public CTC evaluators do, so that
    ``preprocessResult`` (which calls ``linear_sum_assignment`` without a solver) follows too.
    """
    mm = import_motmetrics()
    old = mm.lap.default_solver
    mm.lap.default_solver = name
    try:
        yield
    finally:
        mm.lap.default_solver = old
