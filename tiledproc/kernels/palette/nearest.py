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
from .solve import UNIQUE_TILE, Limits, Work, make_work, solve

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
    _nearest_tiles(img, out, tile[0], tile[1], prepared.huge, prepared.tree, prepared.plan, lim, X, pos,
                   prepared.work(T))
    return out.reshape(H, W)


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _gather(img, y0, y1, x0, x1, X, pos, out, check_huge, plan, reg, palette):
    """Copy the finite pixels of img[:, y0:y1, x0:x1] into X as float64 (their flat index in
    pos); non-finite pixels get 0, pixels that could overflow are compared with every colour.
    Returns the number of points copied."""
    C, H, W = img.shape
    npts = y0 - y0  # a plain int: literal 0 would compile brute_point once more
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
                out[y * W + x] = brute_point(plan, X, npts, palette, reg)
            else:
                pos[npts] = y * W + x
                npts += 1
    return npts


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def _nearest_tiles(img, out, ty_, tx_, check_huge, tree, plan, lim, X, pos, w):
    """Every pixel of img in tiles of ty_ x tx_ (X, pos: scratch for a tile's points)."""
    C, H, W = img.shape
    for y0 in range(0, H, ty_):
        y1 = min(y0 + ty_, H)
        for x0 in range(0, W, tx_):
            x1 = min(x0 + tx_, W)
            npts = _gather(img, y0, y1, x0, x1, X, pos, out, check_huge, plan, w.reg, tree.colours)
            if npts:
                solve(X, 0, npts, pos, out, tree, plan, w, lim)  # literal 0, as in solve.runs: one version
