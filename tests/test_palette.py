"""palette_indices / apply_palette against the float64 argmin, bit for bit (exact
ties, near-ties, 8 and 16 bands summed in numpy's pairwise order), and
median_cut_palette against Pillow's median cut on real photographs."""

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledproc.errors import InvalidParameterError, InvalidTypeError
from tiledproc.kernels.palette import sum_plan
from tiledproc.ops.palette import apply_palette, median_cut_palette, palette_indices
from tiledproc.testing import random_chunks

from .conftest import raise_if_dask_computes


def reference(image, palette, axis=-1):
    """The float64 argmin (ties: lowest index), by pieces of pixels to bound memory."""
    x = np.moveaxis(np.asarray(image), axis, -1)
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    p = np.asarray(palette).astype(np.float64)
    out = np.empty(flat.shape[0], dtype=np.int64)
    step = max(1, (1 << 22) // max(p.size, 1))
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, flat.shape[0], step):
            out[s:s + step] = np.argmin(((flat[s:s + step, None, :] - p) ** 2).sum(-1), axis=-1)
    return out.reshape(x.shape[:-1])


def check(image, palette, axis=-1, chunkings=(), rng=None):
    ref = reference(image, palette, axis)
    got = palette_indices(image, palette, channel_axis=axis)
    n = np.asarray(palette).shape[0]
    expected_dtype = np.uint8 if n <= 256 else np.uint16 if n <= 65536 else np.uint32
    assert isinstance(got, np.ndarray) and got.dtype == expected_dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    out_dtype = np.result_type(image.dtype, np.float32)
    q = apply_palette(image, palette, channel_axis=axis)
    assert q.dtype == out_dtype and q.shape == image.shape
    np.testing.assert_array_equal(q, np.moveaxis(np.asarray(palette).astype(out_dtype)[ref], -1, axis))
    for chunks in chunkings:
        d = da.from_array(image, chunks=chunks)
        got = palette_indices(d, palette, channel_axis=axis)
        assert isinstance(got, da.Array) and got.dtype == expected_dtype
        np.testing.assert_array_equal(got.compute(), ref)
        np.testing.assert_array_equal(apply_palette(d, palette, channel_axis=axis).compute(), q)
    return ref


def some_chunkings(shape, rng):
    return [tuple((1,) * len(shape)), random_chunks(shape, rng), random_chunks(shape, rng), shape]


def test_summation_plan_is_numpys_pairwise_order(rng):
    """The plan, replayed in Python, gives numpy's .sum(-1) bit for bit, for 1 to 300 terms."""
    for C in list(range(1, 41)) + [63, 64, 65, 127, 128, 129, 200, 255, 256, 300]:
        t = (rng.normal(size=(64, C)) * rng.choice([1e-8, 1.0, 1e8], size=(64, C))) ** 2
        ops, result, nregs = sum_plan(C)
        reg = np.zeros((nregs, 64))

        def operand(k):
            return reg[k] if k >= 0 else t[:, -1 - k]

        for dst, a, b in ops:
            reg[dst] = operand(a) if b == np.iinfo(np.int64).min else operand(a) + operand(b)
        np.testing.assert_array_equal(reg[result], t.sum(-1), err_msg=f"{C} channels")
    # and a plain left-to-right sum is not numpy's order: the check can fail
    t = (rng.normal(size=(1000, 16)) * rng.choice([1e-8, 1.0, 1e8], size=(1000, 16))) ** 2
    assert (np.cumsum(t, axis=1)[:, -1] != t.sum(-1)).any()


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 8, 9, 16])
@pytest.mark.parametrize("n_colors", [1, 2, 16, 256])
def test_matches_float64_argmin(channels, n_colors, rng):
    image = rng.normal(size=(13, 17, channels)) * 50
    palette = rng.normal(size=(n_colors, channels)) * 50
    check(image, palette, -1, [random_chunks(image.shape, rng)])


