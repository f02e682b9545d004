"""Gabor filtering of one block: an exact separable pass, or an FFT.

A Gabor kernel is a Gaussian envelope times a complex carrier. The carrier
``exp(i 2 pi f (x cos t + y sin t))`` always factors into a function of x
times a function of y; the envelope does when it is isotropic
(``sigma_x == sigma_y``) or axis-aligned (``theta`` a multiple of pi/2). Then
the 2-D kernel is exactly ``c * a(y) b(x)``, and filtering is a complex pass
along x followed by a complex pass along y: ``6 (2r + 1)`` multiply-adds per
pixel instead of ``2 (2r_y + 1)(2r_x + 1)``, and half of that again by
pairing the taps at +k and -k (the real part of each factor is even, the
imaginary part odd). Anisotropic rotated kernels do not factor; they are
applied by FFT over the block with its halo.

Both paths compute ``scipy.ndimage.convolve(image, kernel)`` (the kernel is
flipped, as skimage.filters.gabor does) for the output core described by the
boundary maps, in float64.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
import scipy.ndimage
from numba import njit

from . import _status  # noqa: F401  (the "compiling ..." status line)
from ._boundary import contiguous_run

__all__ = ["separable_factors", "gabor_block_separable", "gabor_block_fft", "extend_block"]


def separable_factors(frequency, theta, sigma_x, sigma_y, offset, x0, y0):
    """``(ar, ai, br, bi, c)`` of the flipped kernel, or None if it does not factor.

    The correlation kernel (the convolution kernel flipped) is
    ``c * (ar + i ai)(dy) * (br + i bi)(dx)``; the arrays hold taps 0..r
    (``ar``/``br`` even in the offset, ``ai``/``bi`` odd). A sixth element holds
    the parameters (plain numbers), from which :func:`gabor_block_separable`
    builds the exact 2-D kernel when a block holds a NaN or an infinity.
    """
    ct, st = np.cos(theta), np.sin(theta)
    cross = ct * st * (1.0 / sigma_x**2 - 1.0 / sigma_y**2)
    if sigma_x != sigma_y and abs(cross) * max(x0, 1) * max(y0, 1) > 1e-14:
        return None
    # exponent: x^2 (ct^2/sx^2 + st^2/sy^2) + y^2 (st^2/sx^2 + ct^2/sy^2), carrier 2 pi f (ct x + st y)
    qx = ct**2 / sigma_x**2 + st**2 / sigma_y**2
    qy = st**2 / sigma_x**2 + ct**2 / sigma_y**2
    kx = np.arange(x0 + 1, dtype=np.float64)
    ky = np.arange(y0 + 1, dtype=np.float64)
    gx = np.exp(-0.5 * kx**2 * qx)
    gy = np.exp(-0.5 * ky**2 * qy)
    wx = 2 * np.pi * frequency * ct
    wy = 2 * np.pi * frequency * st
    # flipped: b(-k) = g(k) exp(-i w k)
    br, bi = gx * np.cos(wx * kx), -gx * np.sin(wx * kx)
    ar, ai = gy * np.cos(wy * ky), -gy * np.sin(wy * ky)
    c = np.exp(1j * offset) / (2 * np.pi * sigma_x * sigma_y)
    # the parameters as well: a block with a NaN needs the exact kernel's zero weights
    params = (float(frequency), float(theta), float(sigma_x), float(sigma_y), float(offset), int(x0), int(y0))
    return ar, ai, br, bi, complex(c), params


@njit(nogil=True, cache=True, error_model="numpy")
def _x_pass(src2d, rows, xmap, run, cval, br, bi, has_bi, Tr, Ti, ext):
    """Tr/Ti[t] = the real/imaginary correlation along x of extended row rows[t].

    Without ``has_bi`` the x factor is real (a carrier along y only): ``bi`` and
    ``Ti`` are not used. (Runtime flags, not None arguments: one compiled version
    per input dtype.)
    """
    W = Tr.shape[1]
    x0 = br.shape[0] - 1
    L = xmap.shape[0]
    lo, hi, off = run
    for t in range(rows.shape[0]):
        r = rows[t]
        if r < 0:
            for s in range(L):
                ext[s] = cval
        else:
            line = src2d[r]
            for s in range(lo, hi):
                ext[s] = np.float64(line[s + off])
            for s in range(0, lo):
                col = xmap[s]
                ext[s] = cval if col < 0 else np.float64(line[col])
            for s in range(hi, L):
                col = xmap[s]
                ext[s] = cval if col < 0 else np.float64(line[col])
        tr = Tr[t]
        centre = ext[x0:x0 + W]
        b0 = br[0]
        for j in range(W):
            tr[j] = b0 * centre[j]
        for k in range(1, x0 + 1):
            ck = br[k]
            plus = ext[x0 + k:x0 + k + W]
            minus = ext[x0 - k:x0 - k + W]
            for j in range(W):
                tr[j] += ck * (plus[j] + minus[j])
        if has_bi:
            ti = Ti[t]
            for j in range(W):
                ti[j] = 0.0
            for k in range(1, x0 + 1):
                sk = bi[k]
                plus = ext[x0 + k:x0 + k + W]
                minus = ext[x0 - k:x0 - k + W]
                for j in range(W):
                    ti[j] += sk * (plus[j] - minus[j])


@njit(nogil=True, cache=True, error_model="numpy")
def _y_pass(Tr, Ti, has_ti, ar, ai, has_ai, cr, ci, H, out_re, out_im, out_mag, want, Ur, Ui):
    """U = sum_k a(k) T[t + k] (complex), then out = c * U.

    Without ``has_ti`` T is real (``Ti`` not used); without ``has_ai`` the y factor
    is real (``ai`` not used); ``want`` = (real, imag, magnitude): the outputs
    written (the others are not touched).
    """
    want_re, want_im, want_mag = want
    W = Tr.shape[1]
    y0 = ar.shape[0] - 1
    for i in range(H):
        t = i + y0
        a0 = ar[0]
        row_r = Tr[t]
        for j in range(W):
            Ur[j] = a0 * row_r[j]
            Ui[j] = 0.0
        if has_ti:
            row_i = Ti[t]
            for j in range(W):
                Ui[j] = a0 * row_i[j]
        for k in range(1, y0 + 1):
            ck = ar[k]
            pr = Tr[t + k]
            mr = Tr[t - k]
            for j in range(W):
                Ur[j] += ck * (pr[j] + mr[j])
            if has_ai:
                sk = ai[k]
                for j in range(W):
                    Ui[j] += sk * (pr[j] - mr[j])
            if has_ti:
                pi = Ti[t + k]
                mi = Ti[t - k]
                for j in range(W):
                    Ui[j] += ck * (pi[j] + mi[j])
                if has_ai:
                    sk2 = ai[k]
                    for j in range(W):
                        Ur[j] -= sk2 * (pi[j] - mi[j])
        if want_re:
            o = out_re[i]
            for j in range(W):
                o[j] = cr * Ur[j] - ci * Ui[j]
        if want_im:
            o = out_im[i]
            for j in range(W):
                o[j] = cr * Ui[j] + ci * Ur[j]
        if want_mag:
            o = out_mag[i]
            for j in range(W):
                re = cr * Ur[j] - ci * Ui[j]
                im = cr * Ui[j] + ci * Ur[j]
                o[j] = np.sqrt(re * re + im * im)


def gabor_block_separable(block2d, ymap, xmap, factors, cval, outputs, out_dtype):
    """Outputs (subset of real/imag/magnitude) for one 2-D block, separable kernel.

    A NaN or an infinity affects exactly the windows where scipy.ndimage's
    direct sum meets it, and no others: scipy leaves out the weights of
    magnitude <= DBL_EPSILON (0 * NaN is not NaN there), while the two 1-D
    passes would carry a NaN through every tap of both factors. So a block
    with a non-finite value is filtered with those values (and a non-finite
    ``cval``) set to 0, and then each window whose non-negligible weights of
    the exact kernel meet a NaN is NaN, and each that meets only infinities
    is summed directly, as scipy does.
    """
    block_bad = block2d.dtype.kind == "f" and not np.isfinite(block2d).all()
    cval_bad = not np.isfinite(cval) and bool((ymap < 0).any() or (xmap < 0).any())
    if not (block_bad or cval_bad):
        return _separable(block2d, ymap, xmap, factors, cval, outputs, out_dtype)
    ext = extend_block(block2d, ymap, xmap, cval)
    bad = ~np.isfinite(ext)
    filled = np.where(np.isfinite(block2d), block2d, 0).astype(block2d.dtype, copy=False)
    parts = _separable(filled, ymap, xmap, factors, cval if np.isfinite(cval) else 0.0, ("real", "imag"),
                       np.result_type(out_dtype, np.float32))
    masks = _nonzero_masks(factors[5])
    for k, name in enumerate(("real", "imag")):
        _patch_nonfinite(parts[k], ext, bad, masks[k], factors[5], name)
    out = np.empty((len(outputs), parts.shape[1], parts.shape[2]), dtype=out_dtype)
    for k, name in enumerate(outputs):
        out[k] = np.hypot(parts[0], parts[1]) if name == "magnitude" else parts[("real", "imag").index(name)]
    return out


def _kernel_strips(params):
    """The kernel of ``params`` as skimage.filters.gabor_kernel computes it (the
    same operations, so the same bits), a strip of rows at a time."""
    frequency, theta, sigma_x, sigma_y, offset, x0, y0 = params
    ct, st = math.cos(theta), math.sin(theta)
    y, x = np.meshgrid(np.arange(-y0, y0 + 1), np.arange(-x0, x0 + 1), indexing="ij", sparse=True)
    step = max(1, 2**18 // x.shape[1])
    for r in range(0, y.shape[0], step):
        ys = y[r:r + step]
        rotx = x * ct + ys * st
        roty = -x * st + ys * ct
        g = np.exp(-0.5 * (rotx**2 / sigma_x**2 + roty**2 / sigma_y**2)
                   + 1j * (2 * np.pi * frequency * rotx + offset))
        g *= 1 / (2 * np.pi * sigma_x * sigma_y)
        yield r, g


@functools.lru_cache(maxsize=4)
def _nonzero_masks(params):
    """(real, imag): where the kernel's weights exceed DBL_EPSILON (the weights scipy uses)."""
    frequency, theta, sigma_x, sigma_y, offset, x0, y0 = params
    shape = (2 * y0 + 1, 2 * x0 + 1)
    nz_re, nz_im = np.empty(shape, dtype=bool), np.empty(shape, dtype=bool)
    for r, g in _kernel_strips(params):
        nz_re[r:r + g.shape[0]] = np.abs(g.real) > _TINY
        nz_im[r:r + g.shape[0]] = np.abs(g.imag) > _TINY
    return nz_re, nz_im


