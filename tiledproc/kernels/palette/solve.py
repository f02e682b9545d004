"""The nearest colour of a set of points (a tile's finite pixels, or distinct colours):
picks the k-d tree search, the sorted scan, the box parts or the vectorised
comparison by the number of candidates of the points' bounding box.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kdtree import candidates, point_nn
from .plan import plan_vec
from .scan import scan, scan_parts2

#: distinct colours per tile of the deduplicated path
UNIQUE_TILE = 64


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def solve(X, s, e, pos, out, tree, ops, res, work, cap, scan_min, parts_min):
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
        m = candidates(blo, bhi, pts, nlo, nhi, start, end, left, right, dim, split, cand, cand_lb,
                        stack, cap)
    if m < 0:  # each point on its own
        guess = -1
        for t in range(s, e):
            guess = point_nn(X, t, guess, palette, perm, pts, nlo, nhi, start, end, left, right,
                              dim, split, stack, ops, res, reg1)
            out[pos[t]] = guess
        return
    if C <= 4 and m > parts_min:
        scan_parts2(X, s, e, pos, out, perm, pts, cand, m, blo, bhi, crad, ccol, ck, cand2, cand_lb,
                     oblo, obhi, Xtmp, ptmp, code, counts, cand3, oblo1, obhi1, counts1, parts_min)
        return
    if C < 8 and m > scan_min:
        scan(X, s, e, pos, out, perm, pts, cand, cand_lb, m, blo, bhi, crad, ccol, ck)
        return
    for t in range(s, e):
        best[t] = np.inf
        bidx[t] = n
    rb = reg[res]
    for q in range(m):
        j = cand[q]
        k = perm[j]
        plan_vec(ops, X, pts[j], reg, s, e)
        for t in range(s, e):
            d = rb[t]
            if d < best[t] or (d == best[t] and k < bidx[t]):
                best[t] = d
                bidx[t] = k
    for t in range(s, e):
        out[pos[t]] = bidx[t]


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _runs(X, pos, out, tree, ops, res, work, cap, scan_min, parts_min, run):
    U = X.shape[1]
    for s in range(0, U, run):
        e = min(s + run, U)
        solve(X[:, s:e], 0, e - s, pos[s:e], out, tree, ops, res, work, cap, scan_min, parts_min)


def solve_runs(X, pos, out, prepared, cap, scan_min, parts_min):
    """Nearest colour of the points X (C, U) taken ``UNIQUE_TILE`` at a time; out[pos[t]] = index."""
    _runs(X, pos, out, prepared.tree, prepared.ops, prepared.result, prepared.work(UNIQUE_TILE),
          cap, scan_min, parts_min, UNIQUE_TILE)
