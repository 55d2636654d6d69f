"""Split points: where a task network is split, and the feature tensors that cross the split.

An edition names, per data set (or sequence), the split point of its task network
(``split_point: <id>``) and defines the split points it uses under ``split_points:`` (the FCM
editions include ``cfg/base/fcm-split-points.yaml``)::

    split_points:
      rcnn-x101-fpn:
        network: Faster / Mask R-CNN X101-32x8d-FPN 3x (detectron2)
        layers: FPN outputs p2..p5 (p6 is computed from p5 in part 2)
        input: {resize: shortest-edge, short_edge: 800, max_size: 1333, divisible_by: 32}
        tensors:
          - {name: p2, channels: 256, stride: 4}
          - ...
        dtypes: [float32, float16]
        conformance_subsample: 9        # channel sampling of the conformance statistics
        source: where these facts come from

The tensor shapes follow from the frame size through the network's input resizing:

- ``none``: the network sees the frame as it is;
- ``shortest-edge``: detectron2's ``ResizeShortestEdge`` at test time: the shorter side scaled
  to ``short_edge`` unless the longer side would pass ``max_size``, then rounded with
  ``int(x + 0.5)`` (``ResizeShortestEdge.get_output_shape``);
- ``fixed``: every frame letterboxed into ``width`` x ``height`` (JDE's 1088x608).

The resized image is then padded to a multiple of ``divisible_by`` (detectron2's
``ImageList.from_tensors(images, size_divisibility)``), and a tensor of stride ``s`` is
``channels x ceil(H / s) x ceil(W / s)`` of the padded input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from vcmctc.errors import UserError

RESIZE_KINDS = ("none", "shortest-edge", "fixed")
DTYPES = ("float32", "float16", "float64")
SPEC_FIELDS = {"network", "layers", "input", "tensors", "dtypes", "source", "notes",
               "conformance_subsample"}
INPUT_FIELDS = {"resize": None, "short_edge": "shortest-edge", "max_size": "shortest-edge",
                "width": "fixed", "height": "fixed", "divisible_by": None, "channels": None}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    channels: int
    stride: int


@dataclass(frozen=True)
class InputSpec:
    resize: str = "none"
    short_edge: int | None = None
    max_size: int | None = None
    width: int | None = None
    height: int | None = None
    divisible_by: int = 1
    channels: int = 3

    def resized(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of a ``width`` x ``height`` frame after the network's resizing,
        before padding."""
        if self.resize == "fixed":
            return self.height, self.width
        if self.resize == "none":
            return height, width
        # detectron2 ResizeShortestEdge.get_output_shape, in the same arithmetic
        size = self.short_edge * 1.0
        scale = size / min(height, width)
        if height < width:
            newh, neww = size, scale * width
        else:
            newh, neww = scale * height, size
        if max(newh, neww) > self.max_size:
            scale = self.max_size * 1.0 / max(newh, neww)
            newh, neww = newh * scale, neww * scale
        return int(newh + 0.5), int(neww + 0.5)

    def padded(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of the network input tensor: resized, then padded."""
        h, w = self.resized(width, height)
        d = self.divisible_by
        return math.ceil(h / d) * d, math.ceil(w / d) * d


@dataclass(frozen=True)
class SplitPoint:
    """One split point of a task network and the tensors part 1 hands to part 2."""

    id: str
    network: str
    input: InputSpec
    tensors: tuple[TensorSpec, ...]
    dtypes: tuple[str, ...] = ("float32", "float16")
    layers: str | None = None
    source: str | None = None
    notes: str | None = None
    # one channel in this many is kept in the conformance statistics (CompressAI-Vision's
    # conformance.subsample_ratio: 9, 90 for HiEve in its evaluation scripts)
    subsample: int = 9

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)

    def shapes(self, width: int, height: int) -> dict[str, tuple[int, int, int]]:
        """Per-frame shape ``(C, H, W)`` of every tensor for a ``width`` x ``height`` frame."""
        ph, pw = self.input.padded(width, height)
        return {t.name: (t.channels, math.ceil(ph / t.stride), math.ceil(pw / t.stride))
                for t in self.tensors}

    def input_elements(self, width: int, height: int) -> int:
        """Elements of part 1's input tensor (channels x padded height x width): the "pixels"
        of kMAC/pixel as CompressAI-Vision counts them."""
        ph, pw = self.input.padded(width, height)
        return self.input.channels * ph * pw

    def describe(self, width: int | None, height: int | None) -> str:
        if width and height:
            rh, rw = self.input.resized(width, height)
            ph, pw = self.input.padded(width, height)
            how = f"{width}x{height} frames, network input {rw}x{rh} padded to {pw}x{ph}"
        else:
            how = "images of varied sizes"
        return f"split point {self.id} ({how})"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "network": self.network, "layers": self.layers,
                "input": {k: v for k, v in self.input.__dict__.items() if v is not None},
                "tensors": [{"name": t.name, "channels": t.channels, "stride": t.stride}
                            for t in self.tensors],
                "dtypes": list(self.dtypes), "source": self.source,
                "conformance_subsample": self.subsample}


def _pos_int(ctx: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"field {name!r}: expected a positive integer, got {value!r}", where=ctx)
    return value


def parse_split_point(ctx: str, sp_id: str, data: Any) -> SplitPoint:
    """A split point of an edition file (see the module docstring); errors name the field."""
    ctx = f"{ctx}: split point {sp_id}"
    if not isinstance(data, dict):
        raise UserError("expected a mapping (network, input, tensors, dtypes, source)", where=ctx)
    extra = sorted(set(data) - SPEC_FIELDS)
    if extra:
        raise UserError(f"unknown field(s) {', '.join(map(repr, extra))}", where=ctx)
    network = data.get("network")
    if not isinstance(network, str) or not network:
        raise UserError("field 'network': expected the task network's name", where=ctx)
    raw_in = data.get("input") or {}
    if not isinstance(raw_in, dict):
        raise UserError("field 'input': expected a mapping", where=ctx)
    extra = sorted(set(raw_in) - set(INPUT_FIELDS))
    if extra:
        raise UserError(f"field 'input': unknown field(s) {', '.join(map(repr, extra))}",
                        where=ctx)
    resize = raw_in.get("resize", "none")
    if resize not in RESIZE_KINDS:
        raise UserError(f"field 'input.resize': {resize!r} is not one of "
                        f"{', '.join(RESIZE_KINDS)}", where=ctx)
    values: dict[str, Any] = {"resize": resize}
    for key, kind in INPUT_FIELDS.items():
        if key == "resize":
            continue
        if kind is not None and kind != resize:
            if key in raw_in:
                raise UserError(f"field 'input.{key}' applies to resize {kind}, not {resize}",
                                where=ctx)
            continue
        if key in raw_in:
            values[key] = _pos_int(ctx, f"input.{key}", raw_in[key])
        elif kind is not None:
            raise UserError(f"resize {resize} needs 'input.{key}'", where=ctx)
    tensors_raw = data.get("tensors")
    if not isinstance(tensors_raw, list) or not tensors_raw:
        raise UserError("field 'tensors': expected a list of {name, channels, stride}", where=ctx)
    tensors = []
    for i, t in enumerate(tensors_raw):
        if not isinstance(t, dict) or set(t) != {"name", "channels", "stride"}:
            raise UserError(f"field 'tensors[{i}]': expected {{name, channels, stride}}, got "
                            f"{t!r}", where=ctx)
        name = str(t["name"])
        if not name or "/" in name or name.startswith("."):
            raise UserError(f"field 'tensors[{i}].name': {name!r} is not a usable name",
                            where=ctx)
        tensors.append(TensorSpec(name, _pos_int(ctx, f"tensors[{i}].channels", t["channels"]),
                                  _pos_int(ctx, f"tensors[{i}].stride", t["stride"])))
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise UserError(f"field 'tensors': a name repeats ({', '.join(names)})", where=ctx)
    dtypes = data.get("dtypes", ["float32", "float16"])
    if (not isinstance(dtypes, list) or not dtypes
            or any(d not in DTYPES for d in dtypes)):
        raise UserError(f"field 'dtypes': expected a list of {', '.join(DTYPES)}, got "
                        f"{dtypes!r}", where=ctx)
    for key in ("layers", "source", "notes"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise UserError(f"field {key!r}: expected a text", where=ctx)
    subsample = _pos_int(ctx, "conformance_subsample", data.get("conformance_subsample", 9))
    return SplitPoint(id=sp_id, network=network, input=InputSpec(**values),
                      tensors=tuple(tensors), dtypes=tuple(dtypes), layers=data.get("layers"),
                      source=data.get("source"), notes=data.get("notes"), subsample=subsample)


@dataclass(frozen=True)
class Layout:
    """What a feature file must hold for one rate point: the split point, the per-frame shape of
    every tensor (None for image sets of varied sizes: checked for consistency only), the
    number of frames (per file: 1 for each image of a set)."""

    split: SplitPoint
    frames: int
    shapes: dict[str, tuple[int, int, int]] | None = field(default=None)
    frame_size: tuple[int, int] | None = None     # (width, height) when known

    def max_bytes(self) -> int | None:
        """The largest uncompressed size of the tensors of one file (every frame in the widest
        allowed dtype), None when the shapes are not known."""
        if self.shapes is None:
            return None
        import numpy as np

        width = max(np.dtype(d).itemsize for d in self.split.dtypes)
        return self.frames * width * sum(c * h * w for c, h, w in self.shapes.values())

    @classmethod
    def for_sequence(cls, split: SplitPoint, seq) -> "Layout":
        images = seq.kind == "images"
        known = bool(seq.width and seq.height)
        return cls(split, 1 if images else int(seq.frames or 0),
                   split.shapes(seq.width, seq.height) if known else None,
                   (seq.width, seq.height) if known else None)
