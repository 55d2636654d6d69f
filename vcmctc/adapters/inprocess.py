"""The frame loop of the adapters that run a network in-process (``detectron2``, ``torch``).

:func:`run_frames` calls ``step(item)`` for every item (a frame) and turns what happens into a
status: ``ok``; ``timeout`` when the elapsed time passes the request's limit before the last
frame (checked between frames); ``failed`` for an exception of a rate point (the message names
the frame, the traceback goes to the log). ``wall_s`` is elapsed time, ``cpu_s`` the CPU time
of the whole vcmctc process (all threads) meanwhile.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterable

from vcmctc.errors import UserError


@dataclass
class Loop:
    status: str
    message: str
    done: int           # frames processed
    wall_s: float
    cpu_s: float


def run_frames(request, items: Iterable[Any], step: Callable[[Any], None], *, what: str,
               log: IO[str], reraise: tuple[type[BaseException], ...] = (),
               failures: tuple[type[BaseException], ...] = ()) -> Loop:
    """Run ``step`` over ``items``; ``what`` names the network in messages; exceptions of
    ``reraise`` propagate (configuration errors), ``UserError`` and ``failures`` fail the rate
    point with their own message, any other exception with the frame it happened at."""
    status, message, done = "ok", "", 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        for item in items:
            step(item)
            done += 1
            if request.timeout_s is not None and time.perf_counter() - wall0 > request.timeout_s:
                if done < request.frames:
                    status = "timeout"
                break
    except reraise:
        raise
    except (UserError, *failures) as exc:   # e.g. the decoded file has the wrong size
        status, message = "failed", f"{request.label}: {exc}"
        log.write(f"{exc}\n")
    except Exception as exc:  # a crash at one rate point must not stop the others
        status = "failed"
        message = (f"{request.label}: {what} failed at frame {done}: "
                   f"{type(exc).__name__}: {exc} (log {request.log})")
        log.write(traceback.format_exc())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if status == "timeout":
        message = (f"{request.label}: {what} timed out after {request.timeout_s:g} s "
                   f"({done} of {request.frames} frames)")
    return Loop(status, message, done, wall, cpu)
