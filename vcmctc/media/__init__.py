"""Decoded media: raw YUV files (:mod:`vcmctc.media.yuv`)."""

from vcmctc.media.yuv import (
    YuvFormat,
    YuvReader,
    check_yuv_size,
    md5_of,
    to_bgr,
    to_rgb,
)

__all__ = ["YuvFormat", "YuvReader", "check_yuv_size", "md5_of", "to_bgr", "to_rgb"]
