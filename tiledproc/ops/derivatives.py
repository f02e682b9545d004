"""Gradient and Hessian over the last two axes, as numpy.gradient gives them."""

from __future__ import annotations

import functools

import dask.array as da
import numpy as np
import numpy.typing as npt

from .._dtypes import float_type, kernel_input
from .._validate import as_image, parse_mode, parse_positive_float, parse_real, parse_spatial_ndim
from ..graph.overlap import apply_overlap
from ..errors import InvalidParameterError
from ..kernels.derivatives import OUTPUTS, compact_block, gradient_block
from ._deprecate import deprecated_alias, renamed_parameter
from ._nodata import nodata_op

__all__ = ["gradient", "gradient_magnitude", "finite_difference_hessian", "gradient_and_hessian"]

# ``hessian`` (the former name of finite_difference_hessian) is still importable, deprecated.


def _parse_spacing(spacing) -> tuple[float, float]:
    if isinstance(spacing, np.ndarray) and spacing.ndim == 0:
        spacing = spacing[()]
    if isinstance(spacing, (tuple, list, np.ndarray)):
        values = list(spacing)
        if len(values) != 2:
            raise InvalidParameterError(
                f"Expected spacing to be a number or a pair (spacing_y, spacing_x), got {spacing!r} instead.",
                param="spacing",
            )
    else:
        values = [spacing, spacing]
    return tuple(parse_positive_float(v, "spacing") for v in values)