@pytest.mark.parametrize("axis", [0, -1, 1])
def test_layouts_and_chunkings(axis, rng):
    shape = [19, 23]
    shape.insert(axis % 3, 3)
    image = (rng.normal(size=shape) * 40 + 100).astype(np.float32)
    palette = rng.normal(size=(40, 3)) * 40 + 100
    check(image, palette, axis, some_chunkings(tuple(shape), rng))


@pytest.mark.parametrize("channels", [3, 8, 16])
def test_adversarial_near_ties(channels, rng):
    """Pixels on the bisector of two colours, nudged by one ulp, at one scale and at mixed
    magnitudes: a different summation order or a pruning without margin picks the wrong side."""
    groups = [rng.normal(size=(12, channels)) * scale
              for scale in (np.ones(channels), rng.choice([1e-4, 1.0, 1e4], size=channels))]
    palette = np.concatenate(groups)
    pixels = []
    for g, colours in enumerate(groups):
        a, b = rng.integers(0, len(colours), size=(2, 1500))
        mid = (colours[a] + colours[b]) / 2
        pixels += [mid, np.nextafter(mid, mid + rng.choice([-1.0, 1.0], size=mid.shape))]
    pixels.append(palette * (1 + 1e-15))
    image = np.concatenate(pixels)
    image = image[: len(image) // 2 * 2].reshape(2, -1, channels)
    ref = check(image, palette, -1, [(1, 7, channels), (2, 256, channels)])
    # the test can fail: another order of the same additions gives other answers here
    sq = (image[..., None, :] - palette) ** 2
    wrong = sq[..., 0] + sq[..., 1:].sum(-1) if channels == 3 else np.cumsum(sq, axis=-1)[..., -1]
    assert (np.argmin(wrong, axis=-1) != ref).any()


def test_exact_ties_in_uint8_data_with_integer_palettes(rng):
    """Few levels, so most pixels are at exactly equal distances from several colours."""
    image = rng.integers(0, 4, size=(31, 37, 3)).astype(np.uint8)
    palette = rng.integers(0, 4, size=(20, 3))
    palette[5] = palette[2]  # duplicates: the first one wins
    palette = palette.astype(np.uint8)
    ref = check(image, palette, -1, some_chunkings(image.shape, rng))
    d = ((image[..., None, :].astype(float) - palette.astype(float)) ** 2).sum(-1)
    assert ((d == d.min(-1, keepdims=True)).sum(-1) > 1).mean() > 0.3  # ties are common
    assert not (ref == 5).any()
    check(np.moveaxis(image, -1, 0).copy(), palette, 0, [(1, 5, 8)])


@pytest.mark.parametrize("dtype,channels", [("uint8", 1), ("uint8", 3), ("uint8", 4), ("uint16", 1),
                                            ("uint16", 2), ("uint16", 3)])
def test_integer_images_through_the_colour_caches(dtype, channels, rng):
    """uint8 RGB and small integer colour spaces go through a per-process answer cache,
    other integer images through per-block distinct colours: same answers."""
    hi = np.iinfo(dtype).max
    image = (rng.integers(0, 8, size=(64, 80, channels)) * (hi // 8)).astype(dtype)
    image[::3] += rng.integers(0, 3, size=image[::3].shape).astype(dtype)
    palette = rng.integers(0, hi, size=(37, channels)).astype(np.float64)
    for _ in range(2):  # the second time from a warm cache
        check(image, palette, -1, [(16, 16, channels), (64, 80, channels)])
    with dask.config.set(scheduler="threads"):
        got = palette_indices(da.from_array(image, chunks=(8, 80, channels)), palette).compute()
    np.testing.assert_array_equal(got, reference(image, palette))


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 6, 8])
def test_every_search_path_of_the_kernel(channels, rng):
    """Vectorised comparison, sorted scan, box cut in parts (once and twice), per-pixel tree
    search: each forced in turn on noisy tiles with a dense palette and exact ties."""
    from tiledproc.kernels.palette import nearest_block, prepare_palette

    smooth = np.cumsum(rng.normal(size=(channels, 70, 90)), axis=2)
    image = np.round(smooth + rng.normal(size=smooth.shape) * 2, 1)
    palette = np.round(image.reshape(channels, -1)[:, rng.choice(image[0].size, 300)].T, 1)
    ref = reference(image, palette, 0)
    paths = {"vectorised": dict(scan_min=10**9, parts_min=10**9), "scan": dict(scan_min=0, parts_min=10**9),
             # an unlimited candidate budget (cap), so that the tiles are cut into parts instead of
             # being handed to the per-pixel search
             "parts": dict(scan_min=0, parts_min=0, cap=10**9),
             "parts twice": dict(tile=(64, 64), parts_min=8, cap=10**9),
             "per pixel": dict(cap=0), "tiny tiles": dict(tile=(1, 3))}
    for name, kwargs in paths.items():
        got = nearest_block(image, prepare_palette(palette), dedup=False, **kwargs)
        np.testing.assert_array_equal(got, ref, err_msg=name)


def test_one_colour_palette(rng):
    image = rng.normal(size=(9, 11, 3))
    image[0, 0] = np.nan
    got = check(image, [[1.0, 2.0, 3.0]], -1, [(4, 4, 3)])
    assert not got.any()


def test_65536_colours(rng):
    palette = rng.normal(size=(65536, 3)) * 30
    image = rng.normal(size=(15, 17, 3)) * 30
    image[0, :3] = palette[[7, 65535, 40000]]
    ref = check(image, palette, -1, [(4, 8, 3)])
    assert ref.dtype == np.int64 and (ref[0, :3] == [7, 65535, 40000]).all()
    got = palette_indices(image, np.concatenate([palette, palette[:1]]))
    assert got.dtype == np.uint32


def test_large_palette_on_noisy_pixels(rng):
    """Tiles too varied for their candidate budget are searched pixel by pixel."""
    palette = rng.random((5000, 3)) * 255
    image = rng.random((40, 50, 3)) * 255
    check(image, palette, -1, [(7, 9, 3)])


def test_non_finite_and_huge_pixels(rng):
    palette = rng.normal(size=(6, 3)) * 10
    image = rng.normal(size=(5, 6, 3)) * 10
    image[0, 0, 1] = np.nan
    image[0, 1] = [np.inf, 0, 0]
    image[0, 2] = [-np.inf, np.nan, 1]
    image[1, 0] = [1e200, 0, 0]  # squares overflow to inf for some colours only
    image[1, 1] = [3e153, 1, 1]
    image[1, 2] = [1e-300, 5e-324, 0]  # subnormal differences
    with np.errstate(over="ignore", invalid="ignore"):
        ref = check(image, palette, -1, [(1, 1, 3), (5, 6, 3)])
    assert (ref[0, :3] == 0).all()
    huge = np.array([[1e200, 0, 0], [-1e200, 5, 5], [1e155, 1e155, 0]])
    with np.errstate(over="ignore", invalid="ignore"):
        check(image, np.concatenate([palette, huge]), -1, [(2, 3, 3)])


def test_dtype_rule_and_other_input_types(rng):
    for dtype in ["bool", "int8", "int16", "int32", "uint32", "int64", "float16", "float64"]:
        image = (rng.normal(size=(6, 7, 2)) * 3).astype(dtype)
        palette = rng.normal(size=(5, 2)) * 3
        check(image, palette, -1, [(3, 4, 2)])
    q = apply_palette(np.zeros((2, 2, 3), np.int32), [[1, 2, 3]])
    assert q.dtype == np.float64
    assert apply_palette(np.zeros((2, 2, 3), np.uint8), [[1, 2, 3]]).dtype == np.float32


def test_leading_axes_and_one_spatial_axis(rng):
    palette = rng.normal(size=(10, 2))
    check(rng.normal(size=(3, 4, 5, 2)), palette, -1, [(2, 3, 2, 2)])
    check(rng.normal(size=(20, 2)), palette, -1, [(7, 2)])


def test_palette_given_as_a_dask_array(rng):
    image = rng.normal(size=(2, 20, 30))
    palette = rng.normal(size=(8, 2))
    ref = reference(image, palette, 0)
    got = palette_indices(da.from_array(image, chunks=(2, 7, 9)), da.from_array(palette, chunks=(3, 1)),
                          channel_axis=0)
    np.testing.assert_array_equal(got.compute(), ref)
    np.testing.assert_array_equal(palette_indices(image, da.from_array(palette), channel_axis=0), ref)


def test_dask_is_lazy_and_named_deterministically(rng):
    d = da.from_array(rng.normal(size=(3, 30, 40)), chunks=(1, 7, 9))
    palette = rng.normal(size=(12, 3))
    with raise_if_dask_computes():
        a = palette_indices(d, palette, channel_axis=0)
        b = palette_indices(d, palette, channel_axis=0)
        c = palette_indices(d, palette[::-1], channel_axis=0)
        q = apply_palette(d, palette, channel_axis=0)
    assert a.name == b.name != c.name
    assert a.shape == (30, 40) and a.chunks == d.chunks[1:]
    assert q.shape == d.shape and q.dtype == np.float64


@given(
    h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 5), n=st.integers(1, 40),
    levels=st.sampled_from([3, 1000]), seed=st.integers(0, 2**32 - 1), channel_first=st.booleans(),
)
@settings(max_examples=50, deadline=None)
def test_chunk_invariance_property(h, w, c, n, levels, seed, channel_first):
    rng = np.random.default_rng(seed)
    axis = 0 if channel_first else -1
    image = rng.integers(0, levels, size=(c, h, w) if channel_first else (h, w, c)).astype(np.float32)
    palette = rng.integers(0, levels, size=(n, c)).astype(np.float64)
    expected = palette_indices(image, palette, channel_axis=axis)
    np.testing.assert_array_equal(expected, reference(image, palette, axis))
    d = da.from_array(image, chunks=random_chunks(image.shape, rng))
    np.testing.assert_array_equal(palette_indices(d, palette, channel_axis=axis).compute(), expected)


