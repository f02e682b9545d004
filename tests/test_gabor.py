"""Gabor kernels and responses against scikit-image, on awkward chunkings."""

import re
import tracemalloc

import dask.array as da
import numpy as np
import pytest
from skimage.filters import gabor as sk_gabor
from skimage.filters import gabor_kernel as sk_gabor_kernel

import tiledproc as tp
from tiledproc.errors import InvalidParameterError, InvalidTypeError
from tiledproc.testing import assert_chunk_invariant, pad_like_scipy, random_chunks, window_reference

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


def test_bank_reads_each_chunk_once(tmp_path, rng):
    from tiledproc.io import chunkio

    src = tp.save_raster(rng.normal(size=(1, 60, 70)), tmp_path / "x.zarr", chunks=(1, 20, 20))
    bank = tp.gabor_bank(tp.open_raster(src), [0.1, 0.2, 0.3], [0, 1, 2, 3], sigma_x=2, sigma_y=2)
    with chunkio.count_reads() as reads:
        tp.save_raster(bank.reshape((12, 60, 70)), tmp_path / "bank.zarr")
    src_reads = {k: n for k, n in reads.items() if k[0] == str(src / "0")}
    assert len(src_reads) == 3 * 4 and set(src_reads.values()) == {1}


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
        ({"frequency": 1e-5}, InvalidParameterError, r"frequency=1e-05 .* a kernel of 337305 x 337305 pixels"),
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


def _unknown_chunks(rng):
    x = da.from_array(rng.normal(size=(9, 10)), chunks=4)
    return x[x[:, 0] > -10]  # boolean indexing: NaN chunk sizes along y


def test_dask_array_of_unknown_chunk_sizes_is_refused(rng):
    unknown = _unknown_chunks(rng)
    calls = [lambda a: tp.gabor(a, 0.2), lambda a: tp.gabor_magnitude(a, 0.2),
             lambda a: tp.gabor_bank(a, [0.2], [0.0]), lambda a: tp.gabor_texture(a, 0.2, size=3)]
    for call in calls:
        with pytest.raises(InvalidParameterError, match=r"Expected image to have known chunk sizes.*"
                                                         r"compute_chunk_sizes\(\)"):
            call(unknown)


# (call, error, the name the message must give, a pattern it must not contain): each operation
# checks what it forwards to an inner one under the name its caller wrote
IMG = np.zeros((8, 9))
NAMING = {
    "texture-window_mode": (lambda: tp.gabor_texture(IMG, 0.2, window_mode="edge"), InvalidParameterError,
                            r"Expected window_mode to be one of", r"(?<!window_)\bmode\b"),
    "texture-mode": (lambda: tp.gabor_texture(IMG, 0.2, mode="edge"), InvalidParameterError,
                     r"Expected mode to be one of", r"window_mode"),
    "texture-size": (lambda: tp.gabor_texture(IMG, 0.2, size=4), InvalidParameterError,
                     r"Expected size to be an odd positive integer", r"window_mode|\bmode\b"),
    "texture-size-type": (lambda: tp.gabor_texture(IMG, 0.2, size="15"), InvalidTypeError,
                          r"Expected size to be an integer", r"\bmode\b"),
    "texture-part": (lambda: tp.gabor_texture(IMG, 0.2, part="phase"), InvalidParameterError,
                     r"Expected part to be 'real', 'imag' or 'magnitude'", r"window"),
    "texture-cval": (lambda: tp.gabor_texture(IMG, 0.2, cval="0"), InvalidTypeError,
                     r"Expected cval to be a real number", r"window"),
    "texture-theta": (lambda: tp.gabor_texture(IMG, 0.2, theta=np.nan), InvalidParameterError,
                      r"Expected theta to be finite", r"thetas"),
    "bank-frequency": (lambda: tp.gabor_bank(IMG, [0.2, 0], [0.0]), InvalidParameterError,
                       r"Expected frequencies\[1\] to be a finite positive number, got 0", r"\bfrequency\b"),
    "bank-frequency-type": (lambda: tp.gabor_bank(IMG, ["0.2"], [0.0]), InvalidTypeError,
                            r"Expected frequencies\[0\] to be a real number", r"\bfrequency\b"),
    "bank-theta": (lambda: tp.gabor_bank(IMG, [0.2], [0.0, 1.0, np.inf]), InvalidParameterError,
                   r"Expected thetas\[2\] to be finite", r"\btheta\b"),
    "bank-theta-huge-int": (lambda: tp.gabor_bank(IMG, [0.2], [10**400]), InvalidParameterError,
                            r"Expected thetas\[0\] to be a finite number, got an integer of 401 digits",
                            r"\btheta\b"),
    "bank-kernel": (lambda: tp.gabor_bank(IMG, [0.2, 1e-9], [0.0, 0.5]), InvalidParameterError,
                    r"from frequencies\[1\]=1e-09 .* raise frequencies\[1\]", r"\bfrequency\b"),
    "bank-frequencies-none": (lambda: tp.gabor_bank(IMG, None, [0.0]), InvalidTypeError,
                              r"Expected frequencies to be a number or a list of numbers, got NoneType",
                              r"\bfrequency\b"),
    "bank-thetas-2d": (lambda: tp.gabor_bank(IMG, [0.2], np.zeros((2, 2))), InvalidParameterError,
                       r"Expected thetas to be a number or a list of numbers, got an array of shape \(2, 2\)",
                       r"\btheta\b"),
    "bank-thetas-empty": (lambda: tp.gabor_bank(IMG, [0.2], []), InvalidParameterError,
                          r"Expected thetas to be a non-empty list", r"\btheta\b"),
    "bank-part": (lambda: tp.gabor_bank(IMG, [0.2], [0.0], part="phase"), InvalidParameterError,
                  r"Expected part to be 'magnitude', 'real' or 'imag'", r"frequenc|theta"),
    "bank-mode": (lambda: tp.gabor_bank(IMG, [0.2], [0.0], mode=3), InvalidParameterError,
                  r"Expected mode to be one of", r"window"),
    "magnitude-mode": (lambda: tp.gabor_magnitude(IMG, 0.2, mode="edge"), InvalidParameterError,
                       r"Expected mode to be one of", r"window"),
    "magnitude-sigma": (lambda: tp.gabor_magnitude(IMG, 0.2, sigma_y=-1), InvalidParameterError,
                        r"Expected sigma_y to be a finite positive number", r"sigma_x"),
    "magnitude-image": (lambda: tp.gabor_magnitude(np.zeros(5), 0.2), InvalidParameterError,
                        r"Expected image to have at least 2 dimensions", r"frequency"),
}


