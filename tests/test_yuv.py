"""Raw YUV reading and YUV -> RGB conversion (vcmctc.media.yuv)."""

import hashlib
import subprocess

import numpy as np
import pytest

from vcmctc.errors import UserError
from vcmctc.media.yuv import YuvFormat, YuvReader, check_yuv_size, md5_of, to_bgr, to_rgb


def _random_frames(fmt: YuvFormat, n: int, rng, legal: bool = False):
    """n frames as lists of planes, plus the bytes of the file holding them."""
    s = 1 << (fmt.bit_depth - 8)
    frames, chunks = [], []
    for _ in range(n):
        lo, hi = (16 * s, 235 * s) if legal else (0, (1 << fmt.bit_depth) - 1)
        y = rng.integers(lo, hi + 1, (fmt.height, fmt.width)).astype(fmt.dtype)
        planes = [y]
        if fmt.chroma_shape:
            lo, hi = (16 * s, 240 * s) if legal else (0, (1 << fmt.bit_depth) - 1)
            planes += [rng.integers(lo, hi + 1, fmt.chroma_shape).astype(fmt.dtype)
                       for _ in range(2)]
        frames.append(planes)
        chunks += [p.tobytes() for p in planes]
    return frames, b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# format

def test_frame_sizes_by_hand():
    # 64x48 4:2:0: 3072 luma + 2 * 32*24 chroma = 4608 samples; 2 bytes each above 8 bits
    assert YuvFormat(64, 48).frame_bytes == 4608
    assert YuvFormat(64, 48, 10).frame_bytes == 9216
    assert YuvFormat(64, 48, 8, "444").frame_bytes == 3 * 3072
    assert YuvFormat(64, 48, 8, "400").frame_bytes == 3072
    # odd sizes: chroma is ceil(w/2) x ceil(h/2) = 3x2, so 15 + 2*6 = 27 samples
    assert YuvFormat(5, 3).frame_bytes == 27
    assert YuvFormat(5, 3).chroma_shape == (2, 3)
    assert YuvFormat(64, 48).expected_size(10) == 46080
    assert YuvFormat(64, 48, 10, "4:2:0").chroma == "420"
    assert YuvFormat(64, 48, 10).pix_fmt == "yuv420p10le"
    assert YuvFormat(8, 8, 8, "400").pix_fmt == "gray"


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=0, height=48), "frame size must be positive"),
    (dict(width=64, height=48, bit_depth=7), "bit depth must be 8..16"),
    (dict(width=64, height=48, chroma="422"), "unknown chroma format '422'"),
    (dict(width=64.0, height=48), "width must be an integer"),
])
def test_bad_format(kwargs, match):
    with pytest.raises(UserError, match=match):
        YuvFormat(**kwargs)


# ---------------------------------------------------------------------------------------------
# reader

@pytest.mark.parametrize("fmt", [YuvFormat(64, 48), YuvFormat(64, 48, 10), YuvFormat(5, 3),
                                 YuvFormat(16, 8, 12, "444"), YuvFormat(16, 8, 8, "400")])
def test_reader_returns_the_planes_written(tmp_path, fmt):
    rng = np.random.default_rng(7)
    frames, data = _random_frames(fmt, 6, rng)
    path = tmp_path / "seq.yuv"
    path.write_bytes(data)
    with YuvReader(path, fmt, frames=6) as reader:
        assert len(reader) == 6
        for i, planes in enumerate(reader):
            for got, want in zip(planes, frames[i] + [None, None]):
                if want is None:
                    assert got is None
                else:
                    assert got.dtype == (np.uint8 if fmt.bit_depth == 8 else np.uint16)
                    np.testing.assert_array_equal(got, want)
                    assert not got.flags.writeable and not got.flags.owndata  # a view
        np.testing.assert_array_equal(reader[-1][0], frames[5][0])
        with pytest.raises(IndexError, match="frame 6 out of range"):
            reader[6]


def test_reader_16bit_samples_are_little_endian(tmp_path):
    fmt = YuvFormat(2, 2, 10, "400")
    path = tmp_path / "le.yuv"
    path.write_bytes(bytes([0x02, 0x01, 0xFF, 0x03, 0x00, 0x00, 0x10, 0x00]))
    y, u, v = YuvReader(path, fmt)[0]
    assert y.tolist() == [[0x0102, 0x03FF], [0, 16]] and u is None and v is None


