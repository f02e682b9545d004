"""Gradient and Hessian against numpy.gradient and scipy.ndimage.correlate1d."""

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
    assert_chunk_invariant(lambda a: tp.hessian(a, spacing), x, hess, chunkings=chunkings(shape, rng),
                           rtol=0, atol=0)
    assert_chunk_invariant(lambda a: tp.gradient_and_hessian(a, spacing), x, grad + hess,
                           chunkings=chunkings(shape, rng)[:3], rtol=0, atol=0)
    assert_chunk_invariant(lambda a: tp.gradient_magnitude(a, spacing), x, np.hypot(*grad),
                           chunkings=chunkings(shape, rng)[:3], rtol=1e-15, atol=0)


@pytest.mark.parametrize("mode", MODES)
def test_compact_hessian_equals_correlate1d(mode, rng):
    x = rng.normal(size=(2, 11, 14))
    hy, hx, cval = 0.5, 2.0, 1.25
    kw = dict(mode=mode, cval=cval)
    d_yy = ndi.correlate1d(x, [1.0, -2.0, 1.0], axis=-2, **kw) / hy**2
    d_xx = ndi.correlate1d(x, [1.0, -2.0, 1.0], axis=-1, **kw) / hx**2
    d_yx = ndi.correlate1d(ndi.correlate1d(x, [-0.5, 0, 0.5], axis=-2, **kw), [-0.5, 0, 0.5], axis=-1, **kw)
    d_yx /= hy * hx
    assert_chunk_invariant(lambda a: tp.hessian(a, (hy, hx), method="compact", **kw), x, (d_yy, d_yx, d_xx),
                           chunkings=chunkings(x.shape, rng), rtol=1e-13, atol=1e-13)


def test_compact_is_more_accurate_on_a_smooth_field():
    y, x = np.mgrid[0:64, 0:64] * 0.1
    f = np.sin(y) * np.cos(x)
    exact_yy = -f
    wide = tp.hessian(f, 0.1)[0][5:-5, 5:-5]
    compact = tp.hessian(f, 0.1, method="compact")[0][5:-5, 5:-5]
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
        (lambda: tp.gradient(np.zeros((1, 5))), InvalidParameterError, r"at least 2 x 2 pixels .* got shape \(1, 5\)"),
        (lambda: tp.gradient(np.zeros(5)), InvalidParameterError, "at least 2 dimensions"),
        (lambda: tp.gradient(np.zeros((3, 3)), 0), InvalidParameterError, "Expected spacing to be a finite positive"),
        (lambda: tp.gradient(np.zeros((3, 3)), (1, 2, 3)), InvalidParameterError, "a number or a pair"),
        (lambda: tp.gradient(np.zeros((3, 3)), "1"), InvalidTypeError, "Expected spacing to be a real number"),
        (lambda: tp.hessian(np.zeros((3, 3)), method="sobel"), InvalidParameterError,
         "Expected method to be 'gradient' or 'compact'"),
        (lambda: tp.hessian(np.zeros((3, 3)), method="compact", mode="edge"), InvalidParameterError,
         "Expected mode to be one of"),
    ],
)
def test_refusals(call, error, message):
    with pytest.raises(error, match=message):
        call()
