"""The nearest colour of a set of points (a tile's finite pixels, or distinct colours):
picks the k-d tree search, the sorted scan, the box parts or the vectorised
comparison by the number of candidates of the points' bounding box.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .. import _status  # noqa: F401  (the "compiling ..." status line)
from .kdtree import candidates, point_nn
from .plan import plan_vec
from .scan import PART_LEVELS, PartsWork, ScanWork, scan, scan_parts

#: distinct colours per tile of the deduplicated path
UNIQUE_TILE = 64


class Limits(NamedTuple):
    """When :func:`solve` switches search (see ``CAP``, ``SCAN_MIN``, ``PARTS_MIN`` in .nearest)."""

    #: most candidates of a set of points; beyond, each point is searched in the tree
    cap: int
    #: fewest candidates for the sorted scan (below 8 channels)
    scan_min: int
    #: fewest candidates for cutting the box in parts (up to 4 channels)
    parts_min: int


class Work(NamedTuple):
    """Scratch arrays of :func:`solve` on up to T points, for n colours of C channels."""

    #: (nregs, T): the plan's registers, a column per point; (nregs,): those of one point
    reg: np.ndarray
    reg1: np.ndarray
    #: (T,) float64 and int64: best distance and index of each point (vectorised comparison)
    best: np.ndarray
    bidx: np.ndarray
    #: (C,): the points' bounding box
    blo: np.ndarray
    bhi: np.ndarray
    #: (n,) int64 and float64: the box's candidates (tree order) and their distance to the box
    cand: np.ndarray
    cand_lb: np.ndarray
    #: (tree nodes + 2,) int64: the tree traversals' stack
    stack: np.ndarray
    #: the sorted scan's; its sort keys are ``cand_lb`` (spent by then)
    scan: ScanWork
    #: the box parts'
    parts: PartsWork


def make_work(tree, plan, points: int) -> Work:
    """Scratch for :func:`solve` on up to ``points`` points of the palette of ``tree``."""
    n, C = tree.pts.shape
    T = points
    L = PART_LEVELS
    i64 = np.int64
    cand_lb = np.empty(n)
    return Work(
        reg=np.empty((plan.nregs, T)), reg1=np.empty(plan.nregs), best=np.empty(T), bidx=np.empty(T, dtype=i64),
        blo=np.empty(C), bhi=np.empty(C), cand=np.empty(n, dtype=i64), cand_lb=cand_lb,
        stack=np.empty(tree.left.shape[0] + 2, dtype=i64),
        scan=ScanWork(key=cand_lb, crad=np.empty(n), ccol=np.empty((n, C)), ck=np.empty(n, dtype=i64)),
        parts=PartsWork(cand=np.empty((L, n), dtype=i64), lo=np.empty((L, C)), hi=np.empty((L, C)),
                        end=np.empty((L, (1 << min(C, 4)) + 1), dtype=i64), walk=np.empty((L, 4), dtype=i64),
                        X=np.empty((C, T)), pos=np.empty(T, dtype=i64), code=np.empty(T, dtype=i64)))


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def solve(X, s, e, pos, out, tree, plan, w, lim):
    """Nearest colour of the points X[:, s:e] (finite, below the overflow bound); out[pos[t]] = index.

    The points' bounding box gives the candidate colours (k-d tree). Below 8
    channels, with more than ``lim.scan_min`` candidates, each point scans them by
    increasing distance from the box centre and stops at the first that cannot be
    nearer (triangle inequality); otherwise every point is compared with every
    candidate in vectorised loops. With more than ``lim.cap`` candidates (a noisy
    tile, a large palette), or a single point, each point is searched in the k-d
    tree, starting from its predecessor's colour. With more than ``lim.parts_min`` (and
    at most 4 channels), the box is cut in parts first (:func:`~.scan.scan_parts`).
    """
    perm, pts = tree.perm, tree.pts
    blo, bhi, cand = w.blo, w.bhi, w.cand
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
        m = candidates(tree, blo, bhi, cand, w.cand_lb, w.stack, lim.cap)
    if m < 0:  # each point on its own
        guess = s - s - 1  # a plain int: a literal -1 would compile point_nn once more
        for t in range(s, e):
            guess = point_nn(X, t, guess, tree, plan, w.stack, w.reg1)
            out[pos[t]] = guess
        return
    if C <= 4 and m > lim.parts_min:
        scan_parts(X, s, e, pos, out, tree, cand, m, blo, bhi, w, lim.parts_min)
        return
    if C < 8 and m > lim.scan_min:
        scan(X, s, e, pos, out, perm, pts, cand, m, blo, bhi, w.scan)
        return
    best, bidx, reg = w.best, w.bidx, w.reg
    for t in range(s, e):
        best[t] = np.inf
        bidx[t] = n
    rb = reg[plan.result]
    for q in range(m):
        j = cand[q]
        k = perm[j]
        plan_vec(plan.ops, X, pts[j], reg, s, e)
        for t in range(s, e):
            d = rb[t]
            if d < best[t] or (d == best[t] and k < bidx[t]):
                best[t] = d
                bidx[t] = k
    for t in range(s, e):
        out[pos[t]] = bidx[t]


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _runs(X, pos, out, tree, plan, w, lim, Xt):
    """The points of X ``run`` at a time, each run copied to the C-contiguous Xt (C, run):
    solve is then compiled once, for the same types as the tiles' (not for a strided view);
    its start is the literal 0 there and here (a runtime start costs 5% of the tiles' speed)."""
    C, U = X.shape
    run = Xt.shape[1]
    for s in range(0, U, run):
        e = min(s + run, U)
        for c in range(C):
            for t in range(s, e):
                Xt[c, t - s] = X[c, t]
        solve(Xt, 0, e - s, pos[s:e], out, tree, plan, w, lim)


def solve_runs(X, pos, out, prepared, lim: Limits):
    """Nearest colour of the points X (C, U) taken ``UNIQUE_TILE`` at a time; out[pos[t]] = index."""
    Xt = np.empty((X.shape[0], UNIQUE_TILE))
    _runs(X, pos, out, prepared.tree, prepared.plan, prepared.work(UNIQUE_TILE), lim, Xt)