@pytest.mark.parametrize("case", list(NAMING))
def test_errors_name_the_callers_parameter(case):
    call, error, message, wrong = NAMING[case]
    with pytest.raises(error, match=message) as info:
        call()
    assert not re.search(wrong, str(info.value)), str(info.value)


def test_texture_checks_everything_before_any_work(monkeypatch):
    """For numpy input the response is computed at once: a bad window parameter must not wait for it."""
    import importlib

    ops_gabor = importlib.import_module("tiledproc.ops.gabor")  # the module (tiledproc.ops.gabor is the function)

    def no_work(*args, **kwargs):
        raise AssertionError("the Gabor response was computed before the parameters were checked")

    monkeypatch.setattr(ops_gabor, "_run_filters", no_work)
    for kw, pattern in [(dict(size=4), "size"), (dict(size=(3, 5, 7)), "size"), (dict(window_mode="edge"),
                        "window_mode"), (dict(part="phase"), "part"), (dict(n_stds=1e9), "n_stds")]:
        with pytest.raises(InvalidParameterError, match=rf"\b{pattern}\b"):
            tp.gabor_texture(IMG, 0.2, **kw)


# --------------------------------------------------------------- kernel size limits

TOO_LARGE = {
    # kwargs -> (what the message must say about the cause, the kernel it implies)
    "tiny frequency": (dict(frequency=1e-9), r"sigma_x=5\.622e\+08 \(from frequency=1e-09 and bandwidth=1\)",
                       r"3373031255 x 3373031255 pixels"),
    "sigma_x": (dict(frequency=0.1, sigma_x=1e7), r"n_stds=3 standard deviations of sigma_x=1e\+07",
                r"35 x 60000001 pixels"),
    "sigma_y": (dict(frequency=0.1, sigma_y=1e7, sigma_x=2), r"of sigma_y=1e\+07", r"60000001 x 13 pixels"),
    "rotated sigma_x": (dict(frequency=0.1, theta=np.pi / 2, sigma_x=1e7, sigma_y=2), r"of sigma_x=1e\+07",
                        r"60000001 x 13 pixels"),
    "n_stds": (dict(frequency=0.1, n_stds=1e30), r"n_stds=1e\+30 standard deviations", r"1\.12e\+31 x"),
    "n_stds huge int": (dict(frequency=0.1, n_stds=10**30), r"n_stds=1e\+30 standard deviations", r"1\.12e\+31 x"),
    "infinite extent": (dict(frequency=0.1, sigma_x=1e300, n_stds=1e300), r"sigma_x=1e\+300",
                        r"infinitely many pixels"),
    "subnormal frequency": (dict(frequency=1e-320), r"sigma_x=inf \(from frequency=", r"infinitely many x"),
    "tiny bandwidth": (dict(frequency=0.1, bandwidth=1e-20), r"from frequency=0\.1 and bandwidth=1e-20",
                       r"infinitely many x"),
    "small bandwidth": (dict(frequency=0.1, bandwidth=1e-4), r"and bandwidth=0\.0001\).*raise frequency or bandwidth",
                        r"pixels"),
    "just over the side": (dict(frequency=0.1, theta=0.0, sigma_x=1366, sigma_y=1), r"of sigma_x=1366",
                           r"7 x 8197 pixels"),
    "just over the pixels": (dict(frequency=0.1, sigma_x=683, sigma_y=683), r"sigma_[xy]=683",
                             r"4099 x 4099 pixels \(16801801 in all\)"),
}


