"""Gradient and Hessian over the last two axes, as numpy.gradient gives them."""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from .._dtypes import float_type, kernel_input
from .._validate import as_image, parse_mode, parse_positive_float, parse_real, parse_spatial_ndim
from ..graph.overlap import apply_overlap
from ..errors import InvalidParameterError
from ..kernels.derivatives import OUTPUTS, compact_block, gradient_block

__all__ = ["gradient", "hessian", "gradient_magnitude", "gradient_and_hessian"]


def _float(parse, value, name):
    """``parse(value, name)``, with a number too large for a float (``10**400``) refused
    under its name rather than as an OverflowError."""
    try:
        return parse(value, name)
    except OverflowError:
        what = (f"an integer of {math.floor(math.log10(abs(value))) + 1} digits"
                if isinstance(value, numbers.Integral) else f"a {type(value).__name__} too large")
        raise InvalidParameterError(
            f"Expected {name} to be a finite number, got {what} instead (beyond the float range)."
        ) from None


def _parse_spacing(spacing) -> tuple[float, float]:
    if isinstance(spacing, np.ndarray) and spacing.ndim == 0:
        spacing = spacing[()]
    if isinstance(spacing, (tuple, list, np.ndarray)):
        values = list(spacing)
        if len(values) != 2:
            raise InvalidParameterError(
                f"Expected spacing to be a number or a pair (spacing_y, spacing_x), got {spacing!r} instead."
            )
    else:
        values = [spacing, spacing]
    return tuple(_float(parse_positive_float, v, "spacing") for v in values)


def _parse_method(method):
    if method not in ("gradient", "compact"):
        raise InvalidParameterError(f"Expected method to be 'gradient' or 'compact', got {method!r} instead.")
    return method


def _per_block(block, ymap, xmap, *, kernel, outputs, out_dtype, **kw):
    block = kernel_input(block)
    lead = block.shape[:-2]
    flat = block.reshape((-1,) + block.shape[-2:])
    results = [kernel(b, ymap, xmap, outputs=outputs, out_dtype=out_dtype, **kw) for b in flat]
    out = np.stack(results, axis=1) if results else np.empty((len(outputs), 0) + (0, 0), out_dtype)
    return out.reshape((len(outputs),) + lead + out.shape[-2:])


def _derivatives(a, spacing, outputs, method="gradient", mode="reflect", cval=0.0):
    """Validate every parameter under the name the caller used, then run one pass."""
    a = as_image(a, "image")
    parse_spatial_ndim(a, "image")
    out_dtype = float_type(a.dtype)
    hy, hx = _parse_spacing(spacing)
    method = _parse_method(method)
    # mode and cval are checked for either method (a typo is an error, not a silent no-op)
    mode = parse_mode(mode, "mode")
    cval = _float(parse_real, cval, "cval")
    if method == "gradient":
        if min(a.shape[-2:]) < 2:
            raise InvalidParameterError(
                f"Expected image to have at least 2 x 2 pixels (numpy.gradient needs two samples along "
                f"each axis), got shape {tuple(a.shape)} instead."
            )
        second = any(o in ("d_yy", "d_yx", "d_xx") for o in outputs)
        r = 2 if second else 1
        kernel = functools.partial(_per_block, kernel=gradient_block, outputs=outputs, out_dtype=out_dtype,
                                   spacing=(hy, hx))
        return apply_overlap(kernel, a, radius=(r, r), mode="constant", n_outputs=len(outputs),
                             dtype=out_dtype, name="derivatives-" + "-".join(outputs),
                             token_parts=("gradient", hy, hx))
    kernel = functools.partial(_per_block, kernel=compact_block, outputs=outputs, out_dtype=out_dtype,
                               spacing=(hy, hx), cval=cval)
    return apply_overlap(kernel, a, radius=(1, 1), mode=mode, n_outputs=len(outputs), dtype=out_dtype,
                         name="compact-" + "-".join(outputs),
                         token_parts=("compact", hy, hx, np.float64(cval).tobytes()))


def gradient(a, spacing=1.0):
    """Gradient ``(d_y, d_x)`` over the last two axes, identical to ``numpy.gradient``.

    Parameters
    ----------
    a : (..., M, N) ndarray or dask array
        At least 2 x 2 pixels.
    spacing : float or (float, float)
        Pixel spacing, or ``(spacing_y, spacing_x)``.

    Returns
    -------
    d_y, d_x : (..., M, N) arrays
        Central differences inside, one-sided at the true image edge (never at
        a chunk edge), as ``np.gradient(a, spacing_y, spacing_x, axis=(-2, -1))``.
        dtype ``np.result_type(a.dtype, np.float32)``, computed in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gradient
    >>> d_y, d_x = gradient(np.array([[0.0, 1.0, 4.0], [2.0, 3.0, 6.0]]))
    >>> d_x.tolist()
    [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    """
    d_y, d_x = _derivatives(a, spacing, ("d_y", "d_x"))
    return d_y, d_x


def gradient_magnitude(a, spacing=1.0):
    """``sqrt(d_y**2 + d_x**2)`` of :func:`gradient`, in one pass."""
    d_y, d_x = gradient(a, spacing)
    if isinstance(d_y, np.ndarray):
        return np.hypot(d_y, d_x)
    import dask.array as da

    return da.hypot(d_y, d_x)


def hessian(a, spacing=1.0, *, method="gradient", mode="reflect", cval=0.0):
    """Hessian ``(d_yy, d_yx, d_xx)`` over the last two axes, in one pass.

    Parameters
    ----------
    a : (..., M, N) ndarray or dask array
    spacing : float or (float, float)
    method : {'gradient', 'compact'}
        ``'gradient'`` (default): ``numpy.gradient`` applied to each gradient
        component, the recipe users compute in memory: ``d_yy =
        np.gradient(d_y, axis=-2)``, ``d_yx = np.gradient(d_y, axis=-1)``,
        ``d_xx = np.gradient(d_x, axis=-1)`` (``mode``/``cval`` unused).
        ``'compact'``: the 3-point second difference ``[1, -2, 1] / h**2`` (more
        accurate: no 2h stencil) for ``d_yy``/``d_xx``, and central differences
        along y then x for ``d_yx``, with ``mode``/``cval`` at the edge, as
        ``scipy.ndimage.correlate1d``: ``d_yx = correlate1d(correlate1d(a, [-1, 0, 1] / (2 hy),
        axis=-2), [-1, 0, 1] / (2 hx), axis=-1)``, each pass extended by ``mode`` (so for
        ``constant`` the intermediate is ``cval`` beyond the edge).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}
        The boundary of ``'compact'``; checked for either method.
    cval : float
        The value beyond the edge for ``mode='constant'`` (may be NaN).

    Returns
    -------
    d_yy, d_yx, d_xx : (..., M, N) arrays of dtype ``np.result_type(a.dtype, np.float32)``
    """
    outputs = ("d_yy", "d_yx", "d_xx")
    return tuple(_derivatives(a, spacing, outputs, method, mode, cval))


def gradient_and_hessian(a, spacing=1.0):
    """``(d_y, d_x, d_yy, d_yx, d_xx)`` in one pass over the input (numpy.gradient rules)."""
    return tuple(_derivatives(a, spacing, OUTPUTS))
