"""2 x 2 downsampling of one block (pyramid levels, quicklooks)."""

from __future__ import annotations

import numpy as np

__all__ = ["downsample2", "subsample2"]


def downsample2(block: np.ndarray) -> np.ndarray:
    """Mean over 2 x 2 pixels of the last two axes.

    Floats: NaN-aware (NaN only where all four are NaN). Integers: rounded
    mean in the same dtype. An odd last row/column averages what it has.
    """
    h, w = block.shape[-2:]
    ph, pw = h % 2, w % 2
    pad = [(0, 0)] * (block.ndim - 2) + [(0, ph), (0, pw)]
    x = block.astype(np.float64)
    if ph or pw:
        x = np.pad(x, pad, constant_values=np.nan)
    x = x.reshape(x.shape[:-2] + (x.shape[-2] // 2, 2, x.shape[-1] // 2, 2))
    valid = ~np.isnan(x)
    n = valid.sum(axis=(-3, -1))
    s = np.where(valid, x, 0.0).sum(axis=(-3, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    if block.dtype.kind in "iub":
        out = np.round(out)
        if block.dtype.kind in "iu":
            info = np.iinfo(block.dtype)
            out = np.clip(out, info.min, info.max)
    return out.astype(block.dtype)


def subsample2(block: np.ndarray) -> np.ndarray:
    """The top-left pixel of every 2 x 2 of the last two axes.

    For categorical rasters (labels, palette indices), whose means would be
    values that stand for nothing.
    """
    return np.ascontiguousarray(block[..., ::2, ::2])
