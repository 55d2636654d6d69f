"""Every program vcmctc starts stays contained: its descendants die with it (setsid and
double-fork included), when it times out, when vcmctc is stopped or killed; it sees a minimal
environment; its files and logs are capped; its output is never followed through a link; and
with bubblewrap it cannot write outside its folder or reach the network."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from vcmctc.runner import (
    Containment, STOPPING, Stopped, check_output, exit_status, run_decoder, run_process,
    sandbox_status, terminate_all,
)
from vcmctc.media.yuv import YuvFormat

from conftest import REPO


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pids, seconds: float = 5.0) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def program(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


ESCAPE = """\
    import os, sys, time
    pids = sys.argv[1]
    def child(how):
        if how == "setsid":
            os.setsid()
        elif how == "double":
            if os.fork():
                os._exit(0)
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(60)
    for how in ("setsid", "double"):
        if os.fork() == 0:
            child(how)
            os._exit(0)
    time.sleep(float(sys.argv[2]))
    """


def _pids(path: Path, n: int) -> list[int]:
    end = time.time() + 10
    while time.time() < end:
        if path.exists() and len(path.read_text().split()) >= n:
            return [int(x) for x in path.read_text().split()]
        time.sleep(0.05)
    raise AssertionError("the escapers did not start")


@pytest.mark.parametrize("sleep, timeout", [(0.5, 30), (60, 1.5)])
def test_setsid_and_double_fork_descendants_die(tmp_path, sleep, timeout):
    """At the end of the program (sleep 0.5) and at its timeout (sleep 60, limit 1.5 s)."""
    pids = tmp_path / "pids"
    run = run_process([*program(tmp_path, ESCAPE), str(pids), str(sleep)], timeout_s=timeout,
                      workdir=tmp_path, log_path=tmp_path / "log")
    assert run.timed_out == (sleep > timeout)
    escaped = _pids(pids, 2)
    assert wait_dead(escaped), [p for p in escaped if alive(p)]


PARENT = """\
    import sys
    from pathlib import Path
    from vcmctc.runner import run_process
    work = Path(sys.argv[1])
    run_process([sys.executable, sys.argv[2], sys.argv[3], "600"], timeout_s=900, workdir=work,
                log_path=work / "log")
    """


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_programs_die_when_vcmctc_is_killed(tmp_path, sig):
    """vcmctc killed with SIGKILL (nothing can run in it) or SIGTERM: the launcher's
    parent-death signal stops the program and everything it started."""
    pids = tmp_path / "pids"
    prog = program(tmp_path, ESCAPE)
    parent = tmp_path / "parent.py"
    parent.write_text(textwrap.dedent(PARENT))
    proc = subprocess.Popen([sys.executable, str(parent), str(tmp_path), prog[1], str(pids)],
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    escaped = _pids(pids, 2)
    proc.send_signal(sig)
    proc.wait(10)
    assert wait_dead(escaped), [p for p in escaped if alive(p)]


def test_terminate_all_stops_programs_of_every_thread(tmp_path):
    results = []

    def one(i):
        try:
            results.append(run_process([sys.executable, "-c", "import time; time.sleep(60)"],
                                       timeout_s=120, workdir=tmp_path,
                                       log_path=tmp_path / f"{i}.log"))
        except Stopped:
            results.append("stopped")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    start = time.perf_counter()
    try:
        assert terminate_all() == 2
        for t in threads:
            t.join(10)
        assert time.perf_counter() - start < 3 and results == ["stopped", "stopped"]
        with pytest.raises(Stopped):   # and nothing new starts
            run_process([sys.executable, "-c", "pass"], timeout_s=10, workdir=tmp_path,
                        log_path=tmp_path / "x.log")
    finally:
        STOPPING.clear()


def test_sigterm_stops_evaluate_like_ctrl_c(tmp_path):
    """SIGTERM to `vcmctc evaluate` with slow decoders in two threads: one line, exit 143,
    no results.json, decoders gone."""
    sub = tmp_path / "sub"
    (sub / "bitstream").mkdir(parents=True)
    edition = tmp_path / "slow-ed.yaml"
    edition.write_text(textwrap.dedent("""\
        id: slow-ed
        title: slow decoders
        track: demo
        sources: {gen: "tests"}
        default_source: gen
        scenarios: [RA]
        rate_points: 2
        rate_unit: kbps
        classes: {A: {}}
        datasets: {D: {task: object-detection, metric: coco-bbox-ap, gt: "x/{id}.json"}}
        sequences:
          S: {dataset: D, class: A, width: 16, height: 16, fps: 30, frames: 2, qps: {RA: [22, 27]}}
        """))
    dec = sub / "dec.py"   # in its own folder (the only one it may write, sandboxed or not)
    dec.write_text("import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(120)\n")
    for qp in (22, 27):
        (sub / "bitstream" / f"{qp}.bin").write_bytes(b"x" * (60 - qp))
    (sub / "submission.yaml").write_text(textwrap.dedent(f"""\
        codec: slow
        edition: {edition}
        decoder: {{argv: ["{sys.executable}", "{{submission}}/dec.py"]}}
        task: {{adapter: command, argv: ["{sys.executable}", "-c", "pass", "{{output}}"]}}
        sequences:
          S:
            - {{qp: 22, bitstream: bitstream/22.bin}}
            - {{qp: 27, bitstream: bitstream/27.bin}}
        """))
    (tmp_path / "data" / "x").mkdir(parents=True)
    (tmp_path / "data" / "x" / "S.json").write_text('{"images": [], "annotations": [], "categories": []}')
    # --sandbox off: the decoders' pids are host pids the test can watch
    cmd = [sys.executable, "-m", "vcmctc", "evaluate", str(sub), "--data-root",
           str(tmp_path / "data"), "--out", str(tmp_path / "out"), "-j", "2", "-q", "--no-anchor",
           "--sandbox", "off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    end = time.time() + 20
    while time.time() < end and len(list((tmp_path / "out").rglob("pid"))) < 2:
        time.sleep(0.05)
    time.sleep(0.2)
    decoders = [int(p.read_text()) for p in (tmp_path / "out").rglob("pid")]
    assert len(decoders) == 2   # two decoders run at once (-j 2)
    start = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert time.perf_counter() - start < 10
    assert "stopped by SIGTERM" in err and "Traceback" not in err and err.count("\n") == 1
    assert wait_dead(decoders)
    assert not (tmp_path / "out" / "results.json").exists()


def test_minimal_environment_and_pass_env(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("MY_LICENSE", "granted")
    prog = program(tmp_path, """\
        import json, os, sys
        json.dump(dict(os.environ), open(sys.argv[1], "w"))
        """)
    run_process([*prog, str(tmp_path / "env.json")], timeout_s=30, workdir=tmp_path,
                log_path=tmp_path / "log")
    import json

    env = json.loads((tmp_path / "env.json").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in env and "MY_LICENSE" not in env
    assert env["HOME"] == env["TMPDIR"] == str(tmp_path / ".tmp") and "PATH" in env
    run_process([*prog, str(tmp_path / "env2.json")], timeout_s=30, workdir=tmp_path,
                log_path=tmp_path / "log", contain=Containment(pass_env=("MY_LICENSE",)))
    env = json.loads((tmp_path / "env2.json").read_text())
    assert env["MY_LICENSE"] == "granted" and "AWS_SECRET_ACCESS_KEY" not in env
    assert not (tmp_path / ".tmp").exists()   # the private scratch folder is removed


def test_output_link_is_not_followed(tmp_path):
    prog = program(tmp_path, """\
        import os, sys
        os.symlink("/etc/passwd", sys.argv[1])
        """)
    fmt = YuvFormat(16, 16)
    run = run_decoder([*prog, "{output}"], {"output": str(tmp_path / "dec.yuv")}, timeout_s=30,
                      workdir=tmp_path, log_path=tmp_path / "log")
    run = check_output(run, fmt, 1)
    assert run.status == "no-output" and "is a symbolic link" in run.message


def test_file_size_cap_and_log_head_and_tail(tmp_path, monkeypatch):
    import vcmctc.runner as runner

    prog = program(tmp_path, """\
        import sys
        with open(sys.argv[1], "wb") as fh:
            for _ in range(40):
                fh.write(b"x" * (1 << 20))
        """)
    run = run_process([*prog, str(tmp_path / "big")], timeout_s=60, workdir=tmp_path,
                      log_path=tmp_path / "log",
                      contain=Containment(max_file_bytes=4 << 20))
    status, message = exit_status(run, "decoder", "on a.bin")
    # a C program gets SIGXFSZ ("wrote a file larger than the limit"); Python ignores that
    # signal and sees EFBIG instead
    assert status == "failed" and "File too large" in message
    assert (tmp_path / "big").stat().st_size <= 4 << 20
    monkeypatch.setattr(runner, "LOG_HEAD", 1000)
    monkeypatch.setattr(runner, "LOG_TAIL", 500)
    talk = program(tmp_path, """\
        import sys
        for i in range(200000):
            print(f"line {i:06d}")
        """)
    run_process(talk, timeout_s=60, workdir=tmp_path, log_path=tmp_path / "talk.log")
    log = (tmp_path / "talk.log").read_bytes()
    assert len(log) < 2000 and log.startswith(b"line 000000")
    assert b"bytes of output cut here" in log and log.rstrip().endswith(b"line 199999")


needs_bwrap = pytest.mark.skipif(not sandbox_status()[0] and not os.environ.get("CI"),
                                 reason=f"no usable bubblewrap here: {sandbox_status()[1]}")


@needs_bwrap
def test_bwrap_sandbox_allows_only_the_work_folder_and_no_network(tmp_path):
    assert sandbox_status()[0], sandbox_status()[1]   # CI installs bubblewrap: it must work
    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    secret = outside / "readable.txt"
    secret.write_text("visible, read-only")
    prog = program(tmp_path, f"""\
        import json, socket, sys
        out = {{}}
        for name, path in (("inside", "{work}/ok.txt"), ("outside", "{outside}/evil.txt"),
                           ("home", "/root/evil.txt")):
            try:
                open(path, "w").write("x"); out[name] = "written"
            except OSError as exc:
                out[name] = type(exc).__name__
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=2); out["net"] = "connected"
        except OSError as exc:
            out["net"] = type(exc).__name__
        out["read"] = open("{secret}").read()
        json.dump(out, open("{work}/result.json", "w"))
        """)
    run = run_process(prog, timeout_s=60, workdir=work, log_path=work / "log",
                      contain=Containment(sandbox="bwrap"))
    assert run.returncode == 0, (work / "log").read_text()
    import json

    out = json.loads((work / "result.json").read_text())
    assert out["inside"] == "written" and out["outside"] != "written" and out["home"] != "written"
    assert out["net"] != "connected" and out["read"] == "visible, read-only"
    assert not (outside / "evil.txt").exists()


def test_terminate_all_stops_the_demo_codecs_own_ffmpeg():
    """vcmctc's own programs (the demo's ffmpeg) stop with the submitted ones."""
    from vcmctc.demo.vvc import _run_with_rusage, ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25",
           "-f", "null", "-"]              # an endless source: runs until it is stopped
    got = []

    def run():
        try:
            got.append(_run_with_rusage(cmd))
        except Stopped:
            got.append("stopped")

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.0)
    start = time.perf_counter()
    try:
        assert terminate_all() == 1
        thread.join(10)
        assert got == ["stopped"] and time.perf_counter() - start < 3
        with pytest.raises(Stopped):       # and no new one starts
            _run_with_rusage(cmd)
    finally:
        STOPPING.clear()


def test_sigterm_stops_the_demo_and_its_encoders(tmp_path):
    """SIGTERM to `vcmctc demo` while its VVC encodes run in two threads: exit 143 at once, one
    line, no ffmpeg left (they are vcmctc's own programs, stopped like submitted ones)."""
    real = __import__("vcmctc.demo.vvc", fromlist=["ffmpeg_exe"]).ffmpeg_exe()
    pids = tmp_path / "pids"
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\necho $$ >> "{pids}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(REPO), "VCMCTC_FFMPEG": str(wrapper),
           "VCMCTC_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "vcmctc", "demo", "--out", str(tmp_path / "d"),
                             "-j", "2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)

    def running() -> list[int]:
        seen = [int(x) for x in pids.read_text().split()] if pids.exists() else []
        return [p for p in seen if os.path.exists(f"/proc/{p}")
                and b"zombie" not in open(f"/proc/{p}/status", "rb").read().lower()]

    end = time.time() + 60
    while time.time() < end and len(running()) < 2:
        time.sleep(0.05)
    encoders = running()
    assert len(encoders) == 2, "the demo did not start two encodes within 60 s"
    start = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert time.perf_counter() - start < 10
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert wait_dead(encoders)