def _hits(mask: np.ndarray, nz: np.ndarray) -> np.ndarray:
    """Valid positions (i, j) where some ``mask[i + a, j + b]`` meets a weight
    ``nz[::-1, ::-1][a, b]`` of the flipped kernel: a count by FFT (exact integers
    up to rounding far below 0.5)."""
    ky, kx = nz.shape
    h, w = mask.shape[0] - ky + 1, mask.shape[1] - kx + 1
    shape = (scipy.fft.next_fast_len(mask.shape[0], real=True), scipy.fft.next_fast_len(mask.shape[1], real=True))
    count = scipy.fft.irfft2(scipy.fft.rfft2(mask.astype(np.float64), shape)
                             * scipy.fft.rfft2(nz.astype(np.float64), shape), shape)
    return count[ky - 1:ky - 1 + h, kx - 1:kx - 1 + w] > 0.5


def _patch_nonfinite(part, ext, bad, nz, params, name):
    """Set the windows of ``part`` whose used weights meet a NaN to NaN, and sum
    those that meet only infinities directly (over the region the non-finite
    values reach)."""
    ky, kx = nz.shape
    H, W = part.shape
    p, q = np.nonzero(bad)
    i0, i1 = max(0, int(p.min()) - ky + 1), min(H, int(p.max()) + 1)
    j0, j1 = max(0, int(q.min()) - kx + 1), min(W, int(q.max()) + 1)
    if i0 >= i1 or j0 >= j1:
        return
    sub = ext[i0:i1 + ky - 1, j0:j1 + kx - 1]
    nan = np.isnan(sub)
    region = part[i0:i1, j0:j1]
    hit_nan = _hits(nan, nz) if nan.any() else np.zeros(region.shape, dtype=bool)
    region[hit_nan] = np.nan
    inf = np.isinf(sub)
    if inf.any():
        ii, jj = np.nonzero(_hits(inf, nz) & ~hit_nan)
        if ii.size:
            k = np.empty(nz.shape)
            for r, g in _kernel_strips(params):
                k[r:r + g.shape[0]] = g.real if name == "real" else g.imag
            region[ii, jj] = _direct(sub, k[::-1, ::-1], ii, jj)


