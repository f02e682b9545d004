"""Gabor kernels and responses against scikit-image, on awkward chunkings."""

import dask.array as da
import numpy as np
import pytest
from skimage.filters import gabor as sk_gabor
from skimage.filters import gabor_kernel as sk_gabor_kernel

import tiledproc as tp
from tiledproc.errors import InvalidParameterError, InvalidTypeError
from tiledproc.testing import assert_chunk_invariant, random_chunks, window_reference

from .conftest import raise_if_dask_computes

MODES = ["reflect", "mirror", "nearest", "constant", "wrap"]

KERNELS = {
    "classic": dict(frequency=0.15, theta=np.pi / 2, sigma_x=5, sigma_y=5),  # separable, real x factor
    "isotropic-rotated": dict(frequency=0.2, theta=0.6, sigma_x=2, sigma_y=2, offset=0.4),  # separable complex
    "axis-aligned": dict(frequency=0.25, theta=0.0, sigma_x=1.5, sigma_y=3.0),  # separable anisotropic
    "anisotropic-rotated": dict(frequency=0.3, theta=0.4, sigma_x=1.2, sigma_y=2.5, offset=1.1),  # FFT
    "bandwidth": dict(frequency=0.35, theta=2.2, bandwidth=1.5, n_stds=2.5),
}


def sk_reference(x, kw, mode, cval=0.0):
    """skimage.filters.gabor on every 2-D slice, in float64."""
    x = np.asarray(x, np.float64)
    flat = x.reshape((-1,) + x.shape[-2:])
    out = [sk_gabor(b, mode=mode, cval=cval, **kw) for b in flat]
    real = np.stack([o[0] for o in out]).reshape(x.shape)
    imag = np.stack([o[1] for o in out]).reshape(x.shape)
    return real, imag


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_identical_to_skimage(name):
    kw = KERNELS[name]
    np.testing.assert_array_equal(tp.gabor_kernel(**kw), sk_gabor_kernel(**kw))


@pytest.mark.parametrize("theta", [0.0, 0.3, np.pi / 4, np.pi / 2, 2.0, np.pi])
def test_kernel_identical_for_every_orientation(theta):
    for sx, sy in [(2.0, 2.0), (1.5, 4.0)]:
        kw = dict(frequency=0.2, theta=theta, sigma_x=sx, sigma_y=sy, offset=0.3)
        np.testing.assert_array_equal(tp.gabor_kernel(**kw), sk_gabor_kernel(**kw))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(KERNELS))
