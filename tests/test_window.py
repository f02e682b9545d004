"""Windowed statistics against scipy.ndimage.uniform_filter and a brute-force
np.mean/np.var over every window, in float64, on awkward chunkings."""

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

import tiledproc as tp
from tiledproc.errors import InvalidParameterError, InvalidTypeError
from tiledproc.kernels.window import _tree
from tiledproc.testing import assert_chunk_invariant, pad_like_scipy, random_chunks, window_reference

from .conftest import raise_if_dask_computes

MODES = ["reflect", "mirror", "nearest", "constant", "wrap"]


def scipy_mean(x, size, mode, cval=0.0):
    sy, sx = (size, size) if np.isscalar(size) else size
    return ndi.uniform_filter(np.asarray(x, np.float64), (1,) * (x.ndim - 2) + (sy, sx), mode=mode, cval=cval)


def chunkings_for(shape, rng):
    """A fixed set of awkward chunkings plus random ones."""
    fixed = [
        tuple((1,) * n for n in shape[:-2]) + ((1,) * shape[-2], (1,) * shape[-1]),  # one pixel
        tuple((1,) * n for n in shape[:-2]) + (3, 2),  # smaller than most halos
        shape,  # one chunk
    ]
    return fixed + [random_chunks(shape, rng) for _ in range(3)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [1, 3, 7, (5, 9), 25])
def test_matches_scipy_and_brute_force(mode, size, rng):
    x = rng.normal(size=(2, 13, 17)) * 10 + 3
    ref_mean = scipy_mean(x, size, mode, cval=1.5)
    ref_m, ref_v = window_reference(x, size, mode, cval=1.5)
    np.testing.assert_allclose(ref_m, ref_mean, rtol=1e-12)  # the brute force is right
    assert_chunk_invariant(
        lambda a: tp.window_stats(a, size, mode=mode, cval=1.5),
        x, (ref_mean, ref_v), chunkings=chunkings_for(x.shape, rng), rtol=1e-10, atol=1e-12,
    )


@pytest.mark.parametrize("mode", MODES)
def test_window_larger_than_image(mode, rng):
    x = rng.normal(size=(5, 4))
    for size in (9, 21, 41):
        ref = scipy_mean(x, size, mode, cval=-2.0)
        _, ref_v = window_reference(x, size, mode, cval=-2.0)
        assert_chunk_invariant(
            lambda a: tp.window_stats(a, size, mode=mode, cval=-2.0),
            x, (ref, ref_v), chunkings=[(1, 1), (2, 3), (5, 4)], rtol=1e-10, atol=1e-12,
        )


@pytest.mark.parametrize("func,index", [(tp.window_mean, 0), (tp.window_variance, 1), (tp.window_std, 2)])
def test_single_statistics(func, index, rng):
    x = rng.normal(size=(11, 14))
    m, v = window_reference(x, 5, "mirror")
    ref = (m, v, np.sqrt(v))[index]
    assert_chunk_invariant(lambda a: func(a, 5, mode="mirror"), x, ref,
                           chunkings=[(4, 5), (1, 1)], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "dtype,expected",
    [("bool", "float32"), ("uint8", "float32"), ("int8", "float32"), ("uint16", "float32"), ("int16", "float32"),
     ("float16", "float32"), ("float32", "float32"), ("int32", "float64"), ("uint32", "float64"),
     ("int64", "float64"), ("uint64", "float64"), ("float64", "float64")],
)
def test_dtype_rule_and_values(dtype, expected, rng):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if dtype == "bool":
        x = rng.integers(0, 2, size=(9, 12)).astype(bool)
    elif info is not None:  # the full range: sums must not overflow
        lo, hi = max(info.min, -(2**40)), min(info.max, 2**40)
        x = rng.integers(lo, hi, size=(9, 12), endpoint=True).astype(dtype)
        x[0, :3] = info.max
        x[1, :3] = info.min
    else:
        x = (rng.normal(size=(9, 12)) * 100).astype(dtype)
    m, v = tp.window_stats(x, 3)
    assert m.dtype == v.dtype == np.dtype(expected) == np.result_type(dtype, np.float32)
    ref_m, ref_v = window_reference(x.astype(np.float64), 3)
    rtol = 1e-6 if expected == "float32" else 1e-10
    scale = np.abs(x.astype(np.float64)).max() + 1
    assert_chunk_invariant(lambda a: tp.window_stats(a, 3), x, (ref_m, ref_v),
                           chunkings=[(2, 5), (9, 12)], rtol=rtol, atol=rtol * scale * scale)


