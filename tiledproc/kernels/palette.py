"""Exact nearest palette colour of every pixel of one block, and the median cut.

Pure numpy/numba; nothing else from tiledproc.

Exactness
---------
The reference is the float64 argmin of the squared distances::

    d = ((x[..., None, :].astype(float64) - palette.astype(float64)) ** 2).sum(-1)
    np.argmin(d, axis=-1)

``sum(-1)`` adds the ``C`` squared differences in numpy's pairwise order
(``numpy/_core/src/umath/loops_utils.h.src``: left to right below 8 terms,
eight running sums combined as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))`` plus
the leftovers up to 128 terms, halves above). :func:`sum_plan` writes that
order down once per channel count as a list of additions, and every distance
here is computed by that plan, so it is the reference's float64 value bit for
bit; the smallest wins and ties go to the lowest palette index.

Speed
-----
Pixels are taken in spatial tiles (32 x 32: neighbours have similar colours).
For each tile, a k-d tree over the palette gives the colours that can be
nearest to *some* point of the tile's bounding box: a colour whose smallest
possible distance to the box exceeds the largest distance from the box to
some other colour is dropped (with a relative margin of 1e-9, far above
float64 rounding, so rounding can never drop the true argmin or a tied
colour). Below 8 channels, each pixel then scans those candidates by
increasing distance from the box centre and stops at the first one that the
triangle inequality proves too far; with many candidates (noisy pixels, a
dense palette) the box is first cut in 2**C parts at its centre, twice for
parts that still have many, each part keeping its own candidates (C <= 4).
From 8 channels on, the tile's pixels are compared with every candidate in
vectorised loops over the pixels (the sums follow the plan). A tile with more
than ``CAP`` candidates (a large palette) is solved pixel by pixel with an
exact k-d tree search seeded with the previous pixel's colour.

Non-finite pixels get index 0, as in the reference (every distance is NaN
or inf, and argmin returns the first). Pixels with a magnitude of 1e150 or
more, whose squares could overflow, are compared with every colour.

Integer images have few distinct colours. For colour spaces of at most 2**24
colours (uint8 up to 3 bands, uint16 one band) the palette keeps a
process-wide answer cache (an int32 per colour, 64 MiB for uint8 RGB, made on
first use): a block looks its pixels up, solves the colours not seen before
(sorted along a Morton curve so that consecutive ones are close, 64 at a
time) and stores them. Other integer images up to 64 bits per pixel (uint8 up
to 8 bands, uint16 up to 4) find their block's distinct colours with a hash
table and solve those only, when they are fewer than a quarter of the pixels.

Compiled functions that sit in hot loops are built with ``_nrt=False``: numba's
reference counting costs two atomic operations per array argument per call,
which was half the run time of the first version.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

__all__ = [
    "sum_plan",
    "PreparedPalette",
    "prepare_palette",
    "nearest_block",
    "median_cut",
    "sample_threshold",
    "sample_block",
    "merge_samples",
    "cluster_sums",
    "lloyd_update",
]

#: relative and absolute margins of the pruning tests (see the module docstring)
_REL = 1e-9
_ABS = 1e-290
#: beyond this magnitude a squared difference may overflow: compare with every colour
_HUGE = 1e150
#: marks "no second operand" in a plan
_NONE = np.iinfo(np.int64).min


# ----------------------------------------------------------------- summation order


def sum_plan(channels: int) -> tuple[np.ndarray, int, int]:
    """numpy's pairwise summation of ``channels`` terms as a list of additions.

    Returns ``(ops, result, nregs)``: ``ops`` is an ``(m, 3)`` int64 array of
    ``(dst, a, b)`` meaning ``reg[dst] = a + b``, where an operand ``>= 0`` is
    a register and ``< 0`` is the squared difference of channel ``-1 - a``
    (``b == _NONE``: a plain copy of ``a``); the sum ends in register ``result``.
    """
    ops: list[tuple[int, int, int]] = []
    nregs = 0

    def term(c: int) -> int:
        return -1 - c

    def add(a: int, b: int) -> int:
        nonlocal nregs
        if a >= 0:  # accumulate in place
            dst = a
        elif b >= 0:
            dst = b
        else:
            dst = nregs
            nregs += 1
        ops.append((dst, a, b))
        return dst

    def pairwise(lo: int, n: int) -> int:
        if n < 8:  # res = 0; res += a[i]: 0 + t0 is t0 exactly (t0 >= +0 or NaN)
            cur = term(lo)
            for i in range(lo + 1, lo + n):
                cur = add(cur, term(i))
            return cur
        if n <= 128:
            r = [term(lo + k) for k in range(8)]
            i = 8
            while i < n - n % 8:
                for k in range(8):
                    r[k] = add(r[k], term(lo + i + k))
                i += 8
            res = add(add(add(r[0], r[1]), add(r[2], r[3])), add(add(r[4], r[5]), add(r[6], r[7])))
            while i < n:
                res = add(res, term(lo + i))
                i += 1
            return res
        n2 = n // 2
        n2 -= n2 % 8
        return add(pairwise(lo, n2), pairwise(lo + n2, n - n2))

    result = pairwise(0, channels)
    if result < 0:  # one channel: the distance is the one squared difference
        ops.append((nregs, result, _NONE))
        result = nregs
        nregs += 1
    return np.array(ops, dtype=np.int64).reshape(-1, 3), result, nregs


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _plan_vec(ops, X, p, reg, s, e):
    """reg[result, s:e] = distance of the points X[:, s:e] to the colour p, in plan order."""
    for o in range(ops.shape[0]):
        dst = ops[o, 0]
        a = ops[o, 1]
        b = ops[o, 2]
        rd = reg[dst]
        if a >= 0:
            ra = reg[a]
            if b >= 0:
                rb = reg[b]
                for t in range(s, e):
                    rd[t] = ra[t] + rb[t]
            else:
                cb = -1 - b
                xb = X[cb]
                pb = p[cb]
                for t in range(s, e):
                    v = xb[t] - pb
                    rd[t] = ra[t] + v * v
        else:
            ca = -1 - a
            xa = X[ca]
            pa = p[ca]
            if b == _NONE:
                for t in range(s, e):
                    v = xa[t] - pa
                    rd[t] = v * v
            elif b >= 0:
                rb = reg[b]
                for t in range(s, e):
                    v = xa[t] - pa
                    rd[t] = v * v + rb[t]
            else:
                cb = -1 - b
                xb = X[cb]
                pb = p[cb]
                for t in range(s, e):
                    v = xa[t] - pa
                    w = xb[t] - pb
                    rd[t] = v * v + w * w


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _brute_point(ops, res, X, t, palette, reg):
    """np.argmin of the reference distances of the point X[:, t] to every colour (first NaN, or
    first minimum), for points whose squares may overflow."""
    best = 0.0
    bidx = 0
    for k in range(palette.shape[0]):
        _plan_vec(ops, X, palette[k], reg, t, t + 1)
        d = reg[res, t]
        if k == 0:
            best = d
            if d != d:
                return 0
        elif not (d >= best):
            best = d
            bidx = k
            if d != d:
                return k
    return bidx


# ----------------------------------------------------------------- palette k-d tree

_LEAF = 4


@njit(nogil=True, cache=True, error_model="numpy")
def _build_tree(palette, leaf):
    n, C = palette.shape
    maxn = 2 * ((n + leaf - 1) // leaf) * 2 + 1
    perm = np.arange(n)
    nlo = np.empty((maxn, C))
    nhi = np.empty((maxn, C))
    start = np.empty(maxn, dtype=np.int64)
    end = np.empty(maxn, dtype=np.int64)
    left = np.full(maxn, -1, dtype=np.int64)
    right = np.full(maxn, -1, dtype=np.int64)
    dim = np.zeros(maxn, dtype=np.int64)
    split = np.zeros(maxn)
    stack = np.empty(maxn, dtype=np.int64)
    start[0] = 0
    end[0] = n
    nn = 1
    sp = 1
    stack[0] = 0
    while sp > 0:
        sp -= 1
        node = stack[sp]
        s = start[node]
        e = end[node]
        for c in range(C):
            lo = np.inf
            hi = -np.inf
            for j in range(s, e):
                v = palette[perm[j], c]
                lo = min(lo, v)
                hi = max(hi, v)
            nlo[node, c] = lo
            nhi[node, c] = hi
        if e - s <= leaf:
            continue
        best = 0
        width = -1.0
        for c in range(C):
            w = nhi[node, c] - nlo[node, c]
            if w > width:
                width = w
                best = c
        if width <= 0.0:  # all the same colour: a leaf, however large
            continue
        vals = np.empty(e - s)
        for j in range(s, e):
            vals[j - s] = palette[perm[j], best]
        order = np.argsort(vals, kind="mergesort")
        seg = perm[s:e].copy()
        for j in range(e - s):
            perm[s + j] = seg[order[j]]
        mid = s + (e - s) // 2
        dim[node] = best
        split[node] = palette[perm[mid], best]
        left[node] = nn
        right[node] = nn + 1
        start[nn] = s
        end[nn] = mid
        start[nn + 1] = mid
        end[nn + 1] = e
        stack[sp] = nn
        stack[sp + 1] = nn + 1
        sp += 2
        nn += 2
    pts = np.empty((n, C))
    for j in range(n):
        for c in range(C):
            pts[j, c] = palette[perm[j], c]
    return (perm, pts, nlo[:nn].copy(), nhi[:nn].copy(), start[:nn].copy(), end[:nn].copy(),
            left[:nn].copy(), right[:nn].copy(), dim[:nn].copy(), split[:nn].copy())


# ----------------------------------------------------------------- candidates of a box


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _keep(lb, ub):
    return lb <= ub * (1.0 + _REL) + _ABS


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _candidates(blo, bhi, pts, nlo, nhi, start, end, left, right, dim, split, cand, cand_lb, stack, cap):
    """Palette points (tree order) that may be nearest to some point of the box [blo, bhi].

    Returns their number, or -1 when there are more than ``cap``.
    """
    C = blo.shape[0]
    ub = np.inf
    m = 0
    sp = 1
    stack[0] = 0
    while sp > 0:
        sp -= 1
        node = stack[sp]
        lb = 0.0
        for c in range(C):
            g = nlo[node, c] - bhi[c]
            g2 = blo[c] - nhi[node, c]
            if g2 > g:
                g = g2
            if g > 0.0:
                lb += g * g
        if not _keep(lb, ub):
            continue
        if left[node] < 0:
            for j in range(start[node], end[node]):
                lbp = 0.0
                ubp = 0.0
                for c in range(C):
                    p = pts[j, c]
                    a = blo[c] - p
                    b = p - bhi[c]
                    g = a if a > b else b
                    if g > 0.0:
                        lbp += g * g
                    a = a * a
                    b = b * b
                    ubp += a if a > b else b
                if ubp < ub:
                    ub = ubp
                if _keep(lbp, ub):
                    if m == cap:
                        return -1
                    cand[m] = j
                    cand_lb[m] = lbp
                    m += 1
        else:
            d = dim[node]
            centre = 0.5 * (blo[d] + bhi[d])
            if centre < split[node]:  # the near child is popped first
                stack[sp] = right[node]
                stack[sp + 1] = left[node]
            else:
                stack[sp] = left[node]
                stack[sp + 1] = right[node]
            sp += 2
    k = 0
    for i in range(m):
        if _keep(cand_lb[i], ub):
            cand[k] = cand[i]
            k += 1
    return k


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _sort_by_key(key, val, m):
    """Sort key[:m] ascending, moving val[:m] along (heapsort, no allocation)."""
    for start in range(m // 2 - 1, -1, -1):
        root = start
        while 2 * root + 1 < m:
            ch = 2 * root + 1
            if ch + 1 < m and key[ch] < key[ch + 1]:
                ch += 1
            if key[root] < key[ch]:
                key[root], key[ch] = key[ch], key[root]
                val[root], val[ch] = val[ch], val[root]
                root = ch
            else:
                break
    for end in range(m - 1, 0, -1):
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
def _scan(X, s, e, pos, out, perm, pts, cand, crad_tmp, m, blo, bhi, crad, ccol, ck):
    """Points X[:, s:e] against m candidates (C < 8, sums left to right).

    The candidates are sorted by their distance r from the box centre; a point at
    distance rv from the centre is at least r - rv from a colour, so it scans them
    in that order and stops at the first with (r - rv)^2 beyond its best distance
    (with margins for rounding; ties: lowest index). Measured faster than scanning
    outwards from r = rv in both directions, seeded or not.
    """
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
                if g > 0.0 and g * g > best * (1.0 + _REL) + _ABS:
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
                if g > 0.0 and g * g > best * (1.0 + _REL) + _ABS:
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
def _plan_point(ops, X, t, p, reg1):
    """reg1[result] = the distance of the point X[:, t] to the colour p, in plan order (C >= 8)."""
    for o in range(ops.shape[0]):
        dst = ops[o, 0]
        a = ops[o, 1]
        b = ops[o, 2]
        if a >= 0:
            va = reg1[a]
        else:
            w = X[-1 - a, t] - p[-1 - a]
            va = w * w
        if b == _NONE:
            reg1[dst] = va
        elif b >= 0:
            reg1[dst] = va + reg1[b]
        else:
            w = X[-1 - b, t] - p[-1 - b]
            reg1[dst] = va + w * w


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _point_dist(X, t, p, ops, res, reg1):
    """The reference distance of the point X[:, t] to the colour p."""
    C = X.shape[0]
    if C < 8:
        w = X[0, t] - p[0]
        d = w * w
        for c in range(1, C):
            w = X[c, t] - p[c]
            d += w * w
        return d
    _plan_point(ops, X, t, p, reg1)
    return reg1[res]


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _point_nn(X, t, guess, palette, perm, pts, nlo, nhi, start, end, left, right, dim, split,
              stack, ops, res, reg1):
    """Exact nearest colour of the finite point X[:, t] by a k-d tree search.

    ``guess`` (a palette index, or -1) seeds the best distance (the previous pixel's
    colour is usually close); nodes are only skipped when their smallest possible
    distance exceeds the best by the pruning margin, so ties are all seen and the
    lowest index wins.
    """
    C = X.shape[0]
    n = palette.shape[0]
    best = np.inf
    bk = n
    if guess >= 0:
        best = _point_dist(X, t, palette[guess], ops, res, reg1)
        bk = guess
    sp = 1
    stack[0] = 0
    while sp > 0:
        sp -= 1
        node = stack[sp]
        lb = 0.0
        for c in range(C):
            v = X[c, t]
            g = nlo[node, c] - v
            g2 = v - nhi[node, c]
            if g2 > g:
                g = g2
            if g > 0.0:
                lb += g * g
        if not _keep(lb, best):
            continue
        if left[node] < 0:
            for j in range(start[node], end[node]):
                k = perm[j]
                d = _point_dist(X, t, pts[j], ops, res, reg1)
                if d < best or (d == best and k < bk):
                    best = d
                    bk = k
        else:
            if X[dim[node], t] < split[node]:  # the near child is popped first
                stack[sp] = right[node]
                stack[sp + 1] = left[node]
            else:
                stack[sp] = left[node]
                stack[sp + 1] = right[node]
            sp += 2
    return bk


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _filter_cands(cand, m, pts, blo, bhi, dst):
    """dst[:k] = the candidates cand[:m] that may be nearest to some point of the box [blo, bhi]."""
    C = blo.shape[0]
    ub = np.inf
    for q in range(m):
        j = cand[q]
        u = 0.0
        for c in range(C):
            a = pts[j, c] - blo[c]
            b = bhi[c] - pts[j, c]
            a = a * a
            b = b * b
            u += a if a > b else b
        if u < ub:
            ub = u
    k = 0
    for q in range(m):
        j = cand[q]
        lb = 0.0
        for c in range(C):
            a = blo[c] - pts[j, c]
            b = pts[j, c] - bhi[c]
            g = a if a > b else b
            if g > 0.0:
                lb += g * g
        if _keep(lb, ub):
            dst[k] = j
            k += 1
    return k


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
def _scan_parts(X, s, e, pos, out, perm, pts, cand, m, blo, bhi, crad, ccol, ck, cand2, crad_tmp,
                oblo, obhi, Xtmp, ptmp, code, counts):
    """_scan after cutting the box in 2**C parts at its centre: each part keeps the candidates
    that may be nearest in it, and its points scan those, from the part's centre."""
    P = _partition(X, s, e, pos, blo, bhi, Xtmp, ptmp, code, counts)
    start = s
    for o in range(P):
        stop = s + counts[o]
        if stop > start:
            _part_box(o, X.shape[0], blo, bhi, oblo, obhi)
            m2 = _filter_cands(cand, m, pts, oblo, obhi, cand2)
            _scan(X, start, stop, pos, out, perm, pts, cand2, crad_tmp, m2, oblo, obhi, crad, ccol, ck)
        start = stop


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _scan_parts2(X, s, e, pos, out, perm, pts, cand, m, blo, bhi, crad, ccol, ck, cand2, crad_tmp,
                oblo, obhi, Xtmp, ptmp, code, counts, cand3, oblo1, obhi1, counts1, parts_min):
    """_scan_parts one level up: parts that still have many candidates are cut again."""
    P = _partition(X, s, e, pos, blo, bhi, Xtmp, ptmp, code, counts)
    start = s
    for o in range(P):
        stop = s + counts[o]
        if stop > start:
            _part_box(o, X.shape[0], blo, bhi, oblo, obhi)
            m2 = _filter_cands(cand, m, pts, oblo, obhi, cand2)
            if m2 > parts_min and stop - start > 16:
                _scan_parts(X, start, stop, pos, out, perm, pts, cand2, m2, oblo, obhi, crad, ccol, ck,
                            cand3, crad_tmp, oblo1, obhi1, Xtmp, ptmp, code, counts1)
            else:
                _scan(X, start, stop, pos, out, perm, pts, cand2, crad_tmp, m2, oblo, obhi, crad, ccol,
                      ck)
        start = stop


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _solve(X, s, e, pos, out, tree, ops, res, work, cap, scan_min, parts_min):
    """Nearest colour of the points X[:, s:e] (finite, below the overflow bound); out[pos[t]] = index.

    The points' bounding box gives the candidate colours (k-d tree). Below 8
    channels, with more than ``scan_min`` candidates, each point scans them by
    increasing distance from the box centre and stops at the first that cannot be
    nearer (triangle inequality); otherwise every point is compared with every
    candidate in vectorised loops. With more than ``cap`` candidates (a noisy
    tile, a large palette), or a single point, each point is searched in the k-d
    tree, starting from its predecessor's colour.
    """
    perm, pts, nlo, nhi, start, end, left, right, dim, split = tree
    (reg, best, bidx, blo, bhi, cand, cand_lb, stack, crad, ccol, ck, reg1, palette,
     cand2, oblo, obhi, Xtmp, ptmp, code, counts, cand3, oblo1, obhi1, counts1) = work
    C = X.shape[0]
    n = pts.shape[0]
    m = -1
    if e - s > 1:
        for c in range(C):
            lo = X[c, s]
            hi = X[c, s]
            for t in range(s + 1, e):
                v = X[c, t]
                lo = min(lo, v)
                hi = max(hi, v)
            blo[c] = lo
            bhi[c] = hi
        m = _candidates(blo, bhi, pts, nlo, nhi, start, end, left, right, dim, split, cand, cand_lb,
                        stack, cap)
    if m < 0:  # each point on its own
        guess = -1
        for t in range(s, e):
            guess = _point_nn(X, t, guess, palette, perm, pts, nlo, nhi, start, end, left, right,
                              dim, split, stack, ops, res, reg1)
            out[pos[t]] = guess
        return
    if C <= 4 and m > parts_min:
        _scan_parts2(X, s, e, pos, out, perm, pts, cand, m, blo, bhi, crad, ccol, ck, cand2, cand_lb,
                     oblo, obhi, Xtmp, ptmp, code, counts, cand3, oblo1, obhi1, counts1, parts_min)
        return
    if C < 8 and m > scan_min:
        _scan(X, s, e, pos, out, perm, pts, cand, cand_lb, m, blo, bhi, crad, ccol, ck)
        return
    for t in range(s, e):
        best[t] = np.inf
        bidx[t] = n
    rb = reg[res]
    for q in range(m):
        j = cand[q]
        k = perm[j]
        _plan_vec(ops, X, pts[j], reg, s, e)
        for t in range(s, e):
            d = rb[t]
            if d < best[t] or (d == best[t] and k < bidx[t]):
                best[t] = d
                bidx[t] = k
    for t in range(s, e):
        out[pos[t]] = bidx[t]


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _gather(img, y0, y1, x0, x1, X, pos, out, check_huge, ops, res, reg, palette):
    """Copy the finite pixels of img[:, y0:y1, x0:x1] into X as float64 (their flat index in
    pos); non-finite pixels get 0, pixels that could overflow are compared with every colour.
    Returns the number of points copied."""
    C, H, W = img.shape
    npts = 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            z = 0.0
            mx = 0.0
            for c in range(C):
                v = np.float64(img[c, y, x])
                X[c, npts] = v
                z += v * 0.0
                a = abs(v)
                mx = a if a > mx else mx
            if z != 0.0:  # inf or NaN in some channel: every distance is inf or NaN -> index 0
                out[y * W + x] = 0
            elif check_huge or mx >= _HUGE:
                out[y * W + x] = _brute_point(ops, res, X, npts, palette, reg)
            else:
                pos[npts] = y * W + x
                npts += 1
    return npts


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _nearest_tiles(img, out, ty_, tx_, check_huge, tree, ops, res, cap, scan_min, parts_min, X, pos,
                   work):
    C, H, W = img.shape
    reg = work[0]
    palette = work[12]
    for y0 in range(0, H, ty_):
        y1 = min(y0 + ty_, H)
        for x0 in range(0, W, tx_):
            x1 = min(x0 + tx_, W)
            npts = _gather(img, y0, y1, x0, x1, X, pos, out, check_huge, ops, res, reg, palette)
            if npts:
                _solve(X, 0, npts, pos, out, tree, ops, res, work, cap, scan_min, parts_min)