def test_size_not_whole_frames_names_file_size_frame_and_remainder(tmp_path):
    path = tmp_path / "cut.yuv"
    path.write_bytes(bytes(3 * 4608 + 100))
    with pytest.raises(UserError) as err:
        YuvReader(path, YuvFormat(64, 48))
    msg = str(err.value)
    assert str(path) in msg and "13924 bytes" in msg and "4608-byte frames" in msg
    assert "3 frames and 100 bytes left over" in msg


def test_frame_count_checked(tmp_path):
    path = tmp_path / "short.yuv"
    path.write_bytes(bytes(9 * 4608))
    assert check_yuv_size(path, YuvFormat(64, 48)) == 9
    with pytest.raises(UserError, match=r"short.yuv: 9 frames \(41472 bytes\), expected 10 frames"):
        YuvReader(path, YuvFormat(64, 48), frames=10)
    empty = tmp_path / "empty.yuv"
    empty.write_bytes(b"")
    assert len(YuvReader(empty, YuvFormat(64, 48))) == 0
    with pytest.raises(UserError, match="0 frames"):
        YuvReader(empty, YuvFormat(64, 48), frames=1)
    with pytest.raises(UserError, match="missing.yuv: YUV file not found"):
        YuvReader(tmp_path / "missing.yuv", YuvFormat(64, 48))


# ---------------------------------------------------------------------------------------------
# colour conversion

def _one_pixel(y, u, v, bit_depth, **kw):
    fmt = YuvFormat(1, 1, bit_depth, "444")
    dt = fmt.dtype
    return to_rgb(np.array([[y]], dt), np.array([[u]], dt), np.array([[v]], dt), fmt, **kw)[0, 0]


def test_hand_computed_pixel_bt601_limited():
    # Y=126 U=100 V=150, BT.601 limited range (Kr=0.299, Kb=0.114):
    #   Y' = 110/219 = 0.502283, Cb = -28/224 = -0.125, Cr = 22/224 = 0.0982143
    #   R = Y' + 1.402 Cr = 0.639979 -> 163.19 -> 163
    #   B = Y' + 1.772 Cb = 0.280783 -> 71.60 -> 72
    #   G = (Y' - 0.299 R - 0.114 B) / 0.587 = 0.475162 -> 121.17 -> 121
    assert _one_pixel(126, 100, 150, 8, matrix="bt601").tolist() == [163, 121, 72]
    # the same colour in 10 bits (every code x4) gives the same 8-bit RGB
    assert _one_pixel(504, 400, 600, 10, matrix="bt601").tolist() == [163, 121, 72]


def test_hand_computed_pixel_bt709_full_range():
    # Y=200 U=60 V=180, BT.709 full range (Kr=0.2126, Kb=0.0722):
    #   Y' = 200/255 = 0.784314, Cb = -68/255 = -0.266667, Cr = 52/255 = 0.203922
    #   R = Y' + 1.5748 Cr = 1.105450 -> clipped to 255
    #   B = Y' + 1.8556 Cb = 0.289487 -> 73.82 -> 74
    #   G = (Y' - 0.2126 R - 0.0722 B) / 0.7152 = 0.738806 -> 188.40 -> 188 (unclipped R, B)
    assert _one_pixel(200, 60, 180, 8, full_range=True).tolist() == [255, 188, 74]


def test_grey_and_limits():
    # neutral chroma gives grey; limited-range black/white are 16/235
    assert _one_pixel(16, 128, 128, 8).tolist() == [0, 0, 0]
    assert _one_pixel(235, 128, 128, 8).tolist() == [255, 255, 255]
    # 4:0:0 (no chroma): Y=126 limited -> 110/219*255 = 128.08 -> 128 in all three channels
    fmt = YuvFormat(2, 1, 8, "400")
    rgb = to_rgb(np.array([[126, 235]], np.uint8), None, None, fmt)
    assert rgb.tolist() == [[[128, 128, 128], [255, 255, 255]]]


def test_420_chroma_is_repeated_over_each_2x2_block():
    # a 5x3 frame: chroma 3x2; chroma sample (r, c) covers luma rows 2r..2r+1, columns 2c..2c+1
    rng = np.random.default_rng(3)
    fmt = YuvFormat(5, 3)
    y = rng.integers(16, 236, (3, 5)).astype(np.uint8)
    u = rng.integers(16, 241, (2, 3)).astype(np.uint8)
    v = rng.integers(16, 241, (2, 3)).astype(np.uint8)
    rows, cols = np.arange(3) // 2, np.arange(5) // 2
    u444, v444 = u[rows][:, cols], v[rows][:, cols]
    expect = to_rgb(y, u444, v444, YuvFormat(5, 3, 8, "444"))
    np.testing.assert_array_equal(to_rgb(y, u, v, fmt), expect)
    bgr = to_bgr(y, u, v, fmt)
    np.testing.assert_array_equal(bgr, expect[:, :, ::-1])
    assert bgr.flags.c_contiguous