# ------------------------------------------------------------------ median cut


def mse(image, palette):
    idx = palette_indices(image, palette)
    return float(((image.astype(np.float64) - palette[idx]) ** 2).sum(-1).mean())


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


@pytest.mark.parametrize("n_colors", [16, 64])
def test_median_cut_no_worse_than_pillow(astronaut, n_colors):
    from PIL import Image

    q = Image.fromarray(astronaut).quantize(colors=n_colors, method=Image.Quantize.MEDIANCUT)
    pillow = ((astronaut.astype(np.float64) - np.asarray(q.convert("RGB"))) ** 2).sum(-1).mean()
    palette = median_cut_palette(astronaut, n_colors)
    assert palette.shape == (n_colors, 3) and palette.dtype == np.float64
    ours = mse(astronaut, palette)
    assert ours <= pillow, (ours, pillow)
    refined = mse(astronaut, median_cut_palette(astronaut, n_colors, refine=3))
    assert refined < ours


def test_median_cut_is_chunk_invariant_and_deterministic(astronaut):
    image = astronaut[100:300, 150:400]
    palette = median_cut_palette(image, 24)
    np.testing.assert_array_equal(median_cut_palette(image, 24), palette)
    for chunks in [(37, 64, 3), (200, 1, 1), (7, 250, 2)]:
        d = da.from_array(image, chunks=chunks)
        np.testing.assert_array_equal(median_cut_palette(d, 24), palette)
    cf = np.moveaxis(image, -1, 0)
    np.testing.assert_array_equal(median_cut_palette(da.from_array(cf, chunks=(1, 64, 64)), 24, channel_axis=0),
                                  palette)
    refined = median_cut_palette(image, 24, refine=2)
    np.testing.assert_allclose(median_cut_palette(da.from_array(image, chunks=(50, 70, 3)), 24, refine=2),
                               refined, rtol=1e-12)


