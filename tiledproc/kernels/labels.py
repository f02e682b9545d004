"""Per-label sums of one block, and the label -> row lookup of a means table.

Pure numpy/numba; nothing else from tiledproc.

A block's labels become *slots* (small consecutive integers) in one pass:

* **dense**: when the block's labels span a range not much larger than the
  block (superpixels, segmentations), ``slot = label - min``: a subtraction,
  no table at all;
* **hash**: otherwise (sparse ids, ids near the int64 limits, random 64-bit
  ids) an open-addressing hash table with Fibonacci hashing, grown as needed,
  with a one-entry cache for runs of equal labels (consecutive pixels of a
  region share their label).

The sums of each slot's pixels are then accumulated in float64 in one more
pass, and the block's table ``(keys, sums, counts)`` is sorted by key. Tables
of several blocks are merged by key (:func:`merge_tables`), which is
associative, so a tree reduction gives the same table as one pass over the
whole image (up to the order of float64 additions).

Label keys are int64, or uint64 for uint64 labels (which may exceed 2**63 - 1).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import _status  # noqa: F401  (the "compiling ..." status line)

__all__ = [
    "label_dtype",
    "block_table",
    "merge_tables",
    "empty_table",
    "lookup_rows",
    "gather_rows",
]

#: golden-ratio multiplier of Fibonacci hashing
_FIB = np.uint64(0x9E3779B97F4A7C15)


def label_dtype(dtype) -> np.dtype:
    """The dtype the kernels read labels of ``dtype`` in (int32, int64 or uint64)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint64:
        return dtype
    if dtype.itemsize < 4 or dtype == np.int32:
        return np.dtype(np.int32)
    return np.dtype(np.int64)


def key_dtype(dtype) -> np.dtype:
    """The dtype of the keys of a table of labels of ``dtype``."""
    return np.dtype(np.uint64) if np.dtype(dtype) == np.uint64 else np.dtype(np.int64)


# ---------------------------------------------------------------- slots


@njit(nogil=True, cache=True, error_model="numpy")
def _span(lab):
    """(min, max - min as uint64) of a non-empty 1-D label array."""
    lo = lab[0]
    hi = lab[0]
    for i in range(lab.shape[0]):
        v = lab[i]
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    return lo, np.uint64(hi) - np.uint64(lo)


@njit(nogil=True, cache=True, error_model="numpy")
def _dense_slots(lab, lo, slot):
    for i in range(lab.shape[0]):
        slot[i] = np.int64(np.uint64(lab[i]) - np.uint64(lo))


@njit(nogil=True, cache=True, error_model="numpy")
def _hash_slots(lab, slot, keys_out):
    """Slots in first-seen order; returns (keys, number of keys)."""
    n = lab.shape[0]
    bits = 10
    cap = 1 << bits
    table_key = np.empty(cap, dtype=lab.dtype)
    table_slot = np.full(cap, -1, dtype=np.int64)
    keys = keys_out
    nk = 0
    prev_set = False
    prev = lab[0]
    prev_slot = -1
    for i in range(n):
        v = lab[i]
        if prev_set and v == prev:
            slot[i] = prev_slot
            continue
        kv = v
        h = (np.uint64(kv) * _FIB) >> np.uint64(64 - bits)
        j = np.int64(h)
        while True:
            s = table_slot[j]
            if s < 0:
                # a new key
                s = nk
                table_slot[j] = s
                table_key[j] = kv
                if nk == keys.shape[0]:
                    grown = np.empty(2 * keys.shape[0], dtype=keys.dtype)
                    grown[:nk] = keys[:nk]
                    keys = grown
                keys[nk] = kv
                nk += 1
                if 2 * nk > cap:  # keep the load below 1/2: rehash into twice the table
                    bits += 1
                    cap = 1 << bits
                    table_key = np.empty(cap, dtype=lab.dtype)
                    table_slot = np.full(cap, -1, dtype=np.int64)
                    for t in range(nk):
                        kt = keys[t]
                        jt = np.int64((np.uint64(kt) * _FIB) >> np.uint64(64 - bits))
                        while table_slot[jt] >= 0:
                            jt = (jt + 1) & (cap - 1)
                        table_slot[jt] = t
                        table_key[jt] = kt
                break
            if table_key[j] == kv:
                break
            j = (j + 1) & (cap - 1)
        slot[i] = s
        prev = v
        prev_slot = s
        prev_set = True
    return keys, nk


# ---------------------------------------------------------------- sums


@njit(nogil=True, cache=True, error_model="numpy")
def _accumulate(slot, x, nslots):
    """Sums of (C, n) pixels per slot, in one pass (channel-last pixels come as
    the transposed view: the same loop then reads each pixel's channels in turn)."""
    C = x.shape[0]
    sums = np.zeros((nslots, C), dtype=np.float64)
    counts = np.zeros(nslots, dtype=np.int64)
    for i in range(slot.shape[0]):
        s = slot[i]
        counts[s] += 1
        for c in range(C):
            sums[s, c] += np.float64(x[c, i])
    return sums, counts


