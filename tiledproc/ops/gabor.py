"""Gabor kernels and filtering, identical to skimage.filters.gabor_kernel / gabor."""

from __future__ import annotations

import functools
import math

import numpy as np

from .._dtypes import float_type, kernel_input
from .._validate import parse_mode, parse_positive_float, parse_real, parse_spatial_ndim
from ..engine.overlap import apply_overlap, is_dask
from ..errors import InvalidParameterError
from ..kernels.gabor import gabor_block_fft, gabor_block_separable, separable_factors
from .window import _as_array, window_stats

__all__ = ["gabor_kernel", "gabor", "gabor_magnitude", "gabor_bank", "gabor_texture", "GaborParams"]


def _sigma_prefactor(bandwidth: float) -> float:
    b = bandwidth
    return 1.0 / np.pi * math.sqrt(math.log(2) / 2.0) * (2.0**b + 1) / (2.0**b - 1)


class GaborParams:
    """Validated parameters of one Gabor kernel, with its geometry."""

    def __init__(self, frequency, theta=0, bandwidth=1, sigma_x=None, sigma_y=None, n_stds=3, offset=0):
        self.frequency = parse_positive_float(frequency, "frequency")
        self.theta = parse_real(theta, "theta")
        self.bandwidth = parse_positive_float(bandwidth, "bandwidth")
        self.sigma_x = (_sigma_prefactor(self.bandwidth) / self.frequency if sigma_x is None
                        else parse_positive_float(sigma_x, "sigma_x"))
        self.sigma_y = (_sigma_prefactor(self.bandwidth) / self.frequency if sigma_y is None
                        else parse_positive_float(sigma_y, "sigma_y"))
        self.n_stds = parse_positive_float(n_stds, "n_stds")
        self.offset = parse_real(offset, "offset")
        for name in ("theta", "offset"):
            if not math.isfinite(getattr(self, name)):
                raise InvalidParameterError(f"Expected {name} to be finite, got {getattr(self, name)!r} instead.")
        ct, st = math.cos(self.theta), math.sin(self.theta)
        sx, sy, n = self.sigma_x, self.sigma_y, self.n_stds
        self.x0 = math.ceil(max(abs(n * sx * ct), abs(n * sy * st), 1))
        self.y0 = math.ceil(max(abs(n * sy * ct), abs(n * sx * st), 1))
        if self.x0 > 10_000 or self.y0 > 10_000:
            raise InvalidParameterError(
                f"The Gabor kernel would be {2 * self.y0 + 1} x {2 * self.x0 + 1} pixels; "
                f"lower n_stds or sigma_x/sigma_y (or raise frequency)."
            )

    @property
    def radius(self) -> tuple[int, int]:
        return self.y0, self.x0

    def kernel(self) -> np.ndarray:
        """The complex kernel, computed exactly as skimage.filters.gabor_kernel does."""
        ct, st = math.cos(self.theta), math.sin(self.theta)
        y, x = np.meshgrid(np.arange(-self.y0, self.y0 + 1), np.arange(-self.x0, self.x0 + 1),
                           indexing="ij", sparse=True)
        rotx = x * ct + y * st
        roty = -x * st + y * ct
        g = np.empty(roty.shape, dtype=np.complex128)
        np.exp(-0.5 * (rotx**2 / self.sigma_x**2 + roty**2 / self.sigma_y**2)
               + 1j * (2 * np.pi * self.frequency * rotx + self.offset), out=g)
        g *= 1 / (2 * np.pi * self.sigma_x * self.sigma_y)
        return g

    def factors(self):
        return separable_factors(self.frequency, self.theta, self.sigma_x, self.sigma_y, self.offset,
                                 self.x0, self.y0)

    def token(self) -> tuple:
        return (self.frequency, self.theta, self.sigma_x, self.sigma_y, self.n_stds, self.offset)


