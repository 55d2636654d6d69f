"""Running submitted programs (decoders, task networks) and checking what a decoder wrote.

:func:`run_process` is the one place that starts an external program: argv only (no shell), its
own process group, stdout and stderr into a log file, a timeout (the program is killed, then
anything left in its group), and measurements taken from ``os.wait4`` on that program, so they
are exact per process even when several programs run in parallel threads:

- ``wall_s``: elapsed time from start to exit;
- ``cpu_s``: user + system CPU time of the child and of the descendants it waited for;
- ``peak_rss_mb``: the largest resident set size of the child or of one such descendant.

:func:`run_decoder` fills an argv template and runs it; :func:`check_output` then checks the
decoded YUV (present, whole frames, the expected count, the submitter's MD5). Neither raises for
a failing rate point: a :class:`DecodeRun` carries a status and the caller decides. Bad
configuration (unknown placeholder, program not found) is a :class:`~vcmctc.errors.UserError`.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import signal
import string
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from vcmctc.errors import UserError
from vcmctc.media.yuv import YuvFormat, md5_of

DECODE_STATUSES = ("ok", "failed", "timeout", "no-output", "wrong-size", "md5-mismatch")
# {side_info}: the point's first side-information file ("" if none); {submission}: the
# submission folder, for programs shipped inside it; {item}: the image id (image sets).
DECODER_PLACEHOLDERS = ("bitstream", "side_info", "output", "width", "height", "frames",
                        "bit_depth", "fps", "qp", "sequence", "first_frame", "submission", "item")
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


# --------------------------------------------------------------------------------------------
# argv templates

def _check_fields(template: Sequence[str], names, what: str) -> None:
    if isinstance(template, (str, bytes)) or not template:
        raise UserError(f"{what} must be a non-empty list of arguments, got {template!r}")
    known = ", ".join("{" + k + "}" for k in names)
    for i, element in enumerate(template):
        if not isinstance(element, str):
            raise UserError(f"{what} argument {i} must be a string, got {element!r}")
        try:
            parts = list(string.Formatter().parse(element))
            # a format spec may itself hold a placeholder: "{qp:{width}}"
            parts += [p for _, _, spec, _ in parts if spec for p in string.Formatter().parse(spec)]
        except ValueError as exc:
            raise UserError(f"{what} argument {i} {element!r}: {exc}") from None
        for _, field, _, _ in parts:
            if field is not None and field not in names:
                label = "{" + field + "}" if field else "{}"
                raise UserError(f"unknown placeholder {label} in {what} argument {i} "
                                f"{element!r} (known: {known})")


def check_template(template: Sequence[str], names: Sequence[str], *,
                   what: str = "command") -> None:
    """Check an argv template before anything runs: a UserError names any placeholder not in
    ``names`` (only plain names are placeholders) or any malformed brace."""
    _check_fields(template, names, what)


def fill_template(template: Sequence[str], values: Mapping[str, object], *,
                  what: str = "command") -> list[str]:
    """Substitute ``{name}`` placeholders in each argv element (``str.format`` syntax, so
    ``{qp:02d}`` and ``{{``/``}}`` work; paths are substituted as strings). An unknown or
    malformed placeholder is a UserError naming it and the element."""
    _check_fields(template, values, what)
    values = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in values.items()}
    argv = []
    for i, element in enumerate(template):
        try:
            argv.append(element.format_map(values))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise UserError(f"{what} argument {i} {element!r}: {exc}") from None
    return argv


# --------------------------------------------------------------------------------------------
# running one process

@dataclass(frozen=True)
class ProcessRun:
    """How one external program ran. ``returncode`` is None if it timed out (killed); a
    negative value is the signal that ended it. Times are seconds."""

    argv: tuple[str, ...]
    returncode: int | None
    timed_out: bool
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    log: Path


# The program is started by a tiny launcher (this code, run by a fresh ``python -I -S``), not
# by vcmctc itself: on Linux a child's ru_maxrss includes the memory of the process it was
# forked from at exec time (with vfork, that process's *peak*), so a program spawned straight
# from a large vcmctc process would report vcmctc's memory. The launcher forks (about 5 MB),
# execs the program, wait4()s for it and reports its rusage on a pipe; being the real parent,
# it can kill the program on timeout without any pid-reuse race.
_LAUNCHER = r"""
import json, os, signal, sys, time
fd = int(sys.argv[1]); timeout = float(sys.argv[2]); argv = sys.argv[3:]
os.set_inheritable(fd, False)
def report(**kw):
    os.write(fd, (json.dumps(kw) + "\n").encode())
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        report(exec_error=exc.errno, message=exc.strerror or str(exc))
    os._exit(127)
