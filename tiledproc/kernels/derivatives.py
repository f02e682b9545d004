"""First and second derivatives of one block, fused: one read, up to five outputs.

``gradient`` follows ``numpy.gradient`` (edge_order=1): central differences
``(f[i+1] - f[i-1]) / 2h`` inside, one-sided ``(f[1] - f[0]) / h`` at the true
image edge. The Hessian is ``numpy.gradient`` applied to each gradient
component: ``d_yy = D_y(d_y)``, ``d_yx = D_x(d_y)``, ``d_xx = D_x(d_x)``.
The kernel learns where the image ends from the boundary maps built with
mode ``constant`` (-1 = beyond the edge), so a chunk edge inside the image
uses the halo and only the true edge is one-sided.

The compact variant uses the 3-point second difference ``[1, -2, 1] / h^2``
for ``d_yy``/``d_xx`` and central differences ``[-1, 0, 1] / 2h`` along y then x
for ``d_yx``, each pass with a boundary mode, as ``scipy.ndimage.correlate1d``
does (and in its order of operations).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import _status  # noqa: F401  (the "compiling ..." status line)

__all__ = ["gradient_block", "compact_block", "OUTPUTS"]

OUTPUTS = ("d_y", "d_x", "d_yy", "d_yx", "d_xx")


@njit(nogil=True, cache=True, error_model="numpy")
def _extend(src2d, ymap, xmap, E):
    """E = the block through the maps (entries beyond the image are left as 0)."""
    for t in range(ymap.shape[0]):
        r = ymap[t]
        row = E[t]
        if r < 0:
            for s in range(xmap.shape[0]):
                row[s] = 0.0
            continue
        line = src2d[r]
        for s in range(xmap.shape[0]):
            c = xmap[s]
            row[s] = np.float64(line[c]) if c >= 0 else 0.0


@njit(nogil=True, cache=True, error_model="numpy")
def _d_axis0(E, valid, h, out, t0, t1, s0, s1):
    """numpy.gradient along axis 0 of E at rows t0..t1-1, columns s0..s1-1.

    ``valid[t]`` tells whether extended row t lies inside the image.
    """
    two_h = 2.0 * h
    for t in range(t0, t1):
        o = out[t - t0]
        if not valid[t]:
            continue
        up = t > 0 and valid[t - 1]
        down = t + 1 < E.shape[0] and valid[t + 1]
        a = E[t + 1] if down else E[t]
        b = E[t - 1] if up else E[t]
        d = two_h if (up and down) else h
        for s in range(s0, s1):
            o[s - s0] = (a[s] - b[s]) / d


@njit(nogil=True, cache=True, error_model="numpy")
def _d_axis1(E, valid, h, out, t0, t1, s0, s1):
    """numpy.gradient along axis 1 of E at rows t0..t1-1, columns s0..s1-1."""
    two_h = 2.0 * h
    n = E.shape[1]
    for t in range(t0, t1):
        row = E[t]
        o = out[t - t0]
        for s in range(s0, s1):
            if not valid[s]:
                continue
            left = s > 0 and valid[s - 1]
            right = s + 1 < n and valid[s + 1]
            if left and right:
                o[s - s0] = (row[s + 1] - row[s - 1]) / two_h
            elif right:
                o[s - s0] = (row[s + 1] - row[s]) / h
            elif left:
                o[s - s0] = (row[s] - row[s - 1]) / h
            else:
                o[s - s0] = np.nan  # a single pixel: no gradient (refused before)


def gradient_block(block2d, ymap, xmap, spacing, outputs, out_dtype):
    """Outputs (subset of OUTPUTS, in that order) for one 2-D block.

    ``ymap``/``xmap`` are constant-mode maps with radius 1 (gradient only)
    or 2 (any second derivative).
    """
    hy, hx = spacing
    second = any(o in ("d_yy", "d_yx", "d_xx") for o in outputs)
    r = 2 if second else 1
    Ly, Lx = ymap.shape[0], xmap.shape[0]
    H, W = Ly - 2 * r, Lx - 2 * r
    E = np.empty((Ly, Lx))
    _extend(block2d, ymap, xmap, E)
    vy = ymap >= 0
    vx = xmap >= 0
    out = np.empty((len(outputs),) + (H, W), dtype=out_dtype)
    pick = {name: k for k, name in enumerate(outputs)}
    if not second:
        tmp = np.empty((H, W))
        if "d_y" in pick:
            _d_axis0(E, vy, hy, tmp, 1, 1 + H, 1, 1 + W)
            out[pick["d_y"]] = tmp
        if "d_x" in pick:
            _d_axis1(E, vx, hx, tmp, 1, 1 + H, 1, 1 + W)
            out[pick["d_x"]] = tmp
        return out
    # first derivatives on the core grown by one pixel (what the second ones need)
    gy = np.zeros((H + 2, W + 2))
    gx = np.zeros((H + 2, W + 2))
    _d_axis0(E, vy, hy, gy, 1, H + 3, 1, W + 3)
    _d_axis1(E, vx, hx, gx, 1, H + 3, 1, W + 3)
    vy1, vx1 = vy[1:-1], vx[1:-1]
    tmp = np.empty((H, W))
    if "d_y" in pick:
        out[pick["d_y"]] = gy[1:-1, 1:-1]
    if "d_x" in pick:
        out[pick["d_x"]] = gx[1:-1, 1:-1]
    if "d_yy" in pick:
        _d_axis0(gy, vy1, hy, tmp, 1, 1 + H, 1, 1 + W)
        out[pick["d_yy"]] = tmp
    if "d_yx" in pick:
        _d_axis1(gy, vx1, hx, tmp, 1, 1 + H, 1, 1 + W)
        out[pick["d_yx"]] = tmp
    if "d_xx" in pick:
        _d_axis1(gx, vx1, hx, tmp, 1, 1 + H, 1, 1 + W)
        out[pick["d_xx"]] = tmp
    return out


def _correlate3(minus, centre, plus, w_centre, w_side, antisymmetric):
    """``correlate1d`` with the 3 weights ``(±w_side, w_centre, w_side)``, as scipy.ndimage
    computes it: the centre times its weight (so a NaN or an infinity there gives NaN even
    with a zero weight), plus the pair of neighbours times their common weight."""
    pair = plus - minus if antisymmetric else plus + minus
    return centre * w_centre + pair * w_side


def compact_block(block2d, ymap, xmap, spacing, cval, outputs, out_dtype):
    """Compact second differences with a boundary mode (maps of radius 1, -1 = cval).

    ``d_yy = correlate1d(f, [1, -2, 1] / hy**2, y)``, ``d_xx`` likewise along x, and
    ``d_yx = correlate1d(correlate1d(f, [-1, 0, 1] / (2 hy), y), [-1, 0, 1] / (2 hx), x)``:
    the intermediate (already divided by ``2 hy``) is extended by the mode, so for
    ``constant`` the value beyond the edge in the second pass is ``cval`` itself.
    """
    hy, hx = spacing
    ext = block2d.astype(np.float64, copy=False)[np.maximum(ymap, 0)][:, np.maximum(xmap, 0)]
    ext[ymap < 0, :] = cval
    ext[:, xmap < 0] = cval
    H, W = ext.shape[0] - 2, ext.shape[1] - 2
    out = np.empty((len(outputs), H, W), dtype=out_dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        for k, name in enumerate(outputs):
            if name == "d_yy":
                out[k] = _correlate3(ext[:-2, 1:-1], ext[1:-1, 1:-1], ext[2:, 1:-1],
                                     -2.0 / (hy * hy), 1.0 / (hy * hy), False)
            elif name == "d_xx":
                out[k] = _correlate3(ext[1:-1, :-2], ext[1:-1, 1:-1], ext[1:-1, 2:],
                                     -2.0 / (hx * hx), 1.0 / (hx * hx), False)
            elif name == "d_yx":
                # along y, on every extended column: the first pass of the reference
                mid = _correlate3(ext[:-2], ext[1:-1], ext[2:], 0.0, 1.0 / (2.0 * hy), True)
                # the reference extends this intermediate by the mode, not the input: beyond the
                # edge it holds cval (not cval / (2 hy) - 0 as the first pass would give there)
                mid[:, xmap < 0] = cval
                out[k] = _correlate3(mid[:, :-2], mid[:, 1:-1], mid[:, 2:], 0.0, 1.0 / (2.0 * hx), True)
            else:  # pragma: no cover - the op refuses first derivatives here
                raise ValueError(name)
    return out
