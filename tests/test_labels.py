"""label_means and recolor_by_label against float64 numpy references (np.unique,
np.bincount) on random chunkings, both layouts, labels chunked unlike the image."""

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledproc.errors import InvalidParameterError, InvalidTypeError
from tiledproc.ops.labels import label_means, recolor_by_label
from tiledproc.testing import random_chunks

from .conftest import raise_if_dask_computes

I64 = np.iinfo(np.int64)


def reference(image, labels, axis=-1):
    """(values, means, recolored) in float64 with np.unique and np.bincount."""
    x = np.moveaxis(np.asarray(image), axis, -1).astype(np.float64)
    values, inv = np.unique(labels, return_inverse=True)
    inv = inv.reshape(-1)
    counts = np.bincount(inv, minlength=values.size)
    flat = x.reshape(-1, x.shape[-1])
    means = np.stack([np.bincount(inv, flat[:, c], minlength=values.size) / counts
                      for c in range(flat.shape[1])], axis=1) if values.size else np.empty((0, x.shape[-1]))
    recolored = np.moveaxis(means[inv].reshape(x.shape), -1, axis)
    return values, means, recolored


def superpixels(shape, cell, rng, offset=0, scale=1):
    """Blocky labels with wavy edges: runs of equal labels, as segmentations have."""
    yy, xx = np.indices(shape)
    jitter = rng.integers(0, max(cell // 2, 1), size=shape)
    return ((yy + jitter) // cell * 1000 + (xx + jitter) // cell) * scale + offset


def coarse_chunks(shape, rng, smallest=16):
    """Irregular chunks of at least ``smallest`` pixels (few tasks for larger arrays)."""
    out = []
    for n in shape:
        sizes = []
        while sum(sizes) < n:
            sizes.append(int(rng.integers(smallest, 3 * smallest)))
        sizes[-1] -= sum(sizes) - n
        out.append(tuple(s for s in sizes if s))
    return tuple(out)


def lazy_pair(image, labels, rng, axis, small=False, tiny=True):
    """The image and the labels as dask arrays, chunked independently."""
    chunking = (lambda shape: random_chunks(shape, rng, small=small)) if tiny else \
        (lambda shape: coarse_chunks(shape, rng))
    ichunks = list(chunking(image.shape))
    ichunks[axis] = image.shape[axis] if rng.random() < 0.5 else ichunks[axis]
    return da.from_array(image, chunks=tuple(ichunks)), da.from_array(labels, chunks=chunking(labels.shape))


def check(image, labels, axis, rng, *, background=None, chunkings=3, rtol=1e-12, tiny=True):
    values, means, recolored = reference(image, labels, axis)
    if background is not None:
        keep = np.expand_dims(labels == background, axis)
        recolored = np.where(keep, image.astype(np.float64), recolored)
    v, m = label_means(image, labels, channel_axis=axis)
    assert v.dtype == labels.dtype and m.dtype == np.float64
    np.testing.assert_array_equal(v, values)
    np.testing.assert_allclose(m, means, rtol=rtol, atol=0, equal_nan=True)
    out_dtype = np.result_type(image.dtype, np.float32)
    r = recolor_by_label(image, labels, channel_axis=axis, background=background)
    assert isinstance(r, np.ndarray) and r.dtype == out_dtype and r.shape == image.shape
    tol = 1e-6 if out_dtype == np.float32 else rtol
    np.testing.assert_allclose(r, recolored, rtol=tol, atol=0, equal_nan=True)
    for k in range(chunkings):
        di, dl = lazy_pair(image, labels, rng, axis, small=k == 0, tiny=tiny)
        v2, m2 = label_means(di, dl, channel_axis=axis)
        np.testing.assert_array_equal(v2, values)
        np.testing.assert_allclose(m2, means, rtol=rtol, atol=0, equal_nan=True)
        r2 = recolor_by_label(di, dl, channel_axis=axis, background=background)
        assert isinstance(r2, da.Array) and r2.dtype == out_dtype
        np.testing.assert_allclose(r2.compute(), recolored, rtol=tol, atol=0, equal_nan=True)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "float64", "int64"])
def test_matches_bincount_reference(axis, dtype, rng):
    shape = [17, 23]
    shape.insert(axis % 3, 3)
    if np.dtype(dtype).kind == "f":
        image = (rng.normal(size=shape) * 100).astype(dtype)
    else:
        info = np.iinfo(dtype)
        image = rng.integers(max(info.min, -(2**40)), min(info.max, 2**40), size=shape, endpoint=True).astype(dtype)
    labels = superpixels((17, 23), 4, rng, offset=-7)
    check(image, labels, axis, rng)


@pytest.mark.parametrize("ldtype", ["int8", "uint8", "uint16", "int32", "uint32", "int64", "uint64"])
def test_any_integer_label_dtype(ldtype, rng):
    info = np.iinfo(ldtype)
    pool = np.array([info.min, info.min + 1, info.max - 1, info.max, 0, 1], dtype=ldtype)
    labels = rng.choice(pool, size=(11, 13))
    check(rng.normal(size=(11, 13, 2)), labels, -1, rng)


def test_ids_near_the_int64_limits_and_sparse_64_bit_ids(rng):
    pool = np.array([I64.min, I64.min + 1, -1, 0, I64.max - 1, I64.max], dtype=np.int64)
    labels = rng.choice(pool, size=(19, 21))
    check(rng.normal(size=(19, 21, 3)), labels, -1, rng)
    ids = rng.integers(I64.min, I64.max, size=40, dtype=np.int64, endpoint=True)
    labels = rng.choice(ids, size=(19, 21))
    check(rng.normal(size=(3, 19, 21)), labels, 0, rng)
    big = np.array([2**64 - 1, 2**63, 2**63 - 1, 0], dtype=np.uint64)  # beyond int64
    check(rng.normal(size=(19, 21, 2)), rng.choice(big, size=(19, 21)), -1, rng)


def test_dense_and_sparse_blocks_agree(rng):
    """The same labels seen as a dense offset range and through the hash table."""
    dense = superpixels((40, 50), 3, rng)
    image = rng.normal(size=(40, 50, 3))
    check(image, dense, -1, rng, chunkings=2, tiny=False)
    def spread(v):  # increasing: the same partition, in the same order, spread over int64
        return v.astype(np.int64) * (2**40 + 17) - 2**62

    v1, m1 = label_means(image, dense)
    v2, m2 = label_means(image, spread(dense))
    np.testing.assert_array_equal(v2, spread(v1))
    np.testing.assert_array_equal(m2, m1)


def test_a_million_labels(rng):
    """Every pixel its own label: the means are the pixels, the recolouring the identity."""
    n = 1000
    labels = rng.permutation(n * n).reshape(n, n).astype(np.int64) * 3 - 10**6
    image = rng.random((n, n, 3), dtype=np.float32)
    values, means = label_means(image, labels)
    assert values.size == n * n
    np.testing.assert_array_equal(means[np.searchsorted(values, labels)], image.astype(np.float64))
    out = recolor_by_label(da.from_array(image, chunks=(300, 400, 3)), da.from_array(labels, chunks=(250, 500)))
    np.testing.assert_array_equal(out.compute(scheduler="threads"), image)


def test_ten_thousand_superpixels_against_bincount(rng):
    labels = superpixels((300, 300), 3, rng)
    assert np.unique(labels).size > 9000
    check(rng.normal(size=(3, 300, 300)).astype(np.float32), labels, 0, rng, chunkings=2, tiny=False)


def test_nan_goes_to_its_label_only(rng):
    image = rng.normal(size=(9, 10, 3))
    labels = superpixels((9, 10), 3, rng)
    image[4, 4, 1] = np.nan
    image[0, 0, 2] = np.inf
    values, means, _ = reference(image, labels)
    v, m = label_means(image, labels)
    np.testing.assert_array_equal(np.isnan(m), np.isnan(means))
    assert np.isnan(m).sum() == 1 and np.isinf(m).sum() == 1
    check(image, labels, -1, rng)


def test_background_is_left_untouched(rng):
    image = rng.integers(0, 255, size=(12, 14, 3)).astype(np.uint8)
    labels = superpixels((12, 14), 4, rng)
    bg = int(labels[5, 5])
    check(image, labels, -1, rng, background=bg)
    out = recolor_by_label(image, labels, background=bg)
    np.testing.assert_array_equal(out[labels == bg], image[labels == bg].astype(np.float32))
    assert not np.array_equal(out[labels != bg], image[labels != bg].astype(np.float32))


def test_one_pixel_chunks_and_odd_shapes(rng):
    image = rng.normal(size=(2, 5, 7))
    labels = rng.integers(-3, 3, size=(5, 7))
    values, means, recolored = reference(image, labels, 0)
    di = da.from_array(image, chunks=(1, 1, 1))
    dl = da.from_array(labels, chunks=(2, 3))
    np.testing.assert_allclose(label_means(di, dl, channel_axis=0)[1], means, rtol=1e-12)
    np.testing.assert_allclose(recolor_by_label(di, dl, channel_axis=0).compute(), recolored, rtol=1e-12)


def test_empty_image():
    v, m = label_means(np.zeros((0, 4, 3)), np.zeros((0, 4), dtype=np.int32))
    assert v.shape == (0,) and m.shape == (0, 3)
    assert recolor_by_label(np.zeros((0, 4, 3)), np.zeros((0, 4), dtype=np.int32)).shape == (0, 4, 3)


def test_leading_spatial_axes(rng):
    image = rng.normal(size=(3, 4, 5, 2))
    labels = rng.integers(0, 6, size=(3, 4, 5))
    check(image, labels, -1, rng)


# ------------------------------------------------------------------ dask behaviour


def counting(a, counter):
    def touch(block):
        counter.append(block.shape)
        return block
    return a.map_blocks(touch, dtype=a.dtype, meta=np.empty((0,) * a.ndim, dtype=a.dtype))


def test_reads_each_chunk_once_for_the_table_and_once_more_for_the_map(rng):
    image = rng.normal(size=(3, 40, 50))
    labels = superpixels((40, 50), 5, rng)
    img_reads, lab_reads = [], []
    di = counting(da.from_array(image, chunks=(3, 10, 25)), img_reads)
    dl = counting(da.from_array(labels, chunks=(10, 25)), lab_reads)
    label_means(di, dl, channel_axis=0)
    assert len(img_reads) == 8 and len(lab_reads) == 8
    img_reads.clear()
    lab_reads.clear()
    recolor_by_label(di, dl, channel_axis=0).compute()
    assert len(img_reads) == 16 and len(lab_reads) == 16


def test_recolor_is_lazy_and_named_deterministically(rng):
    di = da.from_array(rng.normal(size=(3, 30, 40)), chunks=(1, 7, 9))
    dl = da.from_array(superpixels((30, 40), 4, rng), chunks=(11, 13))
    with raise_if_dask_computes():
        r1 = recolor_by_label(di, dl, channel_axis=0)
        r2 = recolor_by_label(di, dl, channel_axis=0)
        r3 = recolor_by_label(di, dl, channel_axis=0, background=0)
    assert r1.name == r2.name != r3.name
    assert r1.shape == di.shape and r1.chunks[1:] == di.chunks[1:] and r1.dtype == np.float64


def test_one_of_the_two_lazy(rng):
    """A numpy image with dask labels, and the other way round: a lazy result either way."""
    image = rng.normal(size=(3, 20, 30))
    labels = superpixels((20, 30), 4, rng)
    expected = recolor_by_label(image, labels, channel_axis=0)
    for img, lab in [(image, da.from_array(labels, chunks=(7, 11))),
                     (da.from_array(image, chunks=(1, 6, 13)), labels)]:
        out = recolor_by_label(img, lab, channel_axis=0)
        assert isinstance(out, da.Array)
        np.testing.assert_allclose(out.compute(), expected, rtol=1e-12)
        np.testing.assert_allclose(label_means(img, lab, channel_axis=0)[1],
                                   label_means(image, labels, channel_axis=0)[1], rtol=1e-12)


def test_threaded_scheduler_matches(rng):
    image = rng.normal(size=(60, 70, 3)).astype(np.float32)
    labels = superpixels((60, 70), 6, rng)
    di, dl = da.from_array(image, chunks=(16, 16, 3)), da.from_array(labels, chunks=(30, 9))
    with dask.config.set(scheduler="threads"):
        out = recolor_by_label(di, dl).compute()
    np.testing.assert_array_equal(out, recolor_by_label(image, labels))


@given(
    h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 4),
    nlab=st.integers(1, 30), seed=st.integers(0, 2**32 - 1), channel_first=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_chunk_invariance_property(h, w, c, nlab, seed, channel_first):
    rng = np.random.default_rng(seed)
    axis = 0 if channel_first else -1
    image = rng.normal(size=(c, h, w) if channel_first else (h, w, c))
    labels = rng.integers(-nlab, nlab, size=(h, w)) * 7919
    v, m = label_means(image, labels, channel_axis=axis)
    expected = recolor_by_label(image, labels, channel_axis=axis)
    di, dl = lazy_pair(image, labels, rng, axis)
    v2, m2 = label_means(di, dl, channel_axis=axis)
    np.testing.assert_array_equal(v2, v)
    np.testing.assert_allclose(m2, m, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(recolor_by_label(di, dl, channel_axis=axis).compute(), expected,
                               rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ pipeline step


def test_pipeline_step(tmp_path, rng):
    from tiledproc import open_raster, save_raster
    from tiledproc.pipeline import RunOptions, parse_pipeline, run_pipeline

    image = rng.normal(size=(3, 50, 60)).astype(np.float32)
    labels = superpixels((50, 60), 5, rng).astype(np.int32)
    save_raster(image, tmp_path / "img.zarr", chunks=(1, 16, 32))
    save_raster(labels[None], tmp_path / "lab.zarr", chunks=(1, 25, 25))
    p = parse_pipeline({
        "input": {"path": "img.zarr"}, "inputs": {"labels": {"path": "lab.zarr"}},
        "steps": {"r": {"op": "recolor_by_label", "labels": "labels", "background": int(labels[0, 0])}},
        "outputs": {"out": {"from": "r.recolored", "path": "out.zarr"}},
    }, base=tmp_path)
    with raise_if_dask_computes():
        run_pipeline(p, RunOptions(progress="off"), dry_run=True, echo=lambda s: None)
    run_pipeline(p, RunOptions(progress="off", scheduler="threads"))
    got = open_raster(tmp_path / "out.zarr").compute()
    np.testing.assert_array_equal(got, recolor_by_label(image, labels, channel_axis=0, background=int(labels[0, 0])))


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "image,labels,kwargs,error,message",
    [
        (np.zeros((4, 5, 3)), np.zeros((4, 5)), {}, InvalidTypeError,
         "Expected labels to have an integer dtype, got float64 instead."),
        (np.zeros((4, 5, 3)), np.zeros((4, 5), bool), {}, InvalidTypeError,
         r"Expected labels to have an integer dtype, got bool instead \(a mask: use labels.astype\(np.uint8\)\)."),
        (np.zeros((4, 5, 3)), np.zeros((4, 6), int), {}, InvalidParameterError,
         r"Expected labels to have the image's shape without its channel axis, \(4, 5\), got \(4, 6\) "
         r"instead \(image shape \(4, 5, 3\), channel_axis=-1\)."),
        (np.zeros((3, 4, 5)), np.zeros((4, 5), int), {"channel_axis": 3}, InvalidParameterError,
         r"Expected channel_axis to be an axis of image \(-3 to 2 for a 3-D image\), got 3 instead."),
        (np.zeros((3, 4, 5)), np.zeros((4, 5), int), {"channel_axis": 0.0}, InvalidTypeError,
         "Expected channel_axis to be an integer, got 0.0"),
        (np.zeros(5), np.zeros((), int), {}, InvalidParameterError,
         r"Expected image to have a channel axis and at least one spatial axis, got shape \(5,\) instead."),
        (np.zeros((4, 5, 3), complex), np.zeros((4, 5), int), {}, InvalidTypeError,
         "Expected image to have a boolean, integer or real floating dtype, got complex128 instead."),
        ("image.zarr", np.zeros((4, 5), int), {}, InvalidTypeError,
         "Expected image to be a numpy or dask array, got str instead."),
        (np.zeros((4, 5, 3)), {"a": 1}, {}, InvalidTypeError,
         "Expected labels to be a numpy or dask array, got dict instead."),
    ],
)
def test_bad_input_is_refused(image, labels, kwargs, error, message):
    for func in (label_means, recolor_by_label):
        with pytest.raises(error, match=message):
            func(image, labels, **kwargs)


def test_bad_background_is_refused():
    with pytest.raises(InvalidTypeError, match=r"Expected background to be an integer, got 1.5 \(float\)"):
        recolor_by_label(np.zeros((2, 2, 3)), np.zeros((2, 2), int), background=1.5)


def test_dask_shape_mismatch_is_refused_before_any_work(rng):
    with raise_if_dask_computes(), pytest.raises(InvalidParameterError, match=r"got \(8, 9\) instead"):
        recolor_by_label(da.zeros((8, 10, 3), chunks=4), da.zeros((8, 9), dtype=int, chunks=4))


def _unknown_chunks(a):
    """``a`` as a dask array whose chunk sizes are unknown (NaN), as boolean indexing makes."""
    d = da.from_array(a, chunks=2)
    return da.Array(d.__dask_graph__(), d.name, tuple((np.nan,) * len(c) for c in d.chunks), meta=d._meta)


@pytest.mark.parametrize("func", [label_means, recolor_by_label])
def test_unknown_chunk_sizes_are_refused_naming_the_argument(func):
    image, labels = np.zeros((4, 5, 3)), np.zeros((4, 5), int)
    with raise_if_dask_computes():
        with pytest.raises(InvalidParameterError, match=r"Expected image to have known chunk sizes.*"
                                                         r"image.compute_chunk_sizes\(\)"):
            func(_unknown_chunks(image), labels)
        with pytest.raises(InvalidParameterError, match=r"Expected labels to have known chunk sizes.*"
                                                         r"labels.compute_chunk_sizes\(\)"):
            func(image, _unknown_chunks(labels))


def test_background_beyond_the_labels_dtype_is_refused_cleanly():
    image = np.zeros((2, 2, 3))
    for background, labels in [(10**30, np.zeros((2, 2), int)), (-1, np.zeros((2, 2), np.uint8)),
                               (2**64, da.zeros((2, 2), dtype=np.uint64, chunks=1))]:
        with raise_if_dask_computes(), pytest.raises(
                InvalidParameterError, match=rf"Expected background to be a label value of labels' dtype "
                                             rf"{labels.dtype} .*got {background} instead"):
            recolor_by_label(image, labels, background=background)
    huge = np.iinfo(np.int64).max  # the largest that int64 labels hold is fine
    np.testing.assert_array_equal(recolor_by_label(image, np.full((2, 2), huge), background=huge), image)
