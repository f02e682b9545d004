"""Nodata in every operation: each family against its float64 reference with the
missing pixels set to NaN, on chunkings where a whole chunk is nodata, chunks
smaller than the halo and odd shapes."""

import math
import warnings

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.filters

import tiledproc as tp
from tiledproc.errors import InvalidParameterError, InvalidTypeError
from tiledproc.ops._nodata import reserved_index
from tiledproc.testing import assert_chunk_invariant, window_reference

from .conftest import raise_if_dask_computes

MODES = ("reflect", "mirror", "nearest", "constant", "wrap")
SHAPE = (2, 23, 31)
# the first chunk of the first chunking is all nodata; the second has chunks smaller than any halo
CHUNKINGS = [((1, 1), (8, 8, 7), (10, 11, 10)), ((2,), (1, 2, 3) * 3 + (5,), (2, 3) * 6 + (1,)),
             ((1, 1), (23,), (31,))]


def footprint(shape=SHAPE):
    """A nodata footprint: a corner block (the first chunk above, whole), a diagonal edge, one pixel."""
    m = np.zeros(shape, dtype=bool)
    m[..., :8, :10] = True
    yy, xx = np.mgrid[:shape[-2], :shape[-1]]
    m[..., (xx - yy) > 22] = True
    m[..., 15, 4] = True
    return m


def scene(kind, rng, shape=SHAPE):
    """(raster, nodata, float64 reference with the missing pixels NaN)."""
    m = footprint(shape)
    if kind == "uint16-0":
        x = rng.integers(1, 4000, shape).astype(np.uint16)
        x[m] = 0
        nodata = 0
    elif kind == "float32-nan":
        x = (1000 + 50 * rng.standard_normal(shape)).astype(np.float32)
        x[m] = np.nan
        nodata = math.nan
    elif kind == "float32-fill":  # GDAL's float32 fill beside valid pixels, plus genuine NaNs
        x = (1000 + 50 * rng.standard_normal(shape)).astype(np.float32)
        x[m] = np.float32(-3.4e38)
        x[..., 20, 25] = np.nan
        m = m | np.isnan(x)
        nodata = float(np.float32(-3.4e38))
    else:
        raise AssertionError(kind)
    ref = x.astype(np.float64)
    ref[m] = np.nan
    return x, nodata, ref


KINDS = ("uint16-0", "float32-nan", "float32-fill")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_window_statistics_use_only_the_valid_pixels(kind, mode, rng):
    x, nodata, ref = scene(kind, rng)
    for size in (5, (3, 9)):
        mean, var = window_reference(ref, size, mode, cval=7.0, nan_policy="omit")
        assert_chunk_invariant(
            lambda a: tp.window_stats(a, size, mode=mode, cval=7.0, nodata=nodata), x, (mean, var),
            chunkings=CHUNKINGS, rtol=2e-5, atol=1e-3)
        assert_chunk_invariant(
            lambda a: tp.window_std(a, size, mode=mode, cval=7.0, nodata=nodata), x, np.sqrt(var),
            chunkings=CHUNKINGS[:1], rtol=2e-5, atol=1e-3)


def test_window_mean_beside_the_footprint_is_the_mean_of_the_valid_pixels():
    """The issue's symptom: 150.8 beside a nodata=0 footprint where the valid pixels give 230.8."""
    x = np.full((1, 40, 40), 230, dtype=np.uint16)
    x[:, :, :20] = 0
    m = tp.window_mean(x, 15, nodata=0)
    assert np.all(m[:, :, 20:] == 230) and np.isnan(m[:, :, :13]).all()
    assert tp.window_mean(x, 15)[0, 20, 20] < 230  # without nodata, the fill is averaged in


