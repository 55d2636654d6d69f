"""The decoded-feature file: one NumPy ``.npz`` per decoded sequence (or per image of a set).

Format (see docs/features.md): a ZIP of ``.npy`` arrays as ``numpy.savez`` (stored) or
``numpy.savez_compressed`` (deflated) write it, one member ``<name>.npy`` per tensor of the
split point and nothing else; each array is ``frames x C x H x W`` in C order with a floating
dtype the split point allows (``float32``, ``float16``...), frame ``i`` being the tensor part 1
computed on the ``i``-th coded frame. An image of an image set is one file with ``frames = 1``.

Why ``.npz``: NumPy is already a dependency (nothing new to install), every framework reads
and writes it (``numpy.savez`` from PyTorch or TensorFlow tensors), each member carries its
name, dtype and shape in a documented header (the ``.npy`` format, NEP 1) that vcmctc reads
without loading the data, arrays are read frame by frame from the ZIP so a long sequence never
has to fit in memory, and ``allow_pickle`` is never needed: a member of dtype ``object`` is
refused, nothing in the file can run code. safetensors would do as well on safety and headers
but is another (compiled) dependency, and keeps a whole tensor as one blob.

Nothing here trusts the file: every problem is a :class:`FeatureFileError` with a one-line
message (the rate point gets a status, the run goes on).
"""

from __future__ import annotations

import hashlib
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import numpy as np

SUFFIX = ".npz"


class FeatureFileError(Exception):
    """A feature file that cannot be used, with a one-line reason."""


@dataclass(frozen=True)
class Member:
    """One tensor of a feature file as its ``.npy`` header describes it."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran: bool
    offset: int                 # bytes of magic and header before the data

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return self.shape[1:]

    @property
    def frame_bytes(self) -> int:
        return int(math.prod(self.frame_shape)) * self.dtype.itemsize


def _header(fp: IO[bytes], name: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise FeatureFileError(f"tensor {name!r}: .npy format version {version} is not "
                                   "supported (write it with numpy.save / numpy.savez)")
    except FeatureFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise FeatureFileError(f"tensor {name!r}: not a .npy array ({exc})") from None
    return np.dtype(dtype), tuple(int(s) for s in shape), bool(fortran)


class FeatureFile:
    """An open feature file: its members (read from the headers only) and frame-by-frame reads.

    Use as a context manager. Raises :class:`FeatureFileError` for anything that is not a
    plain ``.npz`` of named numeric arrays."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FeatureFileError(f"{self.path.name} was not written")
        if self.path.stat().st_size == 0:
            raise FeatureFileError(f"{self.path.name} is empty")
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise FeatureFileError(f"{self.path.name} is not an .npz file (a ZIP of .npy "
                                   f"arrays): {exc}") from None
        try:
            self.members = self._read_members()
        except BaseException:
            self._zip.close()
            raise

    def _read_members(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            if not info.filename.endswith(".npy") or "/" in info.filename:
                raise FeatureFileError(f"{self.path.name}: member {info.filename!r} is not a "
                                       "tensor (<name>.npy)")
            name = info.filename[:-4]
            with self._zip.open(info) as fp:
                dtype, shape, fortran = _header(fp, name)
                offset = fp.tell()
            if dtype.hasobject or dtype.kind not in "fiu":
                raise FeatureFileError(f"tensor {name!r} has dtype {dtype}, not a numeric "
                                       "array")
            members[name] = Member(name, dtype, shape, fortran, offset)
        if not members:
            raise FeatureFileError(f"{self.path.name} holds no tensor")
        return members

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> "FeatureFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def frames(self, names: tuple[str, ...] | list[str]) -> Iterator[dict[str, np.ndarray]]:
        """Frame ``i`` of every tensor in ``names`` (C order, native byte order), one frame at
        a time; a member that ends early or fails its CRC is a FeatureFileError."""
        members = [self.members[n] for n in names]
        n_frames = members[0].shape[0]
        handles = []
        try:
            for m in members:
                fp = self._zip.open(m.name + ".npy")
                handles.append(fp)
                _header(fp, m.name)
            for i in range(n_frames):
                frame = {}
                for m, fp in zip(members, handles):
                    try:
                        raw = fp.read(m.frame_bytes)
                    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                        raise FeatureFileError(f"tensor {m.name!r}, frame {i}: cannot be read "
                                               f"({exc})") from None
                    if len(raw) != m.frame_bytes:
                        raise FeatureFileError(f"tensor {m.name!r} ends in frame {i} ("
                                               f"{len(raw)} of {m.frame_bytes} bytes)")
                    arr = np.frombuffer(raw, dtype=m.dtype).reshape(m.frame_shape)
                    frame[m.name] = arr.astype(m.dtype.newbyteorder("="), copy=False)
                yield frame
            for m, fp in zip(members, handles):   # read to the end: the ZIP checks the CRC
                try:
                    rest = fp.read()
                except (zipfile.BadZipFile, zlib.error, OSError) as exc:
                    raise FeatureFileError(f"tensor {m.name!r}: {exc}") from None
                if rest:
                    raise FeatureFileError(f"tensor {m.name!r} has {len(rest)} bytes after its "
                                           "last frame")
        finally:
            for fp in handles:
                fp.close()


def write_features(path: str | Path, tensors: dict[str, np.ndarray], *,
                   compress: bool = False) -> Path:
    """Write ``tensors`` (name -> ``frames x C x H x W`` array) as a feature file."""
    path = Path(path)
    arrays = {name: np.ascontiguousarray(a) for name, a in tensors.items()}
    with open(path, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, **arrays)
    return path


def frame_md5(frame: dict[str, np.ndarray], names: tuple[str, ...] | list[str]) -> str:
    """MD5 of one frame's tensors, in ``names`` order: for each, ``name:dtype:CxHxW:`` then its
    samples as little-endian bytes in C order (so the digest does not depend on how the file
    was written: stored or deflated, byte order, member order)."""
    h = hashlib.md5()
    for name in names:
        a = frame[name]
        le = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(f"{name}:{le.dtype.name}:{'x'.join(map(str, a.shape))}:".encode())
        h.update(np.ascontiguousarray(le).tobytes())
    return h.hexdigest()


def overall_md5(frame_md5s: list[str]) -> str:
    """MD5 of the per-frame (or per-image) MD5s in order, as hex text."""
    h = hashlib.md5()
    for digest in frame_md5s:
        h.update(digest.encode())
    return h.hexdigest()
