"""Checking a decoded-feature file against its split point, and its conformance record.

:func:`inspect` reads a feature file once, frame by frame, and gives:

- the check against the edition's split point (:class:`~vcmctc.features.spec.Layout`): tensor
  names, dtypes, frame count and per-frame shapes (exact for a known frame size; for images of
  varied sizes the channel counts and the pyramid's consistency), any problem being one
  :class:`~vcmctc.features.store.FeatureFileError` line;
- the MD5 of every frame (:func:`~vcmctc.features.store.frame_md5`) and of the whole output;
- the conformance statistics the public FCM tools dump before part 2: per tensor, the mean and
  the variance (population, as ``torch.var(..., unbiased=False)``) of every channel over H x W,
  keeping one channel in ``subsample`` (the split point's ``conformance_subsample``:
  CompressAI-Vision's ``conformance.subsample_ratio``, 9 by default and 90 for HiEve in its
  ``scripts/evaluation/default_vision_performances.sh``). As CompressAI-Vision 31165da does
  (``compressai_vision/pipelines/base.py``, ``_save_conformance_data``), the first tensor keeps
  channels 0, r, 2r...; the next tensor starts at ``(offset + C) % r`` where C is the channel
  count of the tensor before, and so on. vcmctc computes in float64 from the stored samples
  (CompressAI-Vision in the tensor's dtype): values agree to the precision of that dtype;
- where the submitter gives the original features (part 1's output before coding), the mean
  squared error of the decoded features, over all tensors and per tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vcmctc.features.spec import Layout
from vcmctc.features.store import FeatureFile, FeatureFileError, frame_md5, overall_md5

SUBSAMPLE_RATIO = 9
CONFORMANCE_FORMAT = "vcmctc-features-conformance/1"


@dataclass
class Inspection:
    """One feature file, checked and measured."""

    tensors: dict[str, dict[str, Any]]           # name -> {"dtype", "shape" (per frame)}
    frames: int
    frame_md5s: list[str]
    md5: str
    dumps: list[list[dict[str, list[float]]]]    # per frame: per tensor {"means", "variances"}
    sq_err: dict[str, float] = field(default_factory=dict)   # name -> sum of squared errors
    elements: dict[str, int] = field(default_factory=dict)   # name -> samples compared


def _shape_text(shape) -> str:
    return "x".join(map(str, shape))


def _consistent(layout: Layout, shapes: dict[str, tuple[int, ...]]) -> str | None:
    """For images of varied sizes: spatial sizes that one padded input size explains."""
    split = layout.split
    d = split.input.divisible_by
    first = split.tensors[0]
    h0, w0 = shapes[first.name][1:]
    for axis, size0 in ((0, h0), (1, w0)):
        lo, hi = (size0 - 1) * first.stride + 1, size0 * first.stride
        found = False
        for padded in range(math.ceil(lo / d) * d, hi + 1, d):
            if all(math.ceil(padded / t.stride) == shapes[t.name][1 + axis]
                   for t in split.tensors):
                found = True
                break
        if not found:
            dims = ", ".join(f"{t.name} {_shape_text(shapes[t.name])}" for t in split.tensors)
            return (f"the tensors' sizes ({dims}) do not come from one input size of the "
                    f"{split.describe(None, None)}: strides "
                    + ", ".join(str(t.stride) for t in split.tensors))
    return None


def check_layout(ff: FeatureFile, layout: Layout, what: str = "") -> dict[str, dict[str, Any]]:
    """The per-tensor dtype and per-frame shape of ``ff`` if it fits ``layout``; else a
    FeatureFileError naming the tensor and what the split point needs."""
    split = layout.split
    where = f"{what}{ff.path.name}"
    names = split.names
    missing = [n for n in names if n not in ff.members]
    unknown = [n for n in ff.members if n not in names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"tensor(s) {', '.join(map(repr, missing))} missing")
        if unknown:
            parts.append(f"unknown tensor(s) {', '.join(map(repr, unknown))}")
        raise FeatureFileError(f"{where}: {'; '.join(parts)}; the split point {split.id} has "
                               f"{', '.join(names)}")
    out = {}
    for t in split.tensors:
        m = ff.members[t.name]
        if len(m.shape) != 4:
            raise FeatureFileError(f"{where}: tensor {t.name!r} has shape "
                                   f"{_shape_text(m.shape)}; expected frames x C x H x W")
        if m.fortran:
            raise FeatureFileError(f"{where}: tensor {t.name!r} is stored in Fortran order; "
                                   "store C-order arrays (numpy.ascontiguousarray)")
        if m.dtype.name not in split.dtypes:
            raise FeatureFileError(f"{where}: tensor {t.name!r} has dtype {m.dtype.name}; the "
                                   f"split point {split.id} allows {', '.join(split.dtypes)}")
        if m.shape[0] != layout.frames:
            raise FeatureFileError(f"{where}: tensor {t.name!r} has {m.shape[0]} frame(s), "
                                   f"expected {layout.frames}")
        if m.frame_shape[0] != t.channels:
            raise FeatureFileError(f"{where}: tensor {t.name!r} has {m.frame_shape[0]} "
                                   f"channels; the split point {split.id} has {t.channels}")
        if layout.shapes is not None and m.frame_shape != layout.shapes[t.name]:
            w, h = layout.frame_size
            raise FeatureFileError(
                f"{where}: tensor {t.name!r} is {_shape_text(m.frame_shape)} (C x H x W) per "
                f"frame; the {split.describe(w, h)} needs "
                f"{_shape_text(layout.shapes[t.name])}")
        out[t.name] = {"dtype": m.dtype.name, "shape": list(m.frame_shape)}
    if layout.shapes is None:
        problem = _consistent(layout, {n: tuple(v["shape"]) for n, v in out.items()})
        if problem:
            raise FeatureFileError(f"{where}: {problem}")
    return out


def channel_stats(frame: dict[str, np.ndarray], names, subsample: int = SUBSAMPLE_RATIO
                  ) -> list[dict[str, list[float]]]:
    """Per tensor (in ``names`` order) the subsampled per-channel means and population
    variances over H x W (see the module docstring for the channel sampling)."""
    out, offset = [], 0
    for name in names:
        a = frame[name]
        c = a.shape[0]
        flat = a.reshape(c, -1)
        means = flat.mean(axis=1, dtype=np.float64)
        variances = flat.var(axis=1, dtype=np.float64)
        out.append({"means": means[offset::subsample].tolist(),
                    "variances": variances[offset::subsample].tolist()})
        offset = (offset + c) % subsample
    return out


def inspect(path: str | Path, layout: Layout, *, original: str | Path | None = None
            ) -> Inspection:
    """Check ``path`` against ``layout`` and measure it (module docstring). ``original``: the
    submitter's original features, checked the same way, for the MSE. Channels are sampled by
    the split point's ``conformance_subsample``."""
    names = layout.split.names
    subsample = layout.split.subsample
    with FeatureFile(path) as ff:
        tensors = check_layout(ff, layout)
        ref = FeatureFile(original) if original is not None else None
        try:
            if ref is not None:
                ref_tensors = check_layout(ref, layout, "original features ")
                for n in names:
                    if ref_tensors[n]["shape"] != tensors[n]["shape"]:   # varied sizes only
                        raise FeatureFileError(
                            f"original features {ref.path.name}: tensor {n!r} is "
                            f"{_shape_text(ref_tensors[n]['shape'])}, the decoded one "
                            f"{_shape_text(tensors[n]['shape'])}")
            result = Inspection(tensors, layout.frames, [], "", [],
                                {n: 0.0 for n in names} if ref else {},
                                {n: 0 for n in names} if ref else {})
            ref_frames = ref.frames(names) if ref is not None else None
            for i, frame in enumerate(ff.frames(names)):
                for n in names:
                    if not np.isfinite(frame[n]).all():
                        raise FeatureFileError(f"{ff.path.name}: tensor {n!r}, frame {i} has "
                                               "values that are not finite (NaN or inf)")
                result.frame_md5s.append(frame_md5(frame, names))
                result.dumps.append(channel_stats(frame, names, subsample))
                if ref_frames is not None:
                    orig = next(ref_frames)
                    for n in names:
                        diff = frame[n].astype(np.float64) - orig[n].astype(np.float64)
                        result.sq_err[n] += float(np.square(diff).sum())
                        result.elements[n] += diff.size
            if ref_frames is not None:
                for _ in ref_frames:   # read the original to its end: its CRC is checked too
                    pass
        finally:
            if ref is not None:
                ref.close()
    result.md5 = overall_md5(result.frame_md5s)
    return result