@pytest.mark.parametrize("case", list(TOO_LARGE))
def test_kernel_too_large_is_refused_before_allocating(case, rng):
    kw, cause, size = TOO_LARGE[case]
    limit = r"at most 8193 pixels per side and 16777216 pixels in all"
    calls = [lambda: tp.gabor_kernel(**kw), lambda: tp.gabor(IMG, **kw), lambda: tp.gabor_magnitude(IMG, **kw),
             lambda: tp.gabor_texture(IMG, **kw), lambda: tp.gabor(da.from_array(IMG, chunks=3), **kw)]
    tracemalloc.start()
    try:
        with raise_if_dask_computes():
            for call in calls:
                with pytest.raises(InvalidParameterError, match=limit) as info:
                    call()
                assert re.search(cause, str(info.value)), str(info.value)
                assert re.search(size, str(info.value)), str(info.value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak} bytes allocated before the refusal"


@pytest.mark.parametrize("kwargs,name", [
    # a Python int beyond the float range: the clean error, naming the parameter, not an OverflowError
    (dict(frequency=10**400), "frequency"), (dict(frequency=0.1, n_stds=10**400), "n_stds"),
    (dict(frequency=0.1, theta=-(10**400)), "theta"), (dict(frequency=0.1, offset=10**5000), "offset"),
    (dict(frequency=0.1, sigma_x=10**400), "sigma_x"), (dict(frequency=0.1, sigma_y=10**400), "sigma_y"),
    (dict(frequency=0.1, bandwidth=10**400), "bandwidth"), (dict(frequency=0.1, cval=10**400), "cval"),
])
def test_huge_python_ints_are_clean_errors(kwargs, name):
    for a in (IMG, da.from_array(IMG, chunks=4)):
        with pytest.raises(InvalidParameterError, match=rf"Expected {name} to be a finite number, got an integer "
                                                        r"of \d+ digits instead"):
            tp.gabor(a, **kwargs)


def test_bank_lists_are_counted_before_they_are_listed():
    with pytest.raises(InvalidParameterError, match=r"Expected thetas to hold at most 4096 values, got 1000000000000"):
        tp.gabor_bank(IMG, [0.2], range(10**12))
    with pytest.raises(InvalidParameterError, match=r"Expected frequencies to hold at most 4096 values, got more"):
        tp.gabor_bank(IMG, range(10**30), [0.0])
    endless = (0.1 for _ in iter(int, 1))
    with pytest.raises(InvalidParameterError, match=r"Expected frequencies to hold at most 4096 values, got more"):
        tp.gabor_bank(IMG, endless, [0.0])
    with pytest.raises(InvalidParameterError, match=r"at most 4096 filters .* got 100 x 100 = 10000"):
        tp.gabor_bank(IMG, np.linspace(0.1, 0.4, 100), np.linspace(0, 3, 100))
    # a number or a 0-d array is a list of one; a generator is fine within the limit
    assert tp.gabor_bank(IMG, np.array(0.2), 0.5).shape == (1, 8, 9)
    assert tp.gabor_bank(IMG, (f for f in (0.2, 0.3)), np.array([0.0, 1.0])).shape == (4, 8, 9)