def test_no_catastrophic_cancellation():
    rng = np.random.default_rng(1)
    x = (10000 + rng.normal(size=(3, 200, 230))).astype(np.float32)
    _, ref_v = window_reference(x.astype(np.float64), 15)
    for a in (x, da.from_array(x, chunks=(1, 37, 64))):
        _, v = tp.window_stats(a, 15)
        rel = np.abs(np.asarray(v, np.float64) - ref_v) / ref_v
        assert rel.max() < 1e-4, rel.max()
    # the textbook E[x^2] - E[x]^2 in float32 would be far off: the check can fail
    m32 = ndi.uniform_filter(x[0], 15)
    naive = ndi.uniform_filter(x[0] * x[0], 15) - m32 * m32
    assert (np.abs(naive - ref_v[0]) / ref_v[0]).max() > 1e-2


def test_huge_outlier_does_not_leak(rng):
    """A window sum is built only from its own pixels: a 1e30 outlier does not
    spoil the variance of the windows that do not contain it."""
    x = rng.normal(size=(40, 60))
    x[20, 30] = 1e30
    _, v = tp.window_stats(x, 5)
    _, ref_v = window_reference(x, 5)
    far = np.ones(x.shape, bool)
    far[18:23, 28:33] = False
    np.testing.assert_allclose(v[far], ref_v[far], rtol=1e-9)