def _separable(block2d, ymap, xmap, factors, cval, outputs, out_dtype):
    ar, ai, br, bi, c = factors[:5]
    y0, x0 = ar.shape[0] - 1, br.shape[0] - 1
    H = ymap.shape[0] - 2 * y0
    W = xmap.shape[0] - 2 * x0
    # a factor whose odd (imaginary) part is negligible is real (a carrier along one axis,
    # up to cos(pi/2) = 6e-17): skip its half of the work
    if np.abs(bi).max() <= 1e-14 * np.abs(br).max():
        bi = None
    if np.abs(ai).max() <= 1e-14 * np.abs(ar).max():
        ai = None
    # one compiled version per input dtype: float32 or float64 in and out alike
    work = np.float32 if (block2d.dtype == np.float32 and np.dtype(out_dtype) == np.float32) else np.float64
    block2d = np.ascontiguousarray(block2d, dtype=work)
    ymap = np.ascontiguousarray(ymap, dtype=np.int64)
    xmap = np.ascontiguousarray(xmap, dtype=np.int64)
    ar, br = np.ascontiguousarray(ar, dtype=np.float64), np.ascontiguousarray(br, dtype=np.float64)
    Tr = np.empty((ymap.shape[0], W))
    Ti = Tr if bi is None else np.empty((ymap.shape[0], W))
    _x_pass(block2d, ymap, xmap, contiguous_run(xmap), float(cval), br,
            br if bi is None else np.ascontiguousarray(bi, dtype=np.float64), bi is not None, Tr, Ti,
            np.empty(xmap.shape[0]))
    out = np.empty((len(outputs), H, W), dtype=work)
    unused = np.empty((0, W), dtype=work)
    pick = {name: out[k] for k, name in enumerate(outputs)}
    want = tuple(name in pick for name in ("real", "imag", "magnitude"))
    _y_pass(Tr, Ti, bi is not None, ar, ar if ai is None else np.ascontiguousarray(ai, dtype=np.float64),
            ai is not None, float(c.real), float(c.imag), int(H),
            pick.get("real", unused), pick.get("imag", unused), pick.get("magnitude", unused), want,
            np.empty(W), np.empty(W))
    return out if out.dtype == out_dtype else out.astype(out_dtype)


