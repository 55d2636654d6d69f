"""The benchmarks' shared tools: the reference venv, the cache folder, and fair timing.

Reference venv (``benchmarks/.cache/refvenv``): what a user must build to run the public tools
the CTC reference scripts use, since motmetrics 1.4.0 does not run on NumPy 2 - ``numpy<2``,
``pandas<2`` (the pandas motmetrics 1.4.0 was released against), scipy, pycocotools,
faster-coco-eval, ``motmetrics==1.4.0``, ``bjontegaard==1.3.0``, ``protobuf<4`` and the 2019 TF
Object Detection API (``object-detection-0-1==0.1``, installed without its dependencies: its
numpy evaluators need none of them). Made once with ``python -m venv`` and pip, remade when
this list changes; never part of the repository.

Timing: :func:`run` starts a whole command and reads the operating system's own accounting of the
finished child (``os.wait4``): wall seconds, CPU seconds (user + system) and peak memory (max
RSS of the largest process). :func:`summary` gives median and range. The callers interleave the
sides (A B A B ...) so a drift of the shared machine's speed hits both.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache"
REFVENV = CACHE / "refvenv"
REQUIREMENTS = ["numpy<2", "pandas<2", "scipy", "pycocotools", "faster-coco-eval",
                "motmetrics==1.4.0", "bjontegaard==1.3.0", "protobuf<4"]
NO_DEPS = ["object-detection-0-1==0.1"]
PROFILER = ["py-spy"]


def reference_python(*, profiler: bool = False) -> Path:
    """The reference venv's interpreter, the venv made (or remade) first if needed."""
    wanted = REQUIREMENTS + NO_DEPS + (PROFILER if profiler else [])
    stamp = REFVENV / "bench-stamp.json"
    python = REFVENV / "bin" / "python"
    have = json.loads(stamp.read_text()) if stamp.is_file() else None
    if have is not None and python.exists() and set(wanted) <= set(have):
        return python
    print(f"making the reference venv {REFVENV} (once): {' '.join(wanted)}", flush=True)
    if have is None or not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(REFVENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + REQUIREMENTS + (PROFILER if profiler else []), check=True)
    subprocess.run(pip + ["--no-deps"] + NO_DEPS, check=True)
    stamp.write_text(json.dumps(sorted(set(wanted) | set(have or []))))
    return python


def py_spy() -> Path:
    """The py-spy binary (installed in the reference venv, a tool there, not a reference)."""
    reference_python(profiler=True)
    return REFVENV / "bin" / "py-spy"


# ------------------------------------------------------------------------------ timing

@dataclass
class Run:
    wall: float
    cpu: float
    peak_mib: float
    code: int


def run(cmd: list[str], *, env: dict | None = None, log: Path | None = None,
        cwd: Path | None = None) -> Run:
    """Run ``cmd`` to its end; its wall, CPU (user + system) and peak RSS from ``wait4``."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if log else out,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode)


@dataclass
class Summary:
    median: float
    low: float
    high: float
    n: int

    def __format__(self, spec: str) -> str:
        """``median [min-max]``; ``spec`` is an alignment and width for the whole text and a
        number format for each number (``>22.2f``)."""
        align, width, num = re.match(r"([<>^]?)(\d*)(.*)", spec).groups()
        num = num or ".1f"
        text = format(self.median, num) if self.n == 1 else \
            f"{self.median:{num}} [{self.low:{num}}-{self.high:{num}}]"
        return format(text, f"{align or '>'}{width}") if width else text


def summary(values: list[float]) -> Summary:
    return Summary(statistics.median(values), min(values), max(values), len(values))


def machine() -> str:
    """One line: CPU model, cores, memory, OS, Python - for the figures' provenance."""
    import platform

    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")) / 2**20
    except (OSError, StopIteration):
        mem = float("nan")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, load {load:.1f} at start")


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def with_outputs(sides: dict[str, list[str]], folder: Path, *args: str) -> dict[str, Path]:
    """Append ``args`` and ``--out FILE`` (a file of its own under ``folder``) to each side's
    command; returns the files by side."""
    outs = {}
    for name, cmd in sides.items():
        outs[name] = folder / f"side{len(outs)}.json"
        cmd += [*args, "--out", str(outs[name])]
    return outs


def interleave(sides: dict[str, list[str]], repeats: int, *, env: dict | None = None,
               log_dir: Path | None = None) -> dict[str, list[Run]]:
    """Run each side's command ``repeats`` times, A B A B ... with the order reversed every
    other round; print each run; returns the runs by side."""
    times: dict[str, list[Run]] = {name: [] for name in sides}
    for i in range(repeats):
        for name in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
            log = log_dir / f"{name.replace(' ', '_').replace(':', '_')}.log" if log_dir else None
            r = run(sides[name], env=env, log=log)
            if r.code != 0:
                raise SystemExit(f"{name} failed (exit {r.code})" + (f": see {log}" if log else ""))
            times[name].append(r)
            print(f"  round {i + 1}: {name:<32} CPU {r.cpu:7.2f} s  wall {r.wall:7.2f} s  "
                  f"peak {r.peak_mib:5.0f} MiB", flush=True)
    return times


def print_times(times: dict[str, list[Run]], reference: str) -> None:
    """Median [range] of CPU, wall and peak per side, and each side's ratio to ``reference``
    taken pair by pair (the runs of one round are neighbours in time)."""
    n = len(next(iter(times.values())))
    print(f"\nwhole processes, median [min-max] of {n} interleaved run(s):")
    print(f"{'side':<42}{'CPU s':>22}{'wall s':>22}{'peak MiB':>18}{'ref/side CPU':>16}"
          f"{'ref/side wall':>16}")
    for name, runs in times.items():
        cpu = summary([r.cpu for r in runs])
        wall = summary([r.wall for r in runs])
        peak = summary([r.peak_mib for r in runs])
        ratio_cpu = summary([a.cpu / b.cpu for a, b in zip(times[reference], runs)])
        ratio_wall = summary([a.wall / b.wall for a, b in zip(times[reference], runs)])
        print(f"{name:<42}{cpu:>22.2f}{wall:>22.2f}{peak:>18.0f}"
              f"{format(ratio_cpu.median, '.2f') + 'x':>16}"
              f"{format(ratio_wall.median, '.2f') + 'x':>16}")
