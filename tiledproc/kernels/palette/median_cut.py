"""Median-cut palettes: the deterministic sample (the same pixels for any chunking),
Heckbert's median cut, and the Lloyd refinement's per-colour sums."""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import _status  # noqa: F401  (the "compiling ..." status line)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A well-mixed 64-bit hash of each integer (SplitMix64's finaliser)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sample_threshold(n_pixels: int, sample_size: int) -> int | None:
    """Hash threshold that keeps about ``sample_size`` of ``n_pixels`` pixels (None: keep all)."""
    if n_pixels <= sample_size:
        return None
    return int(sample_size / n_pixels * 2.0**64)


def sample_block(pixels: np.ndarray, flat_index: np.ndarray, threshold: int | None):
    """The finite pixels of a block that belong to the deterministic sample.

    pixels : (n, C) float64; flat_index : (n,) int64, each pixel's row-major index in the
    whole image. A pixel is in the sample when the hash of its index is below
    ``threshold``: the same pixels whatever the chunking. Returns (flat_index, pixels).
    """
    keep = np.isfinite(pixels).all(axis=1)
    if threshold is not None:
        keep &= _splitmix64(flat_index) < np.uint64(threshold)
    return flat_index[keep], pixels[keep]


def merge_samples(parts):
    """One sample, ordered by pixel index: the same array for any chunking."""
    idx = np.concatenate([p[0] for p in parts])
    pts = np.concatenate([p[1] for p in parts])
    order = np.argsort(idx, kind="stable")
    return pts[order]


def median_cut(points: np.ndarray, n_colors: int) -> np.ndarray:
    """Median cut of ``points`` (N, C) into ``n_colors`` boxes; returns their means (n_colors, C).

    Heckbert's scheme: start with one box holding every point; repeatedly cut a
    box in two at the median of its points along one axis; the palette is the
    mean of each box. Choices made here (measured against Pillow's median cut on
    scikit-image's photographs, see tests/test_palette.py): the box cut next is
    the one with the largest sum of squared deviations from its mean (ties: the
    oldest box), along its axis of largest variance, at the median point (points
    with the median value stay on one side). Boxes that cannot be cut (one
    distinct colour) are left alone; when every box is such, the palette is
    padded by repeating its last colour (never chosen by nearest-colour search,
    where ties go to the lowest index).

    Deterministic: the result depends only on ``points`` and their order.
    """
    import heapq

    points = np.asarray(points, dtype=np.float64)
    N, C = points.shape
    if N == 0:
        raise ValueError("no points to cut")
    boxes = [points]
    heap: list = []

    def push(i: int) -> None:
        b = boxes[i]
        if b.shape[0] < 2:
            return
        var = b.var(axis=0)
        if not (b.max(axis=0) > b.min(axis=0)).any():
            return
        sse = float(var.sum()) * b.shape[0]
        axis = int(np.argmax(np.where(b.max(axis=0) > b.min(axis=0), var, -1.0)))
        heapq.heappush(heap, (-sse, i, axis))

    push(0)
    while len(boxes) < n_colors and heap:
        _, i, axis = heapq.heappop(heap)
        b = boxes[i]
        b = b[np.argsort(b[:, axis], kind="stable")]
        v = b[:, axis]
        mid = b.shape[0] // 2
        first = int(np.searchsorted(v, v[mid], "left"))
        after = int(np.searchsorted(v, v[mid], "right"))
        # cut next to the run of median values, on the side that keeps the halves closer in size
        cut = first if first > 0 and (mid - first <= after - mid or after == b.shape[0]) else after
        boxes[i] = b[:cut]
        boxes.append(b[cut:])
        push(i)
        push(len(boxes) - 1)
    palette = np.array([b.mean(axis=0) for b in boxes])
    if palette.shape[0] < n_colors:
        palette = np.concatenate([palette, np.repeat(palette[-1:], n_colors - palette.shape[0], axis=0)])
    return palette


@njit(nogil=True, cache=True, error_model="numpy")
def _cluster_sums(idx, pixels, K):
    """Per-index sums (K, C) and counts of the (n, C) pixels (rows with non-finite values skipped)."""
    C = pixels.shape[1]
    sums = np.zeros((K, C))
    counts = np.zeros(K, dtype=np.int64)
    for i in range(idx.shape[0]):
        ok = True
        for c in range(C):
            v = pixels[i, c]
            if not (v - v == 0.0):
                ok = False
        if not ok:
            continue
        k = idx[i]
        counts[k] += 1
        for c in range(C):
            sums[k, c] += pixels[i, c]
    return sums, counts


def cluster_sums(idx: np.ndarray, pixels: np.ndarray, K: int):
    """(sums, counts) of the pixels of each palette index: one Lloyd step's reduction."""
    return _cluster_sums(np.ascontiguousarray(idx.reshape(-1)), np.asarray(pixels, dtype=np.float64), K)


def lloyd_update(palette: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The mean of each colour's pixels; a colour nobody is nearest to keeps its value."""
    out = palette.astype(np.float64).copy()
    used = counts > 0
    out[used] = sums[used] / counts[used, None]
    return out
