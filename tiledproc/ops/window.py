"""Windowed statistics: mean, variance and standard deviation over a box window."""

from __future__ import annotations

import functools

import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.base import tokenize

from .._dtypes import float_type, kernel_input
from .._validate import (
    parse_mode,
    parse_nan_policy,
    parse_real,
    parse_spatial_ndim,
    parse_window_size,
    as_image,
)
from ..graph.overlap import apply_overlap, is_dask, plan_axis
from ..kernels.window import box_stats
from ._deprecate import renamed_parameter
from ._nodata import nodata_op

__all__ = ["window_mean", "window_variance", "window_std", "window_stats"]


def _as_array(a, name="image"):
    return as_image(a, name)


def _box_kernel(block, ymap, xmap, *, size, cval, omit, outputs, out_dtype):
    return box_stats(
        kernel_input(block), ymap, xmap, size,
        cval=cval, omit=omit, outputs=outputs, out_dtype=out_dtype,
    )


def _window(a, size, mode, cval, nan_policy, outputs: tuple[str, ...]):
    a = _as_array(a)
    parse_spatial_ndim(a)
    out_dtype = float_type(a.dtype)
    sy, sx = parse_window_size(size)
    mode = parse_mode(mode)
    cval = parse_real(cval, "cval")
    omit = parse_nan_policy(nan_policy) == "omit"
    H, W = a.shape[-2:]
    if H and W and (sy > 2 * H + 1 or sx > 2 * W + 1):
        return _wide_window(a, axis_parts(H, sy, mode), axis_parts(W, sx, mode), mode, cval, omit,
                            outputs, out_dtype)
    kernel = functools.partial(
        _box_kernel, size=(sy, sx), cval=cval, omit=omit, outputs=outputs, out_dtype=out_dtype
    )
    return apply_overlap(
        kernel,
        a,
        radius=(sy // 2, sx // 2),
        mode=mode,
        n_outputs=len(outputs),
        dtype=out_dtype,
        name="window-" + "-".join(outputs),
        # cval as its bit pattern, so that nan == nan for the token
        token_parts=(sy, sx, np.float64(cval).tobytes(), omit),
    )


# ------------------------------------------------------------------ windows wider than the image
#
# Along an axis of n pixels, the window of size s centred on pixel i covers
# the extended positions i - s//2 .. i + s//2, and the mode's extension makes
# the pixels there repeat: with period P = 2n (reflect), 2n - 2 (mirror) or n
# (wrap), or with the edge pixel (nearest) or cval (constant) beyond the edge.
# When s > 2n + 1 the window's content (how many times it holds each pixel)
# is therefore a fixed part, the same for every i, taken a number of times,
# plus a centred window of fewer than 2n positions:
#
# * reflect: s = kP + u (u odd, < 2n): 2k copies of the line, plus the window
#   of size u centred on i for even k, on n - 1 - i for odd k (the k periods
#   taken off one end leave a window centred on i - kn, which the reflection
#   about the edge maps onto n - 1 - i);
# * mirror (n > 1): s = kP + u: k copies of the line and k of its interior
#   (pixels 1 .. n - 2), plus the window of size u on i or on n - 1 - i;
# * wrap: s = kn + u, with k even or n even (u odd, < 2n): k copies of the
#   line, plus the window of size u on i - kn/2 (mod n), i.e. rolled by n/2
#   for odd k;
# * nearest: d = s//2 - (n - 1) copies of the first and of the last pixel,
#   plus the window of size 2n - 1 (n = 1: 2d copies of the pixel, plus it);
# * constant: the line once and s - n copies of cval.
#
# A 2-D window is the product of its two axes' parts, so it splits into at
# most 9 pieces, each of which is an ordinary window statistic: a window
# (sizes below 2n + 1) or a whole stretch of the image along an axis. The
# pieces are computed by the same cancellation-free kernel (sums around a
# robust centre, unsound windows summed again), a whole stretch as per-block
# partial statistics merged over the blocks, so no chunk is merged because of
# the window's size and no scratch grows with it, and the pieces are merged by
# count, mean and sum of squared deviations (Chan et al.: every term is
# non-negative, nothing cancels), weighted by how many times each is taken.
# Sizes are Python integers, so the weights are exact up to the refusal limit
# of parse_window_size.


def axis_parts(n: int, s: int, mode: str) -> list[tuple[int, tuple]]:
    """The content of the size-``s`` windows of an ``n``-pixel axis as ``[(weight, part)]``.

    ``part`` is ``("window", t, post)`` (the centred window of size ``t``;
    ``post`` None, ``"flip"``: the one centred on ``n - 1 - i``, or
    ``("roll", k)``: on ``i - k``), ``("all", lo, hi)`` (pixels ``lo .. hi - 1``
    once each, the same for every output pixel) or ``("cval",)`` (one cval).
    Windows up to ``2n + 1`` are one plain window. See the comment above.
    """
    if s <= 2 * n + 1:
        return [(1, ("window", s, None))]
    if mode == "constant":
        return [(1, ("all", 0, n)), (s - n, ("cval",))]
    if mode == "nearest" or (mode == "mirror" and n == 1):
        d = s // 2 - (n - 1)
        if n == 1:
            return [(2 * d, ("all", 0, 1)), (1, ("window", 1, None))]
        return [(d, ("all", 0, 1)), (d, ("all", n - 1, n)), (1, ("window", 2 * n - 1, None))]
    if mode == "reflect":
        k, u = divmod(s, 2 * n)
        return [(2 * k, ("all", 0, n)), (1, ("window", u, "flip" if k % 2 else None))]
    if mode == "mirror":
        k, u = divmod(s, 2 * n - 2)
        parts = [(k, ("all", 0, n))]
        if n > 2:
            parts.append((k, ("all", 1, n - 1)))
        return parts + [(1, ("window", u, "flip" if k % 2 else None))]
    if mode == "wrap":
        k, u = divmod(s, n)
        if (k * n) % 2:  # k full periods off one end must leave a centred (odd) window
            k, u = k - 1, u + n
        shift = (k * n // 2) % n
        return [(k, ("all", 0, n)), (1, ("window", u, ("roll", shift) if shift else None))]
    raise ValueError(f"unknown mode {mode!r}")


def _part_len(part) -> int:
    kind = part[0]
    return part[1] if kind == "window" else (part[2] - part[1] if kind == "all" else 1)


def _window_counts(block, ymap, xmap, wy, wx, cval):
    """Non-NaN values of every window (cval counts when it is not NaN), exact integers."""
    lead = block.shape[:-2]
    valid = ~np.isnan(block) if block.dtype.kind == "f" else np.ones(block.shape, bool)
    v = np.pad(valid.astype(np.int64), [(0, 0)] * len(lead) + [(0, 1), (0, 1)],
               constant_values=int(cval == cval))
    ym = np.where(ymap < 0, block.shape[-2], ymap)
    xm = np.where(xmap < 0, block.shape[-1], xmap)
    cx = np.cumsum(v[..., xm], axis=-1)
    cx = np.concatenate([np.zeros(cx.shape[:-1] + (1,), np.int64), cx], axis=-1)
    rows = cx[..., wx:] - cx[..., :-wx]
    cy = np.cumsum(rows[..., ym, :], axis=-2)
    cy = np.concatenate([np.zeros(cy.shape[:-2] + (1,) + cy.shape[-1:], np.int64), cy], axis=-2)
    return (cy[..., wy:, :] - cy[..., :-wy, :]).astype(np.float64)


def _piece_kernel(block, ymap, xmap, *, size, collapse, cval, omit, want_var):
    """(count, mean, M2) of the windows of one block; a collapsed axis is one window over the block."""
    wy = ymap.shape[0] if collapse[0] else size[0]
    wx = xmap.shape[0] if collapse[1] else size[1]
    stats = box_stats(kernel_input(block), ymap, xmap, (wy, wx), cval=cval, omit=omit,
                      outputs=("mean", "variance") if want_var else ("mean",), out_dtype=np.dtype(np.float64))
    if omit:
        n = _window_counts(block, ymap, xmap, wy, wx, cval)
    else:
        n = np.full(stats.shape[1:], float(wy * wx))
    out = [n, stats[0]]
    if want_var:
        with np.errstate(invalid="ignore"):
            out.append(stats[1] * n)
    return np.stack(out)


def _chan(parts, want_var):
    """Merge populations given as (count, mean, M2) (broadcastable arrays or numbers).

    The mean is taken as a correction to one population's mean (so equal means
    stay exact: a constant gives variance 0), the M2 as a sum of non-negative
    terms. Populations without values (count 0) are left out.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        N = sum(p[0] for p in parts)
        ref, have = np.nan, False
        for n, m, _ in parts:
            pos = n > 0
            ref = np.where(have, ref, np.where(pos, m, np.nan))
            have = have | pos
        corr = plain = 0.0
        for n, m, _ in parts:
            pos = n > 0
            corr = corr + np.where(pos, n * (m - ref), 0.0)
            plain = plain + np.where(pos, n * m, 0.0)
        mean = ref + corr / N
        # an infinite population: the plain weighted mean is inf (or NaN), as np.mean gives
        mean = np.where(np.isfinite(mean), mean, plain / N)
        M2 = None
        if want_var:
            M2 = 0.0
            for n, m, q in parts:
                d = m - mean
                M2 = M2 + np.where(n > 0, q + n * d * d, 0.0)
    return N, mean, M2


def _merge_axis_block(*arrays, axis, want_var):
    """The partial statistics along ``axis`` (one per block) merged into one."""
    k = arrays[0].shape[axis]
    split = [np.split(x, k, axis=axis) for x in arrays]
    parts = [(split[0][i], split[1][i], split[2][i] if want_var else None) for i in range(k)]
    N, mean, M2 = _chan(parts, want_var)
    return np.stack([N, mean] + ([M2] if want_var else []))


def _map_stacked(func, arrays, chunks, name, **kwargs):
    """func(*blocks) -> stacked outputs, on numpy arrays or on dask arrays of equal chunks."""
    n_out = kwargs.pop("n_out")
    if not is_dask(arrays[0]):
        return list(func(*arrays, **kwargs))
    stacked = da.map_blocks(
        functools.partial(func, **kwargs), *arrays, dtype=np.float64, new_axis=0,
        chunks=((n_out,),) + tuple(chunks), meta=np.empty((0,) * (arrays[0].ndim + 1)),
        name=f"{name}-{tokenize(*[x.name for x in arrays], kwargs)}",
    )
    return [stacked[i] for i in range(n_out)]


def _piece(a, py, px, mode, cval, omit, want_var):
    """(count, mean, M2) of the windows of ``py`` x ``px`` (no cval part): full size along a
    window part, size 1 along a whole stretch."""
    z = a
    if py[0] == "all":
        z = z[..., py[1]:py[2], :]
    if px[0] == "all":
        z = z[..., px[1]:px[2]]
    collapse = (py[0] == "all", px[0] == "all")
    size = (py[1] if not collapse[0] else 1, px[1] if not collapse[1] else 1)
    n_out = 3 if want_var else 2
    kernel = functools.partial(_piece_kernel, size=size, collapse=collapse, cval=cval, omit=omit,
                               want_var=want_var)
    out = apply_overlap(kernel, z, radius=(size[0] // 2, size[1] // 2), mode=mode, n_outputs=n_out,
                        dtype=np.float64, name="window-piece", collapse=collapse,
                        token_parts=(size, collapse, np.float64(cval).tobytes(), omit, want_var))
    for axis, flag in ((-2, collapse[0]), (-1, collapse[1])):
        if flag and out[0].shape[axis] > 1:  # one partial per block: merged
            if is_dask(out[0]):
                out = [x.rechunk({x.ndim + axis: -1}) for x in out]
            chunks = list(out[0].chunks) if is_dask(out[0]) else None
            if chunks is not None:
                chunks[axis] = (1,)
            out = _map_stacked(_merge_axis_block, out, chunks, "window-merge", axis=axis,
                               want_var=want_var, n_out=n_out)
    for axis, part in ((-2, py), (-1, px)):
        post = part[2] if part[0] == "window" else None
        if post == "flip":
            out = [np.flip(x, axis) if not is_dask(x) else da.flip(x, axis) for x in out]
        elif post is not None:
            out = [np.roll(x, post[1], axis) if not is_dask(x) else da.roll(x, post[1], axis) for x in out]
    return out


def _combine_block(*arrays, consts, want_var, outputs, out_dtype):
    """The window statistics from the weighted pieces: arrays holds (count, mean[, M2]) of
    each array piece, already weighted; consts the (count, mean, M2) of the constant ones."""
    step = 3 if want_var else 2
    parts = [tuple(arrays[i:i + step]) + ((None,) if not want_var else ()) for i in range(0, len(arrays), step)]
    parts += list(consts)
    N, mean, M2 = _chan(parts, want_var)
    res = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in outputs:
            if name == "mean":
                v = mean
            else:
                v = M2 / N
                # clamped at 0 as the kernel does (only rounding can make it negative)
                v = np.where(v < 0, 0.0, v)
                if name == "std":
                    v = np.sqrt(v)
            res.append(np.asarray(v, dtype=np.float64))
    shape = np.broadcast_shapes(*[r.shape for r in res])
    with np.errstate(over="ignore"):  # a float32 variance beyond 3.4e38 is inf, as the kernel gives
        return np.stack([np.broadcast_to(r, shape) for r in res]).astype(out_dtype)


def _wide_window(a, parts_y, parts_x, mode, cval, omit, outputs, out_dtype):
    """Window statistics when the window is wider than twice the image along an axis."""
    want_var = any(o != "mean" for o in outputs)
    consts, pieces = [], []
    for wy, py in parts_y:
        for wx, px in parts_x:
            w = float(wy * wx)
            if "cval" in (py[0], px[0]):
                count = 0 if (omit and cval != cval) else _part_len(py) * _part_len(px)
                consts.append((w * count, cval, 0.0))
                continue
            n, m, *M2 = _piece(a, py, px, mode, cval, omit, want_var)
            pieces.append([n * w, m] + [q * w for q in M2])
    shape = a.shape
    kwargs = dict(consts=consts, want_var=want_var, outputs=outputs, out_dtype=out_dtype)
    if not is_dask(a):
        flat = [x for p in pieces for x in p]
        out = _combine_block(*flat, **kwargs) if flat else _combine_block(**kwargs)
        out = np.broadcast_to(out, (len(outputs),) + shape)
        return [np.ascontiguousarray(out[k]) for k in range(len(outputs))]
    # the output's chunks: the input's, merged as the window parts need
    target = list(a.chunks)
    for k, parts in ((-2, parts_y), (-1, parts_x)):
        sizes = [p[1] for _, p in parts if p[0] == "window"]
        if sizes:
            target[k] = plan_axis(a.chunks[k], sizes[0] // 2)[0]
    target = tuple(target)
    flat = []
    for p in pieces:
        for x in p:
            want = tuple(t if x.shape[i] == shape[i] else c for i, (t, c) in enumerate(zip(target, x.chunks)))
            if x.chunks != want:
                x = x.rechunk(want)
            flat.append(da.broadcast_to(x, shape, chunks=target))
    if not flat:  # every piece is a constant (constant mode, both axes wide)
        flat = [da.zeros(shape, chunks=target), da.zeros(shape, chunks=target)] + (
            [da.zeros(shape, chunks=target)] if want_var else [])
    stacked = da.map_blocks(
        functools.partial(_combine_block, **kwargs), *flat, dtype=out_dtype, new_axis=0,
        chunks=((len(outputs),),) + target, meta=np.empty((0,) * (len(shape) + 1), dtype=out_dtype),
        name="window-" + "-".join(outputs) + "-" + tokenize(*[x.name for x in flat], kwargs),
    )
    return [stacked[k] for k in range(len(outputs))]


@renamed_parameter("a", "image")
@nodata_op("window")
def window_mean(
    image: npt.ArrayLike | da.Array,
    size: int | tuple[int, int],
    *,
    mode: str = "reflect",
    cval: float = 0.0,
    nan_policy: str = "propagate",
) -> npt.NDArray[np.floating] | da.Array:
    """Mean over a ``size`` x ``size`` window centred on each pixel.

    Equal to ``scipy.ndimage.uniform_filter(image.astype(np.float64), size=(1, ..., size_y, size_x),
    mode=mode, cval=cval)``, cast to the result dtype.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the window runs over the last two axes and repeats over the others.
        A dask array must have known chunk sizes.
    size : int or (int, int)
        Odd window size, or ``(size_y, size_x)``, up to ``2**63 - 1``. A window
        larger than the image covers the image extended by ``mode`` as often
        as it repeats; it costs no more than a window of twice the image
        (the repeated whole lines are counted, not read again).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the image is extended beyond its edge, as in
        ``scipy.ndimage.uniform_filter`` (default ``'reflect'``).
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0.0; may be NaN).
    nan_policy : {'propagate', 'omit'}, optional
        ``'propagate'`` (default): a NaN makes exactly the windows that
        contain it NaN. ``'omit'``: statistics over the non-NaN pixels of each
        window (NaN where a window has none), so nodata holes do not grow.

    Returns
    -------
    mean : (..., M, N) ndarray or dask.array.Array
        The mean of every window.

    Raises
    ------
    InvalidParameterError
        ``size`` is not odd and positive, is larger than ``2**63 - 1`` or is a
        sequence of other than two sizes; ``mode`` or ``nan_policy`` is not one
        of the names above; ``image`` has fewer than two dimensions or unknown
        dask chunk sizes.
    InvalidTypeError
        ``size`` is not an integer, ``cval`` not a real number, or ``image``
        not an array of a boolean, integer or real floating dtype.

    Notes
    -----
    The result dtype is ``np.result_type(image.dtype, np.float32)``: float32
    for bool, (u)int8/16, float16 and float32 input, float64 for (u)int32/64
    and float64. Sums are taken in float64 around a robust centre of each
    block (the median of a sample of its values), and every window is built
    from its own pixels only, so the variance is free of catastrophic
    cancellation and an outlier or a NaN affects only the windows that
    contain it. numpy in gives numpy out; dask in gives a lazy dask array
    chunked like ``image`` (small chunks are merged so that none is smaller
    than the window radius; for a window wider than twice the image, than
    the radius of the window left after the whole repetitions of the
    extended image are taken out, which is less than the image), and
    nothing is computed when it is built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import window_mean
    >>> float(window_mean(np.arange(9.0).reshape(3, 3), 3, mode="nearest")[1, 1])
    4.0
    >>> float(window_mean(np.arange(9.0).reshape(3, 3), 10**18 + 1, mode="wrap")[1, 1])
    4.0
    >>> window_mean(np.array([[1.0, np.nan, 3.0]]), (1, 3), nan_policy="omit").tolist()
    [[1.0, 2.0, 3.0]]
    """
    (out,) = _window(image, size, mode, cval, nan_policy, ("mean",))
    return out


@renamed_parameter("a", "image")
@nodata_op("window")
def window_variance(
    image: npt.ArrayLike | da.Array,
    size: int | tuple[int, int],
    *,
    mode: str = "reflect",
    cval: float = 0.0,
    nan_policy: str = "propagate",
) -> npt.NDArray[np.floating] | da.Array:
    """Population variance over a ``size`` x ``size`` window centred on each pixel.

    Equal to ``np.var`` of each window of the image extended by ``mode``
    (``ddof=0``), cast to the result dtype.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the window runs over the last two axes and repeats over the others.
        A dask array must have known chunk sizes.
    size : int or (int, int)
        Odd window size, or ``(size_y, size_x)``, up to ``2**63 - 1``. A window
        larger than the image covers the image extended by ``mode`` as often
        as it repeats; it costs no more than a window of twice the image
        (the repeated whole lines are counted, not read again).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the image is extended beyond its edge, as in
        ``scipy.ndimage.uniform_filter`` (default ``'reflect'``).
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0.0; may be NaN).
    nan_policy : {'propagate', 'omit'}, optional
        ``'propagate'`` (default): a NaN makes exactly the windows that
        contain it NaN. ``'omit'``: statistics over the non-NaN pixels of each
        window (NaN where a window has none), so nodata holes do not grow.

    Returns
    -------
    variance : (..., M, N) ndarray or dask.array.Array
        The population variance of every window (never negative).

    Raises
    ------
    InvalidParameterError
        ``size`` is not odd and positive, is larger than ``2**63 - 1`` or is a
        sequence of other than two sizes; ``mode`` or ``nan_policy`` is not one
        of the names above; ``image`` has fewer than two dimensions or unknown
        dask chunk sizes.
    InvalidTypeError
        ``size`` is not an integer, ``cval`` not a real number, or ``image``
        not an array of a boolean, integer or real floating dtype.

    Notes
    -----
    The result dtype is ``np.result_type(image.dtype, np.float32)``: float32
    for bool, (u)int8/16, float16 and float32 input, float64 for (u)int32/64
    and float64. Sums are taken in float64 around a robust centre of each
    block (the median of a sample of its values), and every window is built
    from its own pixels only, so the variance is free of catastrophic
    cancellation and an outlier or a NaN affects only the windows that
    contain it. numpy in gives numpy out; dask in gives a lazy dask array
    chunked like ``image`` (small chunks are merged so that none is smaller
    than the window radius; for a window wider than twice the image, than
    the radius of the window left after the whole repetitions of the
    extended image are taken out, which is less than the image), and
    nothing is computed when it is built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import window_variance
    >>> float(window_variance(np.float32(10000) + np.eye(3, dtype=np.float32), 3)[1, 1])
    0.2222222238779068
    >>> window_variance(np.array([[0.0, 0.0, 5.0, 0.0, 0.0]]), (1, 5), mode="constant").tolist()
    [[4.0, 4.0, 4.0, 4.0, 4.0]]
    """
    (out,) = _window(image, size, mode, cval, nan_policy, ("variance",))
    return out


@renamed_parameter("a", "image")
@nodata_op("window")
def window_std(
    image: npt.ArrayLike | da.Array,
    size: int | tuple[int, int],
    *,
    mode: str = "reflect",
    cval: float = 0.0,
    nan_policy: str = "propagate",
) -> npt.NDArray[np.floating] | da.Array:
    """Population standard deviation over a ``size`` x ``size`` window centred on each pixel.

    The square root of :func:`window_variance`: ``np.std`` of each window of
    the image extended by ``mode`` (``ddof=0``).

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the window runs over the last two axes and repeats over the others.
        A dask array must have known chunk sizes.
    size : int or (int, int)
        Odd window size, or ``(size_y, size_x)``, up to ``2**63 - 1``. A window
        larger than the image covers the image extended by ``mode`` as often
        as it repeats; it costs no more than a window of twice the image
        (the repeated whole lines are counted, not read again).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the image is extended beyond its edge, as in
        ``scipy.ndimage.uniform_filter`` (default ``'reflect'``).
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0.0; may be NaN).
    nan_policy : {'propagate', 'omit'}, optional
        ``'propagate'`` (default): a NaN makes exactly the windows that
        contain it NaN. ``'omit'``: statistics over the non-NaN pixels of each
        window (NaN where a window has none), so nodata holes do not grow.

    Returns
    -------
    std : (..., M, N) ndarray or dask.array.Array
        The population standard deviation of every window.

    Raises
    ------
    InvalidParameterError
        ``size`` is not odd and positive, is larger than ``2**63 - 1`` or is a
        sequence of other than two sizes; ``mode`` or ``nan_policy`` is not one
        of the names above; ``image`` has fewer than two dimensions or unknown
        dask chunk sizes.
    InvalidTypeError
        ``size`` is not an integer, ``cval`` not a real number, or ``image``
        not an array of a boolean, integer or real floating dtype.

    Notes
    -----
    The result dtype is ``np.result_type(image.dtype, np.float32)``: float32
    for bool, (u)int8/16, float16 and float32 input, float64 for (u)int32/64
    and float64. Sums are taken in float64 around a robust centre of each
    block (the median of a sample of its values), and every window is built
    from its own pixels only, so the variance is free of catastrophic
    cancellation and an outlier or a NaN affects only the windows that
    contain it. numpy in gives numpy out; dask in gives a lazy dask array
    chunked like ``image`` (small chunks are merged so that none is smaller
    than the window radius; for a window wider than twice the image, than
    the radius of the window left after the whole repetitions of the
    extended image are taken out, which is less than the image), and
    nothing is computed when it is built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import window_std
    >>> window_std(np.array([[0.0, 0.0, 5.0, 0.0, 0.0]]), (1, 5), mode="constant").tolist()
    [[2.0, 2.0, 2.0, 2.0, 2.0]]
    """
    (out,) = _window(image, size, mode, cval, nan_policy, ("std",))
    return out


@renamed_parameter("a", "image")
@nodata_op("window")
def window_stats(
    image: npt.ArrayLike | da.Array,
    size: int | tuple[int, int],
    *,
    mode: str = "reflect",
    cval: float = 0.0,
    nan_policy: str = "propagate",
) -> tuple[npt.NDArray[np.floating] | da.Array, npt.NDArray[np.floating] | da.Array]:
    """Windowed mean and population variance in one pass over the data.

    ``(window_mean(image, ...), window_variance(image, ...))`` with the same
    parameters, from one read of each chunk.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the window runs over the last two axes and repeats over the others.
        A dask array must have known chunk sizes.
    size : int or (int, int)
        Odd window size, or ``(size_y, size_x)``, up to ``2**63 - 1``. A window
        larger than the image covers the image extended by ``mode`` as often
        as it repeats; it costs no more than a window of twice the image
        (the repeated whole lines are counted, not read again).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the image is extended beyond its edge, as in
        ``scipy.ndimage.uniform_filter`` (default ``'reflect'``).
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0.0; may be NaN).
    nan_policy : {'propagate', 'omit'}, optional
        ``'propagate'`` (default): a NaN makes exactly the windows that
        contain it NaN. ``'omit'``: statistics over the non-NaN pixels of each
        window (NaN where a window has none), so nodata holes do not grow.

    Returns
    -------
    mean, variance : (..., M, N) ndarray or dask.array.Array
        The mean and the population variance of every window.

    Raises
    ------
    InvalidParameterError
        ``size`` is not odd and positive, is larger than ``2**63 - 1`` or is a
        sequence of other than two sizes; ``mode`` or ``nan_policy`` is not one
        of the names above; ``image`` has fewer than two dimensions or unknown
        dask chunk sizes.
    InvalidTypeError
        ``size`` is not an integer, ``cval`` not a real number, or ``image``
        not an array of a boolean, integer or real floating dtype.

    Notes
    -----
    The result dtype is ``np.result_type(image.dtype, np.float32)``: float32
    for bool, (u)int8/16, float16 and float32 input, float64 for (u)int32/64
    and float64. Sums are taken in float64 around a robust centre of each
    block (the median of a sample of its values), and every window is built
    from its own pixels only, so the variance is free of catastrophic
    cancellation and an outlier or a NaN affects only the windows that
    contain it. numpy in gives numpy out; dask in gives a lazy dask array
    chunked like ``image`` (small chunks are merged so that none is smaller
    than the window radius; for a window wider than twice the image, than
    the radius of the window left after the whole repetitions of the
    extended image are taken out, which is less than the image), and
    nothing is computed when it is built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import window_stats
    >>> mean, var = window_stats(np.ones((4, 5), dtype=np.uint16), 3)
    >>> mean.dtype, float(var.max())
    (dtype('float32'), 0.0)
    """
    mean, variance = _window(image, size, mode, cval, nan_policy, ("mean", "variance"))
    return mean, variance
