"""Gabor kernels and filtering, identical to skimage.filters.gabor_kernel / gabor."""

from __future__ import annotations

import functools
import itertools
import math
import numbers
from collections.abc import Iterable

import dask.array as da
import numpy as np
import numpy.typing as npt

from .._dtypes import float_type, kernel_input
from .._validate import (
    as_image,
    parse_mode,
    parse_positive_float,
    parse_real,
    parse_spatial_ndim,
    parse_window_size,
)
from ..graph.overlap import apply_overlap, is_dask
from ..errors import InvalidParameterError, InvalidTypeError
from ..kernels.gabor import gabor_block_fft, gabor_block_separable, separable_factors
from ._deprecate import renamed_parameter
from .window import window_stats
from ._nodata import nodata_op

__all__ = ["gabor_kernel", "gabor", "gabor_magnitude", "gabor_bank", "gabor_texture", "GaborParams",
           "MAX_HALF_SIZE", "MAX_KERNEL_PIXELS", "MAX_FILTERS"]

#: A Gabor kernel may reach at most this many pixels from its centre on each axis
#: (the halo every block gets, and the length of the separable passes) ...
MAX_HALF_SIZE = 4096
#: ... and hold at most this many pixels: 256 MiB as complex128 (a 4095 x 4095 kernel),
#: the most an FFT block or ``gabor_kernel`` allocates for it.
MAX_KERNEL_PIXELS = 2**24
#: A bank holds at most this many filters (``len(frequencies) * len(thetas)``).
MAX_FILTERS = 4096

_NAMES = ("frequency", "theta", "bandwidth", "sigma_x", "sigma_y", "n_stds", "offset")


def _sigma_prefactor(bandwidth: float) -> float:
    """skimage's ``sigma * frequency`` for a bandwidth, in skimage's order of operations.

    From ``b = 54`` on ``(2**b + 1) / (2**b - 1)`` rounds to 1, so the wide bandwidths
    where ``2.0**b`` would overflow give the same value; a bandwidth so small that
    ``2**b - 1`` is 0 gives an infinite sigma (refused as a kernel too large).
    """
    b = bandwidth
    if b >= 1024:
        return 1.0 / np.pi * math.sqrt(math.log(2) / 2.0)
    if 2.0**b - 1 == 0:
        return math.inf
    return 1.0 / np.pi * math.sqrt(math.log(2) / 2.0) * (2.0**b + 1) / (2.0**b - 1)


def _side(extent: float) -> str:
    """``2 ceil(extent) + 1``, the kernel's side, printable however large."""
    if not math.isfinite(extent):
        return "infinitely many"
    return str(2 * math.ceil(extent) + 1) if extent < 1e15 else f"{2 * extent + 1:.3g}"