def ref_gabor(ref, frequency, mode, cval, **kw):
    out = [np.empty_like(ref), np.empty_like(ref)]
    for idx in np.ndindex(ref.shape[:-2]):
        with np.errstate(invalid="ignore"):
            r, i = skimage.filters.gabor(ref[idx], frequency, mode=mode, cval=cval, **kw)
        out[0][idx], out[1][idx] = r, i
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_gabor_is_missing_where_the_references_nan_reaches(kind, mode, rng):
    x, nodata, ref = scene(kind, rng)
    for kw in ({"sigma_x": 1.5, "sigma_y": 1.5}, {"theta": 0.6, "sigma_x": 1.2, "sigma_y": 2.0}):
        real, imag = ref_gabor(ref, 0.2, mode, 3.0, **kw)
        scale = np.nanmax(np.abs(real))
        assert_chunk_invariant(
            lambda a: tp.gabor(a, 0.2, mode=mode, cval=3.0, nodata=nodata, **kw), x, (real, imag),
            chunkings=CHUNKINGS, rtol=1e-5, atol=1e-5 * scale)
        assert_chunk_invariant(
            lambda a: tp.gabor_magnitude(a, 0.2, mode=mode, cval=3.0, nodata=nodata, **kw), x,
            np.hypot(real, imag), chunkings=CHUNKINGS[:1], rtol=1e-5, atol=1e-5 * scale)
    kw = {"sigma_x": 1.5, "sigma_y": 1.5}
    bank = [np.hypot(*ref_gabor(ref, f, mode, 3.0, theta=t, **kw)) for f in (0.2, 0.3) for t in (0, 1.0)]
    assert_chunk_invariant(
        lambda a: tuple(tp.gabor_bank(a, [0.2, 0.3], [0, 1.0], mode=mode, cval=3.0, nodata=nodata, **kw)),
        x, bank, chunkings=CHUNKINGS[:2], rtol=1e-5, atol=1e-3)
    real, _ = ref_gabor(ref, 0.2, mode, 3.0, **kw)
    mean, var = window_reference(real, 3, "nearest")
    assert_chunk_invariant(
        lambda a: tp.gabor_texture(a, 0.2, mode=mode, cval=3.0, size=3, window_mode="nearest",
                                   nodata=nodata, **kw), x,
        (mean, var), chunkings=CHUNKINGS[:2], rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("kind", KINDS)
def test_derivatives_are_missing_where_numpy_gradient_propagates_nan(kind, rng):
    x, nodata, ref = scene(kind, rng)
    d_y, d_x = np.gradient(ref, 2.0, 0.5, axis=(-2, -1))
    d_yy, d_yx = np.gradient(d_y, 2.0, 0.5, axis=(-2, -1))
    _, d_xx = np.gradient(d_x, 2.0, 0.5, axis=(-2, -1))
    assert np.isnan(d_yy).sum() > np.isnan(ref).sum()  # the reference's NaN does reach further
    assert_chunk_invariant(lambda a: tp.gradient(a, (2.0, 0.5), nodata=nodata), x, (d_y, d_x),
                           chunkings=CHUNKINGS, rtol=1e-5, atol=1e-3)
    assert_chunk_invariant(lambda a: tp.gradient_and_hessian(a, (2.0, 0.5), nodata=nodata), x,
                           (d_y, d_x, d_yy, d_yx, d_xx), chunkings=CHUNKINGS, rtol=1e-5, atol=1e-3)
    assert_chunk_invariant(lambda a: tp.finite_difference_hessian(a, (2.0, 0.5), nodata=nodata), x,
                           (d_yy, d_yx, d_xx), chunkings=CHUNKINGS[:1], rtol=1e-5, atol=1e-3)
    assert_chunk_invariant(lambda a: tp.gradient_magnitude(a, (2.0, 0.5), nodata=nodata), x,
                           np.hypot(d_y, d_x), chunkings=CHUNKINGS[:1], rtol=1e-5, atol=1e-3)


def colour_scene(rng, dtype=np.uint8):
    """(3, 23, 31) image with nodata 0 (a pixel is missing if any channel is), labels, reference."""
    x = rng.integers(1, 250, (3,) + SHAPE[1:]).astype(dtype)
    m = footprint(SHAPE[1:])
    x[:, m] = 0
    x[1, 3, 20] = 0  # one channel only: the whole pixel is missing
    bad = (x == 0).any(axis=0)
    labels = rng.integers(-3, 5, SHAPE[1:]).astype(np.int16)
    labels[:8, :10] = 99  # a label only under nodata: not listed
    return x, labels, bad


def test_label_means_leave_out_nodata_pixels_which_keep_nodata(rng):
    x, labels, bad = colour_scene(rng)
    keys = np.unique(labels[~bad])
    means = np.array([x[:, (labels == k) & ~bad].astype(np.float64).mean(axis=1) for k in keys])
    for chunks in (None, ((3,), (8, 8, 7), (10, 11, 10)), ((3,), (1, 2) * 7 + (2,), (5,) * 6 + (1,))):
        img = x if chunks is None else da.from_array(x, chunks=chunks)
        lab = labels if chunks is None else da.from_array(labels, chunks=chunks[1:])
        values, got = tp.label_means(img, lab, channel_axis=0, nodata=0)
        np.testing.assert_array_equal(values, keys)
        np.testing.assert_allclose(got, means, rtol=1e-13)
        rec = tp.recolor_by_label(img, lab, channel_axis=0, nodata=0)
        assert isinstance(rec, np.ndarray if chunks is None else da.Array)
        rec = np.asarray(rec)
        assert rec.dtype == np.float32
        assert np.isnan(rec[:, bad]).all()
        expect = means[np.searchsorted(keys, labels[~bad])].T
        np.testing.assert_allclose(rec[:, ~bad], expect, rtol=1e-6)
        # background pixels keep their value, nodata ones NaN
        rec = np.asarray(tp.recolor_by_label(img, lab, channel_axis=0, background=2, nodata=0))
        keep = (labels == 2) & ~bad
        np.testing.assert_array_equal(rec[:, keep], x[:, keep].astype(np.float32))
        assert np.isnan(rec[:, (labels == 2) & bad]).all()


@pytest.mark.parametrize("n", [3, 255, 256])
def test_palette_indices_give_nodata_the_reserved_index(n, rng):
    x, _, bad = colour_scene(rng)
    palette = rng.uniform(0, 255, (n, 3))
    d = ((x.astype(np.float64).transpose(1, 2, 0)[..., None, :] - palette) ** 2).sum(-1)
    ref = d.argmin(-1)
    dtype = np.dtype(np.uint8 if n < 256 else np.uint16)
    ref = ref.astype(dtype)
    ref[bad] = reserved_index(dtype)
    assert reserved_index(dtype) >= n
    for chunks in (None, ((3,), (8, 8, 7), (10, 11, 10)), ((3,), (3,) * 7 + (2,), (2,) * 15 + (1,))):
        img = x if chunks is None else da.from_array(x, chunks=chunks)
        idx = tp.palette_indices(img, palette, channel_axis=0, nodata=0)
        assert idx.dtype == dtype
        np.testing.assert_array_equal(np.asarray(idx), ref)
        col = np.asarray(tp.apply_palette(img, palette, channel_axis=0, nodata=0))
        assert np.isnan(col[:, bad]).all()
        np.testing.assert_array_equal(col[:, ~bad], palette[ref[~bad]].T.astype(np.float32))


def test_median_cut_ignores_nodata_pixels(rng):
    x, _, bad = colour_scene(rng)
    valid_only = x.astype(np.float64)
    valid_only[:, bad] = np.nan  # the cut skips pixels with a NaN channel: the reference
    want = tp.median_cut_palette(valid_only, 4, channel_axis=0, refine=2)
    for img in (x, da.from_array(x, chunks=(3, 8, 10))):
        got = tp.median_cut_palette(img, 4, channel_axis=0, refine=2, nodata=0)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    plain = tp.median_cut_palette(x, 4, channel_axis=0)
    assert not np.allclose(plain, want)  # without nodata the footprint pulls a colour


def test_nodata_none_and_auto_leave_the_graph_as_it_was(rng):
    """The common case costs nothing: no nodata builds exactly the graph of before."""
    x, _, _ = scene("uint16-0", rng)
    d = da.from_array(x, chunks=(1, 8, 10))
    with raise_if_dask_computes():
        a = tp.window_stats(d, 5)
        b = tp.window_stats(d, 5, nodata=None)
        c = tp.window_stats(d, 5, nodata=0)
    assert [r.name for r in a] == [r.name for r in b]
    assert a[0].name != c[0].name
    np.testing.assert_array_equal(tp.window_mean(x, 5, nodata=None), tp.window_mean(x, 5))


@pytest.mark.parametrize("value, dtype, error, match", [
    (0.5, np.uint16, InvalidParameterError, "no pixel could equal it"),
    (math.nan, np.int32, InvalidParameterError, "no pixel could equal it"),
    (70000, np.uint16, InvalidParameterError, "uint16"),
    (1e40, np.float32, InvalidParameterError, "float32"),
    ("zero", np.float32, InvalidTypeError, "'nan' or 'none'"),
    (True, np.uint8, InvalidTypeError, "bool"),
])
def test_a_nodata_no_pixel_can_hold_is_refused_naming_it(value, dtype, error, match):
    with pytest.raises(error, match=match) as e:
        tp.window_mean(np.zeros((4, 4), dtype=dtype), 3, nodata=value)
    assert e.value.param == "nodata"


def test_a_float_nodata_is_the_dtypes_nearest_value():
    x = np.array([[0.1, 0.1, 2.0, 4.0]], dtype=np.float32)
    np.testing.assert_array_equal(tp.window_mean(x, (1, 3), nodata=0.1), [[np.nan, 2.0, 3.0, np.float32(10 / 3)]])


def test_nodata_as_text_as_gdal_stores_it(rng):
    x, _, ref = scene("uint16-0", rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(tp.window_mean(x, 3, nodata="0"),
                                   window_reference(ref, 3, nan_policy="omit")[0], rtol=1e-6)
    np.testing.assert_array_equal(tp.window_mean(x, 3, nodata="none"), tp.window_mean(x, 3))


# ----------------------------------------------------------------- stores, CLI and pipelines

def _invoke(args, code=0):
    from click.testing import CliRunner

    from tiledproc.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


@pytest.fixture
def store(tmp_path, rng):
    x, _, ref = scene("uint16-0", rng)
    path = tp.save_raster(x, tmp_path / "scene.zarr", attrs={"nodata": 0}, chunks=(1, 8, 10))
    return path, x, ref


def test_open_raster_reports_the_nodata_of_a_store_and_of_a_tiff(store, tmp_path):
    import tifffile

    from tiledproc.io.read import raster_nodata

    path, x, _ = store
    assert raster_nodata(path) == 0
    assert raster_nodata(tp.save_raster(x, tmp_path / "plain.zarr")) is None
    for text, want in (("0", 0), ("nan", math.nan), ("-9999 \x00", -9999)):
        tif = tmp_path / f"scene-{want}.tif"
        tifffile.imwrite(tif, x[0], extratags=[(42113, "s", 0, text, False)])
        got = raster_nodata(tif)
        assert got == want or (math.isnan(want) and math.isnan(got))
    arr = tp.open_raster(path, xarray=True)
    assert arr.attrs["_FillValue"] == 0 and arr.dims == ("band", "y", "x")
    assert "_FillValue" not in tp.open_raster(path, xarray=True, nodata=None).attrs
    with pytest.raises(InvalidParameterError, match="xarray=True"):
        tp.open_raster(path, nodata=5)


@pytest.mark.parametrize("override", [None, "0", "none", "4000"])
def test_cli_applies_the_inputs_nodata_or_the_override_and_declares_nan(store, tmp_path, override):
    from tiledproc.io import read_attrs

    path, x, ref = store
    out = tmp_path / "mean.zarr"
    _invoke(["window-mean", path, "--size", 5, "--mean", out]
            + ([] if override is None else ["--nodata", override]))
    got = tp.open_raster(out).compute()
    attrs = read_attrs(out)
    if override == "none":
        np.testing.assert_allclose(got, window_reference(x, 5)[0], rtol=1e-6)
        assert "nodata" not in attrs  # never the input's 0 on a float output
        return
    src = ref if override in (None, "0") else np.where(x == 4000, np.nan, x.astype(np.float64))
    np.testing.assert_allclose(got, window_reference(src, 5, nan_policy="omit")[0], rtol=1e-5)
    assert attrs["nodata"] == "nan"


def test_cli_refuses_a_nodata_the_input_cannot_hold(store, tmp_path):
    path, _, _ = store
    r = _invoke(["window-mean", path, "--size", 5, "--mean", tmp_path / "m.zarr", "--nodata", "0.5"], code=2)
    assert "--nodata" in r.stderr and "no pixel could equal it" in r.stderr
    r = _invoke(["window-mean", path, "--size", 5, "--mean", tmp_path / "m.zarr", "--nodata", "zero"], code=2)
    assert "--nodata" in r.stderr
    assert not (tmp_path / "m.zarr").exists()


def test_pipeline_nodata_key_and_declared_outputs(tmp_path, rng):
    from tiledproc.io import read_attrs

    x, labels, bad = colour_scene(rng)
    img = tp.save_raster(x, tmp_path / "rgb.zarr", chunks=(3, 8, 10))  # declares no nodata: the key does
    lab = tp.save_raster(labels[None].astype(np.int32), tmp_path / "labels.zarr", chunks=(1, 8, 10))
    toml = tmp_path / "p.toml"
    toml.write_text(f"""
[input]
path = "{img}"
nodata = 0

[inputs.labels]
path = "{lab}"

[steps.q]
op = "quantize"
palette = [[0, 0, 0], [255, 255, 255], [128, 128, 128]]

[steps.r]
op = "recolor_by_label"
labels = "labels"

[steps.g]
op = "gradient"

[outputs.indices]
from = "q.indices"
path = "{tmp_path / 'idx.zarr'}"

[outputs.quantized]
from = "q.quantized"
path = "{tmp_path / 'quant.zarr'}"

[outputs.recolored]
from = "r.recolored"
path = "{tmp_path / 'rec.zarr'}"

[outputs.d_y]
from = "g.d_y"
path = "{tmp_path / 'dy.zarr'}"
""")
    _invoke(["run", toml])
    idx = tp.open_raster(tmp_path / "idx.zarr").compute()[0]
    assert idx.dtype == np.uint8 and (idx[bad] == 255).all() and (idx[~bad] < 3).all()
    assert read_attrs(tmp_path / "idx.zarr")["nodata"] == 255
    quant = tp.open_raster(tmp_path / "quant.zarr").compute()
    assert np.isnan(quant[:, bad]).all() and np.isfinite(quant[:, ~bad]).all()
    rec = tp.open_raster(tmp_path / "rec.zarr").compute()
    np.testing.assert_allclose(rec, np.asarray(tp.recolor_by_label(x, labels, channel_axis=0, nodata=0)),
                               rtol=1e-6)
    dy = tp.open_raster(tmp_path / "dy.zarr").compute()
    np.testing.assert_allclose(dy, np.gradient(np.where(x == 0, np.nan, x.astype(np.float64)), axis=1),
                               rtol=1e-5, atol=1e-3)
    for name in ("quant", "rec", "dy"):
        assert read_attrs(tmp_path / f"{name}.zarr")["nodata"] == "nan"
    toml.write_text(toml.read_text().replace("nodata = 0", "nodata = true"))
    r = _invoke(["run", toml], code=2)
    assert "nodata" in r.stderr


# ----------------------------------------------------------------- pyramid levels and preview

@pytest.mark.parametrize("dtype, nodata", [(np.uint16, 0), (np.int16, -9999), (np.float32, -3.4e38),
                                           (np.float32, math.nan)])
def test_pyramid_levels_never_mix_nodata_into_valid_pixels(tmp_path, rng, dtype, nodata):
    import zarr

    shape = (2, 23, 31)  # odd: the last row and column average what they have
    x = rng.integers(100, 4000, shape).astype(dtype)
    m = footprint(shape)
    nd = np.asarray(nodata).astype(dtype)
    x[m] = nd
    path = tp.save_raster(x, tmp_path / "p.zarr", attrs={"nodata": nodata}, chunks=(1, 8, 10), pyramid=2)
    level = x.astype(np.float64)
    level[m] = np.nan
    for k in (1, 2):
        pad = np.pad(level, [(0, 0), (0, level.shape[1] % 2), (0, level.shape[2] % 2)], constant_values=np.nan)
        blocks = pad.reshape(2, pad.shape[1] // 2, 2, pad.shape[2] // 2, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            level = np.nanmean(blocks, axis=(2, 4))
        got = zarr.open_array(str(path / str(k) / "0"), mode="r")[...]  # level k: the group k/, array 0
        want = np.round(level) if np.dtype(dtype).kind == "i" or np.dtype(dtype).kind == "u" else level
        gone = np.isnan(want)
        assert gone.any() and (~gone).any()
        if math.isnan(nodata):
            assert np.isnan(got[gone]).all()
        else:
            assert (got[gone] == nd).all()
        np.testing.assert_allclose(got[~gone], want[~gone].astype(dtype), rtol=1e-6)
        level = got.astype(np.float64)  # each level is made from the one below, as stored
        level[gone] = np.nan


def _png(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.mode, np.asarray(im)


def test_preview_makes_nodata_transparent_and_stretches_over_valid_pixels(tmp_path):
    x = np.zeros((3, 40, 50), dtype=np.uint16)
    x[:, :, 25:] = np.linspace(1000, 2000, 25)  # the valid half
    path = tp.save_raster(x, tmp_path / "s.zarr", attrs={"nodata": 0})
    _invoke(["preview", path, tmp_path / "grey.png", "--size", 50, "--percentiles", "0,100"])
    mode, img = _png(tmp_path / "grey.png")
    assert mode == "LA"
    assert (img[:, :25, 1] == 0).all() and (img[:, 25:, 1] == 255).all()
    assert img[0, 25, 0] == 0 and img[0, 49, 0] == 255  # the stretch spans the valid values only
    _invoke(["preview", path, tmp_path / "rgb.png", "--size", 50, "--rgb", "1,2,3", "--percentiles", "0,100"])
    mode, img = _png(tmp_path / "rgb.png")
    assert mode == "RGBA" and (img[:, :25, 3] == 0).all() and (img[:, 25:, 3] == 255).all()
    _invoke(["preview", path, tmp_path / "none.png", "--size", 50, "--nodata", "none"])
    mode, img = _png(tmp_path / "none.png")
    assert mode == "L"  # no nodata, no NaN: no alpha, as before
    r = _invoke(["preview", path, tmp_path / "bad.png", "--nodata", "zero"], code=2)
    assert "--nodata" in r.stderr and not (tmp_path / "bad.png").exists()


def test_a_tiff_inputs_gdal_nodata_is_applied(tmp_path, rng):
    import tifffile

    from tiledproc.io import read_attrs

    x, _, ref = scene("uint16-0", rng)
    tif = tmp_path / "scene.tif"
    tifffile.imwrite(tif, x, extratags=[(42113, "s", 0, "0", False)])
    out = tmp_path / "g.zarr"
    _invoke(["gradient", tif, "--d-x", out])
    want = np.gradient(ref, axis=-1)
    np.testing.assert_allclose(tp.open_raster(out).compute(), want, rtol=1e-5, atol=1e-3)
    assert read_attrs(out)["nodata"] == "nan"