# ----------------------------------------------------------------- distinct colours of integer blocks


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


def _morton(ukeys: np.ndarray, channels: int, shift: int) -> np.ndarray:
    """Order of packed colours along a Morton (Z-order) curve: close colours stay close."""
    mask = np.uint64((1 << shift) - 1)
    code = np.zeros(ukeys.shape[0], dtype=np.uint64)
    vals = [(ukeys >> np.uint64(shift * (channels - 1 - c))) & mask for c in range(channels)]
    out_bit = 0
    for b in range(shift - 1, -1, -1):  # from the most significant bit of every channel
        for c in range(channels):
            bit = (vals[c] >> np.uint64(b)) & np.uint64(1)
            code |= bit << np.uint64(channels * shift - 1 - out_bit)
            out_bit += 1
    return np.argsort(code, kind="stable")


# ----------------------------------------------------------------- the block function

#: pixels per tile (rows, columns); candidates of a tile beyond which its pixels are searched
#: one by one; fewest candidates for the sorted scan; for cutting the box in 2**C parts (twice).
#: Measured on the benchmark scene with median-cut palettes (scripts/benchcases/color.py):
#: at 256 colours 8 x 8 tiles 197 ns/px, 16 x 16 165, 32 x 32 with parts 120 (one core).
TILE = (32, 32)
CAP = 256
SCAN_MIN = 6
PARTS_MIN = 64
#: distinct colours per tile of the deduplicated path
UNIQUE_TILE = 64