class GaborParams:
    """Validated parameters of one Gabor kernel, with its geometry.

    ``names`` maps a parameter to the name the caller wrote (``gabor_bank``'s
    ``frequencies[2]``), for the error messages. The kernel's size is checked
    against :data:`MAX_HALF_SIZE` and :data:`MAX_KERNEL_PIXELS` here, before
    anything is allocated.
    """

    def __init__(self, frequency, theta=0, bandwidth=1, sigma_x=None, sigma_y=None, n_stds=3, offset=0, *,
                 names=None):
        nm = dict(zip(_NAMES, _NAMES))
        nm.update(names or {})
        self._names = nm
        self.frequency = parse_positive_float(frequency, nm["frequency"])
        self.theta = parse_real(theta, nm["theta"])
        self.bandwidth = parse_positive_float(bandwidth, nm["bandwidth"])
        self.given = {"sigma_x": sigma_x is not None, "sigma_y": sigma_y is not None}
        self.sigma_x = (_sigma_prefactor(self.bandwidth) / self.frequency if sigma_x is None
                        else parse_positive_float(sigma_x, nm["sigma_x"]))
        self.sigma_y = (_sigma_prefactor(self.bandwidth) / self.frequency if sigma_y is None
                        else parse_positive_float(sigma_y, nm["sigma_y"]))
        self.n_stds = parse_positive_float(n_stds, nm["n_stds"])
        self.offset = parse_real(offset, nm["offset"])
        for name in ("theta", "offset"):
            if not math.isfinite(getattr(self, name)):
                raise InvalidParameterError(
                    f"Expected {nm[name]} to be finite, got {getattr(self, name)!r} instead.", param=nm[name])
        ct, st = math.cos(self.theta), math.sin(self.theta)
        sx, sy, n = self.sigma_x, self.sigma_y, self.n_stds
        # the extents as skimage.filters.gabor_kernel computes them, in floats first: a product
        # may be infinite (0 * inf, for an infinite sigma on an axis it does not reach, counts 0)
        terms = {("x", "sigma_x"): abs(n * sx * ct), ("x", "sigma_y"): abs(n * sy * st),
                 ("y", "sigma_y"): abs(n * sy * ct), ("y", "sigma_x"): abs(n * sx * st)}
        terms = {k: (v if v == v else 0.0) for k, v in terms.items()}
        ex = max(terms["x", "sigma_x"], terms["x", "sigma_y"], 1)
        ey = max(terms["y", "sigma_y"], terms["y", "sigma_x"], 1)
        if not (ex <= MAX_HALF_SIZE and ey <= MAX_HALF_SIZE) or \
                (2 * math.ceil(ey) + 1) * (2 * math.ceil(ex) + 1) > MAX_KERNEL_PIXELS:
            raise self._too_large(ey, ex, max(terms, key=terms.get)[1])
        self.x0 = math.ceil(ex)
        self.y0 = math.ceil(ey)

    def _too_large(self, ey: float, ex: float, sigma: str) -> InvalidParameterError:
        """The error for a kernel beyond the limits, naming what set its size (``sigma``)."""
        nm = self._names
        value = getattr(self, sigma)
        if self.given[sigma]:
            source = f"{nm[sigma]}={value:g}"
            fix = f"lower {nm[sigma]} or {nm['n_stds']}"
        else:
            source = (f"{sigma}={value:.4g} (from {nm['frequency']}={self.frequency:g} and "
                      f"{nm['bandwidth']}={self.bandwidth:g})")
            fix = (f"raise {nm['frequency']} or {nm['bandwidth']}, give a smaller {nm[sigma]}, "
                   f"or lower {nm['n_stds']}")
        size = f"{_side(ey)} x {_side(ex)} pixels"
        if ex <= MAX_HALF_SIZE and ey <= MAX_HALF_SIZE:
            size += f" ({(2 * math.ceil(ey) + 1) * (2 * math.ceil(ex) + 1)} in all)"
        return InvalidParameterError(
            f"Expected a Gabor kernel of at most {2 * MAX_HALF_SIZE + 1} pixels per side and "
            f"{MAX_KERNEL_PIXELS} pixels in all ({MAX_KERNEL_PIXELS * 16 // 2**20} MiB as complex128), "
            f"got {nm['n_stds']}={self.n_stds:g} standard deviations of {source}: a kernel of {size}. "
            f"To stay within the limit, {fix}."
        )

    @property
    def radius(self) -> tuple[int, int]:
        return self.y0, self.x0

    def kernel(self) -> np.ndarray:
        """The complex kernel, computed exactly as skimage.filters.gabor_kernel does.

        The same elementwise operations, a strip of rows at a time, so that the
        temporaries stay small beside the kernel itself.
        """
        ct, st = math.cos(self.theta), math.sin(self.theta)
        y, x = np.meshgrid(np.arange(-self.y0, self.y0 + 1), np.arange(-self.x0, self.x0 + 1),
                           indexing="ij", sparse=True)
        g = np.empty((y.shape[0], x.shape[1]), dtype=np.complex128)
        step = max(1, 2**18 // x.shape[1])
        for r in range(0, g.shape[0], step):
            ys = y[r:r + step]
            rotx = x * ct + ys * st
            roty = -x * st + ys * ct
            np.exp(-0.5 * (rotx**2 / self.sigma_x**2 + roty**2 / self.sigma_y**2)
                   + 1j * (2 * np.pi * self.frequency * rotx + self.offset), out=g[r:r + step])
        g *= 1 / (2 * np.pi * self.sigma_x * self.sigma_y)
        return g

    def factors(self):
        return separable_factors(self.frequency, self.theta, self.sigma_x, self.sigma_y, self.offset,
                                 self.x0, self.y0)

    def token(self) -> tuple:
        return (self.frequency, self.theta, self.sigma_x, self.sigma_y, self.n_stds, self.offset)


def gabor_kernel(
    frequency: float,
    theta: float = 0,
    bandwidth: float = 1,
    sigma_x: float | None = None,
    sigma_y: float | None = None,
    n_stds: float = 3,
    offset: float = 0,
) -> npt.NDArray[np.complex128]:
    """Complex 2-D Gabor kernel, identical to ``skimage.filters.gabor_kernel`` (complex128).

    A Gaussian envelope times a complex harmonic, normalised by ``1 / (2 pi
    sigma_x sigma_y)``, with the same geometry, orientation and order of
    operations as scikit-image.

    Parameters
    ----------
    frequency : float
        Spatial frequency of the harmonic, in cycles per pixel (> 0).
    theta : float, optional
        Orientation in radians (default 0: the harmonic along x).
    bandwidth : float, optional
        Sets ``sigma_x`` and ``sigma_y`` when they are not given (default 1).
    sigma_x, sigma_y : float, optional
        Standard deviations of the Gaussian envelope before rotation, in
        pixels; by default from ``frequency`` and ``bandwidth``.
    n_stds : float, optional
        The kernel extends ``n_stds`` standard deviations (default 3).
    offset : float, optional
        Phase offset of the harmonic in radians (default 0).

    Returns
    -------
    kernel : (2 y0 + 1, 2 x0 + 1) complex128 ndarray
        ``y0`` and ``x0`` are the kernel's half-sizes: ``n_stds`` standard
        deviations of the rotated envelope along each axis, rounded up (at
        least 1).

    Raises
    ------
    InvalidParameterError
        ``frequency``, ``bandwidth``, ``sigma_x``, ``sigma_y`` or ``n_stds``
        not finite and positive, ``theta`` or ``offset`` not finite, or a
        kernel larger than the limits (see Notes). The message names the
        parameter.
    InvalidTypeError
        A parameter that is not a number.

    Notes
    -----
    The kernel may reach at most ``MAX_HALF_SIZE`` = 4096 pixels from its
    centre on each axis and hold at most ``MAX_KERNEL_PIXELS`` = 2**24 pixels
    (256 MiB as complex128, e.g. 4095 x 4095). A larger kernel (a tiny
    ``frequency``, a huge ``sigma_x``/``sigma_y`` or ``n_stds``) is refused with
    an InvalidParameterError that names the parameter, the kernel size and the
    limit, before anything is allocated (scikit-image allocates any size); the limits bound every block's halo
    and the kernel's scratch memory.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gabor_kernel
    >>> kernel = gabor_kernel(0.15, theta=np.pi / 2, sigma_x=5, sigma_y=5)
    >>> kernel.shape, kernel.dtype
    ((31, 31), dtype('complex128'))
    >>> float(kernel[15, 15].real) == 1 / (2 * np.pi * 5 * 5)
    True
    """
    return GaborParams(frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset).kernel()


def _gabor_kernel_block(block, ymap, xmap, *, filters, outputs, cval, out_dtype):
    """All filters of a bank (or one) on one block: (n_filters * n_outputs, ..., H, W)."""
    block = kernel_input(block)
    lead = block.shape[:-2]
    flat = block.reshape((-1,) + block.shape[-2:])
    ry = max(p.y0 for p, _ in filters)
    rx = max(p.x0 for p, _ in filters)
    H, W = ymap.shape[0] - 2 * ry, xmap.shape[0] - 2 * rx
    out = np.empty((len(filters) * len(outputs), flat.shape[0], H, W), dtype=out_dtype)
    for f, (p, factors) in enumerate(filters):
        # this filter's own (smaller or equal) halo: trim the maps
        ym = ymap[ry - p.y0:ymap.shape[0] - (ry - p.y0)]
        xm = xmap[rx - p.x0:xmap.shape[0] - (rx - p.x0)]
        kernel = p.kernel() if factors is None else None  # once per block, not once per band
        for b, img in enumerate(flat):
            if factors is not None:
                res = gabor_block_separable(img, ym, xm, factors, cval, outputs, out_dtype)
            else:
                res = gabor_block_fft(img, ym, xm, kernel, cval, outputs, out_dtype)
            out[f * len(outputs):(f + 1) * len(outputs), b] = res
        del kernel
    return out.reshape((out.shape[0],) + lead + (H, W))


def _run_filters(a, params: list[GaborParams], outputs, mode, cval, name):
    a = as_image(a, "image")
    parse_spatial_ndim(a, "image")
    out_dtype = float_type(a.dtype)
    mode = parse_mode(mode, "mode")
    cval = parse_real(cval, "cval")
    filters = [(p, p.factors()) for p in params]
    ry = max(p.y0 for p in params)
    rx = max(p.x0 for p in params)
    kernel = functools.partial(_gabor_kernel_block, filters=filters, outputs=outputs, cval=cval,
                               out_dtype=out_dtype)
    return apply_overlap(kernel, a, radius=(ry, rx), mode=mode, n_outputs=len(filters) * len(outputs),
                         dtype=out_dtype, name=name,
                         token_parts=(tuple(p.token() for p in params), outputs, np.float64(cval).tobytes()))


@renamed_parameter("a", "image")
@nodata_op("gabor")
def gabor(
    image: npt.ArrayLike | da.Array,
    frequency: float,
    theta: float = 0,
    bandwidth: float = 1,
    sigma_x: float | None = None,
    sigma_y: float | None = None,
    n_stds: float = 3,
    offset: float = 0,
    *,
    mode: str = "reflect",
    cval: float = 0,
) -> tuple[npt.NDArray[np.floating] | da.Array, npt.NDArray[np.floating] | da.Array]:
    """Real and imaginary responses to a Gabor filter, as ``skimage.filters.gabor``.

    ``skimage.filters.gabor(band, frequency, ...)`` applied to every 2-D slice
    over the last two axes: ``scipy.ndimage.convolve`` of the image with the
    real and the imaginary parts of :func:`gabor_kernel` (same kernel, same
    orientation, same ``mode``/``cval``), for any chunking.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the filter runs over the last two axes and repeats over the others.
        A dask array must have known chunk sizes.
    frequency : float
        Spatial frequency of the harmonic, in cycles per pixel (> 0).
    theta : float, optional
        Orientation in radians (default 0: the harmonic along x).
    bandwidth : float, optional
        Sets ``sigma_x`` and ``sigma_y`` when they are not given (default 1).
    sigma_x, sigma_y : float, optional
        Standard deviations of the Gaussian envelope before rotation, in
        pixels; by default from ``frequency`` and ``bandwidth``.
    n_stds : float, optional
        The kernel extends ``n_stds`` standard deviations (default 3).
    offset : float, optional
        Phase offset of the harmonic in radians (default 0).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the image is extended beyond its edge, as in
        ``scipy.ndimage.convolve`` (default ``'reflect'``).
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0; may be NaN).

    Returns
    -------
    real, imag : (..., M, N) ndarray or dask.array.Array
        The responses to the real and to the imaginary part of the kernel.

    Raises
    ------
    InvalidParameterError
        A parameter out of its range (``frequency``, ``bandwidth``,
        ``sigma_x``, ``sigma_y`` or ``n_stds`` not finite and positive,
        ``theta`` or ``offset`` not finite, an unknown ``mode``), a kernel
        larger than the limits (see Notes), or ``image`` with fewer than two
        dimensions or unknown dask chunk sizes. The message names the
        parameter.
    InvalidTypeError
        A parameter that is not a number, or ``image`` not an array of a
        boolean, integer or real floating dtype.

    See Also
    --------
    gabor_magnitude : ``np.hypot(real, imag)`` in the same pass.
    gabor_bank : many filters from one read of the input.
    gabor_texture : the windowed mean and variance of a response.

    Notes
    -----
    Isotropic (``sigma_x == sigma_y``) and axis-aligned kernels are applied
    as two exact complex 1-D passes; other kernels by FFT over each block
    (agreement with direct convolution to ~1e-12 of the response scale, see
    docs/benchmarks.md). The halo is the kernel half-size ``(y0, x0)``, which
    depends on ``theta``. Where ``scipy.ndimage.convolve``'s ``reflect`` is
    itself wrong (a kernel radius of 4 or more image lengths), the documented
    reflect rule is followed, as ``scipy.ndimage.correlate1d`` does.

    The kernel may reach at most ``MAX_HALF_SIZE`` = 4096 pixels from its
    centre on each axis and hold at most ``MAX_KERNEL_PIXELS`` = 2**24 pixels
    (256 MiB as complex128, e.g. 4095 x 4095). A larger kernel (a tiny
    ``frequency``, a huge ``sigma_x``/``sigma_y`` or ``n_stds``) is refused with
    an InvalidParameterError that names the parameter, the kernel size and the
    limit, before anything is allocated; the limits bound every block's halo
    and the kernel's scratch memory.

    The result dtype is ``np.result_type(image.dtype, np.float32)`` (float32
    for bool, 8/16-bit and float32 input, float64 for 32/64-bit integers and
    float64): unlike scikit-image, integer input is not written back into its
    integer dtype. numpy in gives numpy out; dask in gives lazy dask arrays
    chunked like ``image`` (chunks smaller than the halo are merged first),
    and nothing is computed when they are built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gabor, gabor_kernel
    >>> image = np.zeros((9, 9))
    >>> image[4, 4] = 1.0  # an impulse: the response is the kernel around it
    >>> real, imag = gabor(image, 0.25, sigma_x=1, sigma_y=1, mode="constant")
    >>> kernel = gabor_kernel(0.25, sigma_x=1, sigma_y=1)
    >>> kernel.shape
    (7, 7)
    >>> bool(np.allclose(real[1:8, 1:8] + 1j * imag[1:8, 1:8], kernel, rtol=0, atol=1e-15))
    True
    >>> gabor(np.ones((2, 6, 6), dtype=np.uint8), 0.25)[0].dtype
    dtype('float32')
    """
    p = GaborParams(frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset)
    real, imag = _run_filters(image, [p], ("real", "imag"), mode, cval, "gabor")
    return real, imag


@renamed_parameter("a", "image")
@nodata_op("gabor_magnitude")
def gabor_magnitude(
    image: npt.ArrayLike | da.Array,
    frequency: float,
    theta: float = 0,
    bandwidth: float = 1,
    sigma_x: float | None = None,
    sigma_y: float | None = None,
    n_stds: float = 3,
    offset: float = 0,
    *,
    mode: str = "reflect",
    cval: float = 0,
) -> npt.NDArray[np.floating] | da.Array:
    """Magnitude ``sqrt(real**2 + imag**2)`` of :func:`gabor`, computed in the same pass.

    Equal to ``np.hypot(*skimage.filters.gabor(band, frequency, ...))`` for
    every 2-D slice over the last two axes; the real and imaginary
    responses are not stored.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the filter runs over the last two axes and repeats over the others.
        A dask array must have known chunk sizes.
    frequency : float
        Spatial frequency of the harmonic, in cycles per pixel (> 0).
    theta : float, optional
        Orientation in radians (default 0: the harmonic along x).
    bandwidth : float, optional
        Sets ``sigma_x`` and ``sigma_y`` when they are not given (default 1).
    sigma_x, sigma_y : float, optional
        Standard deviations of the Gaussian envelope before rotation, in
        pixels; by default from ``frequency`` and ``bandwidth``.
    n_stds : float, optional
        The kernel extends ``n_stds`` standard deviations (default 3).
    offset : float, optional
        Phase offset of the harmonic in radians (default 0).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the image is extended beyond its edge, as in
        ``scipy.ndimage.convolve`` (default ``'reflect'``).
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0; may be NaN).

    Returns
    -------
    magnitude : (..., M, N) ndarray or dask.array.Array
        The modulus of the complex response.

    Raises
    ------
    InvalidParameterError
        A parameter out of its range (``frequency``, ``bandwidth``,
        ``sigma_x``, ``sigma_y`` or ``n_stds`` not finite and positive,
        ``theta`` or ``offset`` not finite, an unknown ``mode``), a kernel
        larger than the limits (see Notes), or ``image`` with fewer than two
        dimensions or unknown dask chunk sizes. The message names the
        parameter.
    InvalidTypeError
        A parameter that is not a number, or ``image`` not an array of a
        boolean, integer or real floating dtype.

    Notes
    -----
    The same kernel, boundary and methods as :func:`gabor`. The kernel may reach at most ``MAX_HALF_SIZE`` = 4096 pixels from its
    centre on each axis and hold at most ``MAX_KERNEL_PIXELS`` = 2**24 pixels
    (256 MiB as complex128, e.g. 4095 x 4095). A larger kernel (a tiny
    ``frequency``, a huge ``sigma_x``/``sigma_y`` or ``n_stds``) is refused with
    an InvalidParameterError that names the parameter, the kernel size and the
    limit, before anything is allocated; the limits bound every block's halo
    and the kernel's scratch memory.

    The result dtype is ``np.result_type(image.dtype, np.float32)`` (float32
    for bool, 8/16-bit and float32 input, float64 for 32/64-bit integers and
    float64): unlike scikit-image, integer input is not written back into its
    integer dtype. numpy in gives numpy out; dask in gives lazy dask arrays
    chunked like ``image`` (chunks smaller than the halo are merged first),
    and nothing is computed when they are built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gabor, gabor_magnitude
    >>> image = np.arange(64, dtype=np.uint8).reshape(8, 8)
    >>> magnitude = gabor_magnitude(image, 0.25, sigma_x=2, sigma_y=2)
    >>> real, imag = gabor(image, 0.25, sigma_x=2, sigma_y=2)
    >>> magnitude.dtype, bool(np.allclose(magnitude, np.hypot(real, imag)))
    (dtype('float32'), True)
    """
    p = GaborParams(frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset)
    (mag,) = _run_filters(image, [p], ("magnitude",), mode, cval, "gabor-magnitude")
    return mag


def _parse_part(part, name, allowed):
    if not isinstance(part, str) or part not in allowed:
        choices = ", ".join(repr(c) for c in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise InvalidParameterError(f"Expected {name} to be {choices}, got {part!r} instead.", param=name)
    return part


def _parse_list(values, name):
    """A number or a 1-D sequence of at most :data:`MAX_FILTERS` numbers, as a list
    (counted before it is materialised: ``range(10**12)`` is refused, not listed)."""
    if isinstance(values, np.ndarray):
        if values.ndim > 1:
            raise InvalidParameterError(
                f"Expected {name} to be a number or a list of numbers, got an array of shape "
                f"{values.shape} instead.", param=name)
        values = values.reshape(-1)
    elif isinstance(values, (str, bytes)) or np.isscalar(values) or isinstance(values, numbers.Number):
        values = [values]
    try:
        it = iter(values)
    except TypeError:
        raise InvalidTypeError(
            f"Expected {name} to be a number or a list of numbers, got {type(values).__name__} instead.",
            param=name,
        ) from None
    try:
        n = len(values) if hasattr(values, "__len__") else None
    except OverflowError:  # range(10**30)
        n = None
    out = list(itertools.islice(it, MAX_FILTERS + 1)) if n is None or n <= MAX_FILTERS else None
    if out is None or len(out) > MAX_FILTERS:
        count = f"{n}" if n is not None else f"more than {MAX_FILTERS}"
        raise InvalidParameterError(
            f"Expected {name} to hold at most {MAX_FILTERS} values, got {count} instead.", param=name)
    if not out:
        raise InvalidParameterError(f"Expected {name} to be a non-empty list of numbers, got {values!r} instead.", param=name)
    return out


@renamed_parameter("a", "image")
@nodata_op("gabor_bank")
def gabor_bank(
    image: npt.ArrayLike | da.Array,
    frequencies: float | Iterable[float],
    thetas: float | Iterable[float],
    bandwidth: float = 1,
    sigma_x: float | None = None,
    sigma_y: float | None = None,
    n_stds: float = 3,
    offset: float = 0,
    *,
    mode: str = "reflect",
    cval: float = 0,
    part: str = "magnitude",
) -> npt.NDArray[np.floating] | da.Array:
    """A bank of Gabor responses as one array with a leading filter axis.

    Filter ``k`` is frequency ``frequencies[k // len(thetas)]`` at orientation
    ``thetas[k % len(thetas)]``, so ``bank[k]`` equals
    ``gabor_magnitude(image, frequencies[k // len(thetas)], thetas[k %
    len(thetas)], ...)`` (or the ``real`` or ``imag`` part of :func:`gabor`).
    Every filter runs on a block while it is in memory, so each input chunk
    is read once for the whole bank.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the filter runs over the last two axes and repeats over the others.
        A dask array must have known chunk sizes.
    frequencies : float or iterable of float
        Spatial frequencies of the harmonics, in cycles per pixel (> 0).
    thetas : float or iterable of float
        Orientations in radians. At most ``MAX_FILTERS`` = 4096 filters in
        all (``len(frequencies) * len(thetas)``).
    bandwidth : float, optional
        Sets ``sigma_x`` and ``sigma_y`` of every filter when they are not
        given (default 1).
    sigma_x, sigma_y : float, optional
        Standard deviations of the Gaussian envelope before rotation, in
        pixels, the same for every filter; by default from each frequency and
        ``bandwidth``.
    n_stds : float, optional
        Each kernel extends ``n_stds`` standard deviations (default 3).
    offset : float, optional
        Phase offset of the harmonics in radians (default 0).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the image is extended beyond its edge, as in
        ``scipy.ndimage.convolve`` (default ``'reflect'``).
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0; may be NaN).
    part : {'magnitude', 'real', 'imag'}, optional
        Which response each filter gives (default ``'magnitude'``).

    Returns
    -------
    bank : (len(frequencies) * len(thetas), ..., M, N) ndarray or dask.array.Array
        One response per filter, frequencies outermost.

    Raises
    ------
    InvalidParameterError
        A parameter out of its range (a frequency, ``bandwidth``, ``sigma_x``,
        ``sigma_y`` or ``n_stds`` not finite and positive, an orientation or
        ``offset`` not finite, an unknown ``mode`` or ``part``), an empty
        ``frequencies`` or ``thetas``, more than ``MAX_FILTERS`` filters, a
        kernel larger than the limits (see Notes), or ``image`` with fewer
        than two dimensions or unknown dask chunk sizes. An error about one
        filter names it as ``frequencies[i]`` or ``thetas[j]``.
    InvalidTypeError
        A parameter that is not a number (or a list of numbers), or ``image``
        not an array of a boolean, integer or real floating dtype.

    Notes
    -----
    Every kernel has the size limits of :func:`gabor`: at most 4096 pixels
    from its centre on each axis and 2**24 pixels in all, checked for every
    filter before any work. The halo is the largest kernel's.

    The result dtype is ``np.result_type(image.dtype, np.float32)`` (float32
    for bool, 8/16-bit and float32 input, float64 for 32/64-bit integers and
    float64): unlike scikit-image, integer input is not written back into its
    integer dtype. numpy in gives numpy out; dask in gives lazy dask arrays
    chunked like ``image`` (chunks smaller than the halo are merged first),
    and nothing is computed when they are built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gabor_bank, gabor_magnitude
    >>> image = np.arange(2 * 16 * 16, dtype=np.uint8).reshape(2, 16, 16)
    >>> thetas = [0, np.pi / 4, np.pi / 2]
    >>> bank = gabor_bank(image, [0.1, 0.25], thetas, sigma_x=2, sigma_y=2)
    >>> bank.shape, bank.dtype
    ((6, 2, 16, 16), dtype('float32'))
    >>> bool(np.array_equal(bank[4], gabor_magnitude(image, 0.25, thetas[1], sigma_x=2, sigma_y=2)))
    True
    """
    part = _parse_part(part, "part", ("magnitude", "real", "imag"))
    freqs = _parse_list(frequencies, "frequencies")
    angles = _parse_list(thetas, "thetas")
    if len(freqs) * len(angles) > MAX_FILTERS:
        raise InvalidParameterError(
            f"Expected at most {MAX_FILTERS} filters (len(frequencies) * len(thetas)), got "
            f"{len(freqs)} x {len(angles)} = {len(freqs) * len(angles)} instead.", param="frequencies")
    params = [GaborParams(f, t, bandwidth, sigma_x, sigma_y, n_stds, offset,
                          names={"frequency": f"frequencies[{i}]", "theta": f"thetas[{j}]"})
              for i, f in enumerate(freqs) for j, t in enumerate(angles)]
    responses = _run_filters(image, params, (part,), mode, cval, f"gabor-bank-{part}")
    if is_dask(responses[0]):
        return da.stack(responses)
    return np.stack(responses)


@renamed_parameter("a", "image")
@nodata_op("gabor_texture")
def gabor_texture(
    image: npt.ArrayLike | da.Array,
    frequency: float,
    theta: float = 0,
    bandwidth: float = 1,
    sigma_x: float | None = None,
    sigma_y: float | None = None,
    n_stds: float = 3,
    offset: float = 0,
    *,
    mode: str = "reflect",
    cval: float = 0,
    size: int | tuple[int, int] = 15,
    part: str = "real",
    window_mode: str = "reflect",
) -> tuple[npt.NDArray[np.floating] | da.Array, npt.NDArray[np.floating] | da.Array]:
    """Windowed mean and variance of a Gabor response (texture features).

    ``window_stats(gabor(image, ...)[part], size, mode=window_mode)`` without
    storing the response: for dask input both outputs are one lazy graph.

    Parameters
    ----------
    image : (..., M, N) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, two or more dimensions;
        the filter runs over the last two axes and repeats over the others.
        A dask array must have known chunk sizes.
    frequency : float
        Spatial frequency of the harmonic, in cycles per pixel (> 0).
    theta : float, optional
        Orientation in radians (default 0: the harmonic along x).
    bandwidth : float, optional
        Sets ``sigma_x`` and ``sigma_y`` when they are not given (default 1).
    sigma_x, sigma_y : float, optional
        Standard deviations of the Gaussian envelope before rotation, in
        pixels; by default from ``frequency`` and ``bandwidth``.
    n_stds : float, optional
        The kernel extends ``n_stds`` standard deviations (default 3).
    offset : float, optional
        Phase offset of the harmonic in radians (default 0).
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the image is extended beyond its edge for the filter, as in
        ``scipy.ndimage.convolve`` (default ``'reflect'``).
    cval : float, optional
        The value beyond the edge for ``mode='constant'`` (default 0; may be NaN).
    size : int or (int, int), optional
        Odd window size, or ``(size_y, size_x)``, of the statistics (default
        15), as in :func:`window_stats`.
    part : {'real', 'imag', 'magnitude'}, optional
        The response whose statistics are taken (default ``'real'``).
    window_mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap'}, optional
        How the response is extended beyond its edge for the window
        (default ``'reflect'``; the window's ``cval`` is 0).

    Returns
    -------
    mean, variance : (..., M, N) ndarray or dask.array.Array
        The windowed mean and population variance of the response.

    Raises
    ------
    InvalidParameterError
        A parameter out of its range (``frequency``, ``bandwidth``,
        ``sigma_x``, ``sigma_y`` or ``n_stds`` not finite and positive,
        ``theta`` or ``offset`` not finite, ``size`` not odd and positive, an
        unknown ``mode``, ``window_mode`` or ``part``), a kernel larger than the
        limits (see Notes), or ``image`` with fewer than two dimensions or
        unknown dask chunk sizes. Every parameter is checked under its own
        name (``window_mode``, not ``mode``) before the response is computed.
    InvalidTypeError
        A parameter that is not a number (``size`` not an integer), or
        ``image`` not an array of a boolean, integer or real floating dtype.

    Notes
    -----
    The kernel has the size limits of :func:`gabor` (at most 4096 pixels
    from its centre on each axis, 2**24 pixels in all).

    The result dtype is ``np.result_type(image.dtype, np.float32)`` (float32
    for bool, 8/16-bit and float32 input, float64 for 32/64-bit integers and
    float64): unlike scikit-image, integer input is not written back into its
    integer dtype. numpy in gives numpy out; dask in gives lazy dask arrays
    chunked like ``image`` (chunks smaller than the halo are merged first),
    and nothing is computed when they are built.

    The first parameter was called ``a``: ``a=`` still works, with a
    DeprecationWarning.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import gabor, gabor_texture, window_stats
    >>> image = np.arange(2 * 16 * 16, dtype=np.uint8).reshape(2, 16, 16)
    >>> mean, variance = gabor_texture(image, 0.25, sigma_x=2, sigma_y=2, size=5)
    >>> mean.shape
    (2, 16, 16)
    >>> real, imag = gabor(image, 0.25, sigma_x=2, sigma_y=2)
    >>> bool(np.array_equal(variance, window_stats(real, 5)[1]))
    True
    """
    part = _parse_part(part, "part", ("real", "imag", "magnitude"))
    size = parse_window_size(size, "size")
    window_mode = parse_mode(window_mode, "window_mode")
    GaborParams(frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset)  # before any work
    if part == "magnitude":
        response = gabor_magnitude(image, frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset,
                                   mode=mode, cval=cval)
    else:
        real, imag = gabor(image, frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset, mode=mode,
                           cval=cval)
        response = real if part == "real" else imag
    return window_stats(response, size, mode=window_mode)
