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
    Containment, STOPPING, Stopped, check_output, exit_status, output_cap, registered,
    run_decoder, run_process, sandbox_status, terminate_all,
)
from vcmctc import runner
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


def _left(token: str) -> list[int]:
    """Live processes whose command line holds ``token`` (found from the host, also inside a
    sandbox's own pid namespace)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token.encode() in (entry / "cmdline").read_bytes() and alive(int(entry.name)):
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _gone(token: str, seconds: float = 5.0) -> list[int]:
    end = time.time() + seconds
    while (left := _left(token)) and time.time() < end:
        time.sleep(0.02)
    return left


SANDBOXES = ["off", pytest.param("bwrap", marks=pytest.mark.skipif(
    not sandbox_status()[0], reason=f"no usable bubblewrap here: {sandbox_status()[1]}"))]


@pytest.mark.parametrize("mode", SANDBOXES)
@pytest.mark.parametrize("escape", ["setsid", "double"])
@pytest.mark.parametrize("sleep, timeout", [(0.5, 30), (60, 1.5)], ids=["end", "timeout"])
def test_setsid_and_double_fork_descendants_die(tmp_path, mode, escape, sleep, timeout):
    """Each way out (setsid, double fork) at the end of the program (sleep 0.5) and at its
    timeout (sleep 60, limit 1.5 s), with and without the sandbox."""
    pids = tmp_path / f"pids-{escape}"
    prog = program(tmp_path, ESCAPE.replace('for how in ("setsid", "double")',
                                            f'for how in ("{escape}",)'))
    start = time.perf_counter()
    run = run_process([*prog, str(pids), str(sleep)], timeout_s=timeout, workdir=tmp_path,
                      log_path=tmp_path / "log", contain=Containment(sandbox=mode))
    assert run.timed_out == (sleep > timeout)
    assert pids.exists()   # the escaper started
    assert _gone(str(pids), 2.0) == []
    assert time.perf_counter() - start < timeout + 3


PARENT = """\
    import sys, threading
    from pathlib import Path
    from vcmctc.runner import Containment, run_process
    work = Path(sys.argv[1])
    def one(i):
        (work / str(i)).mkdir()
        run_process([sys.executable, sys.argv[2], f"{sys.argv[3]}-{i}", "600"], timeout_s=900,
                    workdir=work / str(i), log_path=work / str(i) / "log",
                    contain=Containment(sandbox=sys.argv[4]))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """


@pytest.mark.parametrize("mode", SANDBOXES)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_programs_die_when_vcmctc_is_killed(tmp_path, sig, mode):
    """vcmctc killed with SIGKILL (nothing can run in it) or SIGTERM while it runs two
    programs: the launchers' parent-death signal stops them and everything they started."""
    pids = tmp_path / "pids"
    prog = program(tmp_path, ESCAPE)
    parent = tmp_path / "parent.py"
    parent.write_text(textwrap.dedent(PARENT))
    proc = subprocess.Popen([sys.executable, str(parent), str(tmp_path), prog[1], str(pids),
                             mode], env={**os.environ, "PYTHONPATH": str(REPO)})
    end = time.time() + 20
    while time.time() < end and not all(Path(f"{pids}-{i}").exists()
                                        and len(Path(f"{pids}-{i}").read_text().split()) == 2
                                        for i in range(2)):
        time.sleep(0.05)
    # two launchers, two programs, four escaped descendants (and bwrap's own processes)
    assert len(_left(str(pids))) >= 8
    start = time.perf_counter()
    proc.send_signal(sig)
    proc.wait(10)
    assert _gone(str(pids), 5.0) == []
    assert time.perf_counter() - start < 3


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_stops_evaluate_like_ctrl_c(tmp_path, sig):
    """SIGTERM (or Ctrl-C) to `vcmctc evaluate` with slow decoders in two threads: one line,
    exit 143 (130), no results.json, decoders gone."""
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
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), err
    assert time.perf_counter() - start < 10
    assert ("stopped by SIGTERM" if sig == signal.SIGTERM else "vcmctc: interrupted;") in err
    assert "Traceback" not in err and err.count("\n") == 1
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


HOSTILE = [sys.executable, str(REPO / "tests" / "programs" / "hostile.py")]
W, H, N = 64, 48, 10
FMT = YuvFormat(W, H)