def test_largest_kernels_within_the_limits_match_skimage(rng):
    from tiledproc.ops.gabor import GaborParams

    # the pixel limit: 4093 x 4093 is allowed (16752649 pixels), 4099 x 4099 is not (above)
    assert GaborParams(0.1, sigma_x=682, sigma_y=682).radius == (2046, 2046)
    # the side limit: a half-size of 4095 on x; computed exactly as scikit-image, on any chunking
    kw = dict(frequency=0.1, theta=0.0, sigma_x=1365, sigma_y=1)
    assert tp.gabor_kernel(**kw).shape == (7, 8191)
    np.testing.assert_array_equal(tp.gabor_kernel(**kw), sk_gabor_kernel(**kw))
    x = rng.normal(size=(12, 17))
    for mode in MODES:
        if mode == "reflect":
            # scipy.ndimage.correlate (n-D, which skimage uses) reads outside the image in reflect
            # mode once the kernel reaches 4 image lengths beyond the edge (scipy 1.17: garbage such
            # as 2e-321); correlate1d and the documented rule (d c b a | a b c d | d c b a) agree,
            # so the reference is that rule, applied directly
            k = tp.gabor_kernel(**kw)
            padded = pad_like_scipy(x, [(k.shape[0] // 2,) * 2, (k.shape[1] // 2,) * 2], mode)
            windows = np.lib.stride_tricks.sliding_window_view(padded, k.shape)
            ref = tuple(np.einsum("ijkl,kl->ij", windows, part[::-1, ::-1]) for part in (k.real, k.imag))
        else:
            ref = sk_reference(x, kw, mode, cval=0.5)
        scale = np.abs(ref).max()
        assert_chunk_invariant(lambda a: tp.gabor(a, mode=mode, cval=0.5, **kw), x, ref,
                               chunkings=[(1, 1), random_chunks(x.shape, rng)], rtol=1e-9, atol=1e-11 * scale)


def test_wide_bandwidths_give_skimages_limit():
    """From bandwidth 54 on skimage's (2**b + 1) / (2**b - 1) is 1; past 1023 2.0**b overflows in
    skimage, here it keeps the limit."""
    ref = sk_gabor_kernel(0.1, bandwidth=1023)
    np.testing.assert_array_equal(tp.gabor_kernel(0.1, bandwidth=1023), ref)
    np.testing.assert_array_equal(tp.gabor_kernel(0.1, bandwidth=1024), ref)
    np.testing.assert_array_equal(tp.gabor_kernel(0.1, bandwidth=1e300), ref)
    np.testing.assert_array_equal(tp.gabor_kernel(0.1, bandwidth=0.05), sk_gabor_kernel(0.1, bandwidth=0.05))


NAN_KERNELS = {
    **{k: KERNELS[k] for k in ("classic", "isotropic-rotated", "axis-aligned", "anisotropic-rotated")},
    # n_stds=6: a border of weights below DBL_EPSILON, which scipy leaves out
    "isotropic-wide": dict(frequency=0.2, theta=np.pi / 2, sigma_x=1.5, sigma_y=1.5, n_stds=6),
    "axis-aligned-wide": dict(frequency=0.25, theta=np.pi, sigma_x=1.2, sigma_y=2.0, n_stds=6),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(NAN_KERNELS))
def test_nans_reach_exactly_the_windows_scipy_gives(name, mode, rng):
    """Scattered NaNs and a NaN block, on every path (separable and FFT): NaN exactly
    where skimage.filters.gabor (scipy.ndimage.convolve, which leaves out weights of
    magnitude <= DBL_EPSILON, such as the zeros of sin along an axis) gives NaN, and
    the finite values equal, whatever the chunking (also chunks smaller than the halo)."""
    kw = NAN_KERNELS[name]
    x = rng.normal(size=(41, 47)) * 2 + 0.5
    x[rng.random(x.shape) < 0.004] = np.nan
    x[28:31, 6:10] = np.nan
    x[0, 46] = np.nan  # at a corner: reaches the halo through every mode
    ref = sk_reference(x, kw, mode, cval=0.3)
    assert np.isnan(ref[0]).any() and not np.isnan(ref[0]).all()
    scale = np.abs(np.nan_to_num(ref[0])).max()
    r = tp.gabor_kernel(**kw).shape
    chunkings = [(max(1, r[0] // 4), 3), (7, 11), random_chunks(x.shape, rng)]
    assert_chunk_invariant(lambda a: tp.gabor(a, mode=mode, cval=0.3, **kw), x, ref,
                           chunkings=chunkings, rtol=1e-9, atol=1e-11 * scale)


@pytest.mark.parametrize("name", ["classic", "axis-aligned"])
def test_separable_path_with_infinities_and_nan_cval(name, rng):
    """Infinities (alone and beside a NaN) and a NaN cval on the separable path, as scipy."""
    kw = KERNELS[name]
    x = rng.normal(size=(30, 34))
    x[5, 5], x[20, 25], x[21, 25], x[12, 30] = np.inf, -np.inf, np.inf, np.nan
    for mode, cval in (("reflect", 0.0), ("constant", np.nan)):
        ref = sk_reference(x, kw, mode, cval=cval)
        scale = np.abs(np.nan_to_num(ref[0], posinf=0, neginf=0)).max()
        assert_chunk_invariant(lambda a: tp.gabor(a, mode=mode, cval=cval, **kw), x, ref,
                               chunkings=[(4, 5), (30, 34)], rtol=1e-9, atol=1e-11 * scale)
