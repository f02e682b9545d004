"""The sorted scan of a tile's candidates (below 8 channels), and the same after cutting
the tile's box in 2**C parts at its centre.

Each point scans the candidates by increasing distance from the box centre and
stops at the first that the triangle inequality proves too far.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kdtree import ABS, REL, filter_cands

#: levels of cuts of a box in parts (a part with many candidates is cut again)
PART_LEVELS = 2


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _sift_down(key, val, root, end):
    """Move key[root] down the max-heap key[:end] to its place, moving val along."""
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
def _sort_by_key(key, val, m):
    """Sort key[:m] ascending, moving val[:m] along (heapsort, no allocation)."""
    for start in range(m // 2 - 1, -1, -1):
        _sift_down(key, val, start, m)
    for end in range(m - 1, 0, -1):
        key[0], key[end] = key[end], key[0]
        val[0], val[end] = val[end], val[0]
        _sift_down(key, val, 0, end)


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def scan(X, s, e, pos, out, tree, cand, m, blo, bhi, w):
    """Points X[:, s:e] against the m candidates cand[:m] of the box [blo, bhi] (C < 8, sums left
    to right); out[pos[t]] = index. Scratch: ``w`` (a :class:`~.solve.Work`).

    The candidates are sorted by their distance r from the box centre; a point at
    distance rv from the centre is at least r - rv from a colour, so it scans them
    in that order and stops at the first with (r - rv)^2 beyond its best distance
    (with margins for rounding; ties: lowest index). Measured faster than scanning
    outwards from r = rv in both directions, seeded or not.
    """
    perm, pts = tree.perm, tree.pts
    crad_tmp, crad, ccol, ck = w.cand_lb, w.crad, w.ccol, w.ck
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
    part has its box, candidates and part offsets in row L of ``w.part_*``, and
    ``w.part_walk[L]`` = (first point, next part, number of parts, candidates of its box).
    """
    C = X.shape[0]
    walk = w.part_walk
    walk[0, 0] = s
    walk[0, 1] = 0
    walk[0, 2] = _partition(X, s, e, pos, blo, bhi, w.Xtmp, w.ptmp, w.code, w.part_end[0])
    walk[0, 3] = m
    level = 0
    while level >= 0:
        o = walk[level, 1]
        if o == walk[level, 2]:  # every part of this level done: back to its parent's
            level -= 1
            continue
        walk[level, 1] = o + 1
        ends = w.part_end[level]
        start = walk[level, 0] + (ends[o - 1] if o > 0 else 0)
        stop = walk[level, 0] + ends[o]
        if stop == start:
            continue
        if level == 0:  # the box cut at this level, and its candidates
            plo, phi, pcand = blo, bhi, cand
        else:
            plo, phi, pcand = w.part_lo[level - 1], w.part_hi[level - 1], w.part_cand[level - 1]
        lo, hi, kept = w.part_lo[level], w.part_hi[level], w.part_cand[level]
        _part_box(o, C, plo, phi, lo, hi)
        m2 = filter_cands(pcand, walk[level, 3], tree.pts, lo, hi, kept)
        if level + 1 < PART_LEVELS and m2 > parts_min and stop - start > 16:  # cut it again
            level += 1
            walk[level, 0] = start
            walk[level, 1] = 0
            walk[level, 2] = _partition(X, start, stop, pos, lo, hi, w.Xtmp, w.ptmp, w.code, w.part_end[level])
            walk[level, 3] = m2
        else:
            scan(X, start, stop, pos, out, tree, kept, m2, lo, hi, w)
