"""Windowed mean and variance of one block, exact and outlier-proof.

Each box sum is computed with the van Herk/Gil-Werman split: the extended
line is cut into segments of the window length ``w``; within each segment we
keep prefix sums ``P`` (from the segment start) and suffix sums ``S`` (from the
segment end). A window starting at ``j`` is ``S[j] + P[j + w - 1]`` (or just
the whole segment when ``j`` starts one). Three additions per element and
pass, like a running sum, but every window sum is built **only from the
elements of that window**:

* a NaN or an infinity affects exactly the windows that contain it (a
  running sum carries it, or the rounding debris of a huge outlier, to the
  end of the line, differently for each chunking);
* the rounding error of a window sum is bounded by ``2 w eps sum|x|`` over the
  window itself, independent of the line length.

All sums are float64 and are taken of ``x - c``, where ``c`` is a robust centre
of the block (the median of a sample of its finite values): the variance ``S2/n - (S1/n)**2`` then loses only
``(mean - c)**2 / var`` relative precision instead of ``mean**2 / var``, which
is what ruins ``E[x^2] - E[x]^2`` on data such as ``10000 + N(0, 1)``.

The separable pass runs along x for each needed row, then along y in
segments of ``w_y`` rows held in small buffers, so one block touches each
input element once and each output element once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

__all__ = ["box_stats"]


@njit(nogil=True, cache=True, error_model="numpy")
def _block_shift(src2d):
    """A robust centre of a 2-D block: the median of up to ~4096 finite values
    on a regular grid (0 when there are none). The median, not the mean, so
    that one huge outlier does not move the centre of the whole block."""
    H, W = src2d.shape
    sy = max(1, H // 64)
    sx = max(1, W // 64)
    sample = np.empty(((H + sy - 1) // sy) * ((W + sx - 1) // sx))
    n = 0
    for i in range(0, H, sy):
        for j in range(0, W, sx):
            v = np.float64(src2d[i, j])
            if np.isfinite(v):
                sample[n] = v
                n += 1
    if n == 0:
        return 0.0
    return np.median(sample[:n])


# Optional quantities are passed as None: numba compiles one specialisation
# per combination and prunes every ``is None`` branch, so the inner loops
# carry no flags. Quantity 1 is y = x - c (for the mean), 2 its square (for
# the variance), n the count of non-NaN values (nan_policy="omit").
#
# The x pass handles four rows at once, lane r of a (L, 4) buffer holding
# row r: the running additions of the four rows are independent, so the
# serial prefix sums run as 4-wide vector operations instead of waiting on
# each other. For each quantity the caller provides
#   lanes : (3, L, 4) the extended rows, their prefix and their suffix sums,
#   seg   : (3, wy, W) row sums of two vertical segments, suffix sums of one,
#   acc   : (W,) the running prefix of the next vertical segment.

LANES = 4


def _take(a, i):  # pragma: no cover - replaced by the overload in compiled code
    return None if a is None else a[i]


@overload(_take)
def _take_overload(a, i):
    if isinstance(a, types.NoneType):
        return lambda a, i: None
    return lambda a, i: a[i]


@njit(nogil=True, cache=True, error_model="numpy")
def _gather_rows(src2d, rows, xmap, run, cval, c, E):
    """E[s, r] = block[rows[r], xmap[s]] - c, cval where a map entry is -1."""
    L = xmap.shape[0]
    lo, hi, off = run
    for r in range(LANES):
        row_index = rows[r]
        if row_index < 0:
            for s in range(L):
                E[s, r] = cval - c
            continue
        line = src2d[row_index]
        for s in range(lo, hi):
            E[s, r] = np.float64(line[s + off]) - c
        for s in range(0, lo):
            col = xmap[s]
            E[s, r] = cval - c if col < 0 else np.float64(line[col]) - c
        for s in range(hi, L):
            col = xmap[s]
            E[s, r] = cval - c if col < 0 else np.float64(line[col]) - c


@njit(nogil=True, cache=True, error_model="numpy")
def _lane_sums(lanes1, lanes2, lanesn, w):
    """Prefix (lanes[1]) and suffix (lanes[2]) sums within segments of length w.

    The squares (quantity 2) are formed on the fly from quantity 1.
    """
    E = lanes1[0]
    P1 = lanes1[1]
    S1 = lanes1[2]
    L = E.shape[0]
    for s0 in range(0, L, w):
        s1 = min(s0 + w, L)
        for r in range(LANES):
            y = E[s0, r]
            P1[s0, r] = y
            if lanes2 is not None:
                lanes2[1, s0, r] = y * y
            if lanesn is not None:
                lanesn[1, s0, r] = lanesn[0, s0, r]
        for s in range(s0 + 1, s1):
            for r in range(LANES):
                y = E[s, r]
                P1[s, r] = P1[s - 1, r] + y
                if lanes2 is not None:
                    lanes2[1, s, r] = lanes2[1, s - 1, r] + y * y
                if lanesn is not None:
                    lanesn[1, s, r] = lanesn[1, s - 1, r] + lanesn[0, s, r]
        for r in range(LANES):
            y = E[s1 - 1, r]
            S1[s1 - 1, r] = y
            if lanes2 is not None:
                lanes2[2, s1 - 1, r] = y * y
            if lanesn is not None:
                lanesn[2, s1 - 1, r] = lanesn[0, s1 - 1, r]
        for s in range(s1 - 2, s0 - 1, -1):
            for r in range(LANES):
                y = E[s, r]
                S1[s, r] = S1[s + 1, r] + y
                if lanes2 is not None:
                    lanes2[2, s, r] = lanes2[2, s + 1, r] + y * y
                if lanesn is not None:
                    lanesn[2, s, r] = lanesn[2, s + 1, r] + lanesn[0, s, r]


@njit(nogil=True, cache=True, error_model="numpy")
def _combine(lanes, w, nrows, out):
    """out[r, j] = window sum starting at j of lane r: S[j] + P[j + w - 1],
    or the whole segment P[j + w - 1] when j starts one."""
    P = lanes[1]
    S = lanes[2]
    nout = out.shape[1]
    for r in range(nrows):
        o = out[r]
        for j0 in range(0, nout, w):
            o[j0] = P[j0 + w - 1, r]
            for j in range(j0 + 1, min(j0 + w, nout)):
                o[j] = S[j, r] + P[j + w - 1, r]


@njit(nogil=True, cache=True, error_model="numpy")
def _load_segment(src2d, ymap, k, wy, xmap, run, wx, cval, c, rows,
                  lanes1, H1, lanes2, H2, lanesn, Hn):
    """Window sums along x of the extended rows of vertical segment k into H[m]."""
    Ly = ymap.shape[0]
    t0 = k * wy
    seglen = min(wy, Ly - t0)
    for m0 in range(0, seglen, LANES):
        nrows = min(LANES, seglen - m0)
        for r in range(LANES):
            # spare lanes repeat the first row: harmless, never stored
            rows[r] = ymap[t0 + m0 + (r if r < nrows else 0)]
        _gather_rows(src2d, rows, xmap, run, cval, c, lanes1[0])
        if lanesn is not None:
            E = lanes1[0]
            En = lanesn[0]
            for s in range(E.shape[0]):
                for r in range(LANES):
                    if E[s, r] != E[s, r]:
                        E[s, r] = 0.0
                        En[s, r] = 0.0
                    else:
                        En[s, r] = 1.0
        _lane_sums(lanes1, lanes2, lanesn, wx)
        _combine(lanes1, wx, nrows, H1[m0:m0 + nrows])
        if lanes2 is not None:
            _combine(lanes2, wx, nrows, H2[m0:m0 + nrows])
        if lanesn is not None:
            _combine(lanesn, wx, nrows, Hn[m0:m0 + nrows])


@njit(nogil=True, cache=True, error_model="numpy")
def _suffix(Hc, Sc, seglen):
    W = Hc.shape[1]
    for j in range(W):
        Sc[seglen - 1, j] = Hc[seglen - 1, j]
    for m in range(seglen - 2, -1, -1):
        for j in range(W):
            Sc[m, j] = Sc[m + 1, j] + Hc[m, j]


@njit(nogil=True, cache=True, error_model="numpy")
def _emit_row(Sc1_row, Hx1_row, A1, Sc2_row, Hx2_row, A2, Scn_row, Hxn_row, An,
              inv_nfull, c, mean_row, var_row):
    """One output row: window sums = suffix of this segment + prefix of the next
    (``Hx_row is None``: no prefix, the window is the whole segment)."""
    for j in range(Sc1_row.shape[0]):
        s1 = Sc1_row[j]
        if Hx1_row is not None:
            A1[j] += Hx1_row[j]
            s1 += A1[j]
        s2 = 0.0
        if Sc2_row is not None:
            s2 = Sc2_row[j]
            if Hx2_row is not None:
                A2[j] += Hx2_row[j]
                s2 += A2[j]
        if Scn_row is not None:
            sn = Scn_row[j]
            if Hxn_row is not None:
                An[j] += Hxn_row[j]
                sn += An[j]
            inv_n = 1.0 / sn  # inf for an empty window: the stats become NaN below
            if sn == 0.0:
                s1 = np.nan
                s2 = np.nan
        else:
            inv_n = inv_nfull
        m = s1 * inv_n
        if mean_row is not None:
            mean_row[j] = c + m
        if var_row is not None:
            v = s2 * inv_n - m * m
            var_row[j] = v if v > 0.0 else (0.0 if v <= 0.0 else v)  # clamp rounding, keep NaN


@njit(nogil=True, cache=True, error_model="numpy")
def _box_stats_2d(src2d, ymap, xmap, run, wy, wx, cval, c, out_mean, out_var, rows,
                  lanes1, seg1, acc1, lanes2, seg2, acc2, lanesn, segn, accn):
    H = ymap.shape[0] - wy + 1
    if H <= 0 or xmap.shape[0] - wx + 1 <= 0:
        return
    Ly = ymap.shape[0]
    inv_nfull = 1.0 / float(wy * wx)
    # seg[p] holds the row sums of the segments of parity p, seg[2] suffix sums
    _load_segment(src2d, ymap, 0, wy, xmap, run, wx, cval, c, rows,
                  lanes1, seg1[0], lanes2, _take(seg2, 0), lanesn, _take(segn, 0))
    nseg = (Ly + wy - 1) // wy
    for k in range(nseg):
        i0 = k * wy
        if i0 >= H:
            break
        cur = k % 2
        nxt = 1 - cur
        # suffix sums of segment k (which is whole, since i0 < H)
        _suffix(seg1[cur], seg1[2], wy)
        if seg2 is not None:
            _suffix(seg2[cur], seg2[2], wy)
        if segn is not None:
            _suffix(segn[cur], segn[2], wy)
        # the window starting on the segment start is the whole segment
        _emit_row(seg1[2, 0], None, acc1, _take(_take(seg2, 2), 0), None, acc2,
                  _take(_take(segn, 2), 0), None, accn, inv_nfull, c,
                  _take(out_mean, i0), _take(out_var, i0))
        if i0 + 1 >= H:
            break
        # the other windows of this segment need prefix sums of segment k + 1
        _load_segment(src2d, ymap, k + 1, wy, xmap, run, wx, cval, c, rows,
                      lanes1, seg1[nxt], lanes2, _take(seg2, nxt), lanesn, _take(segn, nxt))
        acc1[:] = 0.0
        if acc2 is not None:
            acc2[:] = 0.0
        if accn is not None:
            accn[:] = 0.0
        for m in range(wy - 1):
            i = i0 + m + 1
            if i >= H:
                break
            _emit_row(seg1[2, m + 1], seg1[nxt, m], acc1,
                      _take(_take(seg2, 2), m + 1), _take(_take(seg2, nxt), m), acc2,
                      _take(_take(segn, 2), m + 1), _take(_take(segn, nxt), m), accn,
                      inv_nfull, c, _take(out_mean, i), _take(out_var, i))


@njit(nogil=True, cache=True, error_model="numpy")
def _box_stats_3d(src, ymap, xmap, run, wy, wx, cval, out_mean, out_var, rows,
                  lanes1, seg1, acc1, lanes2, seg2, acc2, lanesn, segn, accn):
    for b in range(src.shape[0]):
        c = _block_shift(src[b])
        _box_stats_2d(src[b], ymap, xmap, run, wy, wx, cval, c,
                      _take(out_mean, b), _take(out_var, b), rows,
                      lanes1, seg1, acc1, lanes2, seg2, acc2, lanesn, segn, accn)


def _contiguous_run(xmap: np.ndarray) -> tuple[int, int, int]:
    """The longest stretch ``lo <= s < hi`` where ``xmap[s] == s + off`` (a plain copy)."""
    if xmap.size == 0:
        return (0, 0, 0)
    step = np.diff(xmap) == 1
    step &= xmap[:-1] >= 0
    # longest run of True in step
    best = (0, 1 if xmap[0] >= 0 else 0)
    start = 0
    for k in range(step.size + 1):
        if k == step.size or not step[k]:
            if k + 1 - start > best[1] - best[0]:
                best = (start, k + 1)
            start = k + 1
    lo, hi = best
    if hi <= lo or xmap[lo] < 0:
        return (0, 0, 0)
    return (lo, hi, int(xmap[lo] - lo))


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
    src = block.reshape((-1,) + block.shape[-2:])
    want_mean = "mean" in outputs
    want_std = "std" in outputs
    want_var = want_std or "variance" in outputs
    if want_std and "variance" in outputs:
        raise ValueError("ask for either variance or std from one kernel call")
    out = np.empty((len(outputs), src.shape[0], H, W), dtype=out_dtype)
    index = {name: k for k, name in enumerate(outputs)}
    out_mean = out[index["mean"]] if want_mean else None
    k_spread = index.get("std", index.get("variance"))
    out_var = out[k_spread] if want_var else None
    Lx = xmap.shape[0]

    def workspace(wanted):
        if not wanted:
            return None, None, None
        return np.zeros((3, Lx, LANES)), np.zeros((3, wy, W)), np.zeros(W)

    _box_stats_3d(
        src, ymap, xmap, _contiguous_run(xmap), wy, wx, float(cval), out_mean, out_var,
        np.zeros(LANES, dtype=np.int64),
        *workspace(True), *workspace(want_var), *workspace(omit),
    )
    if want_std:
        np.sqrt(out_var, out=out_var)
    return out.reshape((len(outputs),) + lead + (H, W))
