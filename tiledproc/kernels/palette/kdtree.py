"""The palette's k-d tree: built once per palette, it gives the colours that may be
nearest to some point of a box, and the exact nearest colour of one point.

Pruning keeps a colour unless its smallest possible distance exceeds an upper
bound by the relative margin ``REL`` (far above float64 rounding), so the true
argmin and every tied colour survive.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .. import _status  # noqa: F401  (the "compiling ..." status line)
from .plan import point_dist

#: relative and absolute margins of the pruning tests (see the package docstring)
REL = 1e-9
ABS = 1e-290
#: palette colours per leaf
LEAF = 4


class Tree(NamedTuple):
    """A palette's k-d tree. Nodes split their colours at the median of their widest channel;
    node 0 is the root, a leaf holds at most ``LEAF`` colours (or one colour, repeated)."""

    #: (n, C) float64: the palette, in its own order
    colours: np.ndarray
    #: (n,) int64: the palette index of each colour in tree order
    perm: np.ndarray
    #: (n, C) float64: the colours in tree order
    pts: np.ndarray
    #: (nodes, C) float64: the bounding box of each node's colours
    lo: np.ndarray
    hi: np.ndarray
    #: (nodes,) int64: the node's colours are pts[start:end]
    start: np.ndarray
    end: np.ndarray
    #: (nodes,) int64: children, -1 for a leaf
    left: np.ndarray
    right: np.ndarray
    #: (nodes,) int64 and float64: the split channel and value of inner nodes
    dim: np.ndarray
    split: np.ndarray


#: palettes up to this many colours are built in Python (the same algorithm, the same tree:
#: tens of milliseconds, where compiling :func:`_build_tree` costs about 2 s on first use)
PY_BUILD_MAX = 8192


def build_tree(palette: np.ndarray, leaf: int = LEAF) -> Tree:
    """The k-d tree of a float64 (n, C) palette (C-contiguous)."""
    if palette.shape[0] <= PY_BUILD_MAX:
        return Tree(palette, *_build_tree_py(palette, leaf))
    return Tree(palette, *_build_tree(palette, leaf))


def _build_tree_py(palette, leaf):
    """:func:`_build_tree` in numpy: the same nodes in the same order, the same values (a zero
    bound of a node box may differ in sign, which no comparison sees)."""
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
    start[0], end[0] = 0, n
    nn = 1
    stack = [0]
    while stack:
        node = stack.pop()
        s, e = int(start[node]), int(end[node])
        seg = palette[perm[s:e]]
        if e > s:
            nlo[node] = seg.min(axis=0)
            nhi[node] = seg.max(axis=0)
        else:
            nlo[node] = np.inf
            nhi[node] = -np.inf
        if e - s <= leaf:
            continue
        widths = nhi[node] - nlo[node]
        best = int(np.argmax(widths))  # the first widest channel
        if not widths[best] > 0.0:  # all the same colour: a leaf, however large
            continue
        order = np.argsort(seg[:, best], kind="stable")
        perm[s:e] = perm[s:e][order]
        mid = s + (e - s) // 2
        dim[node] = best
        split[node] = palette[perm[mid], best]
        left[node], right[node] = nn, nn + 1
        start[nn], end[nn] = s, mid
        start[nn + 1], end[nn + 1] = mid, e
        stack.append(nn)  # popped after nn + 1, as in the compiled build
        stack.append(nn + 1)
        nn += 2
    pts = np.ascontiguousarray(palette[perm])
    return (perm, pts, nlo[:nn].copy(), nhi[:nn].copy(), start[:nn].copy(), end[:nn].copy(),
            left[:nn].copy(), right[:nn].copy(), dim[:nn].copy(), split[:nn].copy())


@njit(nogil=True, cache=True, error_model="numpy")
def _stable_argsort(vals, tmp):
    """np.argsort(vals, kind="stable") of finite values: a bottom-up merge sort
    (numba's own argsort costs almost 2 s of compile time; any stable sort gives
    the same order)."""
    n = vals.shape[0]
    a = np.arange(n)
    b = tmp[:n]
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if vals[a[j]] < vals[a[i]]:
                    b[k] = a[j]
                    j += 1
                else:
                    b[k] = a[i]
                    i += 1
                k += 1
            while i < mid:
                b[k] = a[i]
                i += 1
                k += 1
            while j < hi:
                b[k] = a[j]
                j += 1
                k += 1
        for q in range(n):
            a[q] = b[q]
        width *= 2
    return a


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
    tmp = np.empty(n, dtype=np.int64)
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
        order = _stable_argsort(vals, tmp)
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


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def keep(lb, ub):
    return lb <= ub * (1.0 + REL) + ABS


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def candidates(tree, blo, bhi, cand, cand_lb, stack, cap):
    """Palette points (tree order) that may be nearest to some point of the box [blo, bhi]:
    cand[:m], their smallest distances to the box in cand_lb (``stack``: the traversal's).

    Returns their number m, or -1 when there are more than ``cap``.
    """
    pts, nlo, nhi, left, right = tree.pts, tree.lo, tree.hi, tree.left, tree.right
    start, end, dim, split = tree.start, tree.end, tree.dim, tree.split
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
        if not keep(lb, ub):
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
                if keep(lbp, ub):
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
        if keep(cand_lb[i], ub):
            cand[k] = cand[i]
            k += 1
    return k


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def filter_cands(cand, m, pts, blo, bhi, dst):
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
        if keep(lb, ub):
            dst[k] = j
            k += 1
    return k


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def point_nn(X, t, guess, tree, plan, stack, reg1):
    """Exact nearest colour of the finite point X[:, t] by a k-d tree search.

    ``guess`` (a palette index, or -1) seeds the best distance (the previous pixel's
    colour is usually close); nodes are only skipped when their smallest possible
    distance exceeds the best by the pruning margin, so ties are all seen and the
    lowest index wins. ``stack`` and ``reg1`` (the plan's registers) are scratch.
    """
    palette, perm, pts, nlo, nhi = tree.colours, tree.perm, tree.pts, tree.lo, tree.hi
    start, end, left, right, dim, split = tree.start, tree.end, tree.left, tree.right, tree.dim, tree.split
    C = X.shape[0]
    n = palette.shape[0]
    best = np.inf
    bk = n
    if guess >= 0:
        best = point_dist(X, t, palette[guess], plan, reg1)
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
        if not keep(lb, best):
            continue
        if left[node] < 0:
            for j in range(start[node], end[node]):
                k = perm[j]
                d = point_dist(X, t, pts[j], plan, reg1)
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
