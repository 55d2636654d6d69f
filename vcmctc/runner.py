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

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import signal
import stat
import string
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from vcmctc.errors import UserError, one_line

if TYPE_CHECKING:
    from vcmctc.media.yuv import YuvFormat

DECODE_STATUSES = ("ok", "failed", "timeout", "no-output", "bad-output", "wrong-size",
                   "md5-mismatch")
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
# files a program wrote: never followed through a link, never a FIFO or a device

def _problem(path: str, shown: str) -> str | None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"{shown} is a symbolic link (to {target!r}); refused, not followed"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"{shown} is not a regular file"
    return None


def output_problem(path: str | os.PathLike, base: str | os.PathLike | None = None
                   ) -> str | None:
    """Why vcmctc must not read ``path``, a file or folder a program wrote (None if it may, or
    if there is nothing): a symbolic link in it (it could point at any file of this machine;
    never followed) or something neither a regular file nor a folder (a FIFO blocks a reader,
    a device never ends). Names are shown relative to ``base`` when given."""
    path = os.fspath(path)

    def shown(p: str) -> str:
        return os.path.relpath(p, base) if base is not None else p

    problem = _problem(path, shown(path))
    if problem is not None or not os.path.isdir(path) or os.path.islink(path):
        return problem
    for folder, dirs, files in os.walk(path):   # os.walk never descends into a link
        for name in sorted(dirs + files):
            problem = _problem(os.path.join(folder, name), shown(os.path.join(folder, name)))
            if problem is not None:
                return problem
    return None


def open_output(path: str | os.PathLike) -> tuple[int | None, str | None]:
    """Open a file a program wrote for reading, never through a symbolic link: ``(fd, None)``
    for a regular file (the caller closes ``fd``), ``(None, None)`` if there is none,
    ``(None, problem)`` for a link, a FIFO, a device or a folder."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        problem = _problem(os.fspath(path), "it")
        return None, (problem[3:] if problem else f"cannot be read ({exc.strerror})")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        return None, "is not a regular file" + (" (a folder)" if stat.S_ISDIR(mode) else "")
    return fd, None


def write_new(path: str | os.PathLike, data: bytes) -> None:
    """Write vcmctc's own file into a folder a program could write: whatever the program left
    at ``path`` (a link to a file elsewhere) is removed first, never written through."""
    remove_entry(Path(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def remove_entry(path: Path) -> None:
    """Delete a file, a link (never what it points to) or a folder."""
    try:
        if path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def _open_log(log_path: Path, workdir: Path):
    """The log file, opened for writing without following a link: a link a program left on
    the way to it (in its work folder) is replaced by a real folder or file."""
    try:   # lexically: resolving would follow the very links looked for
        inside = Path(os.path.abspath(log_path.parent)).relative_to(os.path.abspath(workdir))
    except ValueError:
        inside = None
    if inside is not None:    # folders below the work folder: a program may have made them
        folder = Path(workdir)
        for part in inside.parts:
            folder = folder / part
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                folder.unlink()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(log_path, flags, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise
        remove_entry(log_path)   # a link, a FIFO or a folder where the log goes
        fd = os.open(log_path, flags | os.O_EXCL, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):   # a FIFO opened by a reader meanwhile
        os.close(fd)
        remove_entry(log_path)
        fd = os.open(log_path, flags | os.O_EXCL, 0o644)
    return os.fdopen(fd, "wb")


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
    max_file_bytes: int | None = None


# The program is started by a tiny launcher (this code, run by a fresh ``python -I -S``), not
# by vcmctc itself: on Linux a child's ru_maxrss includes the memory of the process it was
# forked from at exec time (with vfork, that process's *peak*), so a program spawned straight
# from a large vcmctc process would report vcmctc's memory. The launcher forks (about 5 MB),
# execs the program, wait4()s for it and reports its rusage on a pipe; being the real parent,
# it can kill the program on timeout without any pid-reuse race.
#
# Containment (Linux): the launcher is a *child subreaper* (prctl PR_SET_CHILD_SUBREAPER), so a
# descendant that double-forks or calls setsid() is re-parented to it instead of escaping; when
# the program ends, times out, or the launcher is told to stop (SIGTERM from terminate_all, or
# the parent-death signal when vcmctc itself dies, even by kill -9), it kills every process
# below it, found through /proc, and reaps them. The program runs with a file-size limit
# (RLIMIT_FSIZE) and its output goes through a pipe: the log keeps the first and the last
# LOG_HEAD / LOG_TAIL bytes with a marker where it was cut.
_LAUNCHER = r"""
import ctypes, json, os, resource, signal, sys, threading, time
fd = int(sys.argv[1]); timeout = float(sys.argv[2]); head = int(sys.argv[3])
tail = int(sys.argv[4]); fsize = int(sys.argv[5]); argv = sys.argv[6:]
os.set_inheritable(fd, False)
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)                      # PR_SET_CHILD_SUBREAPER
libc.prctl(1, signal.SIGTERM, 0, 0, 0)          # PR_SET_PDEATHSIG: vcmctc died -> stop
def report(**kw):
    os.write(fd, (json.dumps(kw) + "\n").encode())
