"""Gradient and Hessian against numpy.gradient and scipy.ndimage.correlate1d."""

import re

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

import tiledproc as tp
from tiledproc.errors import InvalidParameterError, InvalidTypeError
from tiledproc.testing import assert_chunk_invariant, random_chunks

from .conftest import raise_if_dask_computes

MODES = ["reflect", "mirror", "nearest", "constant", "wrap"]


def np_gradient(x, hy, hx):
    x = np.asarray(x, np.float64)
    d_y, d_x = np.gradient(x, hy, hx, axis=(-2, -1))
    return d_y, d_x


def np_hessian(x, hy, hx):
    d_y, d_x = np_gradient(x, hy, hx)
    return np.gradient(d_y, hy, axis=-2), np.gradient(d_y, hx, axis=-1), np.gradient(d_x, hx, axis=-1)


def chunkings(shape, rng):
    return [tuple((1,) * n for n in shape), (1,) * (len(shape) - 2) + (2, 3), shape,
            random_chunks(shape, rng), random_chunks(shape, rng, small=True)]


@pytest.mark.parametrize("shape", [(2, 2), (2, 9), (13, 17), (3, 8, 11), (2, 2, 5, 6)])
@pytest.mark.parametrize("spacing", [1.0, (0.5, 3.0)])
def test_gradient_and_hessian_equal_numpy(shape, spacing, rng):
    x = rng.normal(size=shape) * 10
    hy, hx = (spacing, spacing) if np.isscalar(spacing) else spacing
    grad = np_gradient(x, hy, hx)
    hess = np_hessian(x, hy, hx)
    # the same formulas in the same order: equal to the last bit in float64
    assert_chunk_invariant(lambda a: tp.gradient(a, spacing), x, grad, chunkings=chunkings(shape, rng),
                           rtol=0, atol=0)
    assert_chunk_invariant(lambda a: tp.finite_difference_hessian(a, spacing), x, hess, chunkings=chunkings(shape, rng),
                           rtol=0, atol=0)
    assert_chunk_invariant(lambda a: tp.gradient_and_hessian(a, spacing), x, grad + hess,
                           chunkings=chunkings(shape, rng)[:3], rtol=0, atol=0)
    assert_chunk_invariant(lambda a: tp.gradient_magnitude(a, spacing), x, np.hypot(*grad),
                           chunkings=chunkings(shape, rng)[:3], rtol=1e-15, atol=0)


def compact_reference(x, hy, hx, mode, cval):
    """The README's definition, in float64: ``correlate1d`` with ``[1, -2, 1] / h**2`` for
    ``d_yy``/``d_xx``, and with ``[-1, 0, 1] / 2h`` along y, then along x, for ``d_yx``;
    ``mode``/``cval`` at the edge of every pass (the intermediate is extended, not the input)."""
    x = np.asarray(x, np.float64)
    kw = dict(mode=mode, cval=cval)
    d_yy = ndi.correlate1d(x, np.array([1.0, -2.0, 1.0]) / hy**2, axis=-2, **kw)
    d_xx = ndi.correlate1d(x, np.array([1.0, -2.0, 1.0]) / hx**2, axis=-1, **kw)
    d_y = ndi.correlate1d(x, np.array([-1.0, 0.0, 1.0]) / (2 * hy), axis=-2, **kw)
    d_yx = ndi.correlate1d(d_y, np.array([-1.0, 0.0, 1.0]) / (2 * hx), axis=-1, **kw)
    return d_yy, d_yx, d_xx


COMPACT_CASES = [  # (mode, cval): constant with a cval far from the data, and with 0
    ("reflect", 0.0), ("mirror", 0.0), ("nearest", 0.0), ("wrap", 0.0), ("constant", 8.0), ("constant", -3.5),
    ("constant", 0.0),
]


@pytest.mark.parametrize("mode,cval", COMPACT_CASES)
@pytest.mark.parametrize("spacing", [(0.5, 2.0), (3.0, 0.25), 1.7, (1.0, 1.0)])
@pytest.mark.parametrize("shape", [(4, 5), (1, 7), (6, 1), (2, 11, 14), (3, 9, 13)])
def test_compact_hessian_equals_correlate1d(shape, spacing, mode, cval, rng):
    x = rng.normal(size=shape) * 3 + 1
    hy, hx = (spacing, spacing) if np.isscalar(spacing) else spacing
    ref = compact_reference(x, hy, hx, mode, cval)
    chunks = chunkings(shape, rng) + [random_chunks(shape, rng) for _ in range(3)]
    scale = max(1.0, max(np.abs(r).max() for r in ref))
    assert_chunk_invariant(lambda a: tp.finite_difference_hessian(a, spacing, method="compact", mode=mode, cval=cval), x, ref,
                           chunkings=chunks, rtol=1e-14, atol=1e-14 * scale)