def _decode(tmp_path, argv, **kw):
    values = {"bitstream": tmp_path / "x.bin", "output": "dec.yuv", "width": W, "height": H,
              "frames": N}
    return run_decoder(argv, values, timeout_s=30, workdir=tmp_path, log_path=tmp_path / "log",
                       **kw)


def test_output_link_is_refused_not_followed(tmp_path):
    secret = tmp_path / "secret.yuv"   # a file of exactly the expected size
    secret.write_bytes(bytes(N * FMT.frame_bytes))
    run = _decode(tmp_path, [*HOSTILE, "symlink", "{output}", str(secret)])
    assert run.status == "bad-output" and run.output_bytes is None and run.md5 is None
    assert run.message == (f"decoder output {tmp_path / 'dec.yuv'} is a symbolic link (to "
                           f"{str(secret)!r}); refused, not followed (decoding x.bin)")
    assert not os.path.lexists(tmp_path / "dec.yuv") and secret.exists()
    assert check_output(run, FMT, N).status == "bad-output"
    # also when the link appears between the run and the check
    ok = _decode(tmp_path, [*HOSTILE, "write", "{output}", str(N * FMT.frame_bytes)])
    assert ok.status == "ok"
    ok.output.unlink()
    ok.output.symlink_to("/etc/passwd")
    checked = check_output(ok, FMT, N)
    assert checked.status == "bad-output" and checked.md5 is None
    assert "symbolic link (to '/etc/passwd')" in checked.message
    # a FIFO is never read (it would block)
    ok.output.unlink()
    os.mkfifo(ok.output)
    assert "is not a regular file" in check_output(ok, FMT, N).message
    ok.output.unlink()
    fifo = _decode(tmp_path, [sys.executable, "-c", "import os, sys; os.mkfifo(sys.argv[1])",
                              "{output}"])
    assert fifo.status == "bad-output" and "is not a regular file" in fifo.message


def test_decoder_output_size_cap(tmp_path):
    """A decoder writing far more than frames x frame size is stopped and its output deleted."""
    cap = output_cap(N * FMT.frame_bytes, slack=100_000)
    assert cap == 4 * N * FMT.frame_bytes + 100_000
    contain = Containment(max_file_bytes=cap)
    # a Python program ignores SIGXFSZ: its write fails (EFBIG) and it may even exit 0
    for tail in ([], ["2>/dev/null; exit 0"]):
        argv = ([*HOSTILE, "write", "{output}", str(2_000_000_000)] if not tail else
                ["sh", "-c", f"{sys.executable} {HOSTILE[1]} write {{output}} 2000000000 "
                 + tail[0]])
        run = _decode(tmp_path, argv, contain=contain)
        assert run.status == "failed" and run.output_bytes is None, run.message
        assert run.message.startswith(f"decoder output {tmp_path / 'dec.yuv'} reached the size "
                                      f"limit of {cap} bytes on x.bin; deleted")
        assert not (tmp_path / "dec.yuv").exists()
    # a C program is killed by SIGXFSZ
    run = _decode(tmp_path, ["dd", "if=/dev/zero", "of={output}", "bs=1M", "count=2000"],
                  contain=contain)
    assert run.status == "failed" and run.returncode == -signal.SIGXFSZ
    assert run.message.startswith(f"decoder wrote a file larger than the limit of {cap} bytes "
                                  "and was stopped on x.bin")
    assert not (tmp_path / "dec.yuv").exists()
    # under the cap: untouched
    run = _decode(tmp_path, [*HOSTILE, "write", "{output}", str(N * FMT.frame_bytes)],
                  contain=contain)
    assert check_output(run, FMT, N).status == "ok"


def test_feature_decoder_cap_from_the_layout():
    from vcmctc.features.spec import InputSpec, Layout, SplitPoint, TensorSpec

    split = SplitPoint(id="t", network="n", input=InputSpec(divisible_by=32),
                       tensors=(TensorSpec("p2", 256, 4), TensorSpec("p3", 256, 8)),
                       dtypes=("float32", "float16"))
    layout = Layout(split, 3, split.shapes(64, 48), (64, 48))
    # padded to 64 x 64; 3 frames x 4 bytes (float32) x (256 x 16 x 16 + 256 x 8 x 8)
    assert layout.max_bytes() == 3 * 4 * (256 * 16 * 16 + 256 * 8 * 8)
    assert Layout(split, 1, None, None).max_bytes() is None