def _parse_method(method):
    if method not in ("gradient", "compact"):
        raise InvalidParameterError(f"Expected method to be 'gradient' or 'compact', got {method!r} instead.", param="method")
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
    cval = parse_real(cval, "cval")
    if method == "gradient":
        if min(a.shape[-2:]) < 2:
            raise InvalidParameterError(
                f"Expected image to have at least 2 x 2 pixels (numpy.gradient needs two samples along "
                f"each axis), got shape {tuple(a.shape)} instead.",
                param="image",
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


@renamed_parameter("a", "image")
@nodata_op("filter")
def gradient(
    image: npt.ArrayLike | da.Array,
    spacing: float | tuple[float, float] = 1.0,
) -> tuple[npt.NDArray[np.floating] | da.Array, npt.NDArray[np.floating] | da.Array]:
    """Gradient ``(d_y, d_x)`` over the last two axes, identical to ``numpy.gradient``.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions,
        at least 2 x 2 pixels (``numpy.gradient`` needs two samples along each
        axis); the derivatives run over the last two axes and repeat over the
        others. A dask array must have known chunk sizes.
    spacing : float or (float, float), optional
        Pixel spacing, the same on both axes, or ``(spacing_y, spacing_x)``;
        finite and positive (default 1.0).

    Returns
    -------
    d_y, d_x : (..., M, N) ndarray or dask.array.Array
        The derivatives along y (rows, axis -2) and x (columns, axis -1), as
        ``np.gradient(image, spacing_y, spacing_x, axis=(-2, -1))``.

    Raises
    ------
    InvalidParameterError
        ``image`` has fewer than two dimensions, fewer than 2 x 2 pixels or
        unknown dask chunk sizes; ``spacing`` is not finite and positive, or
        is a sequence of other than two values.
    InvalidTypeError
        ``image`` is not a real numeric array; ``spacing`` is not a number.

    Notes
    -----
    ``numpy.gradient``'s rule: central differences inside, one-sided at the
    true image edge, never at a chunk edge, so the result does not depend on
    the chunking (a halo of 1 pixel). The result dtype is ``np.result_type(image.dtype, np.float32)`` (float32
    for bool, 8/16-bit and float32 input, float64 for 32/64-bit integers and
    float64), computed in float64. numpy in gives numpy out; dask in gives
    lazy dask arrays chunked like ``image`` (chunks smaller than the halo
    are merged first), and nothing is computed when they are built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.
    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gradient
    >>> d_y, d_x = gradient(np.array([[0.0, 1.0, 4.0], [2.0, 3.0, 6.0]]))
    >>> d_x.tolist()
    [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    >>> d_y.tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """
    d_y, d_x = _derivatives(image, spacing, ("d_y", "d_x"))
    return d_y, d_x


@renamed_parameter("a", "image")
@nodata_op("filter")
def gradient_magnitude(
    image: npt.ArrayLike | da.Array,
    spacing: float | tuple[float, float] = 1.0,
) -> npt.NDArray[np.floating] | da.Array:
    """Magnitude ``sqrt(d_y**2 + d_x**2)`` of :func:`gradient`, in one pass.

    Equal to ``np.hypot(*np.gradient(image, spacing_y, spacing_x, axis=(-2, -1)))``.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions,
        at least 2 x 2 pixels (``numpy.gradient`` needs two samples along each
        axis); the derivatives run over the last two axes and repeat over the
        others. A dask array must have known chunk sizes.
    spacing : float or (float, float), optional
        Pixel spacing, the same on both axes, or ``(spacing_y, spacing_x)``;
        finite and positive (default 1.0).

    Returns
    -------
    magnitude : (..., M, N) ndarray or dask.array.Array
        ``np.hypot(d_y, d_x)`` of the gradient (which does not overflow where
        ``d_y**2`` would).

    Raises
    ------
    InvalidParameterError
        ``image`` has fewer than two dimensions, fewer than 2 x 2 pixels or
        unknown dask chunk sizes; ``spacing`` is not finite and positive, or
        is a sequence of other than two values.
    InvalidTypeError
        ``image`` is not a real numeric array; ``spacing`` is not a number.

    Notes
    -----
    The gradient follows ``numpy.gradient``'s rule (central differences
    inside, one-sided at the true image edge, never at a chunk edge). The result dtype is ``np.result_type(image.dtype, np.float32)`` (float32
    for bool, 8/16-bit and float32 input, float64 for 32/64-bit integers and
    float64), computed in float64. numpy in gives numpy out; dask in gives
    lazy dask arrays chunked like ``image`` (chunks smaller than the halo
    are merged first), and nothing is computed when they are built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.
    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gradient_magnitude
    >>> gradient_magnitude(np.array([[0.0, 3.0], [4.0, 7.0]])).tolist()
    [[5.0, 5.0], [5.0, 5.0]]
    >>> gradient_magnitude(np.array([[0.0, 6.0], [8.0, 14.0]]), spacing=2.0).tolist()
    [[5.0, 5.0], [5.0, 5.0]]
    """
    d_y, d_x = gradient(image, spacing)
    if isinstance(d_y, np.ndarray):
        return np.hypot(d_y, d_x)
    return da.hypot(d_y, d_x)


@renamed_parameter("a", "image")
@nodata_op("filter")
def finite_difference_hessian(
    image: npt.ArrayLike | da.Array,
    spacing: float | tuple[float, float] = 1.0,
    *,
    method: str = "gradient",
    mode: str = "reflect",
    cval: float = 0.0,
) -> tuple[npt.NDArray[np.floating] | da.Array, npt.NDArray[np.floating] | da.Array,
           npt.NDArray[np.floating] | da.Array]:
    """Hessian ``(d_yy, d_yx, d_xx)`` by finite differences over the last two axes, in one pass.

    The second derivatives of the image itself, scaled by ``spacing``, with
    no smoothing. This is neither of scikit-image's Hessians:
    ``skimage.feature.hessian_matrix(image, sigma=...)`` takes the
    derivatives of the image smoothed by a Gaussian of ``sigma`` (in pixels,
    without spacing), and ``skimage.filters.hessian`` is a ridge filter
    (Frangi-type vesselness) that returns one response image, not the
    derivatives. The outputs come in ``hessian_matrix``'s order (``Hrr, Hrc,
    Hcc`` for ``order='rc'``).

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions,
        at least 2 x 2 pixels (``numpy.gradient`` needs two samples along each
        axis); the derivatives run over the last two axes and repeat over the
        others. A dask array must have known chunk sizes.
    spacing : float or (float, float), optional
        Pixel spacing, the same on both axes, or ``(spacing_y, spacing_x)``;
        finite and positive (default 1.0).
    method : {'gradient', 'compact'}, optional
        ``'gradient'`` (default): ``numpy.gradient`` applied to each gradient
        component, the recipe users compute in memory: ``d_yy =
        np.gradient(d_y, axis=-2)``, ``d_yx = np.gradient(d_y, axis=-1)``,
        ``d_xx = np.gradient(d_x, axis=-1)`` (``mode``/``cval`` unused).
        ``'compact'``: the 3-point second difference ``[1, -2, 1] / h**2`` (more
        accurate: no 2h stencil) for ``d_yy``/``d_xx``, and central differences
        along y then x for ``d_yx``, with ``mode``/``cval`` at the edge, as
        ``scipy.ndimage.correlate1d``: ``d_yx = correlate1d(correlate1d(image,
        [-1, 0, 1] / (2 hy), axis=-2), [-1, 0, 1] / (2 hx), axis=-1)``, each pass
        extended by ``mode`` (so for ``constant`` the intermediate is ``cval``
        beyond the edge).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        The boundary of ``'compact'``, with ``scipy.ndimage``'s meaning
        (default ``'reflect'``). Checked for either method: a typo is an
        error, not ignored.
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0.0; may be NaN).

    Returns
    -------
    d_yy, d_yx, d_xx : (..., M, N) ndarray or dask.array.Array
        The second derivatives along y twice, y then x, and x twice.

    Raises
    ------
    InvalidParameterError
        ``image`` has fewer than two dimensions, fewer than 2 x 2 pixels
        (``'gradient'``) or unknown dask chunk sizes; ``spacing`` is not
        finite and positive, or is a sequence of other than two values;
        ``method`` or ``mode`` is not one of the names above; ``cval`` is
        beyond the float range.
    InvalidTypeError
        ``image`` is not a real numeric array; ``spacing`` or ``cval`` is not
        a number.

    Notes
    -----
    With ``method='gradient'`` the halo is 2 pixels and ``numpy.gradient``'s
    one-sided differences apply at the true image edge only; with
    ``'compact'`` the halo is 1 pixel and ``mode`` applies at the true image
    edge only. Either way the result does not depend on the chunking. The result dtype is ``np.result_type(image.dtype, np.float32)`` (float32
    for bool, 8/16-bit and float32 input, float64 for 32/64-bit integers and
    float64), computed in float64. numpy in gives numpy out; dask in gives
    lazy dask arrays chunked like ``image`` (chunks smaller than the halo
    are merged first), and nothing is computed when they are built.

    This function was called ``hessian``, and its first parameter ``a``:
    ``hessian`` and ``a=`` still work (the same arguments and result), with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import finite_difference_hessian
    >>> image = np.array([[0.0, 1.0, 4.0, 9.0, 16.0]] * 3)  # x**2 along each row
    >>> d_yy, d_yx, d_xx = finite_difference_hessian(image)
    >>> d_xx[1].tolist()
    [1.0, 1.5, 2.0, 1.5, 1.0]
    >>> d_xx = finite_difference_hessian(image, method="compact", mode="nearest")[2]
    >>> d_xx[1, 1:-1].tolist()
    [2.0, 2.0, 2.0]
    """
    outputs = ("d_yy", "d_yx", "d_xx")
    d_yy, d_yx, d_xx = _derivatives(image, spacing, outputs, method, mode, cval)
    return d_yy, d_yx, d_xx


#: Deprecated: the former name of :func:`finite_difference_hessian`.
hessian = deprecated_alias(
    finite_difference_hessian, "hessian",
    "finite differences, not skimage.feature.hessian_matrix's Gaussian derivatives nor "
    "skimage.filters.hessian's ridge filter",
)


@renamed_parameter("a", "image")
@nodata_op("filter")
def gradient_and_hessian(
    image: npt.ArrayLike | da.Array,
    spacing: float | tuple[float, float] = 1.0,
) -> tuple[npt.NDArray[np.floating] | da.Array, ...]:
    """Gradient and Hessian ``(d_y, d_x, d_yy, d_yx, d_xx)`` in one pass over the input.

    :func:`gradient` and :func:`finite_difference_hessian` (its default
    ``method='gradient'``) from one read of each chunk: ``d_y, d_x =
    np.gradient(image, spacing_y, spacing_x, axis=(-2, -1))``, then ``d_yy =
    np.gradient(d_y, spacing_y, axis=-2)``, ``d_yx = np.gradient(d_y,
    spacing_x, axis=-1)`` and ``d_xx = np.gradient(d_x, spacing_x, axis=-1)``.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions,
        at least 2 x 2 pixels (``numpy.gradient`` needs two samples along each
        axis); the derivatives run over the last two axes and repeat over the
        others. A dask array must have known chunk sizes.
    spacing : float or (float, float), optional
        Pixel spacing, the same on both axes, or ``(spacing_y, spacing_x)``;
        finite and positive (default 1.0).

    Returns
    -------
    d_y, d_x, d_yy, d_yx, d_xx : (..., M, N) ndarray or dask.array.Array
        The first derivatives along y and x, then the second derivatives
        along y twice, y then x, and x twice.

    Raises
    ------
    InvalidParameterError
        ``image`` has fewer than two dimensions, fewer than 2 x 2 pixels or
        unknown dask chunk sizes; ``spacing`` is not finite and positive, or
        is a sequence of other than two values.
    InvalidTypeError
        ``image`` is not a real numeric array; ``spacing`` is not a number.

    Notes
    -----
    ``numpy.gradient``'s rule at every step: central differences inside,
    one-sided at the true image edge, never at a chunk edge (a halo of 2
    pixels). The result dtype is ``np.result_type(image.dtype, np.float32)`` (float32
    for bool, 8/16-bit and float32 input, float64 for 32/64-bit integers and
    float64), computed in float64. numpy in gives numpy out; dask in gives
    lazy dask arrays chunked like ``image`` (chunks smaller than the halo
    are merged first), and nothing is computed when they are built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.
    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gradient_and_hessian
    >>> image = np.array([[0.0, 1.0, 4.0], [0.0, 1.0, 4.0]])
    >>> d_y, d_x, d_yy, d_yx, d_xx = gradient_and_hessian(image)
    >>> d_x.tolist(), d_xx.tolist()
    ([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    >>> float(abs(d_y).max() + abs(d_yy).max() + abs(d_yx).max())
    0.0
    """
    return tuple(_derivatives(image, spacing, OUTPUTS))