@pytest.mark.parametrize("mode,cval", COMPACT_CASES)
def test_compact_reference_catches_the_mistakes(mode, cval, rng):
    """The comparison above can fail on every output: exchanging the spacings changes d_yy and
    d_xx, ignoring cval changes all three, and extending the middle pass of d_yx with cval / h_y
    (issue 15) changes d_yx, on every mode that uses cval."""
    x = rng.normal(size=(5, 6)) * 3 + 1
    hy, hx = 0.5, 2.0
    ref = compact_reference(x, hy, hx, mode, cval)
    swapped = compact_reference(x, hx, hy, mode, cval)
    assert not np.allclose(ref[0], swapped[0]) and not np.allclose(ref[2], swapped[2])
    if mode == "constant" and cval != 0:
        for r, z in zip(ref, compact_reference(x, hy, hx, mode, 0.0)):
            assert not np.allclose(r, z)
        kw = dict(mode=mode, cval=cval)
        wrong = ndi.correlate1d(ndi.correlate1d(x, [-0.5, 0, 0.5], axis=-2, **kw), [-0.5, 0, 0.5], axis=-1, **kw)
        assert not np.allclose(ref[1], wrong / (hy * hx))


def test_compact_d_yx_at_the_edge_uses_cval_not_cval_over_spacing():
    """Issue 15: with spacing != 1 the value beyond the edge in the middle pass was cval / h_y."""
    a = np.zeros((4, 5))
    got = tp.finite_difference_hessian(a, spacing=(0.5, 2.0), method="compact", mode="constant", cval=8.0)[1]
    np.testing.assert_array_equal(got[:, 0], [-4.0, -2.0, -2.0, 0.0])
    np.testing.assert_array_equal(got, compact_reference(a, 0.5, 2.0, "constant", 8.0)[1])
    lazy = tp.finite_difference_hessian(da.from_array(a, chunks=(1, 2)), spacing=(0.5, 2.0), method="compact", mode="constant",
                      cval=8.0)[1]
    np.testing.assert_array_equal(lazy.compute(), got)


@pytest.mark.parametrize("mode", MODES)
def test_compact_non_finite_values_as_correlate1d(mode, rng):
    """correlate1d multiplies the centre by its zero weight: a NaN or an infinity there gives NaN."""
    x = rng.normal(size=(9, 10))
    x[4, 5], x[0, 0], x[8, 3] = np.nan, np.inf, -np.inf
    ref = compact_reference(x, 0.5, 2.0, mode, np.nan if mode == "constant" else 0.0)
    got = tp.finite_difference_hessian(da.from_array(x, chunks=(3, 4)), (0.5, 2.0), method="compact", mode=mode,
                     cval=np.nan if mode == "constant" else 0.0)
    for g, r in zip(got, ref):
        g = g.compute()
        np.testing.assert_array_equal(np.isnan(g), np.isnan(r))
        np.testing.assert_allclose(g, r, rtol=1e-14, atol=1e-13)


def test_compact_is_more_accurate_on_a_smooth_field():
    y, x = np.mgrid[0:64, 0:64] * 0.1
    f = np.sin(y) * np.cos(x)
    exact_yy = -f
    wide = tp.finite_difference_hessian(f, 0.1)[0][5:-5, 5:-5]
    compact = tp.finite_difference_hessian(f, 0.1, method="compact")[0][5:-5, 5:-5]
    assert np.abs(compact - exact_yy[5:-5, 5:-5]).max() < 0.3 * np.abs(wide - exact_yy[5:-5, 5:-5]).max()


@pytest.mark.parametrize("dtype,expected", [("uint8", "float32"), ("uint16", "float32"), ("int32", "float64"),
                                            ("float32", "float32"), ("float64", "float64")])
def test_integer_inputs_are_promoted(dtype, expected, rng):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    hi = info.max if info else 1000
    x = rng.integers(0, hi, size=(9, 12), endpoint=True).astype(dtype)
    x[0, 0], x[0, 1] = hi, 0  # differences that would wrap around in the integer dtype
    outs = tp.gradient_and_hessian(x)
    ref = np_gradient(x, 1, 1) + np_hessian(x, 1, 1)
    for got, want in zip(outs, ref):
        assert got.dtype == np.dtype(expected)
        np.testing.assert_allclose(got, want, rtol=1e-6 if expected == "float32" else 0, atol=1e-6 * hi)