def test_bad_conversion_arguments():
    fmt = YuvFormat(4, 2)
    y = np.zeros((2, 4), np.uint8)
    c = np.zeros((1, 2), np.uint8)
    with pytest.raises(UserError, match="unknown colour matrix 'bt2020'"):
        to_rgb(y, c, c, fmt, matrix="bt2020")
    with pytest.raises(ValueError, match="U plane shape"):
        to_rgb(y, np.zeros((2, 4), np.uint8), c, fmt)


CASES = [(bd, chroma, matrix, rng) for bd, chroma in [(8, "420"), (10, "420"), (8, "444"),
                                                      (10, "444")]
         for matrix in ("bt709", "bt601") for rng in ("tv", "pc")]


@pytest.mark.parametrize("bit_depth, chroma, matrix, value_range", CASES)
def test_agrees_with_ffmpeg(tmp_path, bit_depth, chroma, matrix, value_range):
    """ffmpeg's own conversion (swscale, nearest chroma, accurate rounding) agrees within 1 code
    value. Inputs are legal-range codes: swscale wraps around on some out-of-range inputs
    (e.g. Y=252, U=255 gives blue 0 instead of 255), which vcmctc clips instead.

    Where they differ by 1: swscale's fixed-point rounding (under 1% of samples), and 10-bit full
    range, where swscale scales by 255/1020 (a 2-bit shift) and vcmctc by 255/1023 as H.273
    defines full range (about a quarter of samples).
    """
    import imageio_ffmpeg

    fmt = YuvFormat(64, 48, bit_depth, chroma)
    frames, data = _random_frames(fmt, 3, np.random.default_rng(11), legal=True)
    src, dst = tmp_path / "in.yuv", tmp_path / "out.rgb"
    src.write_bytes(data)
    flags = "neighbor+full_chroma_int+accurate_rnd+bitexact"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y",
                    "-f", "rawvideo", "-pix_fmt", fmt.pix_fmt, "-s", "64x48", "-i", str(src),
                    "-vf", f"scale=in_color_matrix={matrix}:in_range={value_range}:flags={flags},"
                           "format=rgb24", "-f", "rawvideo", str(dst)], check=True)
    ref = np.fromfile(dst, np.uint8).reshape(3, 48, 64, 3)
    ours = np.stack([to_rgb(*f, fmt, matrix, value_range == "pc") for f in frames])
    diff = np.abs(ours.astype(int) - ref)
    assert diff.max() <= 1
    limit = 0.35 if (bit_depth == 10 and value_range == "pc") else 0.01
    assert (diff > 0).mean() < limit


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_grey_400_agrees_with_ffmpeg_full_range(tmp_path, bit_depth):
    # ffmpeg treats gray input as full range whatever in_range says, so only "pc" is compared;
    # 8-bit must be identical, 10-bit within 1 (the 255/1020 vs 255/1023 scale above)
    import imageio_ffmpeg

    fmt = YuvFormat(64, 16, bit_depth, "400")
    y = (np.arange(1024) % (1 << bit_depth)).astype(fmt.dtype).reshape(16, 64)
    src, dst = tmp_path / "g.yuv", tmp_path / "g.rgb"
    src.write_bytes(y.tobytes())
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo",
                    "-pix_fmt", fmt.pix_fmt, "-s", "64x16", "-i", str(src), "-vf",
                    "scale=in_range=pc:flags=neighbor+accurate_rnd+bitexact,format=rgb24",
                    "-f", "rawvideo", str(dst)], check=True)
    ref = np.fromfile(dst, np.uint8).reshape(16, 64, 3)
    diff = np.abs(to_rgb(y, None, None, fmt, full_range=True).astype(int) - ref)
    assert diff.max() == (0 if bit_depth == 8 else 1)


def test_md5_of_streams_in_chunks(tmp_path):
    data = np.random.default_rng(5).integers(0, 256, 100_003, dtype=np.uint8).tobytes()
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    assert md5_of(path, chunk=4096) == hashlib.md5(data).hexdigest() == md5_of(path)
