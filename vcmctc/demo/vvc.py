"""VVC encoding and decoding of raw 8-bit 4:2:0 YUV with the ffmpeg of ``imageio-ffmpeg``.

The encoder is libvvenc (Fraunhofer VVenC) inside ffmpeg, the decoder ffmpeg's native ``vvc``.
libvvenc only takes 10-bit input, so the conversions are done here, exactly and in numpy, the way
VTM does them with ``InputBitDepth=8 InternalBitDepth=10 OutputBitDepth=8``: in ``x << 2``; out
``min(255, (x + 2) >> 2)``. (Letting ffmpeg's swscale convert would replicate bits going up and
dither coming down.)

Pinned encoder settings (:data:`ENCODER_SETTINGS`): a fixed QP (``-qp``, perceptual QP adaptation
off so the QP is the one asked for), random access with GOP 32, the given intra period, one
thread and one parallel frame. With those, the bitstream is the same on every run.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vcmctc.errors import UserError

PRESETS = ("faster", "fast", "medium", "slow", "slower")
DEFAULT_PRESET = "faster"
DEFAULT_INTRA_PERIOD = 32

#: Settings that change a bitstream, besides QP, preset and intra period (recorded in signatures).
ENCODER_SETTINGS = {"encoder": "libvvenc", "qpa": 0, "threads": 1, "max_parallel_frames": 1,
                    "gop_size": 32, "refresh": "CRA", "internal_bit_depth": 10,
                    "bit_depth_conversion": "8->10: x<<2; 10->8: min(255,(x+2)>>2)"}

_Y4M_MAGIC = b"YUV4MPEG2 "
_COLOUR_OPTIONS = ("-colorspace", "-color_primaries", "-color_trc", "-color_range")


@dataclass(frozen=True)
class CodingRun:
    """What one ffmpeg run did: output size, wall and child CPU seconds, the command line."""

    output: Path
    size_bytes: int
    frames: int
    wall_s: float
    cpu_s: float
    command: tuple[str, ...] = field(repr=False)


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with ``imageio-ffmpeg`` (or ``$VCMCTC_FFMPEG``)."""
    env = os.environ.get("VCMCTC_FFMPEG")
    if env:
        return env
    try:
        import imageio_ffmpeg
    except ImportError:
        raise UserError("the demo codecs need ffmpeg: pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def versions() -> dict[str, str]:
    """ffmpeg and libvvenc versions, for result signatures (runs ffmpeg twice, ~0.1 s)."""
    exe = ffmpeg_exe()
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True).stdout
    m = re.search(r"ffmpeg version (\S+)", out)
    ffmpeg = m.group(1) if m else "unknown"
    # libvvenc prints its version when an encoder is opened: encode one tiny frame.
    probe = subprocess.run(
        [exe, "-hide_banner", "-loglevel", "verbose", "-f", "lavfi", "-i",
         "color=black:s=64x64:r=1", "-frames:v", "1", "-pix_fmt", "yuv420p10le",
         "-c:v", "libvvenc", "-preset", "faster", "-f", "null", "-"],
        capture_output=True, text=True)
    m = re.search(r"libvvenc version: (\S+)", probe.stderr)
    return {"ffmpeg": ffmpeg, "libvvenc": m.group(1) if m else "unknown"}


def _frame_bytes(width: int, height: int) -> int:
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise UserError(f"frame size must be positive and even for 4:2:0, got {width}x{height}")


