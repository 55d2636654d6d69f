"""Bit rates from the files of a rate point.

Every file of a rate point counts: the bitstream and any side information (headers, metadata,
compressed detections...). ``kbps = bits * fps / (1000 * frames)`` for video;
``bpp = total bits / total pixels`` pooled over an image set (not a mean of per-image bpp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from vcmctc.errors import UserError


@dataclass(frozen=True)
class Bits:
    """Total bits of a rate point with a per-component breakdown (component -> bits)."""

    components: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.components.values())

    def __add__(self, other: "Bits") -> "Bits":
        merged = dict(self.components)
        for key, value in other.components.items():
            merged[key] = merged.get(key, 0) + value
        return Bits(merged)


def bits_of_files(files: Mapping[str, Iterable[Path]] | Iterable[Path]) -> Bits:
    """Sum file sizes x 8. ``files`` maps a component name ("bitstream", "side-info"...) to
    paths, or is a plain list of bitstream paths. Missing files are a user error."""
    groups = files if isinstance(files, Mapping) else {"bitstream": files}
    components: dict[str, int] = {}
    for name, paths in groups.items():
        total = 0
        for path in paths:
            path = Path(path)
            try:
                total += path.stat().st_size * 8
            except FileNotFoundError:
                raise UserError(f"{name} file not found", file=path) from None
        components[name] = total
    return Bits(components)


def kbps(bits: int | Bits, fps: float, frames: int) -> float:
    """Bit rate in kbit/s of ``frames`` frames at ``fps``."""
    total = bits.total if isinstance(bits, Bits) else bits
    if frames <= 0 or fps <= 0:
        raise ValueError(f"kbps needs positive fps and frames, got fps={fps}, frames={frames}")
    return total * fps / (1000.0 * frames)


def bpp(bits: int | Bits, pixels: int) -> float:
    """Bits per pixel pooled over a set: total bits / total pixels of all its images."""
    total = bits.total if isinstance(bits, Bits) else bits
    if pixels <= 0:
        raise ValueError(f"bpp needs a positive pixel count, got {pixels}")
    return total / pixels


def pooled_kbps(parts: Iterable[tuple[int, float, int]]) -> float:
    """Rate of several sequences together: total bits over total duration, i.e. the
    duration-weighted mean of their kbps. ``parts`` are (bits, fps, frames)."""
    bits = 0
    seconds = 0.0
    for b, fps, frames in parts:
        bits += b
        seconds += frames / fps
    if seconds <= 0:
        raise ValueError("pooled_kbps needs a positive total duration")
    return bits / seconds / 1000.0