def test_median_cut_sample_of_a_large_image(astronaut):
    """Above sample_size pixels a hashed sample is cut: the same pixels for any chunking."""
    palette = median_cut_palette(astronaut, 8, sample_size=5000)
    for chunks in [(100, 130, 3), (512, 7, 1)]:
        np.testing.assert_array_equal(median_cut_palette(da.from_array(astronaut, chunks=chunks), 8,
                                                         sample_size=5000), palette)
    full = median_cut_palette(astronaut, 8)
    assert not np.array_equal(palette, full)
    assert mse(astronaut, palette) < 1.25 * mse(astronaut, full)


def test_median_cut_few_colours_and_nan(rng):
    image = np.zeros((4, 5, 3))
    image[:2] = [10, 20, 30]
    image[3, 4] = np.nan
    palette = median_cut_palette(image, 4)
    np.testing.assert_array_equal(palette, [[0, 0, 0], [10, 20, 30], [10, 20, 30], [10, 20, 30]])
    assert palette_indices(image, palette)[1, 1] == 1
    with pytest.raises(InvalidParameterError, match="at least one pixel with finite values"):
        median_cut_palette(np.full((2, 2, 3), np.nan), 2)


# ------------------------------------------------------------------ pipeline step


def test_pipeline_quantize_step(tmp_path, rng):
    from tiledproc import open_raster, save_raster
    from tiledproc.pipeline import RunOptions, parse_pipeline, run_pipeline

    image = (rng.normal(size=(3, 40, 50)) * 30 + 100).astype(np.float32)
    save_raster(image, tmp_path / "img.zarr", chunks=(1, 16, 32))
    steps = {"mc": {"op": "quantize", "n_colors": 6, "refine": 1},
             "fixed": {"op": "quantize", "palette": [[90, 90, 90], [110, 110, 110]]},
             "flat": {"op": "quantize", "palette": [90, 90, 90, 110, 110, 110]}}
    outputs = {f"{s}_{o}": {"from": f"{s}.{o}", "path": f"{s}_{o}.zarr"}
               for s in steps for o in ("indices", "quantized")}
    p = parse_pipeline({"input": {"path": "img.zarr"}, "steps": steps, "outputs": outputs}, base=tmp_path)
    with raise_if_dask_computes():  # the median cut is part of the run, not of the build
        run_pipeline(p, RunOptions(progress="off"), dry_run=True, echo=lambda s: None)
    run_pipeline(p, RunOptions(progress="off", scheduler="threads"))
    palette = median_cut_palette(image, 6, channel_axis=0, refine=1)
    idx = open_raster(tmp_path / "mc_indices.zarr").compute()[0]
    np.testing.assert_array_equal(idx, palette_indices(image, palette, channel_axis=0))
    np.testing.assert_allclose(open_raster(tmp_path / "mc_quantized.zarr").compute(),
                               np.moveaxis(palette[idx], -1, 0).astype(np.float32))
    fixed = np.array([[90.0] * 3, [110.0] * 3])
    for s in ("fixed", "flat"):
        np.testing.assert_array_equal(open_raster(tmp_path / f"{s}_indices.zarr").compute()[0],
                                      reference(image, fixed, 0))
    # indices are categorical: a pyramid level picks pixels, it does not average indices
    from tiledproc.jobs.pyramid import add_levels
    from tiledproc.io.levels import level_array

    add_levels(tmp_path / "mc_indices.zarr", 1)
    np.testing.assert_array_equal(level_array(tmp_path / "mc_indices.zarr", "1").compute()[0], idx[::2, ::2])