def _run_with_rusage(cmd: list[str], feed=None, read=None) -> tuple[int, float, float, str]:
    """Run ``cmd``; ``feed(stdin)`` writes input, ``read(stdout)`` consumes output.

    Returns (exit code, wall s, child CPU s (NaN where unknown), stderr text). stderr goes to a temporary file so
    a chatty encoder can never block on a full pipe.
    """
    from vcmctc.runner import STOPPING, Stopped, registered

    if STOPPING.is_set():
        raise Stopped()
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                                stdout=subprocess.PIPE if read else subprocess.DEVNULL,
                                stderr=err)
        try:
            with registered(proc):   # terminate_all (Ctrl-C, SIGTERM) stops it at any -j
                if feed:
                    try:
                        feed(proc.stdin)
                    except BrokenPipeError:
                        pass  # ffmpeg stopped reading: its exit code and log tell why
                    finally:
                        try:
                            proc.stdin.close()
                        except BrokenPipeError:
                            pass
                if read:
                    read(proc.stdout)
                    proc.stdout.close()
                if hasattr(os, "waitid"):   # wait for its end while registered, not reaping it
                    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if hasattr(os, "wait4"):  # POSIX: the child's own CPU time
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
        else:
            proc.wait()
            cpu = float("nan")
        wall = time.perf_counter() - start
        err.seek(0)
        log = err.read().decode("utf-8", "replace")
    return proc.returncode, wall, cpu, log


def _tail(log: str, lines: int = 6) -> str:
    kept = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])


def _check_settings(width: int, height: int, frames: int, fps: float, qp: int, preset: str,
                    intra_period: int) -> None:
    _check_size(width, height)
    if preset not in PRESETS:
        raise UserError(f"unknown libvvenc preset {preset!r} (known: {', '.join(PRESETS)})")
    if isinstance(qp, bool) or not isinstance(qp, (int, np.integer)) or not 0 <= qp <= 63:
        raise UserError(f"QP must be an integer 0..63, got {qp!r}")
    if intra_period <= 0 or intra_period % ENCODER_SETTINGS["gop_size"]:
        raise UserError(f"intra period must be a positive multiple of 32, got {intra_period}")
    if frames <= 0:
        raise UserError(f"need frames > 0, got frames={frames}")
    if not fps > 0:
        raise UserError(f"fps must be positive, got {fps!r}")


def _encode_command(width: int, height: int, frames: int, fps: float, qp: int, out: Path, *,
                    preset: str, intra_period: int, colour: tuple[str, ...]) -> list[str]:
    params = (f"threads={ENCODER_SETTINGS['threads']}:"
              f"MaxParallelFrames={ENCODER_SETTINGS['max_parallel_frames']}:"
              f"IntraPeriod={intra_period}:GOPSize={ENCODER_SETTINGS['gop_size']}")
    return [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", f"{width}x{height}",
            "-r", f"{fps:g}", *colour, "-i", "pipe:0", "-frames:v", str(frames),
            "-c:v", "libvvenc", "-preset", preset, "-qp", str(int(qp)), "-qpa", "0",
            "-vvenc-params", params, "-flags", "+bitexact", "-fflags", "+bitexact",
            "-f", "vvc", str(out)]


def encode_vvc(yuv: str | os.PathLike, width: int, height: int, frames: int, fps: float,
               qp: int, out: str | os.PathLike, *, preset: str = DEFAULT_PRESET,
               intra_period: int = DEFAULT_INTRA_PERIOD, skip: int = 0,
               colour: tuple[str, ...] = ()) -> CodingRun:
    """Encode frames ``skip .. skip+frames-1`` of an 8-bit 4:2:0 YUV file to a VVC bitstream.

    ``out`` receives the raw Annex-B bitstream (``.266``). ``intra_period`` must be a multiple
    of the GOP size 32 (libvvenc's rule). ``colour``: ffmpeg options describing the colours
    (``-colorspace``, ``-color_primaries``, ``-color_trc``, ``-color_range`` and their values).
    They tag the raw input, so libvvenc writes them in the VUI and nothing is converted (given
    as output options, ffmpeg would convert the pictures from its assumed input colours).
    Default: none (no colour description).
    """
    _check_settings(width, height, frames, fps, qp, preset, intra_period)
    if skip < 0:
        raise UserError(f"need frames > 0 and skip >= 0, got frames={frames} skip={skip}")
    if len(colour) % 2 or any(opt not in _COLOUR_OPTIONS for opt in colour[0::2]):
        raise UserError(f"colour options must be pairs of {', '.join(_COLOUR_OPTIONS)} and a "
                        f"value, got {list(colour)}")
    src, out = Path(yuv), Path(out)
    fb = _frame_bytes(width, height)
    try:
        size = src.stat().st_size
    except FileNotFoundError:
        raise UserError("YUV file not found", file=src) from None
    if size % fb:
        raise UserError(f"size {size} is not a whole number of {width}x{height} 4:2:0 8-bit "
                        f"frames ({fb} bytes each)", file=src)
    if (skip + frames) * fb > size:
        raise UserError(f"has {size // fb} frames, need {skip + frames} (skip {skip} + "
                        f"{frames})", file=src)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = _encode_command(width, height, frames, fps, qp, out, preset=preset,
                          intra_period=intra_period, colour=colour)

    def feed(stdin):
        data = np.memmap(src, dtype=np.uint8, mode="r", offset=skip * fb, shape=(frames, fb))
        for i in range(frames):
            stdin.write((data[i].astype(np.uint16) << 2).astype("<u2").tobytes())

    code, wall, cpu, log = _run_with_rusage(cmd, feed=feed)
    if code != 0 or not out.is_file():
        raise UserError(f"ffmpeg/libvvenc failed (exit {code}): {_tail(log)}", file=src)
    return CodingRun(out, out.stat().st_size, frames, wall, cpu, tuple(cmd))