me = os.getpid()
def descendants():
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/" + name + "/stat", "rb") as f:
                    st = f.read()
                fields = st[st.rindex(b")") + 2:].split()
                if fields[0] != b"Z":                   # a zombie is dead already
                    parent[int(name)] = int(fields[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [me]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out
def kill_tree():
    for _ in range(50):
        pids = descendants()
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
stopped = []
def on_stop(signum, frame):
    stopped.append(signum)
    kill_tree()
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, on_stop)
if os.getppid() == 1:
    os._exit(3)
r, w = os.pipe()
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.close(r)
        os.dup2(w, 1); os.dup2(w, 2); os.close(w)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
        # an ignored signal stays ignored across exec: give the program the defaults (Python
        # ignores SIGPIPE and SIGXFSZ, so a C program would loop on EPIPE or get EFBIG
        # instead of being stopped at the file-size limit)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE,
                    signal.SIGXFSZ, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        if fsize > 0:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        os.execvp(argv[0], argv)
    except OSError as exc:
        report(exec_error=exc.errno, message=exc.strerror or str(exc))
    os._exit(127)
os.close(w)
if stopped:                                      # told to stop while starting it
    kill_tree()
cut = [0]
def pump():
    kept = bytearray(); last = bytearray(); out = sys.stdout.buffer
    while True:
        try:
            chunk = os.read(r, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        room = head - len(kept)
        if room > 0:
            kept += chunk[:room]; out.write(chunk[:room]); chunk = chunk[room:]
        if chunk:
            last += chunk
            if len(last) > tail:
                cut[0] += len(last) - tail
                del last[:len(last) - tail]
    if cut[0]:
        out.write(b"\n[vcmctc: %d bytes of output cut here; the log keeps the first %d and the last %d]\n" % (cut[0], head, tail))
    out.write(bytes(last)); out.flush()
pumper = threading.Thread(target=pump, daemon=True)
pumper.start()
timed_out = []
def on_alarm(signum, frame):
    timed_out.append(True)
    kill_tree()
if timeout > 0:
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
while True:
    try:
        _, status, ru = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
end = time.perf_counter()
signal.setitimer(signal.ITIMER_REAL, 0)
left = descendants()
kill_tree()
# orphans the program left were adopted by this subreaper: their use counts too (bwrap's
# sandbox init, which waited for the program, is one when bwrap exits before collecting it)
utime, stime, maxrss = ru.ru_utime, ru.ru_stime, ru.ru_maxrss
while True:
    try:
        _, _, ru = os.wait4(-1, 0)
    except ChildProcessError:
        break
    except InterruptedError:
        continue
    utime, stime, maxrss = utime + ru.ru_utime, stime + ru.ru_stime, max(maxrss, ru.ru_maxrss)
pumper.join(5)
report(status=status, wall=end - start, utime=utime, stime=stime,
       maxrss=maxrss, timed_out=bool(timed_out), stopped=bool(stopped), left=len(left))
"""
_SAFETY_S = 10.0  # extra time given to the launcher itself before everything is killed

#: The log of a program keeps this much of its start and of its end (bytes).
LOG_HEAD = LOG_TAIL = 1 << 20
#: Largest file a program may write unless told otherwise (a task output, a scratch file).
DEFAULT_MAX_FILE_BYTES = 8 << 30
#: Variables a program inherits (when set); HOME and TMPDIR point to its own folder instead.
ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "TZ", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
            "ROCR_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
SANDBOX_MODES = ("auto", "bwrap", "off")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Containment:
    """How vcmctc confines a program it runs.

    ``sandbox``: ``bwrap`` runs it in bubblewrap (the whole system and the submission read-only,
    only its work folder writable, no network, its own pid namespace), ``off``
    does not, ``auto`` takes bwrap when it works on this machine. ``pass_env``: variable names
    passed on besides :data:`ENV_KEEP` (``--pass-env``). ``max_file_bytes``: the largest file
    the program may write (RLIMIT_FSIZE); a decoder gets its expected output size plus a margin.
    """

    sandbox: str = "off"
    pass_env: tuple[str, ...] = ()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def __post_init__(self):
        if self.sandbox not in SANDBOX_MODES:
            raise UserError(f"unknown sandbox mode {self.sandbox!r} (known: "
                            f"{', '.join(SANDBOX_MODES)})")
        names = (self.pass_env,) if isinstance(self.pass_env, str) else tuple(self.pass_env)
        for name in names:
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise UserError(f"--pass-env {name!r}: not an environment variable name")
        object.__setattr__(self, "pass_env", names)

    def resolved(self) -> "Containment":
        """``auto`` made ``bwrap`` or ``off`` (see :func:`sandbox_status`)."""
        if self.sandbox != "auto":
            if self.sandbox == "bwrap" and not sandbox_status()[0]:
                raise UserError(f"--sandbox bwrap: {sandbox_status()[1]}")
            return self
        return dataclasses.replace(self, sandbox="bwrap" if sandbox_status()[0] else "off")


def output_cap(expected_bytes: int, *, factor: int = 4, slack: int = 64 << 20) -> int:
    """The :attr:`Containment.max_file_bytes` of a decoder whose output should be
    ``expected_bytes``. The cap holds for every file the decoder writes, and a decoder may
    write an intermediate picture at a higher bit depth or in 4:4:4 (up to 4 times a 4:2:0
    8-bit one) before its output: ``factor`` times the expected size plus ``slack``."""
    return int(expected_bytes) * factor + slack


_SANDBOX: list[tuple[bool, str]] = []


def sandbox_status() -> tuple[bool, str]:
    """(usable, what): whether bubblewrap runs a program confined on this machine, and its
    version or why not (probed once)."""
    if not _SANDBOX:
        import shutil

        exe = shutil.which("bwrap")
        if exe is None:
            _SANDBOX.append((False, "bubblewrap (bwrap) is not installed"))
        else:
            try:
                probe = subprocess.run([exe, *_bwrap_args(Path("/tmp")), "true"],
                                       capture_output=True, timeout=20)
                version = subprocess.run([exe, "--version"], capture_output=True, text=True,
                                         timeout=20).stdout.strip()
            except (OSError, subprocess.TimeoutExpired) as exc:
                _SANDBOX.append((False, f"bwrap does not run here ({exc})"))
            else:
                ok = probe.returncode == 0
                why = probe.stderr.decode("utf-8", "replace").strip().splitlines()
                _SANDBOX.append((ok, version if ok else
                                 f"bwrap does not run here ({why[-1] if why else 'exit '}"
                                 f"{'' if why else probe.returncode})"))
    return _SANDBOX[0]


_BWRAP_HELP: list[str] = []


def _bwrap_supports(option: str) -> bool:
    """Whether the installed bwrap knows ``option`` (``--cap-drop`` came with 0.2.0)."""
    if not _BWRAP_HELP:
        import shutil

        exe = shutil.which("bwrap")
        try:
            _BWRAP_HELP.append(subprocess.run([exe, "--help"], capture_output=True, text=True,
                                              timeout=20).stdout if exe else "")
        except (OSError, subprocess.SubprocessError):
            _BWRAP_HELP.append("")
    return option in _BWRAP_HELP[0]


def _bwrap_args(work: Path) -> list[str]:
    """bwrap's options around a program whose only writable folder is ``work``: the system
    read-only, no network, its own pid/ipc/uts namespaces, no capabilities (a program run by
    root keeps none), killed with its launcher, a new session (no terminal to inject into)."""
    work = str(Path(work).resolve())
    caps = ["--cap-drop", "ALL"] if _bwrap_supports("--cap-drop") else []
    return ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--bind", work, work,
            "--dev-bind-try", "/dev/nvidiactl", "/dev/nvidiactl",
            "--dev-bind-try", "/dev/nvidia-uvm", "/dev/nvidia-uvm",
            "--dev-bind-try", "/dev/nvidia0", "/dev/nvidia0", "--dev-bind-try", "/dev/dri",
            "/dev/dri", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", *caps, "--die-with-parent", "--new-session",
            "--chdir", work]


def program_env(workdir: Path, pass_env: Sequence[str] = ()) -> dict[str, str]:
    """The environment of a program: :data:`ENV_KEEP`, ``LC_*`` and ``pass_env`` names that
    are set, HOME and TMPDIR in its own folder; nothing else (no credentials, no tokens)."""
    env = {k: v for k, v in os.environ.items()
           if k in ENV_KEEP or k.startswith("LC_") or k in pass_env}
    env.setdefault("PATH", os.defpath)
    tmp = Path(workdir) / ".tmp"
    tmp.mkdir(exist_ok=True)
    env["HOME"] = env["TMPDIR"] = str(tmp)
    return env


# live launchers (and registered programs), so that an interruption can stop every program
# at once; re-entrant: a signal handler may call terminate_all() while its thread holds it
_LIVE: set = set()
_LIVE_LOCK = threading.RLock()
_SIGNALLED: set = set()   # registered programs terminate_all() stopped
STOPPING = threading.Event()


class Stopped(KeyboardInterrupt):
    """vcmctc is stopping (Ctrl-C, SIGTERM): no new program is started."""


def terminate_all() -> int:
    """Stop every program vcmctc is running, from any thread (or a signal handler), and start
    no new one; returns how many were running. Each launcher kills its whole process tree; a
    :func:`registered` program gets SIGTERM."""
    STOPPING.set()
    with _LIVE_LOCK:
        procs = list(_LIVE)
        for proc in procs:
            # a registered program is not reaped while registered: its pid cannot be reused
            if proc.returncode is None:
                _SIGNALLED.add(proc)
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except OSError:
                    pass
    return len(procs)


@contextlib.contextmanager
def registered(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Let :func:`terminate_all` (Ctrl-C, SIGTERM) stop ``proc``, a program vcmctc starts
    itself (the demo's ffmpeg and VTM), like a submitted one, while the block runs. The block
    must not reap ``proc`` (wait in it with ``os.waitid(..., WEXITED | WNOWAIT)`` and reap after
    it: a reaped pid may be reused by another process, which must never get the signal). At
    the end of the block :class:`Stopped` is raised if it was stopped; a program registered
    while vcmctc is stopping is stopped at once."""
    with _LIVE_LOCK:
        _LIVE.add(proc)
        if STOPPING.is_set():
            _SIGNALLED.add(proc)
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except OSError:
                pass
    try:
        yield proc
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
            stopped = proc in _SIGNALLED
            _SIGNALLED.discard(proc)
    if stopped:
        raise Stopped()


def contained_map(fn, items, jobs: int) -> list:
    """``list(map(fn, items))`` on ``jobs`` threads. Ctrl-C or SIGTERM (raised in this, the
    waiting thread) stops the programs the threads run at once, rather than waiting for
    them as leaving a thread pool does."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        try:
            return list(pool.map(fn, items))
        except KeyboardInterrupt:
            terminate_all()
            raise


def _maxrss_mb(ru_maxrss: int) -> float:
    # Linux reports KiB, macOS bytes
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_process(argv: Sequence[str], *, timeout_s: float | None, workdir: str | os.PathLike,
                log_path: str | os.PathLike, env: Mapping[str, str] | None = None,
                contain: Containment | None = None) -> ProcessRun:
    """Run ``argv`` (no shell) in ``workdir`` with stdout+stderr going to ``log_path``.

    The program runs confined as ``contain`` says (default: no sandbox, the minimal environment
    of :func:`program_env`, :data:`DEFAULT_MAX_FILE_BYTES`), in a new session. On timeout, at its
    end and when vcmctc stops or dies, it and every process it started are killed (see the
    launcher's comment). ``env`` replaces the environment entirely when given.
    ``wall_s``/``cpu_s``/``peak_rss_mb`` come from ``wait4`` on the program itself: CPU is
    user + system time of the program and of the descendants it waited for; peak RSS is the
    largest of those processes' (it has a floor of about 5 MB, the forked launcher's size).
    A missing or non-executable program is a UserError.
    """
    argv = [str(a) for a in argv]
    if not argv:
        raise UserError("empty command")
    if timeout_s is not None and not (0 < timeout_s < float("inf")):
        raise UserError(f"timeout must be a positive number of seconds, got {timeout_s}")
    if not Path(workdir).is_dir():
        raise UserError(f"working directory {str(workdir)!r} does not exist")
    if STOPPING.is_set():
        raise Stopped()
    contain = (contain or Containment()).resolved()
    if env is None:
        env = program_env(Path(workdir), contain.pass_env)
    command = argv
    if contain.sandbox == "bwrap":
        import shutil

        command = [shutil.which("bwrap") or "bwrap", *_bwrap_args(Path(workdir)), "--", *argv]
    log_path = Path(log_path)
    read_fd, write_fd = os.pipe()
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(write_fd),
                repr(float(timeout_s or 0)), str(LOG_HEAD), str(LOG_TAIL),
                str(int(contain.max_file_bytes)), *command]
    try:
        with _open_log(log_path, Path(workdir)) as log:
            start = time.perf_counter()
            proc = subprocess.Popen(launcher, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=workdir, close_fds=True,
                                    pass_fds=(write_fd,), start_new_session=True,
                                    env=dict(env))
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    with _LIVE_LOCK:
        _LIVE.add(proc)
        if STOPPING.is_set():   # terminate_all() ran while this one was starting
            os.kill(proc.pid, signal.SIGTERM)

    done = threading.Event()
    got: dict = {}

    def reap() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            got["report"] = pipe.read()
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        with _LIVE_LOCK:   # once reaped its pid may be reused: no signal may reach it then
            _LIVE.discard(proc)
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
    except BaseException:  # Ctrl-C while waiting: the launcher kills the program's tree
        with _LIVE_LOCK:
            if proc in _LIVE:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except OSError:
                    pass
        if not done.wait(5):
            _kill_group(proc.pid)
        waiter.join()
        proc.returncode = os.waitstatus_to_exitcode(got["status"])
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
        if env is not None and env.get("TMPDIR", "").startswith(str(Path(workdir))):
            import shutil

            shutil.rmtree(env["TMPDIR"], ignore_errors=True)   # the program's scratch folder
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
    if report.get("stopped") or STOPPING.is_set():
        raise Stopped()
    if "status" not in report:  # the launcher was killed (or broke) before reporting
        usage = got["usage"]
        return ProcessRun(argv=tuple(argv), returncode=None if killed else proc.returncode or 1,
                          timed_out=killed,
                          wall_s=got["end"] - start, cpu_s=usage.ru_utime + usage.ru_stime,
                          peak_rss_mb=_maxrss_mb(usage.ru_maxrss), log=log_path)
    timed_out = bool(report["timed_out"])
    code = os.waitstatus_to_exitcode(report["status"])
    if contain.sandbox == "bwrap" and 128 < code < 128 + signal.NSIG:
        code = 128 - code   # bwrap exits 128+N when the program dies of signal N
    return ProcessRun(argv=tuple(argv), returncode=None if timed_out else code,
                      timed_out=timed_out, wall_s=report["wall"],
                      cpu_s=report["utime"] + report["stime"],
                      peak_rss_mb=_maxrss_mb(report["maxrss"]), log=log_path,
                      max_file_bytes=contain.max_file_bytes)


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
        if run.returncode == -signal.SIGXFSZ:
            how = (f"wrote a file larger than the limit of {run.max_file_bytes} bytes and was "
                   "stopped")
        last = last_log_line(run.log)
        return "failed", (f"{what} {how} {context}" + (f": {one_line(last)}" if last else "")
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
                log_path: str | os.PathLike, contain: Containment | None = None) -> DecodeRun:
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
    remove_entry(output)  # never mistake an old file for this run's
    run = run_process(argv, timeout_s=timeout_s, workdir=workdir, log_path=log_path,
                      contain=contain)
    status, message = exit_status(run, "decoder", f"on {name}")
    if status == "ok":
        message = f"decoded {name} in {run.wall_s:.3f} s"
    fd, problem = open_output(output)
    size = None
    if fd is not None:
        size = os.fstat(fd).st_size
        os.close(fd)
    cap = (contain or Containment()).max_file_bytes
    if problem is not None:
        status, message = "bad-output", f"decoder output {output} {problem} (decoding {name})"
        remove_entry(output)
    elif size is not None and size >= cap:
        # stopped at the cap: killed by SIGXFSZ (exit_status says so), or a program that
        # ignores SIGXFSZ got EFBIG and may even exit 0: the partial output is no result
        if status != "failed" or run.returncode != -signal.SIGXFSZ:
            status = "failed"
            message = (f"decoder output {output} reached the size limit of {cap} bytes on "
                       f"{name}; deleted (log {run.log})")
        remove_entry(output)
        size = None
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
    fd, problem = open_output(out)   # one open file for size and MD5, never through a link
    if problem is not None:
        return dataclasses.replace(run, status="bad-output", output_bytes=None,
                                   message=f"decoder output {out} {problem} (decoding {name})")
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(os.fdopen(fd, "rb")) if fd is not None else None
        size = os.fstat(fh.fileno()).st_size if fh is not None else None
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
                message=(f"decoder output {out} of {name} has {size} bytes ({detail}); "
                         f"expected {frames} frames of {fmt.describe()} = {expected} bytes "
                         f"({fmt.frame_bytes} bytes a frame)"))
        md5 = hashlib.file_digest(fh, "md5").hexdigest()
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
