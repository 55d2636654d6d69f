"""Progress of a run: per-stage counts, elapsed time and an estimate of the time left.

- :class:`LiveProgress`: a live display (rich) on a terminal;
- :class:`LineProgress`: one line per finished step, for logs and pipes (what is written when
  the output is not a terminal);
- nothing with ``--quiet``.

The estimate of the time left counts only steps that ran (cached steps finish at once):
elapsed x (steps left / steps run so far).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, TextIO


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Counts per stage; subclasses show them."""

    def __init__(self, totals: dict[str, int]):
        self.totals = {stage: n for stage, n in totals.items() if n}
        self.done = dict.fromkeys(self.totals, 0)
        self.cached = dict.fromkeys(self.totals, 0)
        self.failed = dict.fromkeys(self.totals, 0)
        self.ran = 0
        self.started = time.perf_counter()
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    @property
    def finished(self) -> int:
        return sum(self.done.values())

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def eta(self) -> float | None:
        left = self.total - self.finished
        if left == 0:
            return 0.0
        if self.ran == 0:
            return None
        return self.elapsed() * left / self.ran

    def step(self, stage: str, what: str, status: str, cached: bool) -> None:
        with self._lock:
            if stage not in self.totals:
                return
            self.done[stage] += 1
            self.cached[stage] += cached
            self.failed[stage] += status not in ("ok", "skipped")
            self.ran += not cached and status != "skipped"
            self.show(stage, what, status, cached)

    def show(self, stage: str, what: str, status: str, cached: bool) -> None:
        pass

    def note(self, line: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LineProgress(Progress):
    """``[k/N] decode SynthStreet qp32: ok (cached) | decode 3/8, task 2/8 | 0:12, about 0:30
    left``, one line per step."""

    def __init__(self, totals: dict[str, int], say: Callable[[str], None]):
        super().__init__(totals)
        self.say = say

    def show(self, stage: str, what: str, status: str, cached: bool) -> None:
        stages = ", ".join(f"{s} {self.done[s]}/{n}" for s, n in self.totals.items())
        eta = self.eta()
        self.say(f"[{self.finished}/{self.total}] {what}: {status}"
                 f"{' (cached)' if cached else ''} | {stages} | {clock(self.elapsed())}"
                 + (f", about {clock(eta)} left" if eta else ""))

    def note(self, line: str) -> None:
        self.say(line)


class LiveProgress(Progress):
    """A rich live display: one bar per stage (done/total, cached, failed), elapsed, time left."""

    def __init__(self, totals: dict[str, int], stream: TextIO):
        super().__init__(totals)
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn,
                                   TimeElapsedColumn)

        self.console = Console(file=stream)
        self.bars = Bars(TextColumn("{task.description:<12}"), BarColumn(),
                         MofNCompleteColumn(), TextColumn("{task.fields[extra]}"),
                         TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                         console=self.console, transient=False)
        self.ids = {stage: self.bars.add_task(stage, total=n, extra="", eta="")
                    for stage, n in self.totals.items()}
        self.all = self.bars.add_task("all steps", total=self.total, extra="", eta="")
        self.bars.start()

    def show(self, stage: str, what: str, status: str, cached: bool) -> None:
        extra = ", ".join(part for part in (
            f"{self.cached[stage]} cached" if self.cached[stage] else "",
            f"{self.failed[stage]} failed" if self.failed[stage] else "") if part)
        self.bars.update(self.ids[stage], completed=self.done[stage], extra=extra)
        eta = self.eta()
        self.bars.update(self.all, completed=self.finished,
                         eta=f"about {clock(eta)} left" if eta else "")
        if status not in ("ok", "skipped"):
            self.bars.console.print(f"{what}: {status}")

    def note(self, line: str) -> None:
        self.bars.console.print(line)

    def close(self) -> None:
        self.bars.stop()


def make_progress(totals: dict[str, int], *, live: bool, say: Callable[[str], None] | None,
                  stream: TextIO | None = None) -> Progress:
    """Live bars (``live``, on ``stream``), lines through ``say``, or nothing."""
    if live and stream is not None:
        return LiveProgress(totals, stream)
    if say is not None:
        return LineProgress(totals, say)
    return Progress(totals)