def encode_vvc10(frames: np.ndarray, width: int, height: int, fps: float, qp: int,
                 out: str | os.PathLike, *, preset: str = DEFAULT_PRESET,
                 intra_period: int = DEFAULT_INTRA_PERIOD) -> CodingRun:
    """Encode 10-bit 4:2:0 frames given as samples (``frames x (Y, Cb, Cr planes)``, values
    0..1023) to a VVC bitstream, with the settings of :func:`encode_vvc` (no bit-depth
    conversion: the samples are libvvenc's input as they are)."""
    frames = np.asarray(frames)
    n = int(frames.shape[0]) if frames.ndim == 2 else 0
    _check_settings(width, height, n, fps, qp, preset, intra_period)
    if frames.shape[1] != _frame_bytes(width, height):
        raise UserError(f"a {width}x{height} 4:2:0 frame has {_frame_bytes(width, height)} "
                        f"samples, got {frames.shape[1]}")
    if frames.size and (frames.min() < 0 or frames.max() > 1023):
        raise UserError("10-bit samples must lie in 0..1023")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = _encode_command(width, height, n, fps, qp, out, preset=preset,
                          intra_period=intra_period, colour=())

    def feed(stdin):
        for i in range(n):
            stdin.write(frames[i].astype("<u2").tobytes())

    code, wall, cpu, log = _run_with_rusage(cmd, feed=feed)
    if code != 0 or not out.is_file():
        raise UserError(f"ffmpeg/libvvenc failed (exit {code}): {_tail(log)}", file=out)
    return CodingRun(out, out.stat().st_size, n, wall, cpu, tuple(cmd))