class PreparedPalette:
    """A palette ready for :func:`nearest_block`: float64 colours, k-d tree, summation plan."""

    def __init__(self, palette: np.ndarray):
        palette = np.ascontiguousarray(palette, dtype=np.float64)
        self.palette = palette
        self.n, self.channels = palette.shape
        self.tree = _build_tree(palette, _LEAF)
        self.ops, self.result, self.nregs = sum_plan(self.channels)
        self.huge = bool(np.abs(palette).max() >= _HUGE) if palette.size else False
        self._luts: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PreparedPalette({self.n} colours, {self.channels} channels)"

    def lut(self, size: int) -> np.ndarray:
        """The process-wide answer cache of an integer colour space of ``size`` colours
        (-1: not known yet), made on first use. Threads fill it concurrently; they
        only ever write the one correct answer of a colour, so races are harmless."""
        with self._lock:
            table = self._luts.get(size)
            if table is None:
                table = self._luts[size] = np.full(size, -1, dtype=np.int32)
        return table

    def __getstate__(self):  # the caches stay in their process
        state = dict(self.__dict__)
        state["_luts"] = {}
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def work(self, points: int):
        """Scratch arrays for :func:`_solve` on up to ``points`` points."""
        n, C, T = self.n, self.channels, points
        return (np.empty((self.nregs, T)), np.empty(T), np.empty(T, dtype=np.int64), np.empty(C),
                np.empty(C), np.empty(n, dtype=np.int64), np.empty(n),
                np.empty(self.tree[6].shape[0] + 2, dtype=np.int64), np.empty(n), np.empty((n, C)),
                np.empty(n, dtype=np.int64), np.empty(self.nregs), self.palette,
                np.empty(n, dtype=np.int64), np.empty(C), np.empty(C), np.empty((C, T)),
                np.empty(T, dtype=np.int64), np.empty(T, dtype=np.int64),
                np.empty((1 << min(C, 4)) + 1, dtype=np.int64), np.empty(n, dtype=np.int64),
                np.empty(C), np.empty(C), np.empty((1 << min(C, 4)) + 1, dtype=np.int64))


