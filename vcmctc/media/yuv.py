"""Raw planar YUV files (as written by VTM, VCM-RS and ffmpeg ``-f rawvideo``).

A file is a plain concatenation of frames; a frame is the Y plane then the U and V planes (none
for 4:0:0), each row-major. Samples are one byte for 8-bit video and two little-endian bytes for
9..16-bit video (``yuv420p10le``). 4:2:0 chroma planes are ``ceil(w/2) x ceil(h/2)``, as ffmpeg
writes them.

:class:`YuvReader` memory-maps the file, so a sequence is never loaded whole: ``reader[i]`` is a
set of views into the mapping. :func:`to_rgb` converts one frame for a task network.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vcmctc.errors import UserError

CHROMA_FORMATS = ("420", "444", "400")
MATRICES = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}  # (Kr, Kb)

Planes = tuple[np.ndarray, "np.ndarray | None", "np.ndarray | None"]


@dataclass(frozen=True)
class YuvFormat:
    """Frame layout of a raw YUV file: size, bit depth (8..16) and chroma format."""

    width: int
    height: int
    bit_depth: int = 8
    chroma: str = "420"

    def __post_init__(self):
        for name in ("width", "height", "bit_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise UserError(f"YUV {name} must be an integer, got {value!r}")
        if self.width <= 0 or self.height <= 0:
            raise UserError(f"YUV frame size must be positive, got {self.width}x{self.height}")
        if not 8 <= self.bit_depth <= 16:
            raise UserError(f"YUV bit depth must be 8..16, got {self.bit_depth}")
        chroma = str(self.chroma).replace(":", "")
        if chroma not in CHROMA_FORMATS:
            raise UserError(f"unknown chroma format {self.chroma!r} (known: 420, 444, 400)")
        object.__setattr__(self, "chroma", chroma)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if self.bit_depth == 8 else np.dtype("<u2")

    @property
    def chroma_shape(self) -> tuple[int, int] | None:
        """(rows, columns) of one chroma plane, or None for 4:0:0."""
        if self.chroma == "400":
            return None
        if self.chroma == "444":
            return (self.height, self.width)
        return ((self.height + 1) // 2, (self.width + 1) // 2)

    @property
    def frame_samples(self) -> int:
        c = self.chroma_shape
        return self.width * self.height + (2 * c[0] * c[1] if c else 0)

    @property
    def frame_bytes(self) -> int:
        return self.frame_samples * self.dtype.itemsize

    def expected_size(self, frames: int) -> int:
        """Size in bytes of a file holding ``frames`` frames."""
        return frames * self.frame_bytes

    @property
    def pix_fmt(self) -> str:
        """The ffmpeg pixel format name (``yuv420p``, ``yuv420p10le``, ``gray``, ...)."""
        base = "gray" if self.chroma == "400" else f"yuv{self.chroma}p"
        return base if self.bit_depth == 8 else f"{base}{self.bit_depth}le"

    def describe(self) -> str:
        chroma = {"420": "4:2:0", "444": "4:4:4", "400": "4:0:0"}[self.chroma]
        return f"{self.width}x{self.height} {chroma} {self.bit_depth}-bit"


def check_yuv_size(path: str | os.PathLike, fmt: YuvFormat, frames: int | None = None) -> int:
    """Number of frames in ``path``; UserError if it is not a whole number of frames (or not
    ``frames`` frames when given)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError("YUV file not found", file=path) from None
    count, left = divmod(size, fmt.frame_bytes)
    if left:
        raise UserError(f"size {size} bytes is not a whole number of {fmt.frame_bytes}-byte frames "
                        f"({fmt.describe()}): {count} frames and {left} bytes left over",
                        file=path)
    if frames is not None and count != frames:
        raise UserError(f"{count} frames ({size} bytes), expected {frames} frames of "
                        f"{fmt.describe()} ({fmt.expected_size(frames)} bytes)", file=path)
    return count