def test_gabor_matches_skimage(name, mode, rng):
    kw = KERNELS[name]
    x = rng.normal(size=(23, 29)) * 3 + 1
    ref = sk_reference(x, kw, mode, cval=0.7)
    scale = np.abs(ref).max()
    r = tp.gabor_kernel(**kw).shape
    chunkings = [(1, 1), (max(1, r[0] // 4), 3), (23, 29), random_chunks(x.shape, rng)]
    assert_chunk_invariant(lambda a: tp.gabor(a, mode=mode, cval=0.7, **kw), x, ref,
                           chunkings=chunkings, rtol=1e-9, atol=1e-11 * scale)


@pytest.mark.parametrize("dtype,expected", [("uint8", "float32"), ("uint16", "float32"), ("int32", "float64"),
                                            ("float32", "float32"), ("float64", "float64")])
def test_dtypes_are_promoted_not_truncated(dtype, expected, rng):
    x = rng.integers(0, 200, size=(2, 17, 19)).astype(dtype)
    kw = KERNELS["classic"]
    real, imag = tp.gabor(x, **kw)
    assert real.dtype == imag.dtype == np.dtype(expected)
    ref = sk_reference(x, kw, "reflect")  # on the float64 image
    tol = 1e-6 if expected == "float32" else 1e-10
    np.testing.assert_allclose(real, ref[0], rtol=tol, atol=tol * np.abs(ref[0]).max())
    np.testing.assert_allclose(imag, ref[1], rtol=tol, atol=tol * np.abs(ref[1]).max())
    if dtype == "uint8":  # scikit-image truncates integer responses into the input dtype
        assert sk_gabor(x[0], **kw)[0].dtype == np.uint8


@pytest.mark.parametrize("shape", [(4, 31, 27), (2, 2, 25, 30)])
def test_leading_axes(shape, rng):
    x = rng.normal(size=shape)
    kw = KERNELS["anisotropic-rotated"]
    ref = sk_reference(x, kw, "wrap")
    assert_chunk_invariant(lambda a: tp.gabor(a, mode="wrap", **kw), x, ref,
                           chunkings=[random_chunks(shape, rng, small=True)], rtol=1e-9, atol=1e-11)


def test_magnitude_and_bank(rng):
    x = rng.normal(size=(2, 40, 45))
    freqs, thetas = [0.1, 0.25], [0.0, np.pi / 4, np.pi / 2]
    a = da.from_array(x, chunks=(1, 13, 17))
    with raise_if_dask_computes():
        bank = tp.gabor_bank(a, freqs, thetas, sigma_x=3, sigma_y=3)
    assert bank.shape == (6, 2, 40, 45)
    got = bank.compute()
    for k, (f, t) in enumerate([(f, t) for f in freqs for t in thetas]):
        re, im = sk_reference(x, dict(frequency=f, theta=t, sigma_x=3, sigma_y=3), "reflect")
        np.testing.assert_allclose(got[k], np.hypot(re, im), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(tp.gabor_magnitude(x, f, t, sigma_x=3, sigma_y=3)),
                                   np.hypot(re, im), rtol=1e-9, atol=1e-12)
    real_bank = tp.gabor_bank(x, freqs[:1], thetas[:1], sigma_x=3, sigma_y=3, part="real")
    np.testing.assert_allclose(real_bank[0], sk_reference(x, dict(frequency=0.1, theta=0.0, sigma_x=3,
                                                                  sigma_y=3), "reflect")[0], rtol=1e-9, atol=1e-12)


def test_bank_reads_each_chunk_once(tmp_path, rng, monkeypatch):
    from tiledproc.io import chunkio

    src = tp.save_raster(rng.normal(size=(1, 60, 70)), tmp_path / "x.zarr", chunks=(1, 20, 20))
    reads = []
    original = chunkio._read_chunk
    monkeypatch.setattr(chunkio, "_read_chunk", lambda layout, i: reads.append(i) or original(layout, i))
    bank = tp.gabor_bank(tp.open_raster(src), [0.1, 0.2, 0.3], [0, 1, 2, 3], sigma_x=2, sigma_y=2)
    tp.save_raster(bank.reshape((12, 60, 70)), tmp_path / "bank.zarr")
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 3 * 4


def test_texture_statistics_of_the_brick_example(rng):
    """Windowed mean and variance of the real response, 15 x 15, as in the users' question."""
    x = rng.normal(size=(60, 64))
    kw = KERNELS["classic"]
    mean, var = tp.gabor_texture(da.from_array(x, chunks=(17, 20)), size=15, **kw)
    real = sk_gabor(x, **kw)[0]
    ref_m, ref_v = window_reference(real, 15, "reflect")
    np.testing.assert_allclose(mean.compute(), ref_m, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(var.compute(), ref_v, rtol=1e-8, atol=1e-12)


def test_kernel_is_normalised():
    """The envelope integrates to one (up to what n_stds cuts off)."""
    for sx, sy, theta in [(3.0, 3.0, 0.0), (2.0, 5.0, 0.7)]:
        wide = tp.gabor_kernel(0.1, theta, sigma_x=sx, sigma_y=sy, n_stds=7)
        assert abs(np.abs(wide).sum() - 1.0) < 1e-6
        narrow = tp.gabor_kernel(0.1, theta, sigma_x=sx, sigma_y=sy, n_stds=3)
        assert 0.97 < np.abs(narrow).sum() < 1.0


def test_response_peaks_at_matched_frequency_and_orientation():
    yy, xx = np.mgrid[0:96, 0:96]
    f0, t0 = 0.2, np.pi / 3
    grating = np.cos(2 * np.pi * f0 * (xx * np.cos(t0) + yy * np.sin(t0)))
    centre = (slice(40, 56), slice(40, 56))

    def energy(f, t):
        return tp.gabor_magnitude(grating, f, t, sigma_x=6, sigma_y=6)[centre].mean()

    thetas = np.linspace(0, np.pi, 12, endpoint=False)
    assert thetas[np.argmax([energy(f0, t) for t in thetas])] == pytest.approx(t0, abs=np.pi / 12)
    freqs = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]
    assert freqs[int(np.argmax([energy(f, t0) for f in freqs]))] == f0


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"frequency": 0}, InvalidParameterError, "Expected frequency to be a finite positive number, got 0"),
        ({"frequency": -0.1}, InvalidParameterError, "Expected frequency to be a finite positive number"),
        ({"frequency": 0.1, "sigma_x": 0}, InvalidParameterError, "Expected sigma_x to be a finite positive"),
        ({"frequency": 0.1, "bandwidth": -1}, InvalidParameterError, "Expected bandwidth to be a finite positive"),
        ({"frequency": 0.1, "theta": np.inf}, InvalidParameterError, "Expected theta to be finite"),
        ({"frequency": "0.1"}, InvalidTypeError, "Expected frequency to be a real number"),
        ({"frequency": 1e-5}, InvalidParameterError, "lower n_stds or sigma_x/sigma_y"),
        ({"frequency": 0.1, "mode": "edge"}, InvalidParameterError, "Expected mode to be one of"),
    ],
)
def test_bad_parameters(kwargs, error, message, rng):
    with pytest.raises(error, match=message):
        tp.gabor(rng.normal(size=(8, 8)), **kwargs)