def extend_block(block2d: np.ndarray, ymap: np.ndarray, xmap: np.ndarray, cval: float) -> np.ndarray:
    """The block extended through the boundary maps, float64 (-1 entries become cval)."""
    ext = block2d.astype(np.float64, copy=False)[np.maximum(ymap, 0)][:, np.maximum(xmap, 0)]
    if (ymap < 0).any():
        ext[ymap < 0, :] = cval
    if (xmap < 0).any():
        ext[:, xmap < 0] = cval
    return ext


# Values further than this many robust spreads from the block's centre (a
# 1e30 outlier, a -3.4e38 fill) are kept out of the FFT and added directly:
# an FFT spreads its rounding, eps * max|x|, over the whole block.
_FAR_SPREADS = 1e3
# scipy.ndimage leaves out weights of magnitude <= DBL_EPSILON (so 0 * NaN,
# or 1e-17 * NaN, does not spread a NaN there); the direct sums do the same.
_TINY = np.finfo(np.float64).eps
# Beyond this many such values the whole block is convolved directly.
_MAX_FAR = 4096


def _robust_centre(values: np.ndarray) -> tuple[float, float, float]:
    """Median of a regular sample of ``values``, the median distance to it, and
    the share of the sample within half that distance (small when the median
    falls between two populations, as with a fill over half the block)."""
    step = max(1, values.size // 4096)
    sample = values[::step]
    c = float(np.median(sample))
    dev = np.abs(sample - c)
    spread = float(np.median(dev))
    return c, spread, float(np.mean(dev <= 0.5 * spread))


def _box_any(mask: np.ndarray, ky: int, kx: int) -> np.ndarray:
    """``mask`` has a True in the ky x kx window starting at each valid position."""
    s = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(mask, axis=0), axis=1, out=s[1:, 1:])
    return (s[ky:, kx:] - s[:-ky, kx:] - s[ky:, :-kx] + s[:-ky, :-kx]) > 0