class YuvReader:
    """Frames of a raw YUV file, memory-mapped: ``len(r)``, ``r[i] -> (Y, U, V)``, iteration.

    Planes are read-only 2-D views (uint8, or uint16 for >8-bit); U and V are None for 4:0:0.
    The size is checked on opening (and against ``frames`` when given).
    """

    def __init__(self, path: str | os.PathLike, fmt: YuvFormat, frames: int | None = None):
        self.path = Path(path)
        self.fmt = fmt
        self._count = check_yuv_size(self.path, fmt, frames)
        self._mm: np.memmap | None = None
        if self._count:
            self._mm = np.memmap(self.path, dtype=fmt.dtype, mode="r",
                                 shape=(self._count, fmt.frame_samples))

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Planes:
        index = int(index)
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"frame {index} out of range: {self.path} has {self._count} frames")
        if self._mm is None:
            raise ValueError(f"{self.path} is closed")
        row = np.asarray(self._mm[index])
        fmt = self.fmt
        n_y = fmt.width * fmt.height
        y = row[:n_y].reshape(fmt.height, fmt.width)
        shape = fmt.chroma_shape
        if shape is None:
            return y, None, None
        n_c = shape[0] * shape[1]
        u = row[n_y:n_y + n_c].reshape(shape)
        v = row[n_y + n_c:n_y + 2 * n_c].reshape(shape)
        return y, u, v

    def __iter__(self) -> Iterator[Planes]:
        for i in range(self._count):
            yield self[i]

    def close(self) -> None:
        """Drop the mapping (views already handed out keep it alive until they go)."""
        self._mm = None

    def __enter__(self) -> "YuvReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _upsample(plane: np.ndarray, fmt: YuvFormat) -> np.ndarray:
    if fmt.chroma == "420":
        plane = plane.repeat(2, axis=0).repeat(2, axis=1)[:fmt.height, :fmt.width]
    return plane


def to_rgb(y: np.ndarray, u: np.ndarray | None, v: np.ndarray | None, fmt: YuvFormat,
           matrix: str = "bt709", full_range: bool = False) -> np.ndarray:
    """Convert one frame to an ``HxWx3`` uint8 RGB image.

    Convention: 4:2:0 chroma is upsampled by pixel repetition (each chroma sample covers its 2x2
    luma block; no filtering). Samples are normalised with ``s = 2**(bit_depth-8)``: limited
    ("tv") range ``Y' = (Y - 16s) / 219s``, ``Cb = (U - 128s) / 224s``; full ("pc") range
    ``Y' = Y / (2**bd - 1)``, ``Cb = (U - 2**(bd-1)) / (2**bd - 1)``. Then with the matrix's
    ``Kr, Kb`` (BT.709: 0.2126, 0.0722; BT.601: 0.299, 0.114): ``R = Y' + 2(1-Kr) Cr``,
    ``B = Y' + 2(1-Kb) Cb``, ``G = (Y' - Kr R - Kb B) / (1 - Kr - Kb)``, each clipped to [0, 1]
    and rounded half up to 0..255. 4:0:0 gives grey (``Cb = Cr = 0``).
    """
    if matrix not in MATRICES:
        raise UserError(f"unknown colour matrix {matrix!r} (known: {', '.join(MATRICES)})")
    kr, kb = MATRICES[matrix]
    if y.shape != (fmt.height, fmt.width):
        raise ValueError(f"Y plane shape {y.shape} does not match {fmt.describe()}")
    bd = fmt.bit_depth
    scale = float(1 << (bd - 8))
    yf = y.astype(np.float64)
    if full_range:
        yn = yf / ((1 << bd) - 1)
    else:
        yn = (yf - 16 * scale) / (219 * scale)
    if fmt.chroma == "400" or u is None or v is None:
        if fmt.chroma != "400":
            raise ValueError(f"{fmt.describe()} needs U and V planes")
        grey = _quantise(yn)
        return np.repeat(grey[:, :, None], 3, axis=2)
    for name, plane in (("U", u), ("V", v)):
        if plane.shape != fmt.chroma_shape:
            raise ValueError(f"{name} plane shape {plane.shape} does not match {fmt.describe()}")
    half = float(1 << (bd - 1))
    denom = ((1 << bd) - 1) if full_range else 224 * scale
    cb = (_upsample(u, fmt).astype(np.float64) - half) / denom
    cr = (_upsample(v, fmt).astype(np.float64) - half) / denom
    r = yn + 2 * (1 - kr) * cr
    b = yn + 2 * (1 - kb) * cb
    g = (yn - kr * r - kb * b) / (1 - kr - kb)
    out = np.empty((fmt.height, fmt.width, 3), dtype=np.uint8)
    out[:, :, 0] = _quantise(r)
    out[:, :, 1] = _quantise(g)
    out[:, :, 2] = _quantise(b)
    return out


def _quantise(x: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_bgr(y: np.ndarray, u: np.ndarray | None, v: np.ndarray | None, fmt: YuvFormat,
           matrix: str = "bt709", full_range: bool = False) -> np.ndarray:
    """:func:`to_rgb` with the channels in BGR order (what detectron2's predictor expects)."""
    return np.ascontiguousarray(to_rgb(y, u, v, fmt, matrix, full_range)[:, :, ::-1])


def md5_of(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
