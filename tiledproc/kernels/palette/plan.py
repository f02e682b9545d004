"""The reference's float64 distances, bit for bit: numpy's pairwise summation order
written down as a plan, and the distance kernels that follow it.

The reference is ``((x[..., None, :] - palette) ** 2).sum(-1)`` in float64; ``sum(-1)``
adds the ``C`` squared differences in numpy's pairwise order (see the package
docstring). Below 8 channels that order is plain left to right.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .. import _status  # noqa: F401  (the "compiling ..." status line)

#: marks "no second operand" in a plan
NONE = np.iinfo(np.int64).min
#: beyond this magnitude a squared difference may overflow: compare with every colour
HUGE = 1e150


class Plan(NamedTuple):
    """numpy's summation of the squared differences of ``C`` channels (see :func:`sum_plan`)."""

    #: (m, 3) int64 additions ``reg[dst] = a + b``
    ops: np.ndarray
    #: the register that ends up with the sum
    result: int
    #: registers the additions use
    nregs: int


def sum_plan(channels: int) -> Plan:
    """numpy's pairwise summation of ``channels`` terms as a list of additions.

    Returns a :class:`Plan` ``(ops, result, nregs)``: ``ops`` is an ``(m, 3)`` int64 array of
    ``(dst, a, b)`` meaning ``reg[dst] = a + b``, where an operand ``>= 0`` is
    a register and ``< 0`` is the squared difference of channel ``-1 - a``
    (``b == NONE``: a plain copy of ``a``); the sum ends in register ``result``.
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
        ops.append((nregs, result, NONE))
        result = nregs
        nregs += 1
    return Plan(np.array(ops, dtype=np.int64).reshape(-1, 3), result, nregs)


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def plan_vec(ops, X, p, reg, s, e):
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
            if b == NONE:
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
        if b == NONE:
            reg1[dst] = va
        elif b >= 0:
            reg1[dst] = va + reg1[b]
        else:
            w = X[-1 - b, t] - p[-1 - b]
            reg1[dst] = va + w * w


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def point_dist(X, t, p, plan, reg1):
    """The reference distance of the point X[:, t] to the colour p (``reg1``: the plan's registers)."""
    C = X.shape[0]
    if C < 8:
        w = X[0, t] - p[0]
        d = w * w
        for c in range(1, C):
            w = X[c, t] - p[c]
            d += w * w
        return d
    _plan_point(plan.ops, X, t, p, reg1)
    return reg1[plan.result]


@njit(nogil=True, cache=True, error_model="numpy", _nrt=False)
def brute_point(plan, X, t, palette, reg):
    """np.argmin of the reference distances of the point X[:, t] to every colour (first NaN, or
    first minimum), for points whose squares may overflow."""
    best = 0.0
    bidx = 0
    for k in range(palette.shape[0]):
        plan_vec(plan.ops, X, palette[k], reg, t, t + 1)
        d = reg[plan.result, t]
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
