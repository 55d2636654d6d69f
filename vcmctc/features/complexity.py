"""kMAC/pixel of a network component, measured with PyTorch's own FLOP counter.

:func:`count_macs` runs a callable under :class:`torch.utils.flop_counter.FlopCounterMode` and
returns its multiply-accumulates: the counter gives 2 FLOPs per multiply-accumulate of every
convolution, transposed convolution and matrix product (``conv``, ``mm``, ``addmm``, ``bmm``,
attention), so MACs = FLOPs / 2 (biases, activations, pooling and element-wise operations are
not counted; ptflops, which CompressAI-Vision uses, also counts some of those: its totals are a
little higher, by the size of those layers).

kMAC/pixel follows CompressAI-Vision 31165da (``compressai_vision/pipelines/base.py``,
``calc_kmac_per_pixels_video_task``; ``compressai_vision/utils/measure_complexity.py``): the
component's kMACs for one frame divided by the element count of part 1's input tensor
(channels x padded height x padded width of the network input,
:meth:`~vcmctc.features.spec.SplitPoint.input_elements`), whatever the component.
Component names are those of CompressAI-Vision's ``summary_complexity.csv``: ``nn_part1``,
``feature_reduction``, ``feature_restoration``, ``nn_part2``.
"""

from __future__ import annotations

from typing import Any, Callable

COMPONENTS = ("nn_part1", "feature_reduction", "feature_restoration", "nn_part2")


def count_macs(fn: Callable[..., Any], *args, **kwargs) -> tuple[Any, int]:
    """``(fn(*args, **kwargs), multiply-accumulates it ran)``, counted by torch's FLOP counter
    (needs PyTorch)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = fn(*args, **kwargs)
    return out, int(counter.get_total_flops()) // 2


def kmac_per_pixel(macs: float, pixels: int) -> float:
    """kMAC/pixel: thousands of MACs over the pixels (input elements) they were spent on."""
    if pixels <= 0:
        raise ValueError(f"pixel count must be positive, got {pixels}")
    return macs / 1000.0 / pixels


def merge(declared: dict[str, float], measured: dict[str, float] | None,
          tolerance: float = 0.01) -> tuple[dict[str, float], list[str]]:
    """A point's kMAC/pixel: the manifest's (``declared``) with what vcmctc measured over it;
    a warning for every measured component the manifest states differently (relative
    ``tolerance``)."""
    out, warnings = dict(declared), []
    for name, value in (measured or {}).items():
        given = declared.get(name)
        if given is not None and abs(given - value) > tolerance * max(abs(value), 1e-12):
            warnings.append(f"complexity {name}: the manifest says {given:g} kMAC/pixel, "
                            f"vcmctc measured {value:.6g}")
        out[name] = value
    return out, warnings
