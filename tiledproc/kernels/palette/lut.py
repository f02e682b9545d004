"""The answer caches of integer images: they have few distinct colours, solved once each.

For colour spaces of at most ``LUT_MAX`` colours (uint8 up to 3 bands, uint16 one
band) the palette keeps a process-wide answer cache (an int32 per colour, 64 MiB
for uint8 RGB, made on first use): a block looks its pixels up, solves the colours
not seen before (in Morton order, ``UNIQUE_TILE`` at a time) and stores them. Other
integer images up to 64 bits per pixel (uint8 up to 8 bands, uint16 up to 4) find
their block's distinct colours with a hash table and solve those only, when they
are fewer than a quarter of the pixels.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from .. import _status  # noqa: F401  (the "compiling ..." status line)
from .morton import morton
from .solve import solve_runs

#: integer colour spaces up to this many colours get a process-wide answer cache (uint8 RGB: 2**24)
LUT_MAX = 1 << 24


class AnswerCaches:
    """A palette's answer caches, one per integer colour space size, made on first use.

    They stay in their process: a pickled copy starts empty."""

    def __init__(self):
        self._luts: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self, size: int) -> np.ndarray:
        """The answer cache of a colour space of ``size`` colours (-1: not known yet). Threads
        fill it concurrently; they only ever write the one correct answer of a colour, so
        races are harmless."""
        with self._lock:
            table = self._luts.get(size)
            if table is None:
                table = self._luts[size] = np.full(size, -1, dtype=np.int32)
        return table

    def __reduce__(self):
        return (AnswerCaches, ())


def lut_bits(dtype, channels: int) -> int:
    """Bits per channel of the answer-cache key, or 0 when the colour space is too large."""
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(np.dtype(dtype), 0)
    return bits if bits and (1 << (bits * channels)) <= LUT_MAX else 0


def dedup_shift(dtype, channels: int) -> int:
    """Bits per channel of the packed key, or 0 when the block is not deduplicated."""
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(np.dtype(dtype), 0)
    return bits if bits and bits * channels <= 64 else 0


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _lut_pass(img, shift, lut, out, misses, second):
    """First pass (``second`` False): out = lut[colour] where known, else -1; colours seen
    for the first time are marked pending (-2) and listed in ``misses``. Returns (number
    of misses, pixels left at -1). Second pass: fill the -1 pixels from the lut; returns
    (0, pixels still unknown: pending in another thread)."""
    C, H, W = img.shape
    nm = 0
    unknown = 0
    for y in range(H):
        for x in range(W):
            i = y * W + x
            if second and out[i] >= 0:
                continue
            key = np.int64(0)
            for c in range(C):
                key = (key << shift) | np.int64(img[c, y, x])
            v = lut[key]
            if v >= 0:
                out[i] = v
                continue
            out[i] = -1
            unknown += 1
            if not second and v == -1:
                lut[key] = -2
                misses[nm] = key
                nm += 1
    return nm, unknown


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _lut_store(lut, keys, values):
    for i in range(keys.shape[0]):
        lut[keys[i]] = values[i]


def nearest_lut(img, prepared, bits, lim):
    """Nearest colour of every pixel of an integer block through the palette's answer cache
    of its colour space (``bits`` per channel): an int32 (H, W) array."""
    C, H, W = img.shape
    lut = prepared.caches.get(1 << (bits * C))
    out = np.empty(H * W, dtype=np.int32)
    misses = np.empty(H * W, dtype=np.int64)
    nm, unknown = _lut_pass(img, bits, lut, out, misses, False)
    if nm:
        keys = misses[:nm]
        order = morton(keys.astype(np.uint64), C, bits)
        keys = keys[order]
        mask = (1 << bits) - 1
        X = np.empty((C, nm))
        for c in range(C):
            X[c] = ((keys >> (bits * (C - 1 - c))) & mask).astype(np.float64)
        values = np.empty(nm, dtype=np.int32)
        solve_runs(X, np.arange(nm, dtype=np.int64), values, prepared, lim)
        _lut_store(lut, keys, values)
    if unknown and _lut_pass(img, bits, lut, out, misses, True)[1]:
        # colours another thread marked pending and has not stored yet: solve them here
        rest = np.flatnonzero(out < 0)
        X = np.ascontiguousarray(img.reshape(C, -1)[:, rest], dtype=np.float64)
        values = np.empty(rest.size, dtype=np.int32)
        solve_runs(X, np.arange(rest.size, dtype=np.int64), values, prepared, lim)
        out[rest] = values
    return out.reshape(H, W)


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _distinct(img, shift, table_key, table_slot, inv, ukeys, limit):
    """Pack each pixel's channels into a uint64 key and number the distinct keys.

    inv[i] = number of pixel i's colour; ukeys[:U] = the keys in first-seen order.
    Returns U, or -1 once more than ``limit`` distinct colours are found (or the
    table is more than half full): then the block is not worth deduplicating.
    """
    C, H, W = img.shape
    cap = table_key.shape[0]
    bits = 0
    while (1 << bits) < cap:
        bits += 1
    for i in range(cap):
        table_slot[i] = -1
    U = 0
    prev = np.uint64(0)
    prev_slot = -1
    for y in range(H):
        for x in range(W):
            key = np.uint64(0)
            for c in range(C):
                key = (key << np.uint64(shift)) | np.uint64(img[c, y, x])
            if prev_slot >= 0 and key == prev:
                inv[y * W + x] = prev_slot
                continue
            j = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
            while True:
                sl = table_slot[j]
                if sl < 0:
                    if U >= limit or 2 * (U + 1) > cap:
                        return -1
                    sl = U
                    table_slot[j] = sl
                    table_key[j] = key
                    ukeys[U] = key
                    U += 1
                    break
                if table_key[j] == key:
                    break
                j = (j + 1) & (cap - 1)
            inv[y * W + x] = sl
            prev = key
            prev_slot = sl
    return U


def nearest_distinct(img, prepared, shift, lim):
    """Nearest colour of every pixel of an integer block through its distinct colours: an
    int32 (H, W) array, or None when they are more than a quarter of the pixels."""
    C, H, W = img.shape
    limit = max(H * W // 4, 1)
    size = 1 << 16
    inv = np.empty(H * W, dtype=np.int64)
    while True:
        table_key = np.empty(size, dtype=np.uint64)
        table_slot = np.empty(size, dtype=np.int64)
        ukeys = np.empty(size // 2, dtype=np.uint64)
        U = _distinct(img, shift, table_key, table_slot, inv, ukeys, limit)
        if U >= 0 or size >= 4 * limit:
            break
        size *= 4
    if U < 0:
        return None
    ukeys = ukeys[:U]
    order = morton(ukeys, C, shift)
    mask = np.uint64((1 << shift) - 1)
    X = np.empty((C, U))
    for c in range(C):
        X[c] = ((ukeys[order] >> np.uint64(shift * (C - 1 - c))) & mask).astype(np.float64)
    res_u = np.empty(U, dtype=np.int32)
    solve_runs(X, order.astype(np.int64), res_u, prepared, lim)
    return res_u[inv].reshape(H, W)
