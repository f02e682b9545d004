"""The sorted scan of a tile's candidates (below 8 channels), and the same after cutting
the tile's box in 2**C parts at its centre.

Each point scans the candidates by increasing distance from the box centre and
stops at the first that the triangle inequality proves too far.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .. import _status  # noqa: F401  (the "compiling ..." status line)
from .kdtree import ABS, REL, filter_cands

#: levels of cuts of a box in parts (a part with many candidates is cut again)
PART_LEVELS = 2


class ScanWork(NamedTuple):
    """Scratch of :func:`scan` for up to n candidates of C channels."""

    #: (n,) float64: the sort keys (distance from the box centre)
    key: np.ndarray
    #: (n,) float64, (n, C) float64, (n,) int64: the candidates sorted: distance from the box
    #: centre, colour, palette index
    crad: np.ndarray
    ccol: np.ndarray
    ck: np.ndarray


class PartsWork(NamedTuple):
    """Scratch of :func:`scan_parts` on up to T points, n candidates of C channels: a row per
    level of cuts for the current part's candidates, box, part offsets and walk."""

    #: (levels, n) int64: the candidates of the part
    cand: np.ndarray
    #: (levels, C): the part's box
    lo: np.ndarray
    hi: np.ndarray
    #: (levels, 2**C + 1) int64: the end offset of each part, from the first point of the box cut
    end: np.ndarray
    #: (levels, 4) int64: the walk (first point, next part, number of parts, candidates of the box)
    walk: np.ndarray
    #: (C, T), (T,) int64, (T,) int64: the points regrouped by part, their positions, their part
    X: np.ndarray
    pos: np.ndarray
    code: np.ndarray


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _sort_by_key(key, val, m):
    """Sort key[:m] ascending, moving val[:m] along (heapsort, no allocation).

    One sift-down serves both phases: the first m // 2 steps make key[:m] a max-heap
    (sifting down the roots m // 2 - 1 .. 0), each later step moves the largest key
    to the end and sifts the new root down the heap key[:end] left before it.
    """
    half = m // 2
    for step in range(half + m - 1):
        if step < half:
            root = half - 1 - step
            end = m
        else:
            end = m - 1 - (step - half)
            key[0], key[end] = key[end], key[0]
            val[0], val[end] = val[end], val[0]
            root = 0
        while 2 * root + 1 < end:
            ch = 2 * root + 1
            if ch + 1 < end and key[ch] < key[ch + 1]:
                ch += 1
            if key[root] < key[ch]:
                key[root], key[ch] = key[ch], key[root]
                val[root], val[ch] = val[ch], val[root]
                root = ch
            else:
                break


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def scan(X, s, e, pos, out, perm, pts, cand, m, blo, bhi, sw):
    """Points X[:, s:e] against the m candidates cand[:m] of the box [blo, bhi] (C < 8, sums left
    to right); out[pos[t]] = index. ``perm``, ``pts``: the tree's (:class:`~.kdtree.Tree`); ``sw``: a
    :class:`ScanWork`.

    The candidates are sorted by their distance r from the box centre; a point at
    distance rv from the centre is at least r - rv from a colour, so it scans them
    in that order and stops at the first with (r - rv)^2 beyond its best distance
    (with margins for rounding; ties: lowest index). Measured faster than scanning
    outwards from r = rv in both directions, seeded or not.
    """
    crad_tmp, crad, ccol, ck = sw.key, sw.crad, sw.ccol, sw.ck
    C = X.shape[0]
    for q in range(m):
        j = cand[q]
        r = 0.0
        for c in range(C):
            w = pts[j, c] - 0.5 * (blo[c] + bhi[c])
            r += w * w
        crad_tmp[q] = np.sqrt(r)
    _sort_by_key(crad_tmp, cand, m)
    for q in range(m):
        j = cand[q]
        crad[q] = crad_tmp[q]
        ck[q] = perm[j]
        for c in range(C):
            ccol[q, c] = pts[j, c]
    n = pts.shape[0]
    for t in range(s, e):
        rv = 0.0
        for c in range(C):
            w = X[c, t] - 0.5 * (blo[c] + bhi[c])
            rv += w * w
        rv = np.sqrt(rv)
        best = np.inf
        bk = n
        if C == 3:
            x0 = X[0, t]
            x1 = X[1, t]
            x2 = X[2, t]
            for q in range(m):
                g = crad[q] - rv
                g -= 1e-12 * (crad[q] + rv)
                if g > 0.0 and g * g > best * (1.0 + REL) + ABS:
                    break
                w0 = x0 - ccol[q, 0]
                w1 = x1 - ccol[q, 1]
                w2 = x2 - ccol[q, 2]
                dd = (w0 * w0 + w1 * w1) + w2 * w2
                k = ck[q]
                if dd < best or (dd == best and k < bk):
                    best = dd
                    bk = k
        else:
            for q in range(m):
                g = crad[q] - rv
                g -= 1e-12 * (crad[q] + rv)
                if g > 0.0 and g * g > best * (1.0 + REL) + ABS:
                    break
                w = X[0, t] - ccol[q, 0]
                dd = w * w
                for c in range(1, C):
                    w = X[c, t] - ccol[q, c]
                    dd += w * w
                k = ck[q]
                if dd < best or (dd == best and k < bk):
                    best = dd
                    bk = k
        out[pos[t]] = bk


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _partition(X, s, e, pos, blo, bhi, Xtmp, ptmp, code, counts):
    """Group points s..e of X (and pos) by the part of the box they fall in, cut
    at its centre in every channel (stable). Returns the number of parts P;
    ``counts[o]`` is then the end offset (from s) of part o."""
    C = X.shape[0]
    P = 1 << C
    for o in range(P + 1):
        counts[o] = 0
    for t in range(s, e):
        o = 0
        for c in range(C):
            if X[c, t] >= 0.5 * (blo[c] + bhi[c]):
                o |= 1 << c
        code[t - s] = o
        counts[o + 1] += 1
    for o in range(P):
        counts[o + 1] += counts[o]
    # points grouped by part (stable), through the temporary buffers
    for t in range(s, e):
        o = code[t - s]
        d = counts[o]
        counts[o] += 1
        for c in range(C):
            Xtmp[c, d] = X[c, t]
        ptmp[d] = pos[t]
    for t in range(s, e):
        for c in range(C):
            X[c, t] = Xtmp[c, t - s]
        pos[t] = ptmp[t - s]
    return P


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _part_box(o, C, blo, bhi, oblo, obhi):
    """The bounds of part o of the box (bit c of o: upper half in channel c)."""
    for c in range(C):
        cen = 0.5 * (blo[c] + bhi[c])
        if (o >> c) & 1:
            oblo[c] = cen
            obhi[c] = bhi[c]
        else:
            oblo[c] = blo[c]
            obhi[c] = cen


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def scan_parts(X, s, e, pos, out, tree, cand, m, blo, bhi, w, parts_min):
    """scan after cutting the box [blo, bhi] in 2**C parts at its centre: each part keeps the
    candidates that may be nearest in it, and its points scan those, from the part's centre.

    A part left with more than ``parts_min`` candidates and 16 points is cut the same way,
    down to ``PART_LEVELS`` levels of cuts. The walk is depth first without recursion (numba
    cannot load recursive functions from its cache, numba/numba#6061): level L's current
    part has its box, candidates and part offsets in row L of ``w.parts`` (a
    :class:`PartsWork`), and ``w.parts.walk[L]`` = (first point, next part, number of parts,
    candidates of the box cut).
    """
    C = X.shape[0]
    pw = w.parts
    walk = pw.walk
    walk[0, 0] = s
    walk[0, 1] = 0
    walk[0, 2] = _partition(X, s, e, pos, blo, bhi, pw.X, pw.pos, pw.code, pw.end[0])
    walk[0, 3] = m
    level = 0
    while level >= 0:
        o = walk[level, 1]
        if o == walk[level, 2]:  # every part of this level done: back to its parent's
            level -= 1
            continue
        walk[level, 1] = o + 1
        ends = pw.end[level]
        start = walk[level, 0] + (ends[o - 1] if o > 0 else 0)
        stop = walk[level, 0] + ends[o]
        if stop == start:
            continue
        if level == 0:  # the box cut at this level, and its candidates
            plo, phi, pcand = blo, bhi, cand
        else:
            plo, phi, pcand = pw.lo[level - 1], pw.hi[level - 1], pw.cand[level - 1]
        lo, hi, kept = pw.lo[level], pw.hi[level], pw.cand[level]
        _part_box(o, C, plo, phi, lo, hi)
        m2 = filter_cands(pcand, walk[level, 3], tree.pts, lo, hi, kept)
        if level + 1 < PART_LEVELS and m2 > parts_min and stop - start > 16:  # cut it again
            level += 1
            walk[level, 0] = start
            walk[level, 1] = 0
            walk[level, 2] = _partition(X, start, stop, pos, lo, hi, pw.X, pw.pos, pw.code, pw.end[level])
            walk[level, 3] = m2
        else:
            scan(X, start, stop, pos, out, tree.perm, tree.pts, kept, m2, lo, hi, w.scan)
