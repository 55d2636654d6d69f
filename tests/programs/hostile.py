"""A hostile "decoder" / task program for containment tests: hostile.py MODE ARG...

Modes:
  setsid PIDFILE [exit]     start a child that calls setsid() and sleeps; write its pid; sleep
                            (or exit 0 at once with "exit")
  double-fork PIDFILE [exit]  fork; the child forks a grandchild and exits; the grandchild
                            calls setsid() and sleeps; write its pid; sleep (or exit 0)
  fork-bomb-ish PIDFILE     start 5 children that each keep starting sleepers, write pids
  env OUTPUT                write the environment as JSON
  symlink OUTPUT TARGET     make OUTPUT a symbolic link to TARGET
  write OUTPUT N            write N bytes to OUTPUT (sparse-free, in 1 MiB blocks)
  log N                     print exactly N bytes of numbered lines, "FIRST LINE" first, "LAST LINE" last
  escape-log                print terminal escapes and a NUL, then exit 4
  probe REPORT PATH...      try to write outside, read files, open a socket; JSON to REPORT
"""

import json
import os
import socket
import sys
import time


def write_pid(path, pid):
    with open(path, "w") as fh:
        fh.write(str(pid))


mode = sys.argv[1]
if mode == "setsid":
    pid = os.fork()
    if pid == 0:
        os.setsid()
        time.sleep(600)
        os._exit(0)
    write_pid(sys.argv[2], pid)
    print(f"started {pid} in a new session", flush=True)
    if sys.argv[3:] != ["exit"]:
        time.sleep(600)
elif mode == "double-fork":
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        grandchild = os.fork()
        if grandchild == 0:
            time.sleep(600)
            os._exit(0)
        os.write(w, str(grandchild).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    grandchild = int(os.read(r, 64))
    write_pid(sys.argv[2], grandchild)
    print(f"daemonised {grandchild}", flush=True)
    if sys.argv[3:] != ["exit"]:
        time.sleep(600)
elif mode == "env":
    with open(sys.argv[2], "w") as fh:
        json.dump(dict(os.environ), fh)
elif mode == "symlink":
    os.symlink(sys.argv[3], sys.argv[2])
elif mode == "write":
    n, block = int(sys.argv[3]), b"\x80" * (1 << 20)
    with open(sys.argv[2], "wb") as fh:
        while n > 0:
            fh.write(block[:n])
            n -= len(block)
elif mode == "log":
    n = int(sys.argv[2])  # exactly n bytes
    out = sys.stdout.buffer
    out.write(b"FIRST LINE\n")
    left, i = n - 11 - 10, 0
    while left > 0:
        line = (b"line %09d of the log, padding padding padding\n" % i)[-left:]
        out.write(line)
        left -= len(line)
        i += 1
    out.write(b"LAST LINE\n")
elif mode == "escape-log":
    sys.stdout.write("ok line\n\x1b[2J\x1b[31mred alert\x00 and \x9b6n csi\n")
    sys.exit(4)
elif mode == "probe":
    report = {}
    for i, path in enumerate(sys.argv[3:]):
        try:
            with open(path, "rb") as fh:
                report[f"read {path}"] = fh.read(100).decode("utf-8", "replace")
        except OSError as exc:
            report[f"read {path}"] = f"error {exc.errno}"
    for target in sys.argv[3:]:
        probe = os.path.join(os.path.dirname(target), "written-by-program.txt")
        try:
            with open(probe, "w") as fh:
                fh.write("x")
            report[f"write {probe}"] = "ok"
        except OSError as exc:
            report[f"write {probe}"] = f"error {exc.errno}"
    port = int(os.environ.get("PROBE_PORT", "0"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"hello from the sandbox")
        report["connect"] = "ok"
    except OSError as exc:
        report["connect"] = f"error {exc.errno}"
    with open(sys.argv[2], "w") as fh:
        json.dump(report, fh)
else:
    sys.exit(f"unknown mode {mode}")
