"""Windowed mean and variance of one block, exact and outlier-proof.

Every window sum is built **only from the elements of that window**, as a
fixed summation tree that depends on the window length alone (no running
sums):

* a NaN or an infinity affects exactly the windows that contain it (a
  running sum carries it, or the rounding debris of a huge outlier, to the
  end of the line, differently for each chunking);
* the rounding error of a window sum is a small multiple of ``eps sum|x|``
  over the window itself, independent of the line length and the chunking.

All sums are float64 and are taken of ``y = x - c``, where ``c`` is a robust
centre of the block (the median of a sample of its finite values): the
variance ``S2/n - (S1/n)**2`` then loses only ``(mean - c)**2 / var``
relative precision instead of ``mean**2 / var``, which is what ruins
``E[x^2] - E[x]^2`` on data such as ``10000 + N(0, 1)``.

Layout. The quantities summed (``y``; ``y**2`` for the variance; the count of
non-NaN values for nan_policy="omit") are kept side by side in flat float64
rows of ``Q`` blocks of ``B`` columns, so that the generic passes handle all
of them in one loop.

Along y (first pass) the van Herk/Gil-Werman split is used, vectorised along
the rows: the extended rows are cut into segments of ``w_y`` rows; ``S[m]``
holds the suffix sums of the current segment (rows ``m ..`` its end) and
``acc`` the prefix of the next one, so the window starting at row ``m`` of a
segment is ``S[m] + acc`` (or the whole segment ``S[0]``). The block rows are
read and converted on the fly (twice: once for the suffixes, once for the
prefixes), so the only float64 state is the rows of ``S``: ``min(w_y, H)``
of them (an output row ``m`` of a segment needs ``S[m]``; the suffix sums
of a window taller than the block's output rows pass through two spare rows),
so the scratch is bounded by the block, not by the window.

Along x (second pass, on the row ``V`` of vertical window sums) a row cannot
be scanned with SIMD, so the window sums use doubling levels instead:
level ``k`` holds the sums of ``2**k`` neighbours (built by shifted adds),
and the window starting at ``j`` is the sum, left to right, of the
level-``L`` blocks at ``j, j + 2**L, ...`` then of one block per lower set
bit of ``w_x`` (see ``_tree``). That sum is written out in compiled code
(one or two groups of 4 terms passed as tuples, padded with a zero row;
the leading terms of longer trees summed ahead) and fused with the statistics of the output row.

Numba notes: loops vectorise when they index contiguous 1-D arrays by the
bare loop variable, or by ``offset + i`` with unsigned integers (``U``).
Compile time: the driver is compiled once per input dtype (float32 or
float64, in and out alike), whatever the size, mode, nan_policy or outputs:
those are runtime values (an output not wanted is a one-row dummy, the x
tree's final pass has 4 or 8 terms); the block centre is taken with numpy,
and slices are copied by loops (``a[:] = b`` compiles numba's shape-mismatch
message formatting, about 2 s). Deep call chains multiply the compile time
(each level re-optimises what it links), so the driver is flat, and the y
passes (one call site each) are inlined at numba's IR level
(``inline="always"``): LLVM then optimises them once, in the driver, instead
of once per level (5.9 -> 4.2 s for the driver).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from . import _status  # noqa: F401  (the "compiling ..." status line)
from ._boundary import contiguous_run

__all__ = ["box_stats"]

# Unsigned indices: numba then skips the negative-index wraparound and the
# loops with offsets (lev[o + i]) vectorise like plain views.
U = np.uint64


def block_shift(src2d: np.ndarray) -> float:
    """A robust centre of a 2-D block: the median of up to ~4096 finite values
    on a regular grid (0 when there are none). The median, not the mean, so
    that one huge outlier does not move the centre of the whole block.
    (numpy, not numba: np.median would cost a second of compile time.)"""
    H, W = src2d.shape
    sample = src2d[::max(1, H // 64), ::max(1, W // 64)].astype(np.float64).ravel()
    sample = sample[np.isfinite(sample)]
    return float(np.median(sample)) if sample.size else 0.0


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _span_suffix(lv, lo, hi, off, c, B, var, omit, Sn, Sm):
    """Sm = Sn + (y, y**2, count) of positions lo .. hi - 1, y = lv[s + off] - c."""
    n = hi - lo
    x = lv[lo + off:hi + off]
    a0 = Sn[lo:hi]
    r0 = Sm[lo:hi]
    if not omit:
        if not var:
            for s in range(n):
                r0[s] = a0[s] + (np.float64(x[s]) - c)
        else:
            a1 = Sn[B + lo:B + hi]
            r1 = Sm[B + lo:B + hi]
            for s in range(n):
                y = np.float64(x[s]) - c
                r0[s] = a0[s] + y
                r1[s] = a1[s] + y * y
    else:
        q = B * (2 if var else 1)
        an = Sn[q + lo:q + hi]
        rn = Sm[q + lo:q + hi]
        if not var:
            for s in range(n):
                y = np.float64(x[s]) - c
                isnan = y != y
                r0[s] = a0[s] + (0.0 if isnan else y)
                rn[s] = an[s] + (0.0 if isnan else 1.0)
        else:
            a1 = Sn[B + lo:B + hi]
            r1 = Sm[B + lo:B + hi]
            for s in range(n):
                y = np.float64(x[s]) - c
                isnan = y != y
                y = 0.0 if isnan else y
                r0[s] = a0[s] + y
                r1[s] = a1[s] + y * y
                rn[s] = an[s] + (0.0 if isnan else 1.0)


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _span_acc(lv, lo, hi, off, c, B, var, omit, acc, Sm, V):
    """acc += (y, y**2, count) of positions lo .. hi - 1; V = Sm + acc."""
    n = hi - lo
    x = lv[lo + off:hi + off]
    a0 = acc[lo:hi]
    s0 = Sm[lo:hi]
    v0 = V[lo:hi]
    if not omit:
        if not var:
            for s in range(n):
                t = a0[s] + (np.float64(x[s]) - c)
                a0[s] = t
                v0[s] = s0[s] + t
        else:
            a1 = acc[B + lo:B + hi]
            s1 = Sm[B + lo:B + hi]
            v1 = V[B + lo:B + hi]
            for s in range(n):
                y = np.float64(x[s]) - c
                t = a0[s] + y
                a0[s] = t
                v0[s] = s0[s] + t
                u = a1[s] + y * y
                a1[s] = u
                v1[s] = s1[s] + u
    else:
        q = B * (2 if var else 1)
        an = acc[q + lo:q + hi]
        sn = Sm[q + lo:q + hi]
        vn = V[q + lo:q + hi]
        if not var:
            for s in range(n):
                y = np.float64(x[s]) - c
                isnan = y != y
                t = a0[s] + (0.0 if isnan else y)
                a0[s] = t
                v0[s] = s0[s] + t
                u = an[s] + (0.0 if isnan else 1.0)
                an[s] = u
                vn[s] = sn[s] + u
        else:
            a1 = acc[B + lo:B + hi]
            s1 = Sm[B + lo:B + hi]
            v1 = V[B + lo:B + hi]
            for s in range(n):
                y = np.float64(x[s]) - c
                isnan = y != y
                y = 0.0 if isnan else y
                t = a0[s] + y
                a0[s] = t
                v0[s] = s0[s] + t
                u = a1[s] + y * y
                a1[s] = u
                v1[s] = s1[s] + u
                p = an[s] + (0.0 if isnan else 1.0)
                an[s] = p
                vn[s] = sn[s] + p


@njit(nogil=True, cache=True, error_model="numpy")
def _edges(src2d, ridx, xmap, lo, hi, cval, eb):
    """eb[s] = block value (or cval) of the extended positions outside lo .. hi - 1."""
    L = xmap.shape[0]
    if ridx < 0:
        for s in range(L):
            eb[s] = cval
        return
    line = src2d[ridx]
    for s in range(0, lo):
        col = xmap[s]
        eb[s] = cval if col < 0 else np.float64(line[col])
    for s in range(hi, L):
        col = xmap[s]
        eb[s] = cval if col < 0 else np.float64(line[col])


@njit(nogil=True, cache=True, error_model="numpy")
def _edge_span(eb, lo, hi, c, B, var, omit, accumulate, Sn, Sm, V):
    """The extended positions s < lo and s >= hi (values eb[s], float64) of one
    row: ``Sm = Sn + (y, y**2, count)`` or, when ``accumulate``, ``Sn += ...;
    V = Sm + Sn`` (the acc of _yacc). A plain loop: these are the few halo
    columns (a whole row only for the cval rows of mode constant), so one
    compiled loop serves every variant instead of four vectorised ones."""
    L = eb.shape[0]
    qn = B * (2 if var else 1)
    for k in range(lo + L - hi):
        s = k if k < lo else hi + (k - lo)
        y = eb[s] - c
        cnt = 1.0
        if omit and y != y:
            y = 0.0
            cnt = 0.0
        if accumulate:
            t = Sn[s] + y
            Sn[s] = t
            V[s] = Sm[s] + t
            if var:
                u = Sn[B + s] + y * y
                Sn[B + s] = u
                V[B + s] = Sm[B + s] + u
            if omit:
                p = Sn[qn + s] + cnt
                Sn[qn + s] = p
                V[qn + s] = Sm[qn + s] + p
        else:
            Sm[s] = Sn[s] + y
            if var:
                Sm[B + s] = Sn[B + s] + y * y
            if omit:
                Sm[qn + s] = Sn[qn + s] + cnt


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _ysuffix(src2d, ridx, xmap, run, cval, c, eb, B, var, omit, Sn, Sm):
    """Sm = Sn + the quantities of block row ridx (-1: cval) at the extended columns."""
    L = xmap.shape[0]
    lo, hi, off = run
    if ridx < 0:
        lo = hi = 0
    else:
        _span_suffix(src2d[ridx], lo, hi, off, c, B, var, omit, Sn, Sm)
    if lo > 0 or hi < L:
        _edges(src2d, ridx, xmap, lo, hi, cval, eb)
        _edge_span(eb, lo, hi, c, B, var, omit, False, Sn, Sm, Sm)


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _yacc(src2d, ridx, xmap, run, cval, c, eb, B, var, omit, acc, Sm, V):
    """acc += the quantities of block row ridx (-1: cval); V = Sm + acc."""
    L = xmap.shape[0]
    lo, hi, off = run
    if ridx < 0:
        lo = hi = 0
    else:
        _span_acc(src2d[ridx], lo, hi, off, c, B, var, omit, acc, Sm, V)
    if lo > 0 or hi < L:
        _edges(src2d, ridx, xmap, lo, hi, cval, eb)
        _edge_span(eb, lo, hi, c, B, var, omit, True, acc, Sm, V)


@njit(nogil=True, cache=True, error_model="numpy")
def _levels(lev, RL, n, steps):
    """Fill the level rows of lev (row k: sums of 2**k neighbours, flat index < n).
    steps[i] = k > 0 builds row k from row k - 1, k < 0 builds row -k from row -k - 2."""
    nn = U(n)
    for st in steps:
        if st > 0:
            d = U(1 << (st - 1))
            b0 = U((st - 1) * RL)
            b1 = U(st * RL)
            for i in range(nn):
                lev[b1 + i] = lev[b0 + i] + lev[b0 + i + d]
        else:
            k = -st
            d = U(1 << (k - 2))
            b0 = U((k - 2) * RL)
            b1 = U(k * RL)
            for i in range(nn):
                lev[b1 + i] = ((lev[b0 + i] + lev[b0 + i + d])
                               + (lev[b0 + i + U(2) * d] + lev[b0 + i + U(3) * d]))


@njit(nogil=True, cache=True, error_model="numpy")
def _presum(lev, groups, n):
    """For each row (dst, t0, t1, t2, t3) of groups: lev[dst + i] = ((t0 + t1) + t2) + t3
    at flat index i < n (the first terms of a long tree, summed ahead of _tf_*)."""
    nn = U(n)
    for g in range(groups.shape[0]):
        d = U(groups[g, 0])
        a = U(groups[g, 1])
        b = U(groups[g, 2])
        e = U(groups[g, 3])
        f = U(groups[g, 4])
        for i in range(nn):
            lev[d + i] = ((lev[a + i] + lev[b + i]) + lev[e + i]) + lev[f + i]


def _gsum(s, lev, o, i):  # pragma: no cover - replaced by the overload in compiled code
    """s + lev[o[0] + i] + lev[o[1] + i] + ..., left to right (s None: start with the first)."""
    t = [lev[k + i] for k in o]
    r = t[0] if s is None else s + t[0]
    for v in t[1:]:
        r = r + v
    return r


@overload(_gsum)
def _gsum_overload(s, lev, o, i):
    # written out for each group length: no loop over the terms in compiled code
    start = isinstance(s, types.NoneType)
    n = len(o)
    if start and n == 3:
        return lambda s, lev, o, i: (lev[U(o[0]) + i] + lev[U(o[1]) + i]) + lev[U(o[2]) + i]
    if start and n == 4:
        return lambda s, lev, o, i: ((lev[U(o[0]) + i] + lev[U(o[1]) + i]) + lev[U(o[2]) + i]) + lev[U(o[3]) + i]
    if not start and n == 3:
        return lambda s, lev, o, i: ((s + lev[U(o[0]) + i]) + lev[U(o[1]) + i]) + lev[U(o[2]) + i]
    if not start and n == 4:
        return lambda s, lev, o, i: (((s + lev[U(o[0]) + i]) + lev[U(o[1]) + i]) + lev[U(o[2]) + i]) + lev[U(o[3]) + i]
    return None


@njit(nogil=True, cache=True, error_model="numpy")
def _tsum(lev, oa, ob, i):
    """The tree sum, left to right, of the terms lev[o + i] of one or two
    groups of 4 (ob None when absent)."""
    s = _gsum(None, lev, oa, i)
    if ob is not None:
        s = _gsum(s, lev, ob, i)
    return s


@njit(nogil=True, cache=True, error_model="numpy")
def _tf_mean(lev, oa, ob, B, W, var, omit, inv_nfull, c, mean_row):
    """Mean only."""
    nW = U(W)
    bn = U(B * (2 if var else 1))
    if not omit:
        for j in range(nW):
            s1 = _tsum(lev, oa, ob, j)
            mean_row[j] = c + s1 * inv_nfull
    else:
        for j in range(nW):
            s1 = _tsum(lev, oa, ob, j)
            sn = _tsum(lev, oa, ob, bn + j)
            inv_n = 1.0 / sn
            m = (np.nan if sn == 0.0 else s1) * inv_n
            mean_row[j] = c + m


@njit(nogil=True, cache=True, error_model="numpy")
def _tf_var(lev, oa, ob, B, W, omit, inv_nfull, c, mean_row, var_row):
    """Variance (and mean); var = S2/n - (S1/n)**2 clamped at 0, NaN kept."""
    nW = U(W)
    b1 = U(B)
    bn = U(2 * B)
    if not omit:
        for j in range(nW):
            s1 = _tsum(lev, oa, ob, j)
            s2 = _tsum(lev, oa, ob, b1 + j)
            m = s1 * inv_nfull
            mean_row[j] = c + m
            v = s2 * inv_nfull - m * m
            var_row[j] = v if v > 0.0 else (0.0 if v <= 0.0 else v)
    else:
        for j in range(nW):
            s1 = _tsum(lev, oa, ob, j)
            s2 = _tsum(lev, oa, ob, b1 + j)
            sn = _tsum(lev, oa, ob, bn + j)
            inv_n = 1.0 / sn
            if sn == 0.0:
                s1 = np.nan
                s2 = np.nan
            m = s1 * inv_n
            mean_row[j] = c + m
            v = s2 * inv_n - m * m
            var_row[j] = v if v > 0.0 else (0.0 if v <= 0.0 else v)


@njit(nogil=True, cache=True, error_model="numpy")
def _box_stats_3d(src, ymap, xmap, run, wy, wx, cval, out_mean, out_var, want_mean,
                  lev, RL, steps, groups, o, B, Q, var, omit, S, acc, zero, eb, shifts):
    """Output row i = k*wy + m of each block: the vertical window sums
    V = S_k[0] for m == 0, else S_k[m] + the sum of the first m rows of
    segment k + 1 (acc); then the window sums along x and the statistics.

    One compiled version per input dtype: sizes, modes, nan_policy (omit) and
    the outputs wanted (want_mean, var) are runtime values. An output not
    wanted is a (1, 1, W) array whose one row is written over and over."""
    Ly = ymap.shape[0]
    H = Ly - wy + 1
    W = xmap.shape[0] - wx + 1
    if H <= 0 or W <= 0:
        return
    n = Q * B
    inv_nfull = 1.0 / float(wy * wx)
    V = lev[:n]
    Ls = S.shape[0] - 2
    # the terms of the x tree as one or two groups of 4, as tuples (see _tsum)
    T = o.shape[0]
    o4 = (o[0], o[1], o[2], o[3])
    ob4 = (o[4], o[5], o[6], o[7]) if T >= 8 else o4
    for b in range(src.shape[0]):
        src2d = src[b]
        c = shifts[b]
        for i in range(H):
            k = i // wy
            m = i - k * wy
            if m == 0:
                # S[r] = sum of extended rows i + r .. i + wy - 1, kept for the r < Ls
                # that are output rows of this segment; the partial sums above
                # them are only steps, made in the two spare rows S[Ls], S[Ls + 1]
                prev = zero
                for r in range(wy - 1, -1, -1):
                    dst = S[r] if r < Ls else S[Ls + (r & 1)]
                    _ysuffix(src2d, ymap[i + r], xmap, run, cval, c, eb, B, var, omit, prev, dst)
                    prev = dst
                S0 = S[0]
                for q in range(n):  # a loop, not V[:] = S[0]: no shape check to compile
                    V[q] = S0[q]
            else:
                if m == 1:
                    for q in range(n):
                        acc[q] = 0.0
                _yacc(src2d, ymap[i + wy - 1], xmap, run, cval, c, eb, B, var, omit, acc, S[m], V)
            _levels(lev, RL, n, steps)
            _presum(lev, groups, n)
            mean_row = out_mean[b, i] if want_mean else out_mean[0, 0]
            if var:
                var_row = out_var[b, i]
                _tf_var(lev, o4, ob4, B, W, omit, inv_nfull, c, mean_row, var_row)
            else:
                _tf_mean(lev, o4, ob4, B, W, var, omit, inv_nfull, c, mean_row)


def _plan(w: int, L: int) -> tuple[list[int], int]:
    """Level rows to build for a tree of top level L: a row needed only as the
    step to the next one is skipped (two levels in one pass). Returns the steps
    and their cost."""
    need = [k == L or (w >> k) & 1 for k in range(L + 1)]
    steps, cost, k = [], 0, 1
    while k <= L:
        if not need[k] and k < L:
            steps.append(-(k + 1))
            cost += _COST_DOUBLE
            k += 2
        else:
            steps.append(k)
            cost += _COST_LEVEL
            k += 1
    return steps, cost


# relative costs (measured on 1024-wide rows) of a pass building one level
# row, of a pass building two levels at once, of a pass summing 4 terms ahead,
# and of one term of the final pass (which always has 4 or 8 terms)
_COST_LEVEL, _COST_DOUBLE, _COST_GROUP, _COST_TERM = 4, 5, 6, 1


def _layout(T: int) -> tuple[int, int]:
    """Number of presum groups and of final terms for a tree of T terms.

    The final pass has 4 or 8 terms (two compiled loops, not one per tree
    length: compile time); longer trees sum their leading terms ahead."""
    for size in (8,):
        if T <= size:
            return 0, size
    return 1 + -(-max(0, T - 11) // 3), 8


def _tree(w: int, RL: int, L: int | None = None):
    """The fixed summation tree of a window of odd length w.

    Row k of the flat scratch (rows of length RL) holds the sums of 2**k
    neighbours (row 0: the values). The window starting at j is the sum,
    left to right, of the level-L blocks at j, j + 2**L, ... (w >> L of them),
    then of one block of each lower set bit of w, from high to low, at its
    offset. The final pass (_tf_*) adds 4 or 8 terms (padded with a zero
    row: ``x + 0.0 == x``); the leading terms of longer trees are summed ahead
    in groups of 4 (_presum) into two alternating rows. L minimises the cost.

    Returns the number of scratch rows, the level-building steps, the presum
    groups (dst, t0, t1, t2, t3) and the final terms, all as offsets."""
    if L is None:
        best = None
        for k in range(w.bit_length()):
            T = (w >> k) + bin(w & ((1 << k) - 1)).count("1")
            ngroups, nfinal = _layout(T)
            cost = _plan(w, k)[1] + _COST_GROUP * ngroups + _COST_TERM * nfinal
            if best is None or cost < best[0]:
                best = (cost, k)
        L = best[1]
    terms = [L * RL + (i << L) for i in range(w >> L)]
    for k in range(L - 1, -1, -1):
        if (w >> k) & 1:
            terms.append(k * RL + ((w >> (k + 1)) << (k + 1)))
    zero = (L + 1) * RL
    tmp = [(L + 2) * RL, (L + 3) * RL]
    groups = []
    if len(terms) > 8:
        pre, terms = terms[:-7], terms[-7:]
        first, rest = pre[:4], pre[4:]
        groups.append([tmp[0]] + first + [zero] * (4 - len(first)))
        while rest:
            part, rest = rest[:3], rest[3:]
            src = groups[-1][0]
            groups.append([tmp[len(groups) % 2], src] + part + [zero] * (3 - len(part)))
        terms = [groups[-1][0]] + terms
    nfinal = _layout(len(terms))[1]
    offs = np.array(terms + [zero] * (nfinal - len(terms)), dtype=np.int64)
    return (L + 4, np.array(_plan(w, L)[0], dtype=np.int64),
            np.array(groups, dtype=np.int64).reshape(-1, 5), offs)


# A window's sums were taken around its block's centre ``c``; when they were
# mostly the distance to ``c`` rather than the window's own spread
# (``(mean - c)**2 > _RISK_RATIO * var``; for a mean alone
# ``|mean - c| > _RISK_RATIO * |mean|``), float64 kept too few digits of the
# spread (a nodata fill of -3.4e38 beside valid pixels, populations 1e8 apart,
# a constant window far from the centre). Such windows are summed again around
# the value at the centre of the first of them, up to _MAX_CENTRES times
# (each pass serves one population), and directly from their own pixels after
# that.
_RISK_RATIO = 1e5
_MAX_CENTRES = 3


@njit(nogil=True, cache=True, error_model="numpy")
def _window_sum(src2d, ymap, xmap, i, j, wy, wx, cval, omit, m):
    """Count of the window's values (non-NaN ones with ``omit``) and the sum of
    ``v`` (m is None) or of ``(v - m)**2``, in float64."""
    n = 0
    s = 0.0
    for r in range(wy):
        yi = ymap[i + r]
        for q in range(wx):
            xj = xmap[j + q]
            v = np.float64(src2d[yi, xj]) if yi >= 0 and xj >= 0 else cval
            if omit and v != v:
                continue
            if m is not None:
                v = (v - m) * (v - m)
            s += v
            n += 1
    return n, s


@njit(nogil=True, cache=True, error_model="numpy")
def _direct_window(src2d, ymap, xmap, i, j, wy, wx, cval, omit):
    """Mean and population variance of one window, two passes over its own
    pixels in float64 (NaN if it has none, or any NaN unless ``omit``)."""
    n, s = _window_sum(src2d, ymap, xmap, i, j, wy, wx, cval, omit, None)
    if n == 0:
        return np.nan, np.nan
    m = s / n
    return m, _window_sum(src2d, ymap, xmap, i, j, wy, wx, cval, omit, m)[1] / n


@njit(nogil=True, cache=True, error_model="numpy")
def _unsound(m, v, c, has_var):
    """Were the sums of this window (mean m, variance v, around c) mostly the distance to c?"""
    d = m - c
    if not np.isfinite(d):
        return False  # NaN and infinite windows are what they are
    if has_var:
        if v != v:
            return False
        return d * d > _RISK_RATIO * v or v < 0.0 or v == np.inf
    return abs(d) > _RISK_RATIO * abs(m)


@njit(nogil=True, cache=True, error_model="numpy")
def _flag(mean2d, var2d, has_var, std, c):
    H, W = mean2d.shape
    flags = np.zeros((H, W), dtype=np.bool_)
    for i in range(H):
        for j in range(W):
            v = 0.0
            if has_var:
                v = np.float64(var2d[i, j])
                if std:
                    v = v * v
            flags[i, j] = _unsound(np.float64(mean2d[i, j]), v, c, has_var)
    return flags


@njit(nogil=True, cache=True, error_model="numpy")
def _serve(flags, c, mean64, var64, out_mean, out_var, has_var, std):
    """Flagged windows whose sums around ``c`` are sound: written, unflagged."""
    H, W = flags.shape
    for i in range(H):
        for j in range(W):
            if flags[i, j] and not _unsound(mean64[i, j], var64[i, j], c, True):
                _put(out_mean, out_var, has_var, std, i, j, mean64[i, j], var64[i, j])
                flags[i, j] = False


@njit(nogil=True, cache=True, error_model="numpy")
def _direct_rest(src2d, ymap, xmap, wy, wx, cval, omit, flags, out_mean, out_var, has_var, std):
    H, W = flags.shape
    for i in range(H):
        for j in range(W):
            if flags[i, j]:
                m, v = _direct_window(src2d, ymap, xmap, i, j, wy, wx, cval, omit)
                _put(out_mean, out_var, has_var, std, i, j, m, v)


@njit(nogil=True, cache=True, error_model="numpy")
def _put(out_mean, out_var, has_var, std, i, j, m, v):
    out_mean[i, j] = m
    if has_var:
        out_var[i, j] = np.sqrt(v) if std else v


def _refine_windows(src, ymap, xmap, wy, wx, cval, omit, out_mean, out_var, std):
    """Every window whose centred sums were unsound, summed again (see _RISK_RATIO)."""
    stats = dict(cval=cval, omit=omit, outputs=("mean", "variance"), out_dtype=np.dtype(np.float64),
                 _refine=False)
    for b in range(src.shape[0]):
        src2d = src[b]
        has_var = out_var is not None
        var_b = out_var[b] if has_var else out_mean[b]  # (not read or written without has_var)
        flags = _flag(out_mean[b], var_b, has_var, std, block_shift(src2d))
        for _ in range(_MAX_CENTRES):
            if not flags.any():
                break
            i, j = np.unravel_index(int(np.argmax(flags)), flags.shape)
            yi, xj = ymap[i + wy // 2], xmap[j + wx // 2]
            centre = float(src2d[yi, xj]) if yi >= 0 and xj >= 0 else cval
            if not np.isfinite(centre):
                break
            Q = box_stats(src[b:b + 1], ymap, xmap, (wy, wx), _shift=centre, **stats)
            _serve(flags, centre, Q[0, 0], Q[1, 0], out_mean[b], var_b, has_var, std)
        if flags.any():
            _direct_rest(src2d, ymap, xmap, wy, wx, float(cval), bool(omit), flags, out_mean[b], var_b,
                         has_var, std)


def box_stats(
    block: np.ndarray,
    ymap: np.ndarray,
    xmap: np.ndarray,
    size: tuple[int, int],
    *,
    cval: float,
    omit: bool,
    outputs: tuple[str, ...],
    out_dtype: np.dtype,
    _refine: bool = True,
    _shift: float | None = None,
) -> np.ndarray:
    """Windowed statistics of ``block`` over its last two axes.

    Parameters
    ----------
    block : (..., Hb, Wb) ndarray
        Any real dtype the kernels are compiled for (see ``_dtypes.kernel_input``).
    ymap, xmap : (H + size_y - 1,), (W + size_x - 1,) int64 ndarray
        Block index of each extended row / column, -1 for ``cval``.
    size : (size_y, size_x)
    outputs : subset of ("mean", "variance", "std"), in the order wanted
    out_dtype : floating dtype of the result

    Returns
    -------
    out : (len(outputs), ..., H, W) ndarray of ``out_dtype``
    """
    wy, wx = size
    H = ymap.shape[0] - wy + 1
    W = xmap.shape[0] - wx + 1
    lead = block.shape[:-2]
    out_dtype = np.dtype(out_dtype)
    # two compiled versions: float32 in and out, float64 in and out (a float32
    # block wanted in float64 is converted: exact, and no third compile)
    work = np.float32 if (block.dtype == np.float32 and out_dtype == np.float32) else np.float64
    src = np.ascontiguousarray(block.reshape((-1,) + block.shape[-2:]), dtype=work)
    ymap = np.ascontiguousarray(ymap, dtype=np.int64)
    xmap = np.ascontiguousarray(xmap, dtype=np.int64)
    want_mean = "mean" in outputs
    want_std = "std" in outputs
    want_var = want_std or "variance" in outputs
    if want_std and "variance" in outputs:
        raise ValueError("ask for either variance or std from one kernel call")
    # the checks of _refine_windows need the mean of every window: kept in one
    # more slot when only a spread is asked for
    extra = int(_refine and not want_mean)
    out = np.empty((len(outputs) + extra, src.shape[0], H, W), dtype=work)
    index = {name: k for k, name in enumerate(outputs)}
    if extra:
        index["mean"] = len(outputs)
        want_mean = True
    out_mean = out[index["mean"]] if want_mean else None
    k_spread = index.get("std", index.get("variance"))
    out_var = out[k_spread] if want_var else None
    Lx = xmap.shape[0]
    # flat rows: Q blocks of B columns (y, y**2, counts), then room for the
    # largest term offset; scratch zero-filled so unused columns stay finite
    Q = 1 + int(want_var) + int(bool(omit))
    B = (Lx + 3) // 4 * 4
    n = Q * B
    RL = n + (wx + 3) // 4 * 4
    K, steps, groups, offs = _tree(int(wx), RL)
    if _shift is None:
        shifts = np.array([block_shift(s) for s in src], dtype=np.float64)
    else:
        shifts = np.full(src.shape[0], float(_shift))
    # an output not wanted: one row, written over (see _box_stats_3d)
    unused = np.empty((1, 1, max(W, 0)), dtype=work)
    _box_stats_3d(
        src, ymap, xmap, contiguous_run(xmap), int(wy), int(wx), float(cval),
        out_mean if want_mean else unused, out_var if want_var else unused, bool(want_mean),
        np.zeros(K * RL), RL, steps, groups, offs, B, Q, bool(want_var), bool(omit),
        # suffix rows: only those of output rows are kept (see _box_stats_3d), so
        # a window taller than the block costs no more than the block's rows
        np.zeros((min(wy, max(H, 1)) + 2, n)), np.zeros(n), np.zeros(n), np.zeros(Lx), shifts,
    )
    if want_std:
        np.sqrt(out_var, out=out_var)
    if _refine and H > 0 and W > 0:
        _refine_windows(src, ymap, xmap, wy, wx, float(cval), bool(omit), out_mean, out_var, want_std)
    if extra:
        out = out[:len(outputs)]
    if out.dtype != out_dtype:
        out = out.astype(out_dtype)
    return out.reshape((len(outputs),) + lead + (H, W))
