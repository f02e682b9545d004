"""The block function: the nearest colour of every pixel of one block, in spatial tiles
for float images, through the answer caches for integer ones.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import _status  # noqa: F401  (the "compiling ..." status line)
from .kdtree import LEAF, build_tree
from .lut import AnswerCaches, dedup_shift, lut_bits, nearest_distinct, nearest_lut
from .plan import HUGE, brute_point, sum_plan
from .solve import SOLVED, UNIQUE_TILE, Limits, Work, make_left, make_work, run_left, solve

#: pixels per tile (rows, columns); candidates of a tile beyond which its pixels are searched
#: one by one; fewest candidates for the sorted scan; for cutting the box in 2**C parts (twice).
#: Measured on the benchmark scene with median-cut palettes (scripts/benchcases/color.py):
#: at 256 colours 8 x 8 tiles 197 ns/px, 16 x 16 165, 32 x 32 with parts 120 (one core).
TILE = (32, 32)
CAP = 256
SCAN_MIN = 6
PARTS_MIN = 64


class PreparedPalette:
    """A palette ready for :func:`nearest_block`: float64 colours, k-d tree, summation plan,
    and its answer caches for integer images (process-wide, empty in a pickled copy)."""

    def __init__(self, palette: np.ndarray):
        palette = np.ascontiguousarray(palette, dtype=np.float64)
        self.palette = palette
        self.n, self.channels = palette.shape
        self.tree = build_tree(palette, LEAF)
        self.plan = sum_plan(self.channels)
        self.huge = bool(np.abs(palette).max() >= HUGE) if palette.size else False
        self.caches = AnswerCaches()

    def __repr__(self) -> str:
        return f"PreparedPalette({self.n} colours, {self.channels} channels)"

    def work(self, points: int) -> Work:
        """Scratch arrays for :func:`~.solve.solve` on up to ``points`` points."""
        return make_work(self.tree, self.plan, points)


def prepare_palette(palette: np.ndarray) -> PreparedPalette:
    return PreparedPalette(palette)


def nearest_block(img: np.ndarray, prepared: PreparedPalette, *, tile=TILE, cap=CAP,
                  scan_min=SCAN_MIN, parts_min=PARTS_MIN, dedup: bool = True) -> np.ndarray:
    """Index of the nearest colour of every pixel of ``img`` (C, H, W): an int32 (H, W) array.

    ``img`` may be any strided view (a channel-last block transposed) of
    uint8, uint16, float32 or float64.
    """
    C, H, W = img.shape
    lim = Limits(cap, scan_min, parts_min)
    out = np.empty(H * W, dtype=np.int32)
    if H * W == 0 or prepared.n == 1:
        out[:] = 0
        return out.reshape(H, W)
    bits = lut_bits(img.dtype, C) if dedup else 0
    if bits:
        return nearest_lut(img, prepared, bits, lim)
    shift = dedup_shift(img.dtype, C) if dedup else 0
    if shift and H * W >= 4 * UNIQUE_TILE:
        got = nearest_distinct(img, prepared, shift, lim)
        if got is not None:
            return got
    T = tile[0] * tile[1]
    X = np.empty((C, T))
    pos = np.empty(T, dtype=np.int64)
    w = prepared.work(T)
    left = make_left(C, T, prepared.n, cap)
    ntiles = -(-H // tile[0]) * -(-W // tile[1])
    k, nh = 0, 0
    while k < ntiles:  # tiles left to the rarer searches are kept in ``left``, solved when it is full
        k, nl, nhuge = _nearest_tiles(img, out, tile[0], tile[1], prepared.huge, prepared.tree, prepared.plan,
                                      lim, X, pos, w, left, k)
        nh += nhuge
        if nl:
            run_left(left, nl, out, prepared, w, lim, X, pos)
    if nh:  # pixels whose squares could overflow (marked -1): compared with every colour
        _brute_marked(img, out, prepared.plan, X, w.reg, prepared.tree.colours)
    return out.reshape(H, W)


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _gather(img, y0, y1, x0, x1, X, pos, out, check_huge):
    """Copy the finite pixels of img[:, y0:y1, x0:x1] into X as float64 (their flat index in
    pos); non-finite pixels get 0, pixels that could overflow are marked -1 (for
    :func:`_brute_marked`). Returns the number of points copied and of pixels marked."""
    C, H, W = img.shape
    npts = 0
    nh = 0
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
            elif check_huge or mx >= HUGE:
                out[y * W + x] = -1
                nh += 1
            else:
                pos[npts] = y * W + x
                npts += 1
    return npts, nh


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _nearest_tiles(img, out, ty_, tx_, check_huge, tree, plan, lim, X, pos, w, left, k0):
    """The pixels of img in tiles of ty_ x tx_ (X, pos: scratch for a tile's points), from tile k0
    on (row-major), by the common searches; the tiles that need a rarer one are kept in
    ``left``. Stops when ``left`` is full; returns (next tile, sets in left, pixels marked for
    :func:`_brute_marked`)."""
    C, H, W = img.shape
    ntx = (W + tx_ - 1) // tx_
    ntiles = ((H + ty_ - 1) // ty_) * ntx
    nl = 0
    nh = 0
    k = k0
    while k < ntiles and nl < left.meta.shape[0]:
        y0 = (k // ntx) * ty_
        x0 = (k % ntx) * tx_
        k += 1
        npts, nhuge = _gather(img, y0, min(y0 + ty_, H), x0, min(x0 + tx_, W), X, pos, out, check_huge)
        nh += nhuge
        if npts:
            kind, m = solve(X, 0, npts, pos, out, tree, plan, w, lim)  # literal 0, as in solve.runs: one version
            if kind != SOLVED:  # kept in left (written out: one function less for numba to re-optimise)
                off = 0 if nl == 0 else left.meta[nl - 1, 0] + left.meta[nl - 1, 1]
                for c in range(C):
                    for t in range(npts):
                        left.X[c, off + t] = X[c, t]
                for t in range(npts):
                    left.pos[off + t] = pos[t]
                left.meta[nl, 0] = off
                left.meta[nl, 1] = npts
                left.meta[nl, 2] = kind
                left.m[nl] = m
                for q in range(max(m, 0)):
                    left.cand[nl, q] = w.cand[q]
                for c in range(C):
                    left.lo[nl, c] = w.blo[c]
                    left.hi[nl, c] = w.bhi[c]
                nl += 1
    return k, nl, nh


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _brute_marked(img, out, plan, X, reg, palette):
    """The pixels marked -1 (squares that could overflow) against every colour (X, reg: scratch)."""
    C, H, W = img.shape
    t = H - H  # a plain int: a literal 0 would compile brute_point once more
    for y in range(H):
        for x in range(W):
            if out[y * W + x] == -1:
                for c in range(C):
                    X[c, t] = np.float64(img[c, y, x])
                out[y * W + x] = brute_point(plan, X, t, palette, reg)