def test_bad_part():
    with pytest.raises(InvalidParameterError, match="Expected part to be 'magnitude', 'real' or 'imag'"):
        tp.gabor_bank(np.zeros((5, 5)), [0.1], [0.0], part="phase")
    with pytest.raises(InvalidParameterError, match="Expected frequencies to be a non-empty list"):
        tp.gabor_bank(np.zeros((5, 5)), [], [0.0])


@pytest.mark.parametrize("case", ["nan", "inf", "outlier", "fill", "half-fill", "nan-wide", "nan-cval", "offset"])
def test_nan_inf_and_outliers_stay_in_their_windows(case, rng):
    """The FFT path (rotated anisotropic kernel) against scipy's direct convolution:
    a NaN or an infinity affects exactly the windows that contain it (zero weights
    skipped, as scipy.ndimage does), a 1e30 outlier or a -3.4e38 fill does not
    spread its rounding over the block, whatever the chunking."""
    kw = dict(KERNELS["anisotropic-rotated"])
    y = rng.normal(size=(50, 60))
    mode, cval = "reflect", 0.0
    if case == "nan":
        y[5, 5] = y[30, 40] = np.nan
    elif case == "inf":
        y[20, 20] = np.inf
    elif case == "outlier":
        y[20, 20] = 1e30
    elif case == "fill":
        y[:, :35] = -3.4e38
    elif case == "half-fill":  # the block's median falls between fill and data
        y[:, :30] = -3.4e38
    elif case == "nan-wide":  # n_stds=6: weights below DBL_EPSILON, which scipy leaves out
        y[25, 30] = np.nan
        kw["n_stds"] = 6
    elif case == "nan-cval":
        mode, cval = "constant", np.nan
    else:
        y += 1e6
    er, ei = sk_gabor(y, **kw, mode=mode, cval=cval)
    for a in (y, da.from_array(y, chunks=(17, 23)), da.from_array(y, chunks=(50, 60))):
        r, i = (np.asarray(v) for v in tp.gabor(a, **kw, mode=mode, cval=cval))
        for got, ref in ((r, er), (i, ei)):
            assert (np.isnan(got) == np.isnan(ref)).all()
            ok = np.isfinite(ref) & (np.abs(ref) < 1e20)  # fill-dominated windows: both are rounding
            scale = 1 + np.abs(y[np.isfinite(y) & (np.abs(y) < 1e20)]).max()
            np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-9, atol=1e-12 * scale)
