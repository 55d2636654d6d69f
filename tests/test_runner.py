"""Decoder runner (vcmctc.runner) with a real decoder (ffmpeg of imageio-ffmpeg: HEVC and VVC)
and with misbehaving fake decoders (tests/programs/fake_decoder.py)."""

import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vcmctc.errors import UserError
from vcmctc.media.yuv import YuvFormat, YuvReader, md5_of
from vcmctc.runner import (
    DECODER_PLACEHOLDERS,
    check_output,
    check_template,
    fill_template,
    parse_log_time,
    read_log_time,
    run_decoder,
    run_process,
)

PROGRAMS = Path(__file__).parent / "programs"
FAKE = [sys.executable, str(PROGRAMS / "fake_decoder.py")]
W, H, N = 64, 48, 10


def _ffmpeg():
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _smooth_video(fmt: YuvFormat, frames: int) -> bytes:
    """A moving sinusoidal pattern (easy to code, so decoded frames stay close to it)."""
    s = 1 << (fmt.bit_depth - 8)
    rr, cc = np.mgrid[0:fmt.height, 0:fmt.width]
    ch, cw = fmt.chroma_shape
    cr, ccol = np.mgrid[0:ch, 0:cw]
    out = []
    for t in range(frames):
        y = 128 + 60 * np.sin((cc + 2 * t) / 9.0) * np.cos(rr / 11.0)
        u = 128 + 30 * np.sin((cr + t) / 7.0)
        v = 128 - 30 * np.cos(ccol / 5.0)
        out += [np.round(p * s).astype(fmt.dtype).tobytes() for p in (y, u, v)]
    return b"".join(out)


@pytest.fixture(scope="session")
def streams(tmp_path_factory):
    """Source YUVs (8 and 10 bit) and their HEVC (libx265) and VVC (libvvenc) bitstreams."""
    root = tmp_path_factory.mktemp("streams")
    made = {}
    for bd in (8, 10):
        fmt = YuvFormat(W, H, bd)
        src = root / f"src{bd}.yuv"
        src.write_bytes(_smooth_video(fmt, N))
        for codec, args in (("hevc", ["-c:v", "libx265", "-x265-params", "log-level=error",
                                      "-f", "hevc"]),
                            ("vvc", ["-c:v", "libvvenc", "-preset", "faster", "-f", "vvc"])):
            out = root / f"{codec}{bd}.bin"
            r = subprocess.run([_ffmpeg(), "-loglevel", "error", "-y", "-f", "rawvideo",
                                "-pix_fmt", fmt.pix_fmt, "-s", f"{W}x{H}", "-r", "30", "-i",
                                str(src), *args, "-pix_fmt", fmt.pix_fmt, str(out)],
                               capture_output=True, text=True)
            made[codec, bd] = (src, out if r.returncode == 0 else None, r.stderr)
    return made


def _decoder_argv(bit_depth):
    pix = YuvFormat(W, H, bit_depth).pix_fmt
    return [_ffmpeg(), "-y", "-i", "{bitstream}", "-f", "rawvideo", "-pix_fmt", pix, "{output}"]


def _values(bitstream, output="dec.yuv", bit_depth=8):
    return {"bitstream": bitstream, "output": output, "width": W, "height": H, "frames": N,
            "bit_depth": bit_depth, "fps": 30, "qp": 32}


# ---------------------------------------------------------------------------------------------
# a real decoder

@pytest.mark.parametrize("codec", ["hevc", "vvc"])
@pytest.mark.parametrize("bit_depth", [8, 10])
def test_real_decoder(tmp_path, streams, codec, bit_depth):
    src, bitstream, err = streams[codec, bit_depth]
    if bitstream is None:
        pytest.skip(f"this ffmpeg cannot encode {codec}: {err}")
    fmt = YuvFormat(W, H, bit_depth)
    md5s = []
    for attempt in range(2):
        run = run_decoder(_decoder_argv(bit_depth), _values(bitstream, bit_depth=bit_depth),
                          timeout_s=60, workdir=tmp_path, log_path=tmp_path / f"dec{attempt}.log")
        assert run.status == "ok", run.message
        assert run.returncode == 0 and run.output == tmp_path / "dec.yuv"
        assert run.argv[3] == str(bitstream)
        assert run.wall_s > 0 and run.cpu_s > 0 and run.peak_rss_mb > 1
        assert "Stream" in run.log.read_text()  # ffmpeg's stderr went to the log
        run = check_output(run, fmt, N)
        assert run.status == "ok", run.message
        assert run.frames_decoded == N and run.output_bytes == N * fmt.frame_bytes
        assert run.md5 == md5_of(run.output) == hashlib.md5(run.output.read_bytes()).hexdigest()
        assert bitstream.name in run.message
        md5s.append(run.md5)
    assert md5s[0] == md5s[1]  # decoding is deterministic
    # the decoded frames are the source frames (lossy, but a smooth pattern codes well)
    dec, ref = YuvReader(run.output, fmt, frames=N), YuvReader(src, fmt, frames=N)
    for i in range(N):
        err = np.abs(dec[i][0].astype(int) - ref[i][0].astype(int)).mean() / (1 << (bit_depth - 8))
        assert err < 4, f"frame {i}: mean luma error {err}"
    # the submitter's MD5 (any case) is accepted; a different one is a mismatch
    again = run_decoder(_decoder_argv(bit_depth), _values(bitstream, bit_depth=bit_depth),
                        timeout_s=60, workdir=tmp_path, log_path=tmp_path / "dec.log")
    assert check_output(again, fmt, N, expected_md5=md5s[0].upper()).status == "ok"
    bad = check_output(again, fmt, N, expected_md5="0" * 32)
    assert bad.status == "md5-mismatch" and bad.md5 == md5s[0]
    assert bitstream.name in bad.message and md5s[0] in bad.message and "0" * 32 in bad.message
    json.dumps(bad.to_dict())