@pytest.mark.parametrize(
    "step,message",
    [
        ({"op": "quantize"}, "Expected either palette .explicit colours. or n_colors"),
        ({"op": "quantize", "n_colors": 3, "palette": [1, 2, 3]}, "got both instead"),
        ({"op": "quantize", "palette": [1, 2, 3, 4]}, "Expected palette to hold whole colours of 3 values"),
        ({"op": "quantize", "palette": [[1, 2]]}, "Expected palette to have 3 channels"),
        ({"op": "quantize", "palette": [[1, 2, 3], [1, 2]]}, "Expected palette colours of equal length"),
        ({"op": "quantize", "palette": "red"}, "Expected palette to be a list of colours"),
        ({"op": "quantize", "n_colors": 0}, "Expected n_colors to be a positive integer"),
    ],
)
def test_pipeline_step_errors_name_the_key(tmp_path, step, message):
    from tiledproc.errors import ConfigError
    from tiledproc.pipeline import RunOptions, parse_pipeline, run_pipeline

    data = {"input": {"path": "s.zarr", "synth": {"kind": "scene", "shape": [3, 16, 16], "chunks": [1, 8, 8]}},
            "steps": {"q": step}, "outputs": {"o": {"from": "q.indices", "path": "o.zarr"}}}
    with pytest.raises(ConfigError, match=message):
        run_pipeline(parse_pipeline(data, base=tmp_path), RunOptions(progress="off"), dry_run=True,
                     echo=lambda s: None)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "palette,error,message",
    [
        (np.zeros((0, 3)), InvalidParameterError,
         r"Expected palette to hold at least one colour, got an empty palette of shape \(0, 3\) instead."),
        (np.zeros((4, 4)), InvalidParameterError,
         r"Expected palette to have 3 channels \(the image's channel axis\), got 4 instead."),
        (np.zeros(3), InvalidParameterError,
         r"Expected palette to be a 2-D array of colours \(n_colors, channels\), got shape \(3,\) instead."),
        ([[0, 0, 0], [1, np.nan, 0]], InvalidParameterError,
         "Expected palette to hold finite values, got nan in colour 1 instead."),
        ([[0, 0, np.inf]], InvalidParameterError,
         "Expected palette to hold finite values, got inf in colour 0 instead."),
        (np.zeros((2, 3), complex), InvalidTypeError,
         "Expected palette to have a boolean, integer or real floating dtype, got complex128 instead."),
        ("red", InvalidTypeError, "Expected palette to be a numpy or dask array, got str instead."),
    ],
)
def test_bad_palettes_are_refused(palette, error, message):
    for func in (palette_indices, apply_palette):
        with pytest.raises(error, match=message):
            func(np.zeros((4, 5, 3)), palette)