def _direct(ext: np.ndarray, flipped: np.ndarray, ii, jj) -> np.ndarray:
    """The correlation of ``ext`` with ``flipped`` at the positions (ii, jj),
    directly; zero weights are skipped, as scipy.ndimage does (0 * NaN is not NaN there)."""
    ky, kx = flipped.shape
    nz = np.abs(flipped) > _TINY
    w = flipped[nz]
    out = np.empty(len(ii), dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        for n, (i, j) in enumerate(zip(ii, jj)):
            out[n] = (ext[i:i + ky, j:j + kx][nz] * w).sum()
    return out


def gabor_block_fft(block2d, ymap, xmap, kernel, cval, outputs, out_dtype):
    """Outputs for one 2-D block by FFT: ``convolve(extended block, kernel)``, valid part.

    The FFT sees ``x - c`` (``c`` a robust centre of the block) with the
    non-finite values and the far outliers taken out: the outliers are added
    back directly over their own footprint, and a window that holds a NaN or
    an infinity is computed directly from its pixels, as scipy would. So a NaN
    or a 1e30 outlier affects exactly the windows that contain it.
    """
    ky, kx = kernel.shape
    ext = extend_block(block2d, ymap, xmap, cval)
    H = ext.shape[0] - ky + 1
    W = ext.shape[1] - kx + 1
    finite = np.isfinite(ext)
    values = ext[finite] if not finite.all() else ext.reshape(-1)
    c, spread, near = _robust_centre(values) if values.size else (0.0, 1.0, 1.0)
    with np.errstate(invalid="ignore"):
        # most values equal (spread 0): every other value is far
        far = finite & (np.abs(ext - c) > _FAR_SPREADS * spread)
    n_far = int(far.sum())
    if n_far > min(_MAX_FAR, ky * kx // 2) or near < 0.05:
        # far values could make up much of a window (a nodata fill, a heavy tail):
        # no single centre serves every window, so every window directly
        cy, cx = ky // 2, kx // 2
        parts = {}
        with np.errstate(invalid="ignore", over="ignore"):
            for name, k in (("real", kernel.real), ("imag", kernel.imag)):
                full = scipy.ndimage.correlate(ext, np.ascontiguousarray(k[::-1, ::-1]), mode="constant")
                parts[name] = full[cy:cy + H, cx:cx + W]
    else:
        base = np.where(finite & ~far, ext - c, 0.0)
        shape = (scipy.fft.next_fast_len(ext.shape[0], real=True),
                 scipy.fft.next_fast_len(ext.shape[1], real=True))
        X = scipy.fft.rfft2(base, shape)
        del base  # scratch: at most a few arrays of the padded block's size at a time
        parts = {}
        for name, k in (("real", kernel.real), ("imag", kernel.imag)):
            if name not in outputs and "magnitude" not in outputs:
                continue  # a part no output needs
            # a copy of the valid part, so that the padded product is freed at once
            part = scipy.fft.irfft2(X * scipy.fft.rfft2(k, shape), shape)[ky - 1:ky - 1 + H, kx - 1:kx - 1 + W].copy()
            part += c * k.sum()
            bad = ~finite
            if not (n_far or bad.any()):
                parts[name] = part
                continue  # no weights needed beyond the transform (no kernel-sized copy)
            # each far value over its own footprint: output (i, j) sees ext[i + a, j + b] * flipped[a, b]
            kf = np.where(np.abs(k) > _TINY, k, 0.0)[::-1, ::-1]  # weights scipy uses
            for p, q in zip(*np.nonzero(far)):
                i0, i1 = max(0, p - ky + 1), min(H, p + 1)
                j0, j1 = max(0, q - kx + 1), min(W, q + 1)
                if i0 < i1 and j0 < j1:
                    part[i0:i1, j0:j1] += (ext[p, q] - c) * kf[p - np.arange(i0, i1)][:, q - np.arange(j0, j1)]
            if bad.any():  # windows with a NaN or an infinity: directly, as the reference
                ii, jj = np.nonzero(_box_any(bad, ky, kx))
                part[ii, jj] = _direct(ext, kf, ii, jj)
            parts[name] = part
    out = np.empty((len(outputs), H, W), dtype=out_dtype)
    for k, name in enumerate(outputs):
        if name == "magnitude":
            out[k] = np.hypot(parts["real"], parts["imag"])
        else:
            out[k] = parts[name]
    return out