def prepare_palette(palette: np.ndarray) -> PreparedPalette:
    return PreparedPalette(palette)


#: integer colour spaces up to this many colours get a process-wide answer cache (uint8 RGB: 2**24)
LUT_MAX = 1 << 24


def _lut_bits(dtype, channels: int) -> int:
    """Bits per channel of the answer-cache key, or 0 when the colour space is too large."""
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(np.dtype(dtype), 0)
    return bits if bits and (1 << (bits * channels)) <= LUT_MAX else 0


def _nearest_lut(img, prepared, bits, cap, scan_min, parts_min):
    C, H, W = img.shape
    lut = prepared.lut(1 << (bits * C))
    out = np.empty(H * W, dtype=np.int32)
    misses = np.empty(H * W, dtype=np.int64)
    nm, unknown = _lut_pass(img, bits, lut, out, misses, False)
    if nm:
        keys = misses[:nm]
        order = _morton(keys.astype(np.uint64), C, bits)
        keys = keys[order]
        mask = (1 << bits) - 1
        X = np.empty((C, nm))
        for c in range(C):
            X[c] = ((keys >> (bits * (C - 1 - c))) & mask).astype(np.float64)
        values = np.empty(nm, dtype=np.int32)
        _solve_runs(X, np.arange(nm, dtype=np.int64), values, prepared, cap, scan_min, parts_min)
        _lut_store(lut, keys, values)
    if unknown and _lut_pass(img, bits, lut, out, misses, True)[1]:
        # colours another thread marked pending and has not stored yet: solve them here
        rest = np.flatnonzero(out < 0)
        X = np.ascontiguousarray(img.reshape(C, -1)[:, rest], dtype=np.float64)
        values = np.empty(rest.size, dtype=np.int32)
        _solve_runs(X, np.arange(rest.size, dtype=np.int64), values, prepared, cap, scan_min, parts_min)
        out[rest] = values
    return out.reshape(H, W)