def test_bad_images_and_parameters_are_refused():
    with pytest.raises(InvalidParameterError, match=r"got shape \(3,\) instead"):
        palette_indices(np.zeros(3), [[0, 0, 0]])
    with pytest.raises(InvalidParameterError, match=r"Expected channel_axis to be an axis of image"):
        palette_indices(np.zeros((4, 5, 3)), [[0, 0, 0]], channel_axis=-4)
    with pytest.raises(InvalidTypeError, match="Expected image to have a boolean, integer or real"):
        apply_palette(np.zeros((4, 5, 3), complex), [[0, 0, 0]])
    with pytest.raises(InvalidParameterError, match="Expected n_colors to be a positive integer, got 0 instead."):
        median_cut_palette(np.zeros((4, 5, 3)), 0)
    with pytest.raises(InvalidTypeError, match=r"Expected n_colors to be an integer, got 2.5 \(float\) instead."):
        median_cut_palette(np.zeros((4, 5, 3)), 2.5)
    with pytest.raises(InvalidParameterError, match="Expected refine to be a number of Lloyd iterations >= 0"):
        median_cut_palette(np.zeros((4, 5, 3)), 2, refine=-1)
    with pytest.raises(InvalidParameterError, match="Expected sample_size to be a positive integer"):
        median_cut_palette(np.zeros((4, 5, 3)), 2, sample_size=0)
    with raise_if_dask_computes(), pytest.raises(InvalidParameterError, match="got 4 instead"):
        palette_indices(da.zeros((4, 5, 3), chunks=2), np.zeros((2, 4)))


