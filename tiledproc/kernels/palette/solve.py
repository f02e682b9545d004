"""The nearest colour of a set of points (a tile's finite pixels, or distinct colours):
picks the k-d tree search, the sorted scan, the box parts or the vectorised
comparison by the number of candidates of the points' bounding box.

The callers' loops hold only the common searches (the box's candidates, the sorted scan,
the vectorised comparison). Sets of points that need the per-point k-d tree search or the
box cut in parts are kept, with their points and candidates, in a :class:`Left` buffer
that the Python caller hands, when it is full, to an entry point of their own
(:func:`points_left`, :func:`parts_left`), called only if some set needs it. So a first
use compiles only the searches its tiles need, and numba does not re-optimise the rare
ones inside every caller (first palette_indices from an empty cache: 12.3 -> 4.9 s).
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


#: what :func:`solve` left to a rarer search (its return value)
SOLVED, POINTS, PARTS = 0, 1, 2


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def solve(X, s, e, pos, out, tree, plan, w, lim):
    """Nearest colour of the points X[:, s:e] (finite, below the overflow bound); out[pos[t]] = index,
    by the common searches; returns (SOLVED, m), or (the rarer search the points need, m) with
    nothing written (for PARTS the box and its m candidates left in ``w``).

    The points' bounding box gives the candidate colours (k-d tree). Below 8
    channels, with more than ``lim.scan_min`` candidates, each point scans them by
    increasing distance from the box centre and stops at the first that cannot be
    nearer (triangle inequality); otherwise every point is compared with every
    candidate in vectorised loops. With more than ``lim.cap`` candidates (a noisy
    tile, a large palette) each point must be searched in the k-d tree (POINTS:
    :func:`points_left`); with more than ``lim.parts_min`` (and at most 4 channels)
    the box must be cut in parts first (PARTS: :func:`parts_left`). Those two are
    compiled apart, as entry points the callers' Python code calls for the sets of
    points left to them: a first use that does not need them does not compile them
    (nor does numba re-optimise them inside every caller).
    """
    perm, pts = tree.perm, tree.pts
    blo, bhi, cand = w.blo, w.bhi, w.cand
    C = X.shape[0]
    n = pts.shape[0]
    # the box written out here, not in a helper: one level less for numba to re-optimise (0.4 s)
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
    if m < 0:
        return POINTS, m
    if C <= 4 and m > lim.parts_min:
        return PARTS, m
    if C < 8 and m > lim.scan_min:
        scan(X, s, e, pos, out, perm, pts, cand, m, blo, bhi, w.scan)
        return SOLVED, m
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
    return SOLVED, m


#: sets of points (tiles, runs) a buffer of :class:`Left` holds before its searches run
LEFT_SETS = 64


class Left(NamedTuple):
    """Sets of points :func:`solve` left to a rarer search, kept with what it found (so the
    search needs neither the pixels gathered again nor the candidates found again). The
    callers' loops fill it in place (set i: its points at X[:, off:off + count], off the end
    of set i - 1; for PARTS its m candidates and box)."""

    #: (C, LEFT_SETS * T) float64 and (LEFT_SETS * T,) int64: the points and their positions
    X: np.ndarray
    pos: np.ndarray
    #: (LEFT_SETS, 3) int64: first point in X, number of points, kind (POINTS or PARTS)
    meta: np.ndarray
    #: (LEFT_SETS, cands) int64 and their number (LEFT_SETS,): the box's candidates (PARTS)
    cand: np.ndarray
    m: np.ndarray
    #: (LEFT_SETS, C): the box (PARTS)
    lo: np.ndarray
    hi: np.ndarray


def make_left(C: int, points: int, n: int, cap: int) -> Left:
    """A :class:`Left` for sets of up to ``points`` points, ``n`` colours, ``cap`` candidates."""
    L = LEFT_SETS
    i64 = np.int64
    return Left(X=np.empty((C, L * points)), pos=np.empty(L * points, dtype=i64), meta=np.empty((L, 3), dtype=i64),
                cand=np.empty((L, max(1, min(n, cap))), dtype=i64), m=np.empty(L, dtype=i64),
                lo=np.empty((L, C)), hi=np.empty((L, C)))


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _take_set(left, i, X, pos):
    """Set i of ``left`` back in the scratch X, pos (from 0); returns its number of points."""
    off = left.meta[i, 0]
    cnt = left.meta[i, 1]
    for c in range(X.shape[0]):
        for t in range(cnt):
            X[c, t] = left.X[c, off + t]
    for t in range(cnt):
        pos[t] = left.pos[off + t]
    return cnt


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def points_left(left, nl, out, tree, plan, w, X, pos):
    """The sets of ``left`` kept for the per-point k-d tree search (an entry point of its own:
    compiled only when some set needs it). Each point is seeded with its predecessor's colour.
    Each set is copied back to the scratch X, pos and searched from a literal 0, as in solve."""
    for i in range(nl):
        if left.meta[i, 2] == POINTS:
            cnt = _take_set(left, i, X, pos)
            guess = cnt - cnt - 1  # a plain int: a literal -1 would compile point_nn once more
            for t in range(cnt):
                guess = point_nn(X, t, guess, tree, plan, w.stack, w.reg1)
                out[pos[t]] = guess


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def parts_left(left, nl, out, tree, w, lim, X, pos):
    """The sets of ``left`` kept for the box cut in parts (:func:`~.scan.scan_parts`; an entry
    point of its own, as :func:`points_left`)."""
    for i in range(nl):
        if left.meta[i, 2] == PARTS:
            cnt = _take_set(left, i, X, pos)
            scan_parts(X, 0, cnt, pos, out, tree, left.cand[i], left.m[i], left.lo[i], left.hi[i], w,
                       lim.parts_min)


def run_left(left, nl, out, prepared, w, lim, X, pos) -> None:
    """The searches of the sets in ``left`` (each entry point called only if some set needs it;
    X, pos: scratch for one set)."""
    kinds = left.meta[:nl, 2]
    if (kinds == POINTS).any():
        points_left(left, nl, out, prepared.tree, prepared.plan, w, X, pos)
    if (kinds == PARTS).any():
        parts_left(left, nl, out, prepared.tree, w, lim, X, pos)


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _runs(X, pos, out, tree, plan, w, lim, Xt, left, s0):
    """The points of X ``run`` at a time from s0, each run copied to the C-contiguous Xt (C, run):
    solve is then compiled once, for the same types as the tiles' (not for a strided view);
    its start is the literal 0 there and here (a runtime start costs 5% of the tiles' speed).
    Runs left to a rarer search go to ``left``; returns (where to resume, sets in left) when
    ``left`` is full or the points are done."""
    C, U = X.shape
    run = Xt.shape[1]
    nl = 0
    s = s0
    while s < U and nl < left.meta.shape[0]:
        e = min(s + run, U)
        for c in range(C):
            for t in range(s, e):
                Xt[c, t - s] = X[c, t]
        kind, m = solve(Xt, 0, e - s, pos[s:e], out, tree, plan, w, lim)
        if kind != SOLVED:  # kept in left (written out, as in nearest._nearest_tiles)
            off = 0 if nl == 0 else left.meta[nl - 1, 0] + left.meta[nl - 1, 1]
            for c in range(C):
                for t in range(e - s):
                    left.X[c, off + t] = Xt[c, t]
            for t in range(e - s):
                left.pos[off + t] = pos[s + t]
            left.meta[nl, 0] = off
            left.meta[nl, 1] = e - s
            left.meta[nl, 2] = kind
            left.m[nl] = m
            for q in range(max(m, 0)):
                left.cand[nl, q] = w.cand[q]
            for c in range(C):
                left.lo[nl, c] = w.blo[c]
                left.hi[nl, c] = w.bhi[c]
            nl += 1
        s = e
    return s, nl


def solve_runs(X, pos, out, prepared, lim: Limits):
    """Nearest colour of the points X (C, U) taken ``UNIQUE_TILE`` at a time; out[pos[t]] = index."""
    Xt = np.empty((X.shape[0], UNIQUE_TILE))
    w = prepared.work(UNIQUE_TILE)
    left = make_left(X.shape[0], UNIQUE_TILE, prepared.n, lim.cap)
    s = 0
    while s < X.shape[1]:
        s, nl = _runs(X, pos, out, prepared.tree, prepared.plan, w, lim, Xt, left, s)
        if nl:
            run_left(left, nl, out, prepared, w, lim, Xt, np.empty(UNIQUE_TILE, dtype=np.int64))