def test_logs_are_never_written_through_a_link(tmp_path):
    """A program (the decoder of one image of a set) plants links where vcmctc writes the
    next log: they are replaced, never followed."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    work = tmp_path / "work"
    (work / "logs").mkdir(parents=True)
    os.symlink(victim / "keep.txt", work / "logs" / "b.log")
    run = run_process([sys.executable, "-c", "print('hello')"], timeout_s=30, workdir=work,
                      log_path=work / "logs" / "b.log")
    assert run.returncode == 0 and (victim / "keep.txt").read_text() == "precious"
    assert not (work / "logs" / "b.log").is_symlink()
    assert (work / "logs" / "b.log").read_text() == "hello\n"
    # the folder of the logs itself made a link to another folder
    (work / "logs" / "b.log").unlink()
    (work / "logs").rmdir()
    os.symlink(victim, work / "logs")
    run_process([sys.executable, "-c", "print('again')"], timeout_s=30, workdir=work,
                log_path=work / "logs" / "c.log")
    assert sorted(os.listdir(victim)) == ["keep.txt"] and not (work / "logs").is_symlink()
    assert (work / "logs" / "c.log").read_text() == "again\n"
    # a FIFO where the log goes does not block vcmctc
    os.mkfifo(work / "fifo.log")
    run_process([sys.executable, "-c", "print('fifo')"], timeout_s=30, workdir=work,
                log_path=work / "fifo.log")
    assert (work / "fifo.log").read_text() == "fifo\n"


def test_task_output_link_is_refused(tmp_path):
    from vcmctc.adapters import TaskRequest
    from vcmctc.adapters.command import CommandAdapter

    adapter = CommandAdapter([*HOSTILE, "symlink", "{output}", "/etc/passwd"])
    request = TaskRequest(decoded=tmp_path / "dec.yuv", fmt=FMT, frames=N, first_frame=0,
                          fps=30, task="detection", output=tmp_path / "out" / "det.json",
                          log=tmp_path / "task.log", output_kind="coco-json",
                          check=lambda path: pytest.fail("the output was read"), timeout_s=30,
                          sequence="S", workdir=tmp_path / "work")
    run = adapter.run(request)
    assert run.status == "bad-output"
    assert run.message.endswith("det.json is a symbolic link (to '/etc/passwd'); refused, not "
                                "followed")


def test_feature_conformance_file_is_not_written_through_a_link(tmp_path):
    from vcmctc.runner import write_new

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "conformance.json")
    write_new(tmp_path / "conformance.json", b"{}")
    assert victim.read_text() == "precious" and (tmp_path / "conformance.json").read_text() == "{}"
    assert not (tmp_path / "conformance.json").is_symlink()


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


# --------------------------------------------------------------------------------------------
# vcmctc's own programs (the demo's ffmpeg / VTM) are stopped like submitted ones

def test_registered_process_is_stopped_by_terminate_all(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    timer = threading.Timer(0.3, terminate_all)
    timer.start()
    start = time.perf_counter()
    try:
        with pytest.raises(Stopped):
            with registered(proc):
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        proc.wait()
        assert time.perf_counter() - start < 5 and proc.returncode == -signal.SIGTERM
        # registered while vcmctc is stopping: stopped at once
        late = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with pytest.raises(Stopped):
            with registered(late):
                os.waitid(os.P_PID, late.pid, os.WEXITED | os.WNOWAIT)
        late.wait()
        assert late.returncode == -signal.SIGTERM
    finally:
        timer.join()
        STOPPING.clear()
    # not stopped: no exception, and nothing is left registered
    quick = subprocess.Popen([sys.executable, "-c", "pass"])
    with registered(quick):
        quick.wait(10)
    assert terminate_all() == 0
    STOPPING.clear()


# --------------------------------------------------------------------------------------------
# what the program inherits: signal dispositions, capabilities

def _status_field(log: Path, name: str) -> int:
    line = next(ln for ln in log.read_text().splitlines() if ln.startswith(name + ":"))
    return int(line.split()[1], 16)


@pytest.mark.parametrize("mode", SANDBOXES)
def test_program_gets_default_signal_dispositions(tmp_path, mode):
    """Python (vcmctc, its launcher) ignores SIGPIPE and SIGXFSZ and an ignored signal stays
    ignored across exec: the program must get the defaults back."""
    run = run_process(["cat", "/proc/self/status"], timeout_s=30, workdir=tmp_path,
                      log_path=tmp_path / "log", contain=Containment(sandbox=mode))
    assert run.returncode == 0
    ignored = _status_field(tmp_path / "log", "SigIgn")
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        assert not ignored & (1 << (sig - 1)), signal.Signals(sig).name
    # so a C program writing past the size limit is stopped by SIGXFSZ, also in bwrap
    run = run_process(["dd", "if=/dev/zero", f"of={tmp_path / 'big'}", "bs=1M", "count=64"],
                      timeout_s=30, workdir=tmp_path, log_path=tmp_path / "dd.log",
                      contain=Containment(sandbox=mode, max_file_bytes=1 << 20))
    assert run.returncode == -signal.SIGXFSZ
    status, message = exit_status(run, "decoder", "on a.bin")
    assert status == "failed" and message.startswith(
        f"decoder wrote a file larger than the limit of {1 << 20} bytes and was stopped on a.bin")
    assert (tmp_path / "big").stat().st_size == 1 << 20


@pytest.mark.skipif(not sandbox_status()[0],
                    reason=f"no usable bubblewrap: {sandbox_status()[1]}")
def test_bwrap_drops_every_capability(tmp_path):
    """Even run by root, a sandboxed program has no capability (it could remount the
    read-only system otherwise) and its own hostname namespace."""
    run = run_process(["cat", "/proc/self/status"], timeout_s=30, workdir=tmp_path,
                      log_path=tmp_path / "log", contain=Containment(sandbox="bwrap"))
    assert run.returncode == 0
    for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert _status_field(tmp_path / "log", field) == 0, field
    args = runner._bwrap_args(tmp_path)
    assert args[args.index("--cap-drop") + 1] == "ALL"
    for option in ("--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                   "--unshare-uts"):
        assert option in args


@pytest.mark.parametrize("mode", SANDBOXES)
def test_feature_decoder_runs_contained(tmp_path, mode):
    """A decoder that outputs features runs with the evaluation's containment (sandbox, size
    cap) like a pixel decoder, and its output is refused when it is a link."""
    from vcmctc.features import evidence
    from vcmctc.features.spec import InputSpec, Layout, SplitPoint, TensorSpec

    split = SplitPoint(id="t", network="n", input=InputSpec(),
                       tensors=(TensorSpec("a", 8, 4), TensorSpec("b", 3, 8)),
                       dtypes=("float32",))
    layout = Layout(split, 3, split.shapes(64, 48), (64, 48))
    bits = tmp_path / "x.bin"
    good = [sys.executable, str(REPO / "tests/programs/feature_decoder.py"), "{bitstream}", "",
            "{output}", "64", "48", "3"]
    bits.write_bytes(b"NAN")   # a marker: no demo codec (torch) needed; the NaN is found
    work = tmp_path / "ok"
    work.mkdir()
    rec, _ = evidence.decode_video(good, {"bitstream": str(bits)}, timeout_s=60, work=work,
                                   layout=layout, original=None, rel=str,
                                   contain=Containment(sandbox=mode,
                                                       max_file_bytes=output_cap(
                                                           layout.max_bytes())))
    assert rec["status"] == "bad-output" and "NaN" in rec["message"], rec
    work = tmp_path / "big"
    work.mkdir()
    rec, _ = evidence.decode_video([*HOSTILE, "write", "{output}", str(10 << 20)],
                                   {"bitstream": str(bits)}, timeout_s=60, work=work,
                                   layout=layout, original=None, rel=str,
                                   contain=Containment(sandbox=mode, max_file_bytes=1 << 20))
    assert rec["status"] == "failed" and "reached the size limit of 1048576" in rec["message"]
    work = tmp_path / "link"
    work.mkdir()
    rec, _ = evidence.decode_video([*HOSTILE, "symlink", "{output}", "/etc/passwd"],
                                   {"bitstream": str(bits)}, timeout_s=60, work=work,
                                   layout=layout, original=None, rel=str,
                                   contain=Containment(sandbox=mode))
    assert rec["status"] == "bad-output" and "symbolic link" in rec["message"]


def test_log_lines_in_messages_are_one_line(tmp_path):
    """A failing program's last log line is quoted with its control characters escaped: a log
    can neither break the one-line message nor send escapes to the terminal."""
    run = _decode(tmp_path, [*HOSTILE, "escape-log"])
    assert run.status == "failed" and run.returncode == 4
    assert run.message.startswith("decoder exited with code 4 on x.bin: ")
    assert "red alert" in run.message
    assert not any(c in run.message for c in "\x1b\x00\x9b\n\r")


@pytest.mark.skipif(not sandbox_status()[0], reason=f"no usable bubblewrap: {sandbox_status()[1]}")
def test_sandbox_system_read_only_own_pids_and_measures(tmp_path):
    script = ("import os, json\n"
              "r = {}\n"
              "for p in ('/usr/vcmctc-test', '/etc/vcmctc-test', '/vcmctc-test'):\n"
              "    try: open(p, 'w').write('x'); r[p] = 'ok'\n"
              "    except OSError as e: r[p] = e.errno\n"
              "r['pids'] = sorted(int(d) for d in os.listdir('/proc') if d.isdigit())\n"
              "r['pid1'] = open('/proc/1/cmdline', 'rb').read().decode('utf-8', 'replace')\n"
              "print(json.dumps(r))\n")
    run = run_process([sys.executable, "-c", script], timeout_s=30, workdir=tmp_path,
                      log_path=tmp_path / "log", contain=Containment(sandbox="bwrap"))
    import json

    r = json.loads((tmp_path / "log").read_text())
    assert run.returncode == 0
    assert r["/usr/vcmctc-test"] == r["/etc/vcmctc-test"] == r["/vcmctc-test"] == 30  # EROFS
    assert not Path("/usr/vcmctc-test").exists() and not Path("/etc/vcmctc-test").exists()
    # its own pid namespace: bwrap's init is pid 1, vcmctc and the rest are not there
    assert len(r["pids"]) <= 3 and r["pid1"].split("\x00")[0].endswith("bwrap")
    # CPU and memory measured in the sandbox are the program's own
    alloc = run_process([sys.executable, str(REPO / "tests/programs/fake_decoder.py"), "alloc",
                         "-", "200"], timeout_s=30, workdir=tmp_path, log_path=tmp_path / "a.log",
                        contain=Containment(sandbox="bwrap"))
    assert alloc.returncode == 0 and 200 <= alloc.peak_rss_mb < 400 and alloc.cpu_s < 2.0


def test_auto_falls_back_with_a_reason(tmp_path, monkeypatch):
    """--sandbox auto where bwrap cannot work runs unconfined and says why; --sandbox bwrap
    there is a one-line UserError."""
    from vcmctc.errors import UserError

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'bubblewrap 0.0' "
                                "&& exit 0\necho 'bwrap: setting up uid map: Permission denied' "
                                ">&2\nexit 1\n")
    (fake / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(runner, "_SANDBOX", [])
    monkeypatch.setattr(runner, "_BWRAP_HELP", [])
    usable, why = sandbox_status()
    assert not usable and why == ("bwrap does not run here (bwrap: setting up uid map: "
                                  "Permission denied)")
    assert Containment(sandbox="auto").resolved().sandbox == "off"
    with pytest.raises(UserError, match=r"^--sandbox bwrap: bwrap does not run here \(bwrap: "
                                        "setting up uid map"):
        Containment(sandbox="bwrap").resolved()
    run = run_process([sys.executable, "-c", "pass"], timeout_s=30, workdir=tmp_path,
                      log_path=tmp_path / "log", contain=Containment(sandbox="auto"))
    assert run.returncode == 0
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(runner, "_SANDBOX", [])
    assert sandbox_status() == (False, "bubblewrap (bwrap) is not installed")


def test_containment_checks_its_options():
    from vcmctc.errors import UserError

    with pytest.raises(UserError, match=r"^--pass-env 'A=B': not an environment variable name$"):
        Containment(pass_env=("A=B",))
    assert Containment(pass_env="LD_LIBRARY_PATH").pass_env == ("LD_LIBRARY_PATH",)
    with pytest.raises(UserError, match="^unknown sandbox mode 'docker'"):
        Containment(sandbox="docker")