# ------------------------------------------------------------------ unknown chunk sizes


def _unknown_chunks(a):
    """``a`` as a dask array whose chunk sizes are unknown (NaN), as boolean indexing makes."""
    d = da.from_array(a, chunks=2)
    return da.Array(d.__dask_graph__(), d.name, tuple((np.nan,) * len(c) for c in d.chunks), meta=d._meta)


@pytest.mark.parametrize("func", [lambda a: palette_indices(a, [[0, 0, 0]]),
                                  lambda a: apply_palette(a, [[0, 0, 0]]),
                                  lambda a: median_cut_palette(a, 2)])
def test_unknown_chunk_sizes_are_refused_naming_the_argument(func):
    with raise_if_dask_computes(), pytest.raises(
            InvalidParameterError, match=r"Expected image to have known chunk sizes.*image.compute_chunk_sizes"):
        func(_unknown_chunks(np.zeros((4, 5, 3))))


def test_palette_of_unknown_chunk_sizes_is_refused():
    for func in (palette_indices, apply_palette):
        with raise_if_dask_computes(), pytest.raises(
                InvalidParameterError,
                match=r"Expected palette to have known chunk sizes.*palette.compute_chunk_sizes"):
            func(np.zeros((4, 5, 3)), _unknown_chunks(np.zeros((6, 3))))


# ------------------------------------------------------------------ limits, checked before any work


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_colors": 100000000000}, r"Expected n_colors to be at most 1048576 \(2\*\*20\), got 100000000000 "
                                     r"instead: a palette's tables take about \(32 C \+ 84\) bytes per colour"),
        ({"n_colors": 10**30}, r"Expected n_colors to be at most 1048576 \(2\*\*20\), got 10{30} instead"),
        ({"n_colors": 21}, r"Expected n_colors to be at most the number of pixels the median cut works on, "
                           r"20 \(every pixel of the image\), got 21 instead"),
        ({"n_colors": 9, "sample_size": 8}, r"Expected n_colors to be at most the number of pixels the median "
                                            r"cut works on, 8 \(sample_size, of the image's 20\), got 9"),
        ({"n_colors": 2, "refine": 101}, r"Expected refine to be at most 100 Lloyd iterations, got 101 instead"),
        ({"n_colors": 2, "refine": 10**30}, r"Expected refine to be at most 100 Lloyd iterations, got 10{30}"),
        ({"n_colors": 2, "sample_size": 2**24 + 1},
         r"Expected sample_size to be at most 16777216 \(2\*\*24\) pixels, got 16777217 instead"),
        ({"n_colors": 2, "sample_size": 10**30}, r"Expected sample_size to be at most 16777216"),
    ],
)
def test_median_cut_parameters_are_checked_against_their_limits(kwargs, message):
    image = np.zeros((4, 5, 3))
    for a in (image, da.from_array(image, chunks=2)):
        with raise_if_dask_computes(), pytest.raises(InvalidParameterError, match=message):
            median_cut_palette(a, **kwargs)


def test_the_largest_parameters_work(rng):
    image = rng.integers(0, 255, size=(30, 40, 3)).astype(np.uint8)
    palette = median_cut_palette(image, 30 * 40)  # one colour per pixel
    assert palette.shape == (1200, 3)
    np.testing.assert_array_equal(apply_palette(image, palette), image.astype(np.float32))
    assert median_cut_palette(image, 5, sample_size=5, refine=100).shape == (5, 3)


def test_palettes_beyond_the_colour_limit_are_refused():
    message = r"Expected palette to hold at most 1048576 \(2\*\*20\) colours, got 1048577 instead"
    for palette in (np.zeros((2**20 + 1, 3), np.uint8), da.zeros((2**20 + 1, 3), chunks=(2**18, 3))):
        for func in (palette_indices, apply_palette):
            with raise_if_dask_computes(), pytest.raises(InvalidParameterError, match=message):
                func(da.zeros((4, 5, 3), chunks=2), palette)