@given(h=st.integers(2, 12), w=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_chunk_invariance_property(h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(h, w))
    expected = tp.gradient_and_hessian(x)
    got = tp.gradient_and_hessian(da.from_array(x, chunks=random_chunks(x.shape, rng)))
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.compute(), e)


def test_one_pass_and_laziness(rng):
    a = da.from_array(rng.normal(size=(30, 30)), chunks=10)
    with raise_if_dask_computes():
        outs = tp.gradient_and_hessian(a)
    names = {o.name.split("-getitem")[0] for o in outs}
    assert len({o.dask.dependencies[o.name].copy().pop() for o in outs}) == 1, names  # one shared kernel layer


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: tp.gradient(np.zeros((1, 5))), InvalidParameterError,
         r"Expected image to have at least 2 x 2 pixels .* got shape \(1, 5\)"),
        (lambda: tp.gradient(np.zeros(5)), InvalidParameterError, "Expected image to have at least 2 dimensions"),
        (lambda: tp.gradient(np.zeros((3, 3)), 0), InvalidParameterError, "Expected spacing to be a finite positive"),
        (lambda: tp.gradient(np.zeros((3, 3)), (1, 2, 3)), InvalidParameterError, "a number or a pair"),
        (lambda: tp.gradient(np.zeros((3, 3)), "1"), InvalidTypeError, "Expected spacing to be a real number"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), method="sobel"), InvalidParameterError,
         "Expected method to be 'gradient' or 'compact'"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), method="compact", mode="edge"), InvalidParameterError,
         "Expected mode to be one of"),
    ],
)
def test_refusals(call, error, message):
    with pytest.raises(error, match=message):
        call()


def _names(text):
    return set(re.findall(r"Expected (\w+)", text))


@pytest.mark.parametrize(
    "call,error,name",
    [
        # every operation checks what it forwards under the name its caller wrote
        (lambda: tp.gradient_magnitude(np.zeros((3, 3)), 0), InvalidParameterError, "spacing"),
        (lambda: tp.gradient_magnitude(np.zeros((3, 3)), np.array(1.0)), None, None),
        (lambda: tp.gradient_magnitude(np.zeros(3)), InvalidParameterError, "image"),
        (lambda: tp.gradient_and_hessian(np.zeros((3, 3)), (1, -1)), InvalidParameterError, "spacing"),
        (lambda: tp.gradient_and_hessian(np.zeros((3, 3)), [1.0]), InvalidParameterError, "spacing"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), np.array(0.5)), None, None),  # a 0-d array is a number
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), np.zeros((2, 2)) + 1), InvalidTypeError, "spacing"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), method=None), InvalidParameterError, "method"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), method="compact", cval="x"), InvalidTypeError, "cval"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), method="compact", cval=True), InvalidTypeError, "cval"),
        # mode and cval are checked for either method: a typo is not silently ignored
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), mode="edge"), InvalidParameterError, "mode"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), cval=[0]), InvalidTypeError, "cval"),
        # a Python int beyond the float range is a clean error under its name, not an OverflowError
        (lambda: tp.gradient(np.zeros((3, 3)), 10**400), InvalidParameterError, "spacing"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), (1, -10**5000)), InvalidParameterError, "spacing"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), method="compact", mode="constant", cval=10**400),
         InvalidParameterError, "cval"),
        (lambda: tp.finite_difference_hessian(np.zeros((3, 3)), cval=-(10**400)), InvalidParameterError, "cval"),
    ],
)
def test_errors_name_the_callers_parameter(call, error, name):
    if error is None:
        call()
        return
    with pytest.raises(error) as info:
        call()
    assert _names(str(info.value)) == {name}, str(info.value)
    assert "OverflowError" not in repr(info.value)


def test_dask_array_of_unknown_chunk_sizes_is_refused(rng):
    x = da.from_array(rng.normal(size=(6, 7)), chunks=3)
    unknown = x[x[:, 0] > -10]  # boolean indexing: NaN chunk sizes along y
    for call in (tp.gradient, tp.finite_difference_hessian, tp.gradient_and_hessian,
                 lambda a: tp.finite_difference_hessian(a, method="compact")):
        with pytest.raises(InvalidParameterError, match=r"Expected image to have known chunk sizes.*"
                                                         r"compute_chunk_sizes\(\)"):
            call(unknown)
    # the fix the message gives works
    got = tp.gradient(unknown.compute_chunk_sizes())
    np.testing.assert_array_equal(got[1].compute(), np_gradient(x.compute(), 1, 1)[1])
