"""Windowed statistics: mean, variance and standard deviation over a box window."""

from __future__ import annotations

import functools

import numpy as np

from .._dtypes import float_type, kernel_input
from .._validate import (
    parse_mode,
    parse_nan_policy,
    parse_real,
    parse_spatial_ndim,
    parse_window_size,
    as_image,
)
from ..engine.overlap import apply_overlap, is_dask
from ..kernels.window import box_stats

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


_PARAMS_DOC = """
    Parameters
    ----------
    a : (..., M, N) ndarray or dask array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the window runs over the last two axes and repeats over the others.
    size : int or (int, int)
        Odd window size, or ``(size_y, size_x)``.
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}
        How the image is extended beyond its edge, as in
        ``scipy.ndimage.uniform_filter``.
    cval : float
        The value beyond the edge for ``mode='constant'`` (may be NaN).
    nan_policy : {'propagate', 'omit'}
        ``'propagate'``: a NaN makes exactly the windows that contain it NaN.
        ``'omit'``: statistics over the non-NaN pixels of each window (NaN
        where a window has none), so nodata holes do not grow.
"""

_DTYPE_DOC = """
    The result dtype is ``np.result_type(a.dtype, np.float32)``: float32 for
    (u)int8/16 and float32 input, float64 for (u)int32/64 and float64. Sums
    are taken in float64 around a robust centre of each block (the median of
    a sample of its values), so variance is free of
    catastrophic cancellation. numpy in gives numpy out; dask in gives a
    lazy dask array chunked like ``a`` (small chunks are merged so that none
    is smaller than the window radius).
"""


def window_mean(a, size, *, mode="reflect", cval=0.0, nan_policy="propagate"):
    (out,) = _window(a, size, mode, cval, nan_policy, ("mean",))
    return out


def window_variance(a, size, *, mode="reflect", cval=0.0, nan_policy="propagate"):
    (out,) = _window(a, size, mode, cval, nan_policy, ("variance",))
    return out


def window_std(a, size, *, mode="reflect", cval=0.0, nan_policy="propagate"):
    (out,) = _window(a, size, mode, cval, nan_policy, ("std",))
    return out


def window_stats(a, size, *, mode="reflect", cval=0.0, nan_policy="propagate"):
    mean, variance = _window(a, size, mode, cval, nan_policy, ("mean", "variance"))
    return mean, variance


window_mean.__doc__ = (
    """Mean over a ``size`` x ``size`` window centred on each pixel.

    Equal to ``scipy.ndimage.uniform_filter(a.astype(float64), size=(1, ..., size, size), mode=mode, cval=cval)``.
"""
    + _PARAMS_DOC
    + """
    Returns
    -------
    mean : (..., M, N) array
"""
    + _DTYPE_DOC
    + """
    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import window_mean
    >>> window_mean(np.arange(9.0).reshape(3, 3), 3, mode="nearest")[1, 1]
    4.0
"""
)

window_variance.__doc__ = (
    """Population variance over a ``size`` x ``size`` window centred on each pixel.

    Equal to ``np.var`` of each window of the image extended by ``mode``.
"""
    + _PARAMS_DOC
    + """
    Returns
    -------
    variance : (..., M, N) array
"""
    + _DTYPE_DOC
    + """
    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import window_variance
    >>> float(window_variance(np.float32(10000) + np.eye(3, dtype=np.float32), 3)[1, 1])
    0.2222222238779068
"""
)

window_std.__doc__ = (
    """Population standard deviation over a ``size`` x ``size`` window.

    The square root of :func:`window_variance`.
"""
    + _PARAMS_DOC
    + """
    Returns
    -------
    std : (..., M, N) array
"""
    + _DTYPE_DOC
)

window_stats.__doc__ = (
    """Windowed mean and population variance in one pass over the data.
"""
    + _PARAMS_DOC
    + """
    Returns
    -------
    mean, variance : (..., M, N) arrays
"""
    + _DTYPE_DOC
    + """
    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import window_stats
    >>> mean, var = window_stats(np.ones((4, 5), dtype=np.uint16), 3)
    >>> mean.dtype, float(var.max())
    (dtype('float32'), 0.0)
"""
)