timed_out = []
def on_alarm(signum, frame):
    timed_out.append(True)
    os.kill(pid, signal.SIGKILL)
if timeout > 0:
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
_, status, ru = os.wait4(pid, 0)
end = time.perf_counter()
signal.setitimer(signal.ITIMER_REAL, 0)
report(status=status, wall=end - start, utime=ru.ru_utime, stime=ru.ru_stime,
       maxrss=ru.ru_maxrss, timed_out=bool(timed_out))
"""
_SAFETY_S = 10.0  # extra time given to the launcher itself before everything is killed


def _maxrss_mb(ru_maxrss: int) -> float:
    # Linux reports KiB, macOS bytes
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_process(argv: Sequence[str], *, timeout_s: float | None, workdir: str | os.PathLike,
                log_path: str | os.PathLike, env: Mapping[str, str] | None = None) -> ProcessRun:
    """Run ``argv`` (no shell) in ``workdir`` with stdout+stderr going to ``log_path``.

    The program runs in its own process group (a new session). On timeout it is killed
    (SIGKILL); when it ends, anything it left running in its group is killed too.
    ``wall_s``/``cpu_s``/``peak_rss_mb`` come from ``wait4`` on the program itself: CPU is
    user + system time of the program and of the descendants it waited for; peak RSS is the
    largest of those processes' (it has a floor of about 5 MB, the forked launcher's size).
    A missing or non-executable program is a UserError.
    """
    argv = [str(a) for a in argv]
    if not argv:
        raise UserError("empty command")
    if timeout_s is not None and timeout_s <= 0:
        raise UserError(f"timeout must be positive, got {timeout_s}")
    if not Path(workdir).is_dir():
        raise UserError(f"working directory {str(workdir)!r} does not exist")
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(write_fd),
                repr(float(timeout_s or 0)), *argv]
    try:
        with open(log_path, "wb") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(launcher, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=workdir, close_fds=True,
                                    pass_fds=(write_fd,), start_new_session=True,
                                    env=None if env is None else dict(env))
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)

    done = threading.Event()
    got: dict = {}

    def reap() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            got["report"] = pipe.read()
        _, status, usage = os.wait4(proc.pid, 0)
        got["status"], got["usage"], got["end"] = status, usage, time.perf_counter()
        done.set()

    waiter = threading.Thread(target=reap, name=f"wait4-{proc.pid}", daemon=True)
    waiter.start()
    killed = False
    try:
        limit = None if timeout_s is None else timeout_s + _SAFETY_S
        if not done.wait(limit):  # the launcher itself is stuck: kill everything
            killed = True
            _kill_group(proc.pid)
            waiter.join()
    except BaseException:  # Ctrl-C while waiting: do not leave the program running
        _kill_group(proc.pid)
        waiter.join()
        proc.returncode = os.waitstatus_to_exitcode(got["status"])
        raise
    _kill_group(proc.pid)  # leftovers the program started in its group
    proc.returncode = os.waitstatus_to_exitcode(got["status"])  # reaped: Popen must not wait

    report = {}
    for line in got["report"].decode("utf-8", "replace").splitlines():
        try:
            report.update(json.loads(line))
        except ValueError:  # cut short by a kill
            pass
    if "exec_error" in report:
        what = {errno.ENOENT: "program not found", errno.EACCES: "not executable"}.get(
            report["exec_error"], report.get("message", "cannot execute"))
        raise UserError(f"cannot run {argv[0]!r}: {what}")
    if "status" not in report:  # the launcher was killed (or broke) before reporting
        usage = got["usage"]
        return ProcessRun(argv=tuple(argv), returncode=None if killed else proc.returncode or 1,
                          timed_out=killed,
                          wall_s=got["end"] - start, cpu_s=usage.ru_utime + usage.ru_stime,
                          peak_rss_mb=_maxrss_mb(usage.ru_maxrss), log=log_path)
    timed_out = bool(report["timed_out"])
    return ProcessRun(argv=tuple(argv),
                      returncode=None if timed_out else os.waitstatus_to_exitcode(report["status"]),
                      timed_out=timed_out, wall_s=report["wall"],
                      cpu_s=report["utime"] + report["stime"],
                      peak_rss_mb=_maxrss_mb(report["maxrss"]), log=log_path)


def exit_status(run: ProcessRun, what: str, context: str) -> tuple[str, str]:
    """("ok" | "failed" | "timeout", one-line message) for a finished process; a failure
    message quotes the last line of the log. ``what`` names the program ("decoder"),
    ``context`` ends the message ("on a.bin")."""
    if run.timed_out:
        return "timeout", (f"{what} timed out {context} (killed after {run.wall_s:.1f} s; "
                           f"log {run.log})")
    if run.returncode != 0:
        how = (f"was killed by signal {-run.returncode}" if run.returncode < 0
               else f"exited with code {run.returncode}")
        last = last_log_line(run.log)
        return "failed", (f"{what} {how} {context}" + (f": {last}" if last else "")
                          + f" (log {run.log})")
    return "ok", f"{what} finished {context} in {run.wall_s:.3f} s"


def last_log_line(path: str | os.PathLike, limit: int = 200) -> str:
    """The last non-empty line of a log (for one-line messages), shortened to ``limit``."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", tail) if ln.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[:limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# decoders

@dataclass(frozen=True)
class DecodeRun:
    """One decoder run at one rate point. ``status`` is one of :data:`DECODE_STATUSES`."""

    argv: tuple[str, ...]
    bitstream: Path | None
    returncode: int | None
    status: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    output: Path
    output_bytes: int | None
    frames_decoded: int | None
    md5: str | None
    message: str
    log: Path

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["argv"] = list(self.argv)
        for key in ("bitstream", "output", "log"):
            out[key] = None if out[key] is None else str(out[key])
        return out


def run_decoder(argv_template: Sequence[str], values: Mapping[str, object], *,
                timeout_s: float | None, workdir: str | os.PathLike,
                log_path: str | os.PathLike) -> DecodeRun:
    """Fill ``argv_template`` with ``values`` (``{bitstream}``, ``{output}``, ``{width}``, ...;
    ``values`` must hold ``output``) and run the decoder.

    Status after this step: "ok" (exit code 0), "failed" (non-zero exit or killed by a signal)
    or "timeout". Call :func:`check_output` next to check the decoded file.
    """
    if "output" not in values:
        raise UserError("decoder values must give {output}, the decoded YUV path")
    argv = fill_template(argv_template, values, what="decoder command")
    output = Path(workdir, str(values["output"]))  # relative outputs are relative to workdir
    bitstream = Path(str(values["bitstream"])) if "bitstream" in values else None
    name = bitstream.name if bitstream is not None else "the bitstream"
    if output.exists():  # never mistake an old file for this run's output
        output.unlink()
    run = run_process(argv, timeout_s=timeout_s, workdir=workdir, log_path=log_path)
    status, message = exit_status(run, "decoder", f"on {name}")
    if status == "ok":
        message = f"decoded {name} in {run.wall_s:.3f} s"
    size = output.stat().st_size if output.is_file() else None
    return DecodeRun(argv=run.argv, bitstream=bitstream, returncode=run.returncode,
                     status=status, wall_s=run.wall_s, cpu_s=run.cpu_s,
                     peak_rss_mb=run.peak_rss_mb, output=output, output_bytes=size,
                     frames_decoded=None, md5=None, message=message, log=run.log)


def check_output(run: DecodeRun, fmt: YuvFormat, frames: int,
                 expected_md5: str | None = None) -> DecodeRun:
    """Check the decoded file of an "ok" run; returns the run with status, size, frame count,
    MD5 and message set. A run that already failed is returned unchanged. Statuses:
    "no-output" (missing or empty), "wrong-size" (not ``frames`` whole frames of ``fmt``),
    "md5-mismatch" (differs from ``expected_md5``), else "ok"."""
    if expected_md5 is not None and not _MD5.match(expected_md5.strip()):
        raise UserError(f"expected MD5 {expected_md5!r} is not 32 hex digits")
    if run.status != "ok":
        return run
    name = run.bitstream.name if run.bitstream is not None else "the bitstream"
    out = run.output
    size = out.stat().st_size if out.is_file() else None
    if not size:
        what = "is empty" if size == 0 else "was not written"
        return dataclasses.replace(run, status="no-output", output_bytes=size,
                                   message=f"decoder output {out} {what} (decoding {name})")
    expected = fmt.expected_size(frames)
    whole, left = divmod(size, fmt.frame_bytes)
    if size != expected:
        detail = (f"{whole} frames" + (f" and {left} bytes" if left else ""))
        return dataclasses.replace(
            run, status="wrong-size", output_bytes=size, frames_decoded=whole,
            message=(f"decoder output {out} of {name} has {size} bytes ({detail}); expected "
                     f"{frames} frames of {fmt.describe()} = {expected} bytes "
                     f"({fmt.frame_bytes} bytes a frame)"))
    md5 = md5_of(out)
    if expected_md5 is not None and md5 != expected_md5.strip().lower():
        return dataclasses.replace(
            run, status="md5-mismatch", output_bytes=size, frames_decoded=whole, md5=md5,
            message=(f"MD5 of decoded {name} is {md5}, the submitted MD5 is "
                     f"{expected_md5.strip().lower()}"))
    return dataclasses.replace(
        run, output_bytes=size, frames_decoded=whole, md5=md5,
        message=f"decoded {name}: {whole} frames of {fmt.describe()} in {run.wall_s:.3f} s"
                + (", MD5 matches" if expected_md5 is not None else ""))


# --------------------------------------------------------------------------------------------
# timing lines in codec logs

@dataclass(frozen=True)
class LogTime:
    """A time reported by a codec in its log. ``wall_s``/``cpu_s`` are None when the line does
    not give that kind; ``source`` is "vcm-rs" or "vtm"; ``step`` "encoding", "decoding" or
    None when the line does not say."""

    wall_s: float | None
    cpu_s: float | None
    source: str
    step: str | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_NUM = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
# VCM-RS: vcmrs.log(f'Decoding completed in {elapse} seconds'), elapse from time.time() (wall)
_VCMRS = re.compile(r"\b(Encoding|Decoding) completed in " + _NUM + r" seconds")
# VTM encoder: " Total Time: %12.3f sec. [user] %12.3f sec. [elapsed]" (user = clock(), CPU);
# with HDR metrics: " Encoding Time (Total Time): a ( b ) sec. [user] c ( d ) sec. [elapsed]"
_PAREN = r"(?:\s*\(\s*[0-9.]+\s*\))?"  # the "( total )" of the HDR-metrics variant
_VTM_ENC = re.compile(r"Total Time\)?:\s*" + _NUM + _PAREN + r"\s*sec\.\s*\[user\]\s*" + _NUM
                      + _PAREN + r"\s*sec\.\s*\[elapsed\]")
# VTM/HM decoder (and HM encoder): " Total Time: %12.3f sec." from clock(): CPU time
_VTM_DEC = re.compile(r"^\s*Total Time:\s*" + _NUM + r"\s*sec\.\s*$")


def parse_log_time(text: str) -> LogTime | None:
    """The codec-reported time in a log, or None. A VCM-RS line ("Encoding/Decoding completed
    in X seconds", wall time) wins over VTM lines (which VCM-RS logs may contain for its inner
    codec); among lines of one kind the last one counts. VTM's encoder line gives CPU ([user],
    from ``clock()``) and wall ([elapsed]) time; VTM's decoder line gives CPU time only."""
    vcmrs = vtm = None
    for line in text.splitlines():
        m = _VCMRS.search(line)
        if m:
            vcmrs = LogTime(wall_s=float(m.group(2)), cpu_s=None, source="vcm-rs",
                            step=m.group(1).lower())
            continue
        m = _VTM_ENC.search(line)
        if m:
            vtm = LogTime(wall_s=float(m.group(2)), cpu_s=float(m.group(1)), source="vtm",
                          step="encoding")
            continue
        m = _VTM_DEC.match(line)
        if m:
            vtm = LogTime(wall_s=None, cpu_s=float(m.group(1)), source="vtm", step=None)
    return vcmrs or vtm


def read_log_time(path: str | os.PathLike) -> LogTime | None:
    """:func:`parse_log_time` of a log file (None if the file does not exist)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    return parse_log_time(text)