def _read_exact(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        block = stream.read(n - got)
        if not block:
            break
        chunks.append(block)
        got += len(block)
    return b"".join(chunks)


def _decode(bitstream: Path, sink) -> tuple[dict, int, float, float, str, list[str]]:
    """Run ffmpeg's VVC decoder; ``sink(samples)`` gets each frame's 10-bit 4:2:0 samples
    (a ``<u2`` array). Returns (info, exit code, wall, cpu, log, command)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-threads", "1",
           "-c:v", "vvc", "-i", str(bitstream), "-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p10le",
           "-strict", "-1", "pipe:1"]
    info: dict = {"frames": 0, "error": None}

    def read(stdout):
        header = stdout.readline()
        if not header.startswith(_Y4M_MAGIC):
            if header:
                info["error"] = f"unexpected decoder output {header[:40]!r}"
            return
        fields = dict((t[:1], t[1:]) for t in header.decode("ascii").split()[1:])
        w, h = int(fields["W"]), int(fields["H"])
        if fields.get("C", "420p10") not in ("420p10", "420p10le"):
            info["error"] = f"decoder gave chroma format {fields.get('C')!r}, expected 420p10"
            return
        info["size"] = (w, h)
        samples = _frame_bytes(w, h)
        while True:
            marker = stdout.readline()
            if not marker:
                break
            if not marker.startswith(b"FRAME"):
                info["error"] = f"bad frame marker {marker[:20]!r}"
                return
            raw = _read_exact(stdout, 2 * samples)
            if len(raw) != 2 * samples:
                info["error"] = "truncated frame from the decoder"
                return
            sink(np.frombuffer(raw, dtype="<u2"))
            info["frames"] += 1

    code, wall, cpu, log = _run_with_rusage(cmd, read=read)
    return info, code, wall, cpu, log, cmd


def _check_decoded(src: Path, info: dict, code: int, log: str, width, height, frames) -> None:
    if code != 0 or info["error"] or "size" not in info:
        detail = info["error"] or _tail(log) or "no frames decoded"
        raise UserError(f"VVC decoding failed (exit {code}): {detail}", file=src)
    w, h = info["size"]
    if (width is not None and width != w) or (height is not None and height != h):
        raise UserError(f"decoded size {w}x{h}, expected {width}x{height}", file=src)
    if frames is not None and info["frames"] != frames:
        raise UserError(f"decoded {info['frames']} frames, expected {frames}", file=src)


def decode_vvc(bitstream: str | os.PathLike, out_yuv: str | os.PathLike, *,
               width: int | None = None, height: int | None = None,
               frames: int | None = None) -> CodingRun:
    """Decode a VVC bitstream to an 8-bit 4:2:0 YUV file (10-bit output rounded to 8 bits).

    The size is read from the decoder's output; ``width``, ``height`` and ``frames``, when
    given, are checked against it.
    """
    src, dst = Path(bitstream), Path(out_yuv)
    if not src.is_file():
        raise UserError("bitstream not found", file=src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as fh:
        def sink(x):
            fh.write(np.minimum((x + 2) >> 2, 255).astype(np.uint8).tobytes())

        info, code, wall, cpu, log, cmd = _decode(src, sink)
    _check_decoded(src, info, code, log, width, height, frames)
    return CodingRun(dst, dst.stat().st_size, info["frames"], wall, cpu, tuple(cmd))


def decode_vvc10(bitstream: str | os.PathLike, *, width: int | None = None,
                 height: int | None = None, frames: int | None = None
                 ) -> tuple[np.ndarray, CodingRun]:
    """Decode a VVC bitstream to its 10-bit 4:2:0 samples (``frames x samples`` uint16, planes
    Y, Cb, Cr of each frame in a row), with the checks of :func:`decode_vvc`."""
    src = Path(bitstream)
    if not src.is_file():
        raise UserError("bitstream not found", file=src)
    rows: list[np.ndarray] = []
    info, code, wall, cpu, log, cmd = _decode(src, lambda x: rows.append(x.astype(np.uint16)))
    _check_decoded(src, info, code, log, width, height, frames)
    samples = np.stack(rows) if rows else np.zeros((0, 0), np.uint16)
    return samples, CodingRun(src, samples.nbytes, info["frames"], wall, cpu, tuple(cmd))


def _main(argv: list[str] | None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m vcmctc.demo.vvc")
    sub = parser.add_subparsers(dest="command", required=True)
    dec = sub.add_parser("decode", help="decode a VVC bitstream to 8-bit YUV")
    dec.add_argument("--bitstream", required=True)
    dec.add_argument("--output", required=True)
    dec.add_argument("--width", type=int)
    dec.add_argument("--height", type=int)
    dec.add_argument("--frames", type=int)
    args = parser.parse_args(argv)
    decode_vvc(args.bitstream, args.output, width=args.width, height=args.height,
               frames=args.frames)


def main(argv: list[str] | None = None) -> int:
    """``python -m vcmctc.demo.vvc decode --bitstream B --output O [--width W --height H
    --frames N]``: the demo anchor's decoder (VVC to 8-bit 4:2:0, rounded as :func:`decode_vvc`)."""
    from vcmctc.demo._cli import run_cli

    return run_cli("vcmctc.demo.vvc", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