def _dedup_shift(dtype, channels: int) -> int:
    """Bits per channel of the packed key, or 0 when the block is not deduplicated."""
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(np.dtype(dtype), 0)
    return bits if bits and bits * channels <= 64 else 0


def nearest_block(img: np.ndarray, prepared: PreparedPalette, *, tile=TILE, cap=CAP,
                  scan_min=SCAN_MIN, parts_min=PARTS_MIN, dedup: bool = True) -> np.ndarray:
    """Index of the nearest colour of every pixel of ``img`` (C, H, W): an int32 (H, W) array.

    ``img`` may be any strided view (a channel-last block transposed) of
    uint8, uint16, float32 or float64.
    """
    C, H, W = img.shape
    out = np.empty(H * W, dtype=np.int32)
    if H * W == 0 or prepared.n == 1:
        out[:] = 0
        return out.reshape(H, W)
    bits = _lut_bits(img.dtype, C) if dedup else 0
    if bits:
        return _nearest_lut(img, prepared, bits, cap, scan_min, parts_min)
    shift = _dedup_shift(img.dtype, C) if dedup else 0
    if shift and H * W >= 4 * UNIQUE_TILE:
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
        if U >= 0:
            ukeys = ukeys[:U]
            order = _morton(ukeys, C, shift)
            mask = np.uint64((1 << shift) - 1)
            X = np.empty((C, U))
            for c in range(C):
                X[c] = ((ukeys[order] >> np.uint64(shift * (C - 1 - c))) & mask).astype(np.float64)
            res_u = np.empty(U, dtype=np.int32)
            _solve_runs(X, order.astype(np.int64), res_u, prepared, cap, scan_min, parts_min)
            return res_u[inv].reshape(H, W)
    T = tile[0] * tile[1]
    X = np.empty((C, T))
    pos = np.empty(T, dtype=np.int64)
    _nearest_tiles(img, out, tile[0], tile[1], prepared.huge, prepared.tree, prepared.ops,
                   prepared.result, cap, scan_min, parts_min, X, pos, prepared.work(T))
    return out.reshape(H, W)


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _runs(X, pos, out, tree, ops, res, work, cap, scan_min, parts_min, run):
    U = X.shape[1]
    for s in range(0, U, run):
        e = min(s + run, U)
        _solve(X[:, s:e], 0, e - s, pos[s:e], out, tree, ops, res, work, cap, scan_min, parts_min)


def _solve_runs(X, pos, out, prepared, cap, scan_min, parts_min):
    """Nearest colour of the points X (C, U) taken ``UNIQUE_TILE`` at a time; out[pos[t]] = index."""
    _runs(X, pos, out, prepared.tree, prepared.ops, prepared.result, prepared.work(UNIQUE_TILE),
          cap, scan_min, parts_min, UNIQUE_TILE)


# ----------------------------------------------------------------- median cut


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