def gabor_kernel(frequency, theta=0, bandwidth=1, sigma_x=None, sigma_y=None, n_stds=3, offset=0):
    """Complex 2-D Gabor kernel, identical to ``skimage.filters.gabor_kernel`` (complex128).

    Parameters
    ----------
    frequency : float
        Spatial frequency of the harmonic, in cycles per pixel (> 0).
    theta : float
        Orientation in radians; 0 puts the harmonic along x.
    bandwidth : float
        Sets ``sigma_x``/``sigma_y`` when they are not given.
    sigma_x, sigma_y : float, optional
        Standard deviations before rotation.
    n_stds : float
        The kernel extends ``n_stds`` standard deviations.
    offset : float
        Phase offset in radians.

    Returns
    -------
    kernel : (2 y0 + 1, 2 x0 + 1) complex128 ndarray

    Examples
    --------
    >>> from tiledproc import gabor_kernel
    >>> gabor_kernel(0.15, theta=np.pi / 2, sigma_x=5, sigma_y=5).shape
    (31, 31)
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
        for b, img in enumerate(flat):
            if factors is not None:
                res = gabor_block_separable(img, ym, xm, factors, cval, outputs, out_dtype)
            else:
                res = gabor_block_fft(img, ym, xm, p.kernel(), cval, outputs, out_dtype)
            out[f * len(outputs):(f + 1) * len(outputs), b] = res
    return out.reshape((out.shape[0],) + lead + (H, W))


def _run_filters(a, params: list[GaborParams], outputs, mode, cval, name):
    a = _as_array(a)
    parse_spatial_ndim(a)
    out_dtype = float_type(a.dtype)
    mode = parse_mode(mode)
    cval = parse_real(cval, "cval")
    filters = [(p, p.factors()) for p in params]
    ry = max(p.y0 for p in params)
    rx = max(p.x0 for p in params)
    kernel = functools.partial(_gabor_kernel_block, filters=filters, outputs=outputs, cval=cval,
                               out_dtype=out_dtype)
    return apply_overlap(kernel, a, radius=(ry, rx), mode=mode, n_outputs=len(filters) * len(outputs),
                         dtype=out_dtype, name=name,
                         token_parts=(tuple(p.token() for p in params), outputs, np.float64(cval).tobytes()))


def gabor(a, frequency, theta=0, bandwidth=1, sigma_x=None, sigma_y=None, n_stds=3, offset=0, *,
          mode="reflect", cval=0):
    """Real and imaginary responses to a Gabor filter, as ``skimage.filters.gabor``.

    ``skimage.filters.gabor(band, ...)`` applied to every 2-D slice over the
    last two axes (``scipy.ndimage.convolve`` with the real and imaginary
    kernels, same orientation, same ``mode``/``cval``), for any chunking.
    Unlike scikit-image, integer input is not written back into its integer
    dtype: the result dtype is ``np.result_type(a.dtype, np.float32)``.

    Isotropic (``sigma_x == sigma_y``) and axis-aligned kernels are applied
    as two exact complex 1-D passes; other kernels by FFT over each block
    (agreement with direct convolution to ~1e-12 of the response scale, see
    docs/benchmarks.md). The halo is the kernel half-size ``(y0, x0)``, which
    depends on ``theta``.

    Returns
    -------
    real, imag : (..., M, N) arrays
    """
    p = GaborParams(frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset)
    real, imag = _run_filters(a, [p], ("real", "imag"), mode, cval, "gabor")
    return real, imag


def gabor_magnitude(a, frequency, theta=0, bandwidth=1, sigma_x=None, sigma_y=None, n_stds=3, offset=0, *,
                    mode="reflect", cval=0):
    """``sqrt(real**2 + imag**2)`` of :func:`gabor`, computed in the same pass."""
    p = GaborParams(frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset)
    (mag,) = _run_filters(a, [p], ("magnitude",), mode, cval, "gabor-magnitude")
    return mag


def _parse_list(values, name):
    if np.isscalar(values):
        values = [values]
    values = list(values)
    if not values:
        raise InvalidParameterError(f"Expected {name} to be a non-empty list of numbers, got {values!r} instead.")
    return values


def gabor_bank(a, frequencies, thetas, bandwidth=1, sigma_x=None, sigma_y=None, n_stds=3, offset=0, *,
               mode="reflect", cval=0, part="magnitude"):
    """A bank of Gabor responses as one lazy array with a leading filter axis.

    Filter ``k`` is frequency ``frequencies[k // len(thetas)]`` at orientation
    ``thetas[k % len(thetas)]``. Every filter runs on a block while it is in
    memory, so each input chunk is read once for the whole bank.

    Parameters
    ----------
    part : {'magnitude', 'real', 'imag'}

    Returns
    -------
    bank : (len(frequencies) * len(thetas), ..., M, N) array
    """
    if part not in ("magnitude", "real", "imag"):
        raise InvalidParameterError(f"Expected part to be 'magnitude', 'real' or 'imag', got {part!r} instead.")
    params = [GaborParams(f, t, bandwidth, sigma_x, sigma_y, n_stds, offset)
              for f in _parse_list(frequencies, "frequencies") for t in _parse_list(thetas, "thetas")]
    responses = _run_filters(a, params, (part,), mode, cval, f"gabor-bank-{part}")
    if is_dask(responses[0]):
        import dask.array as da

        return da.stack(responses)
    return np.stack(responses)


def gabor_texture(a, frequency, theta=0, bandwidth=1, sigma_x=None, sigma_y=None, n_stds=3, offset=0, *,
                  size=15, part="real", mode="reflect", cval=0, window_mode="reflect"):
    """Windowed mean and variance of a Gabor response (the texture features of the brick example).

    ``window_stats(gabor(a, ...)[part], size, mode=window_mode)`` without
    storing the response: for dask input both are one lazy graph.

    Returns
    -------
    mean, variance : (..., M, N) arrays
    """
    if part not in ("real", "imag", "magnitude"):
        raise InvalidParameterError(f"Expected part to be 'real', 'imag' or 'magnitude', got {part!r} instead.")
    if part == "magnitude":
        response = gabor_magnitude(a, frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset,
                                   mode=mode, cval=cval)
    else:
        real, imag = gabor(a, frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset, mode=mode, cval=cval)
        response = real if part == "real" else imag
    return window_stats(response, size, mode=window_mode)