@pytest.mark.parametrize("fill", [-3.4e38, 1e12, 1e8, -9999.0])
@pytest.mark.parametrize("share", [0.7, 0.2])
def test_nodata_fill_values_do_not_spoil_the_valid_windows(fill, share, rng):
    """A finite nodata fill (GDAL's -3.4e38 for float32) over most of a block, or a
    small part of it: every window gets its own exact statistics, on any chunking
    (the windows of valid pixels are not computed around the fill's magnitude)."""
    x = (100 + rng.normal(size=(2, 60, 70))).astype(np.float32)
    x[:, :, : int(70 * share)] = fill
    x[1, 40:, :] = fill
    ref_m, ref_v = window_reference(x.astype(np.float64), 5)
    for a in [x] + [da.from_array(x, chunks=c) for c in ((1, 60, 70), (1, 13, 8), (1, 25, 40))]:
        m, v = (np.asarray(r, np.float64) for r in tp.window_stats(a, 5))
        finite = np.isfinite(ref_v) & (np.abs(ref_v) < 1e30)
        np.testing.assert_allclose(m, ref_m, rtol=1e-6)
        np.testing.assert_allclose(v[finite], ref_v[finite], rtol=1e-5, atol=1e-5)
        s = np.asarray(tp.window_std(a, 5), np.float64)
        np.testing.assert_allclose(s[finite], np.sqrt(ref_v[finite]), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", ["half-fill", "populations-1e8-apart", "constant-far-from-centre", "std-of-a-fill"])
def test_windows_far_from_their_blocks_centre(case, rng):
    """Cases an adversarial review found: a fill over exactly half a block (the
    median falls between fill and data), populations 1e8 apart (each within any
    spread-based threshold of the next), a constant strip far from the block's
    centre (variance must be exactly 0), and the std of a -3.4e38 fill window."""
    size = 3
    if case == "half-fill":
        x = rng.normal(300, 20, (10, 10)).astype(np.float32)
        x[:, :5] = -3.4e38
    elif case == "populations-1e8-apart":
        x = rng.normal(0, 1, (60, 60))
        x[:, 20:40] += 1e8
        x[:, 40:] += 2e8
        size = 5
    elif case == "constant-far-from-centre":
        x = rng.normal(270, 140, (30, 30)).astype(np.float32)
        x[:, 22:] = 15981.357
        size = 5
    else:
        x = rng.normal(300, 20, (20, 20)).astype(np.float32)
        x[:3] = -3.4e38
    ref_m, ref_v = window_reference(np.asarray(x, np.float64), size)
    ok = np.abs(ref_v) < 1e30
    for a in (x, da.from_array(x, chunks=(7, 9)), da.from_array(x, chunks=(4, 5))):
        m, v = (np.asarray(r, np.float64) for r in tp.window_stats(a, size))
        np.testing.assert_allclose(m, ref_m, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(tp.window_mean(a, size), np.float64), ref_m, rtol=1e-6)
        np.testing.assert_allclose(v[ok], ref_v[ok], rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(np.asarray(tp.window_variance(a, size), np.float64)[ok], ref_v[ok],
                                   rtol=1e-5, atol=1e-9)
        s = np.asarray(tp.window_std(a, size), np.float64)
        np.testing.assert_allclose(s[ok], np.sqrt(ref_v[ok]), rtol=1e-5, atol=1e-6)
        if case == "constant-far-from-centre":
            assert (v[ref_v == 0] == 0).all()
        if case == "std-of-a-fill":
            assert np.isfinite(s[3, 5]) and s[3, 5] > 1e38  # sqrt of a float64 variance, not of inf


@pytest.mark.parametrize("kind", ["mask", "three-populations"])
def test_masks_and_several_populations(kind, rng):
    """A 0/1 mask (two populations, both exact) and data with three populations
    far apart (a fill, values near 100, values near 1e12): every window as brute
    force; the third population is served by direct sums, not by either centre."""
    if kind == "mask":
        x = np.zeros((1, 64, 70), np.float32)
        x[:, 10:50, 20:60] = 1
    else:
        x = np.full((1, 64, 70), -3.4e38)
        x[:, :, 30:] = 100 + rng.normal(size=(1, 64, 40))
        x[:, 40:, 50:] = 1e12 + rng.normal(size=(1, 24, 20))
    ref_m, ref_v = window_reference(np.asarray(x, np.float64), 7)
    for a in (x, da.from_array(x, chunks=(1, 30, 33))):
        m, v = (np.asarray(r, np.float64) for r in tp.window_stats(a, 7))
        finite = np.abs(ref_v) < 1e30
        np.testing.assert_allclose(m, ref_m, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(v[finite], ref_v[finite], rtol=1e-5, atol=1e-7)
        if kind == "mask":
            assert (v[ref_v == 0] == 0).all()


@pytest.mark.parametrize("mode", MODES)
def test_nan_affects_exactly_its_windows(mode, rng):
    x = rng.normal(size=(2, 19, 23))
    x[0, 0, 5] = np.nan
    x[0, 10, 11] = np.nan
    x[1, 18, 22] = np.nan
    x[1, 4, 0] = np.inf
    ref_m, ref_v = window_reference(x, 5, mode, cval=0.5)
    for chunks in [(1, 4, 5), (2, 19, 23), (1, 1, 1), random_chunks(x.shape, rng)]:
        a = da.from_array(x, chunks=chunks)
        m, v = (r.compute() for r in tp.window_stats(a, 5, mode=mode, cval=0.5))
        np.testing.assert_array_equal(np.isnan(m), np.isnan(ref_m))
        np.testing.assert_array_equal(np.isnan(v), np.isnan(ref_v))
        np.testing.assert_array_equal(np.isinf(m), np.isinf(ref_m))
        ok = np.isfinite(ref_m)
        np.testing.assert_allclose(m[ok], ref_m[ok], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(v[ok], ref_v[ok], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_nan_policy_omit(mode, rng):
    x = rng.normal(size=(17, 21))
    x[3:9, 4:12] = np.nan  # a nodata hole larger than the window
    x[15, 0] = np.nan
    ref_m, ref_v = window_reference(x, 5, mode, cval=np.nan, nan_policy="omit")
    assert np.isnan(ref_m).any()  # the hole's centre has no valid pixel
    assert_chunk_invariant(
        lambda a: tp.window_stats(a, 5, mode=mode, cval=np.nan, nan_policy="omit"),
        x, (ref_m, ref_v), chunkings=[(4, 3), (1, 1), (17, 21)], rtol=1e-10, atol=1e-12,
    )


def test_omit_with_constant_cval_counts_the_border(rng):
    x = rng.normal(size=(8, 9))
    x[0, 0] = np.nan
    ref = window_reference(x, 3, "constant", cval=2.0, nan_policy="omit")
    assert_chunk_invariant(lambda a: tp.window_stats(a, 3, mode="constant", cval=2.0, nan_policy="omit"),
                           x, ref, chunkings=[(3, 3)], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(7, 8), (3, 9, 10), (2, 3, 6, 7)])
def test_leading_axes(shape, rng):
    x = rng.normal(size=shape)
    ref = window_reference(x, 3, "wrap")
    assert_chunk_invariant(lambda a: tp.window_stats(a, 3, mode="wrap"), x, ref,
                           chunkings=[random_chunks(shape, rng), random_chunks(shape, rng, small=True)],
                           rtol=1e-10, atol=1e-12)


def test_dask_is_lazy_and_named_deterministically(rng):
    a = da.from_array(rng.normal(size=(2, 30, 40)), chunks=(1, 7, 9))
    with raise_if_dask_computes():
        m1, v1 = tp.window_stats(a, 15)
        m2, _ = tp.window_stats(a, 15)
        m3, _ = tp.window_stats(a, 13)
        m4, _ = tp.window_stats(a, 15, mode="constant", cval=np.nan)
        m5, _ = tp.window_stats(a, 15, mode="constant", cval=np.nan)
    assert m1.name == m2.name != m3.name
    assert m4.name == m5.name
    assert m1.shape == a.shape and m1.dtype == np.float64


@given(
    h=st.integers(1, 14),
    w=st.integers(1, 14),
    size=st.integers(0, 10).map(lambda k: 2 * k + 1),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_chunk_invariance_property(h, w, size, mode, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(h, w))
    expected = tp.window_stats(x, size, mode=mode)
    ref = window_reference(x, size, mode)
    np.testing.assert_allclose(expected[0], ref[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(expected[1], ref[1], rtol=1e-9, atol=1e-12)
    chunks = random_chunks(x.shape, rng)
    got = tp.window_stats(da.from_array(x, chunks=chunks), size, mode=mode)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.compute(), e, rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"size": 4}, InvalidParameterError, "Expected size to be an odd positive integer"),
        ({"size": 0}, InvalidParameterError, "Expected size to be an odd positive integer"),
        ({"size": -3}, InvalidParameterError, "Expected size to be an odd positive integer"),
        ({"size": (3, 4)}, InvalidParameterError, "Expected size to be an odd positive integer"),
        ({"size": (3, 3, 3)}, InvalidParameterError, "Expected size to be an odd positive integer or a pair"),
        ({"size": 3.0}, InvalidTypeError, "Expected size to be an integer, got 3.0"),
        ({"size": 3, "mode": "symmetric"}, InvalidParameterError, "Expected mode to be one of 'reflect'"),
        ({"size": 3, "nan_policy": "ignore"}, InvalidParameterError, "Expected nan_policy to be 'propagate' or 'omit'"),
        ({"size": 3, "cval": "zero"}, InvalidTypeError, "Expected cval to be a real number"),
    ],
)
def test_bad_parameters_are_named(kwargs, error, message, rng):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        tp.window_stats(rng.normal(size=(5, 5)), **kwargs)


def test_bad_arrays_are_refused():
    with pytest.raises(InvalidParameterError, match=r"at least 2 dimensions \(\.\.\., y, x\), got shape \(5,\)"):
        tp.window_mean(np.arange(5.0), 3)
    with pytest.raises(InvalidTypeError, match="Expected image to have a boolean, integer or real floating dtype, got complex128"):
        tp.window_mean(np.ones((3, 3), complex), 3)
    with pytest.raises(InvalidTypeError, match="Expected image to be a numpy or dask array, got str"):
        tp.window_mean("image.tif", 3)
    assert isinstance(InvalidParameterError("x"), ValueError)


# ------------------------------------------------------------------ windows wider than the image


def multiplicities(n, s, mode):
    """How many times each pixel of an n-pixel axis (column n: cval) is in the size-s
    window of each output pixel: (n, n + 1) Python ints, counted arithmetically (the
    positions of each residue class modulo the mode's period, or beyond each edge), so
    that any size can be checked."""
    from tiledproc.kernels._boundary import mode_index

    r = s // 2
    M = np.zeros((n, n + 1), dtype=object)
    for i in range(n):
        lo, hi = i - r, i + r
        if mode in ("reflect", "mirror", "wrap") and not (mode == "mirror" and n == 1):
            period = {"reflect": 2 * n, "mirror": 2 * n - 2, "wrap": n}[mode]
            for c in range(period):
                M[i, int(mode_index(np.array([c]), n, mode)[0])] += (hi - c) // period - (lo - 1 - c) // period
        else:
            for p in range(max(lo, 0), min(hi, n - 1) + 1):
                M[i, p] += 1
            below, above = max(0, min(hi, -1) - lo + 1), max(0, hi - max(lo, n) + 1)
            if mode == "constant":
                M[i, n] += below + above
            else:
                M[i, 0] += below
                M[i, n - 1] += above
        assert sum(M[i]) == s
    return M


def counting_reference(x, size, mode, cval=0.0, nan_policy="propagate"):
    """Windowed (mean, variance) from the multiplicities: the weighted float64 mean and
    two-pass variance of the image (with a cval row and column), for any window size."""
    sy, sx = (size, size) if np.isscalar(size) else size
    H, W = x.shape[-2:]
    My, Mx = multiplicities(H, sy, mode), multiplicities(W, sx, mode)
    ext = np.full(x.shape[:-2] + (H + 1, W + 1), float(cval))
    ext[..., :H, :W] = x
    mean, var = np.empty(x.shape), np.empty(x.shape)
    for i in range(H):
        for j in range(W):
            w = np.outer(My[i], Mx[j]).astype(np.float64)
            for lead in np.ndindex(*x.shape[:-2]):
                v = np.where(w > 0, ext[lead], 0.0)
                ww = np.where(np.isnan(v), 0.0, w) if nan_policy == "omit" else w
                v = np.where(np.isnan(v), 0.0, v) if nan_policy == "omit" else v
                with np.errstate(invalid="ignore", divide="ignore"):
                    m = (ww * v).sum() / ww.sum()
                    var[lead + (i, j)] = (ww * (v - m) ** 2).sum() / ww.sum()
                mean[lead + (i, j)] = m
    return mean, var


@pytest.mark.parametrize("mode", MODES)
def test_counting_reference_is_the_brute_force(mode, rng):
    x = rng.normal(size=(5, 4))
    x[1, 2] = np.nan
    for size in (1, 3, 9, 11, 23, (41, 7)):
        for policy in ("propagate", "omit"):
            got = counting_reference(x, size, mode, cval=-1.0, nan_policy=policy)
            ref = window_reference(x, size, mode, cval=-1.0, nan_policy=policy)
            np.testing.assert_allclose(got[0], ref[0], rtol=1e-12, equal_nan=True)
            np.testing.assert_allclose(got[1], ref[1], rtol=1e-10, atol=1e-14, equal_nan=True)


# sizes n - 1, n, n + 1, 2n + 1 and 3n + 7 of a 6 x 5 image (the odd ones of each axis),
# wide along one axis or both, and larger
WIDE_SIZES = [(5, 5), (7, 11), (13, 21), (25, 23), (5, 23), (25, 5), (13, 1), (1, 11), 9, 41, 101]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", ["propagate", "omit"])
def test_windows_wider_than_the_image_match_brute_force(mode, policy, rng):
    x = rng.normal(size=(2, 6, 5)) * 4 + 30
    x[0, 2, 3] = np.nan
    x[1, 0, 0] = np.nan
    for cval in ([2.5, np.nan] if mode == "constant" else [0.0]):
        for size in WIDE_SIZES:
            ref = window_reference(x, size, mode, cval=cval, nan_policy=policy)
            assert_chunk_invariant(
                lambda a: tp.window_stats(a, size, mode=mode, cval=cval, nan_policy=policy),
                x, ref, chunkings=[random_chunks(x.shape, rng) for _ in range(3)] + [(1, 1, 1)],
                rtol=1e-10, atol=1e-12,
            )


HUGE_SIZES = [10**6 + 1, 10**18 + 1, 2**63 - 1, (3, 10**6 + 1), (10**18 + 1, 1), (7, 10**18 + 3)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", ["propagate", "omit"])
def test_huge_windows_match_the_counting_reference(mode, policy, rng):
    """Sizes far beyond any brute force: the windows' content counted arithmetically."""
    x = rng.normal(size=(2, 5, 4)) * 2 + 1000
    x[0, 1, 2] = np.nan
    cval = np.nan if (mode == "constant" and policy == "omit") else 2.5
    for size in HUGE_SIZES:
        ref = counting_reference(x, size, mode, cval=cval, nan_policy=policy)
        assert_chunk_invariant(
            lambda a: tp.window_stats(a, size, mode=mode, cval=cval, nan_policy=policy),
            x, ref, chunkings=[random_chunks(x.shape, rng) for _ in range(3)] + [(1, 1, 1)],
            rtol=1e-12, atol=1e-12,
        )


@pytest.mark.parametrize("mode", MODES)
def test_huge_windows_match_scipy(mode, rng):
    """scipy's running sum handles 10**6 + 1 on a small image (its rounding grows with the
    size: ~1e-11 here); 10**7 + 1 would take it a quarter of a second per call."""
    x = rng.normal(size=(5, 5)) * 3 + 7
    for size in (10**6 + 1, (1, 10**6 + 3), (10**6 + 5, 3)):
        np.testing.assert_allclose(tp.window_mean(x, size, mode=mode, cval=-4.0),
                                   scipy_mean(x, size, mode, cval=-4.0), rtol=1e-9)
    assert tp.window_mean(np.zeros((5, 5)), 10**6 + 1).max() == 0.0  # the example


@pytest.mark.parametrize("func,index", [(tp.window_mean, 0), (tp.window_variance, 1), (tp.window_std, 2)])
def test_huge_windows_single_statistics_and_dtype(func, index, rng):
    x = (rng.normal(size=(6, 7)) * 5 + 100).astype(np.float32)
    m, v = counting_reference(x.astype(np.float64), 10**9 + 1, "mirror")
    ref = (m, v, np.sqrt(v))[index]
    out = func(x, 10**9 + 1, mode="mirror")
    assert out.dtype == np.float32
    assert_chunk_invariant(lambda a: func(a, 10**9 + 1, mode="mirror"), x, ref,
                           chunkings=[(2, 3), (1, 1)], rtol=1e-5)


def test_huge_windows_without_cancellation(rng):
    """float32 10000 + N(0, 1): the variance of windows of 10**6 + 1 to 1e-4 relative (the
    pieces are merged by counts, means and sums of squared deviations)."""
    x = (10000 + rng.normal(size=(1, 12, 15))).astype(np.float32)
    _, ref_v = counting_reference(x.astype(np.float64), 10**6 + 1, "reflect")
    for a in (x, da.from_array(x, chunks=(1, 5, 4))):
        _, v = tp.window_stats(a, 10**6 + 1)
        rel = np.abs(np.asarray(v, np.float64) - ref_v) / ref_v
        assert rel.max() < 1e-4, rel.max()


def test_huge_windows_of_a_constant_and_of_a_nodata_fill(rng):
    x = np.full((8, 9), 15981.357, np.float32)
    for a in (x, da.from_array(x, chunks=(3, 4))):
        m, v = (np.asarray(r) for r in tp.window_stats(a, 10**12 + 1, mode="wrap"))
        assert (m == np.float32(15981.357)).all() and (v == 0).all()
    y = (100 + rng.normal(size=(6, 7))).astype(np.float32)
    y[:, :3] = -3.4e38
    ref_m, ref_v = counting_reference(y.astype(np.float64), 10**6 + 1, "nearest")
    for a in (y, da.from_array(y, chunks=(2, 3))):
        m, s = (np.asarray(r, np.float64) for r in tp.window_stats(a, 10**6 + 1, mode="nearest"))
        np.testing.assert_allclose(m, ref_m, rtol=1e-6)
        assert np.isinf(s).all()  # beyond float32, as for any window
        np.testing.assert_allclose(np.asarray(tp.window_std(a, 10**6 + 1, mode="nearest"), np.float64),
                                   np.sqrt(ref_v), rtol=1e-5)


def test_huge_windows_allocate_by_the_image_not_the_size(rng):
    import tracemalloc

    x = rng.normal(size=(64, 80))
    tp.window_stats(x, 10**18 + 1)  # compiled first
    for size in (10**18 + 1, (10**6 + 1, 3), 2**63 - 1):
        tracemalloc.start()
        tp.window_stats(x, size, mode="mirror")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 200 * x.nbytes, (size, peak)


def test_huge_window_keeps_the_chunks_when_its_remainder_is_small(rng):
    """wrap, 488 periods of 2048 plus 1: the window part is one pixel, so no chunk is merged
    (the whole lines are partial sums per chunk); reflect's remainder of 577 merges the
    chunks to 512, its halo (288) and no more."""
    a = da.from_array(rng.normal(size=(2048, 2048)), chunks=256)
    with raise_if_dask_computes():
        m, v = tp.window_stats(a, 2048 * 488 + 1, mode="wrap")
        assert m.chunks == v.chunks == a.chunks
        m2, _ = tp.window_stats(a, 10**6 + 1, mode="reflect")
        assert m2.chunks == ((512,) * 4, (512,) * 4)
        m3, _ = tp.window_stats(a, 10**6 + 1, mode="reflect")
    assert m2.name == m3.name != m.name
    small = rng.normal(size=(40, 30))
    # 7 periods + 1 along y; along x 3 periods + 3, rolled by half the line (odd periods)
    got = tp.window_stats(da.from_array(small, chunks=(10, 7)), (40 * 7 + 1, 30 * 3 + 3), mode="wrap")
    assert got[0].chunks == ((10,) * 4, (7, 7, 7, 7, 2))
    ref = counting_reference(small, (40 * 7 + 1, 30 * 3 + 3), "wrap")
    np.testing.assert_allclose(got[0].compute(), ref[0], rtol=1e-12)
    np.testing.assert_allclose(got[1].compute(), ref[1], rtol=1e-10)


@given(
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    sy=st.integers(0, 40).map(lambda k: 2 * k + 1),
    sx=st.integers(0, 40).map(lambda k: 2 * k + 1),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_wide_windows_property(h, w, sy, sx, mode, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(h, w))
    ref = window_reference(x, (sy, sx), mode, cval=0.5)
    got = tp.window_stats(da.from_array(x, chunks=random_chunks(x.shape, rng)), (sy, sx), mode=mode, cval=0.5)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g.compute(), r, rtol=1e-9, atol=1e-12)


def _exact_reference(x, size, mode):
    """Exact (mean, variance) of integer data from int64 prefix sums (no rounding until the
    final division), for windows too large for the brute force."""
    sy, sx = size
    p = pad_like_scipy(np.asarray(x, np.int64), [(sy // 2, sy // 2), (sx // 2, sx // 2)], mode)

    def box(v):
        c = np.zeros((v.shape[0] + 1, v.shape[1] + 1), np.int64)
        c[1:, 1:] = v.cumsum(0).cumsum(1)
        return c[sy:, sx:] - c[:-sy, sx:] - c[sy:, :-sx] + c[:-sy, :-sx]

    n = sy * sx
    s1, s2 = box(p), box(p * p)
    return s1 / n, (n * s2 - s1 * s1) / (n * n)


@pytest.mark.parametrize("shape,size", [((3, 6200), (1, 8191)), ((2, 6200), (3, 12287)),
                                        ((1, 33000), (1, 65535)), ((4200, 2), (8191, 1))])
def test_windows_of_8191_and_more(shape, size, rng):
    """Windows whose x tree has more than 12 terms (summed ahead in groups, from 8191 on),
    and a window of 8191 rows, on numpy and dask input, against exact integer sums."""
    x = rng.integers(-1000, 1000, size=shape) + 10_000
    if size[0] == 1:
        assert len(_tree(size[1], 1 << 20)[2]) > 0  # the presum groups are used
    ref = _exact_reference(x, size, "reflect")
    chunks = (shape[0], 1000) if shape[0] < shape[1] else (1000, shape[1])
    assert_chunk_invariant(lambda a: tp.window_stats(a, size), x.astype(np.float64), ref,
                           chunkings=[chunks], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("size", [10**30 + 1, (3, 10**30 + 1), 2**63 + 1])
def test_sizes_beyond_int64_are_refused_cleanly(size, rng):
    x = rng.normal(size=(5, 5))
    for a in (x, da.from_array(x, chunks=2)):
        with pytest.raises(InvalidParameterError, match=r"Expected size to be at most 2\*\*63 - 1"):
            tp.window_stats(a, size)


@pytest.mark.parametrize("func", [tp.window_mean, tp.window_variance, tp.window_std, tp.window_stats])
@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"size": 4}, InvalidParameterError, "Expected size to be an odd positive integer"),
        ({"size": 10**30 + 1}, InvalidParameterError, r"Expected size to be at most 2\*\*63 - 1"),
        ({"size": 3, "mode": "symmetric"}, InvalidParameterError, "Expected mode to be one of"),
        ({"size": 3, "cval": None}, InvalidTypeError, "Expected cval to be a real number"),
        ({"size": 3, "nan_policy": "raise"}, InvalidParameterError, "Expected nan_policy to be"),
    ],
)
def test_every_window_operation_names_the_parameter_as_written(func, kwargs, error, message, rng):
    """window_mean, window_variance and window_std check under their own parameter names
    (not those of an inner function), before any work."""
    a = da.from_array(rng.normal(size=(6, 7)), chunks=3)
    with raise_if_dask_computes(), pytest.raises(error, match=message):
        func(a, **kwargs)


@pytest.mark.parametrize("func", [tp.window_mean, tp.window_variance, tp.window_std, tp.window_stats])
def test_unknown_chunk_sizes_are_refused(func, rng):
    x = da.from_array(rng.normal(size=(9, 10)), chunks=4)
    unknown = x[x[:, 0] > -10]  # boolean indexing: NaN chunk sizes along y
    with pytest.raises(InvalidParameterError, match=r"Expected image to have known chunk sizes.*"
                                                     r"compute_chunk_sizes\(\)"):
        func(unknown, 3)