def test_garbage_bitstream_fails(tmp_path):
    bitstream = tmp_path / "garbage.bin"
    bitstream.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    run = run_decoder(_decoder_argv(8), _values(bitstream), timeout_s=60, workdir=tmp_path,
                      log_path=tmp_path / "dec.log")
    assert run.status == "failed" and run.returncode not in (0, None)
    assert "garbage.bin" in run.message and str(tmp_path / "dec.log") in run.message
    # a failed run stays failed whatever the output check finds
    assert check_output(run, YuvFormat(W, H), N) == run


# ---------------------------------------------------------------------------------------------
# misbehaving decoders

def _fake(tmp_path, mode, n=0, timeout_s=10.0):
    return run_decoder([*FAKE, mode, "{output}", str(n)], _values(tmp_path / "x.bin"),
                       timeout_s=timeout_s, workdir=tmp_path, log_path=tmp_path / "fake.log")


def test_crash_reports_exit_code_and_last_log_line(tmp_path):
    run = _fake(tmp_path, "crash")
    assert run.status == "failed" and run.returncode == 3
    assert run.message.startswith("decoder exited with code 3 on x.bin: error: corrupt slice")


def test_hang_is_killed_at_the_timeout(tmp_path):
    start = time.perf_counter()
    run = _fake(tmp_path, "hang", timeout_s=1.0)
    elapsed = time.perf_counter() - start
    assert run.status == "timeout" and run.returncode is None
    assert 1.0 <= run.wall_s < 1.5 and elapsed < 3.0
    assert "timed out on x.bin" in run.message


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state  # killed, waiting to be reaped by init


def test_timeout_kills_the_whole_process_group(tmp_path):
    run = _fake(tmp_path, "hang-with-child", timeout_s=1.5)
    assert run.status == "timeout"
    pid = int(run.log.read_text().split("child ")[1].split()[0])
    for _ in range(50):
        if _gone(pid):
            break
        time.sleep(0.02)
    assert _gone(pid)


def test_wrong_size_output(tmp_path):
    fmt = YuvFormat(W, H)
    run = check_output(_fake(tmp_path, "garbage", 2 * fmt.frame_bytes + 5), fmt, N)
    assert run.status == "wrong-size" and run.frames_decoded == 2
    assert run.output_bytes == 2 * 4608 + 5 and run.md5 is None
    assert "9221 bytes (2 frames and 5 bytes)" in run.message
    assert "expected 10 frames of 64x48 4:2:0 8-bit = 46080 bytes" in run.message
    assert "x.bin" in run.message
    # whole frames, but too few
    run = check_output(_fake(tmp_path, "garbage", 9 * fmt.frame_bytes), fmt, N)
    assert run.status == "wrong-size" and run.frames_decoded == 9


def test_no_output_and_empty_output(tmp_path):
    fmt = YuvFormat(W, H)
    (tmp_path / "dec.yuv").write_bytes(bytes(N * fmt.frame_bytes))  # stale file from before
    run = check_output(_fake(tmp_path, "none"), fmt, N)
    assert run.status == "no-output" and "was not written" in run.message
    run = check_output(_fake(tmp_path, "garbage", 0), fmt, N)
    assert run.status == "no-output" and "is empty" in run.message and run.output_bytes == 0


def test_malformed_expected_md5_is_a_user_error(tmp_path):
    run = _fake(tmp_path, "none")
    with pytest.raises(UserError, match="not 32 hex digits"):
        check_output(run, YuvFormat(W, H), N, expected_md5="abc")


# ---------------------------------------------------------------------------------------------
# measurements