def empty_table(channels: int, kdtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.empty(0, dtype=kdtype), np.empty((0, channels), dtype=np.float64),
            np.empty(0, dtype=np.int64))


def block_table(labels: np.ndarray, pixels: np.ndarray, channel_first: bool):
    """``(keys, sums, counts)`` of one block, sorted by key.

    labels : (n,) integer array (int32, int64 or uint64, see :func:`label_dtype`)
    pixels : (C, n) if ``channel_first`` else (n, C), uint8, uint16, float32 or float64
    Returns keys (K,) int64/uint64 ascending, sums (K, C) float64, counts (K,) int64.
    """
    n = labels.shape[0]
    C = pixels.shape[0] if channel_first else pixels.shape[1]
    kdtype = key_dtype(labels.dtype)
    if n == 0:
        return empty_table(C, kdtype)
    lo, span = _span(labels)
    lo = labels.dtype.type(lo)  # back in the labels' type (a uint64 may exceed int64)
    slot = np.empty(n, dtype=np.int64 if n > 2**31 - 1 else np.int32)
    dense = int(span) < n // 2 + 4096  # the dense sums stay smaller than the block
    if dense:
        nslots = int(span) + 1
        _dense_slots(labels, lo, slot)
    else:
        keys, nslots = _hash_slots(labels, slot, np.empty(1024, dtype=labels.dtype))
        keys = keys[:nslots].astype(kdtype)
    sums, counts = _accumulate(slot, pixels if channel_first else pixels.T, nslots)
    if dense:
        present = np.flatnonzero(counts)
        keys = kdtype.type(lo) + present.astype(kdtype)  # lo + offset <= max: no overflow
        return keys, sums[present], counts[present]
    order = np.argsort(keys, kind="stable")
    return keys[order], sums[order], counts[order]


def merge_tables(tables):
    """Merge ``(keys, sums, counts)`` tables: one row per distinct key, sums and counts added."""
    tables = [t for t in tables if t[0].shape[0]] or list(tables[:1])
    if len(tables) == 1:
        return tables[0]
    keys = np.concatenate([t[0] for t in tables])
    sums = np.concatenate([t[1] for t in tables])
    counts = np.concatenate([t[2] for t in tables])
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    first = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[first], np.add.reduceat(sums[order], first, axis=0), np.add.reduceat(counts[order], first)


# ---------------------------------------------------------------- lookup and gather


@njit(nogil=True, cache=True, error_model="numpy")
def _lookup(lab, values, rows):
    """rows[i] = position of lab[i] in the sorted ``values``, or -1; cached for runs."""
    K = values.shape[0]
    prev_set = False
    prev = lab[0]  # the caller never passes an empty block
    prev_row = -1
    for i in range(lab.shape[0]):
        v = lab[i]
        if prev_set and v == prev:
            rows[i] = prev_row
            continue
        kv = v
        a = 0
        b = K
        while a < b:
            m = (a + b) >> 1
            if values[m] < kv:
                a = m + 1
            else:
                b = m
        r = a if (a < K and values[a] == kv) else -1
        rows[i] = r
        prev = v
        prev_row = r
        prev_set = True


def lookup_rows(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The row of each label in the sorted key array ``values`` (-1 where absent)."""
    rows = np.empty(labels.shape[0], dtype=np.int32 if values.shape[0] < 2**31 else np.int64)
    if labels.shape[0]:
        _lookup(labels, values, rows)
    return rows


@njit(nogil=True, cache=True, error_model="numpy")
def _gather_cf(rows, table_t, out):
    """out[c, i] = table_t[c, rows[i]] (NaN for row -1): channel-first output."""
    for c in range(out.shape[0]):
        tc = table_t[c]
        oc = out[c]
        for i in range(rows.shape[0]):
            r = rows[i]
            oc[i] = tc[r] if r >= 0 else np.nan


@njit(nogil=True, cache=True, error_model="numpy")
def _gather_cl(rows, table, out):
    """out[i, c] = table[rows[i], c] (NaN for row -1): channel-last output."""
    C = out.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        if r >= 0:
            for c in range(C):
                out[i, c] = table[r, c]
        else:
            for c in range(C):
                out[i, c] = np.nan


def gather_rows(rows: np.ndarray, table: np.ndarray, out: np.ndarray, channel_first: bool) -> None:
    """Fill ``out`` ((C, n) if ``channel_first`` else (n, C)) with the rows of ``table`` (K, C)."""
    table = table.astype(out.dtype)
    if channel_first:
        _gather_cf(rows, np.ascontiguousarray(table.T), out)
    else:
        _gather_cl(rows, np.ascontiguousarray(table), out)