def mse(sq_err: dict[str, float], elements: dict[str, int]) -> tuple[float | None,
                                                                     dict[str, float]]:
    """(MSE over every sample of every tensor, MSE per tensor) from summed squared errors."""
    if not elements:
        return None, {}
    per = {n: sq_err[n] / elements[n] for n in elements if elements[n]}
    total = sum(elements.values())
    return (sum(sq_err.values()) / total if total else None), per


def conformance_record(layout: Layout, parts: list[tuple[str, Inspection]], *,
                       key: str = "frame") -> dict[str, Any]:
    """The conformance file of one rate point: per frame (``key`` ``frame``: the frame index)
    or per image (``item``: its id) the MD5 and the statistics CompressAI-Vision dumps
    (``dump``: its ``.dump`` JSON, a list per tensor of ``{"means", "variances"}``)."""
    entries = []
    for label, ins in parts:
        for i, (md5, dump) in enumerate(zip(ins.frame_md5s, ins.dumps)):
            entries.append({key: i if key == "frame" else label, "md5": md5, "dump": dump})
    return {"format": CONFORMANCE_FORMAT, "split_point": layout.split.id,
            "tensors": list(layout.split.names), "subsample_ratio": layout.split.subsample,
            "statistics": "per channel over H x W: mean and population variance (float64)",
            "entries": entries}


def summary(layout: Layout, parts: list[tuple[str, Inspection]]) -> dict[str, Any]:
    """What results.json keeps of a rate point's decoded features (the per-frame MD5s and
    statistics stay in its conformance file)."""
    sq = {n: sum(p.sq_err.get(n, 0.0) for _, p in parts) for n in layout.split.names}
    el = {n: sum(p.elements.get(n, 0) for _, p in parts) for n in layout.split.names}
    have_ref = all(p.elements for _, p in parts)
    total, per = mse(sq, el) if have_ref else (None, {})
    first = parts[0][1]
    shapes = ({n: v["shape"] for n, v in first.tensors.items()} if len(parts) == 1
              or layout.shapes is not None else None)
    return {"split_point": layout.split.id, "format": "npz",
            "tensors": {n: {"dtype": v["dtype"], "shape": shapes[n] if shapes else None}
                        for n, v in first.tensors.items()},
            "frames": sum(p.frames for _, p in parts), "subsample_ratio": layout.split.subsample,
            "mse": total, "mse_tensors": per}