def test_cpu_and_memory_are_per_process_in_parallel_threads(tmp_path):
    runs = {}

    def go(name, argv):
        runs[name] = run_process(argv, timeout_s=30, workdir=tmp_path,
                                 log_path=tmp_path / f"{name}.log")

    threads = [threading.Thread(target=go, args=a) for a in (
        ("burn", [*FAKE, "burn", "-", "10"]),         # 1 s of CPU
        ("alloc", [*FAKE, "alloc", "-", "200"]),      # 200 MB resident
        ("idle", [sys.executable, "-c", "import time; time.sleep(0.6)"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # wide margins: the machine may be busy (page faults and start-up cost CPU time too)
    assert runs["burn"].cpu_s >= 0.9
    assert runs["idle"].cpu_s < 0.3 and runs["alloc"].cpu_s < 0.8
    assert runs["alloc"].peak_rss_mb >= 200
    assert runs["burn"].peak_rss_mb < 60 and runs["idle"].peak_rss_mb < 60
    assert runs["idle"].wall_s >= 0.6


def test_peak_memory_excludes_the_calling_process(tmp_path):
    big = np.ones(300 * 1024 * 1024 // 8)  # vcmctc itself holding 300 MB must not count
    run = run_process([sys.executable, "-c", "pass"], timeout_s=30, workdir=tmp_path,
                      log_path=tmp_path / "p.log")
    del big
    assert run.returncode == 0 and run.peak_rss_mb < 60


# ---------------------------------------------------------------------------------------------
# templates

def test_fill_template():
    argv = fill_template(["dec", "-b", "{bitstream}", "--qp={qp:02d}", "{{x}}", "{width}x{height}"],
                         {"bitstream": Path("/a/b.bin"), "qp": 7, "width": 64, "height": 48})
    assert argv == ["dec", "-b", "/a/b.bin", "--qp=07", "{x}", "64x48"]
    check_template(["d", "{bitstream}", "{output}", "{fps}", "{frames}"], DECODER_PLACEHOLDERS)


@pytest.mark.parametrize("template, match", [
    (["dec", "{bitsream}"], r"unknown placeholder \{bitsream\} in decoder command argument 1"),
    (["dec", "{}"], r"unknown placeholder \{\}"),
    (["dec", "{output.name}"], r"unknown placeholder \{output.name\}"),
    (["dec", "{qp:{speed}}"], r"unknown placeholder \{speed\}"),
    (["dec", "{output"], "argument 1 '{output'"),
    ("dec {output}", "must be a non-empty list"),
])
def test_bad_templates(tmp_path, template, match):
    with pytest.raises(UserError, match=match):
        run_decoder(template, _values("b.bin"), timeout_s=5, workdir=tmp_path,
                    log_path=tmp_path / "l.log")


def test_missing_program_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot run 'no-such-decoder': program not found"):
        run_decoder(["no-such-decoder", "{bitstream}"], _values("b.bin"), timeout_s=5,
                    workdir=tmp_path, log_path=tmp_path / "l.log")


# ---------------------------------------------------------------------------------------------
# timing lines in codec logs

@pytest.mark.parametrize("text, expect", [
    # VCM-RS (vcmrs.log prefixes a time stamp; the value is an unformatted float, wall time)
    ("[2024-05-01 10:00:00] Decoding completed in 12.3456789 seconds\n",
     dict(wall_s=12.3456789, cpu_s=None, source="vcm-rs", step="decoding")),
    ("Encoding completed in 3600.5 seconds", dict(wall_s=3600.5, cpu_s=None, step="encoding")),
    # VTM encoder: clock() [user] and wall [elapsed]
    ("\n Total Time:      123.456 sec. [user]      130.001 sec. [elapsed]\n",
     dict(wall_s=130.001, cpu_s=123.456, source="vtm", step="encoding")),
    # VTM encoder with HDR metrics: encoding time first, total in brackets
    (" Encoding Time (Total Time):       10.000 (       11.000 ) sec. [user]       10.500 "
     "(       11.500 ) sec. [elapsed]", dict(wall_s=10.5, cpu_s=10.0, source="vtm")),
    # VTM decoder: clock() only
    ("POC    0 ...\n\n Total Time:        2.250 sec.\n", dict(wall_s=None, cpu_s=2.25, step=None)),
    # a VCM-RS log with its inner VTM's lines: the VCM-RS line is the whole run
    (" Total Time:        2.250 sec.\nDecoding completed in 9.5 seconds\n Total Time: 1.0 sec.",
     dict(wall_s=9.5, source="vcm-rs")),
    # several runs in one log: the last one counts
    ("Decoding completed in 1 seconds\nDecoding completed in 2.5 seconds\n", dict(wall_s=2.5)),
])
def test_parse_log_time(text, expect):
    got = parse_log_time(text)
    for key, value in expect.items():
        assert getattr(got, key) == value, key


def test_parse_log_time_none(tmp_path):
    assert parse_log_time("frame=  10 fps=0.0 q=-0.0 Lsize=45KiB\nTotal Time: soon\n") is None
    assert read_log_time(tmp_path / "missing.log") is None
    log = tmp_path / "dec.log"
    log.write_text(" Total Time:        0.500 sec.\n")
    assert read_log_time(log).cpu_s == 0.5
