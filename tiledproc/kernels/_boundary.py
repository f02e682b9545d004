"""Boundary modes as index maps.

A kernel never pads its block. Instead, for every position of the extended
line it needs (core plus kernel radius on each side), it receives the index of
the block element that sits there, or -1 for the constant ``cval``. Inside the
image the halo supplies real neighbours; beyond the true image edge the
index follows scipy.ndimage's rule for the mode, for any extension length
(a window larger than the image included).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mode_index", "axis_map"]


def mode_index(q: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map image positions ``q`` (any integers) into ``[0, n)`` as scipy.ndimage does.

    ``reflect``  (d c b a | a b c d | d c b a)
    ``mirror``   (d c b | a b c d | c b a)
    ``nearest``  (a a a | a b c d | d d d)
    ``wrap``     (a b c d | a b c d | a b c d)
    ``constant`` -1 outside the image (the caller substitutes ``cval``)
    """
    q = np.asarray(q, dtype=np.int64)
    if n <= 0:
        raise ValueError("cannot map positions onto an empty axis")
    if mode == "reflect":
        m = np.mod(q, 2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m)
    if mode == "mirror":
        if n == 1:
            return np.zeros_like(q)
        m = np.mod(q, 2 * n - 2)
        return np.where(m >= n, 2 * n - 2 - m, m)
    if mode == "nearest":
        return np.clip(q, 0, n - 1)
    if mode == "wrap":
        return np.mod(q, n)
    if mode == "constant":
        return np.where((q < 0) | (q >= n), -1, q)
    raise ValueError(f"unknown mode {mode!r}")


def axis_map(
    core_start: int,
    core_len: int,
    before: int,
    after: int,
    block_start: int,
    block_len: int,
    n: int,
    mode: str,
) -> np.ndarray:
    """Block indices of the extended line ``[core_start - before, core_start + core_len + after)``.

    ``block_start`` is the image position of the block's first element; it
    may be negative (or the block may run past ``n``) when a periodic halo
    was added for ``wrap``. Positions the block holds map to themselves;
    the others follow ``mode`` and must then land inside the block.
    """
    q = np.arange(core_start - before, core_start + core_len + after, dtype=np.int64)
    local = q - block_start
    inside = (local >= 0) & (local < block_len)
    if inside.all():
        return local
    mapped = mode_index(q, n, mode)
    out = np.where(inside, local, np.where(mapped < 0, -1, mapped - block_start))
    bad = (~inside) & (mapped >= 0) & ((out < 0) | (out >= block_len))
    if bad.any():  # the halo exchange's rechunk rules make this impossible
        raise AssertionError(
            f"boundary map for mode {mode!r} points outside the block "
            f"(core {core_start}+{core_len}, block {block_start}+{block_len}, n={n})"
        )
    return out


def contiguous_run(xmap: np.ndarray) -> tuple[int, int, int]:
    """The longest stretch ``lo <= s < hi`` where ``xmap[s] == s + off``.

    Kernels copy that stretch of a row directly and gather only the rest
    (the few boundary entries), which lets the copy vectorize.
    """
    if xmap.size == 0:
        return (0, 0, 0)
    ok = np.concatenate([[False], (np.diff(xmap) == 1) & (xmap[:-1] >= 0), [False]])
    edges = np.flatnonzero(np.diff(ok.astype(np.int8)))
    if edges.size == 0:  # no two consecutive entries: a run of one, if valid
        return (0, 1, int(xmap[0])) if xmap[0] >= 0 else (0, 0, 0)
    starts, ends = edges[::2], edges[1::2]
    k = int(np.argmax(ends - starts))
    lo, hi = int(starts[k]), int(ends[k]) + 1
    return lo, hi, int(xmap[lo] - lo)
