"""xarray in, xarray out: dims, coords (rioxarray's spatial_ref), attrs and nodata kept;
a dask-backed DataArray stays lazy; numpy and dask in still give numpy and dask out."""

import math

import dask.array as da
import numpy as np
import pytest

import tiledproc as tp

from .conftest import raise_if_dask_computes

xr = pytest.importorskip("xarray")  # an optional dependency; installed with the test extras
rioxarray = pytest.importorskip("rioxarray")


def scene(rng, chunks=None, nodata=0):
    x = rng.integers(1, 4000, (2, 21, 27)).astype(np.uint16)
    x[:, :6, :9] = 0
    data = x if chunks is None else da.from_array(x, chunks=chunks)
    arr = xr.DataArray(data, dims=("band", "y", "x"),
                       coords={"band": ["red", "nir"], "y": 5000.0 - 10 * np.arange(21),
                               "x": 300000.0 + 10 * np.arange(27)},
                       attrs={"units": "DN", "long_name": "reflectance"}, name="scene")
    arr = arr.rio.write_crs("EPSG:32633").rio.write_transform()
    if nodata is not None:
        arr = arr.rio.write_nodata(nodata)
    return x, arr


def assert_like(out, ref, fill):
    assert isinstance(out, xr.DataArray)
    assert out.dims == ref.dims and out.name == ref.name
    for k, c in ref.coords.items():
        assert k in out.coords and np.array_equal(out.coords[k].values, c.values), k
    assert out.rio.crs == ref.rio.crs and out.rio.transform() == ref.rio.transform()
    assert out.attrs["units"] == "DN" and out.attrs.get("grid_mapping") == ref.attrs.get("grid_mapping")
    if fill is None:
        assert "_FillValue" not in out.attrs
    elif isinstance(fill, float) and math.isnan(fill):
        assert math.isnan(out.rio.nodata)
    else:
        assert out.rio.nodata == fill


OPS = {
    "window_mean": lambda a, **k: tp.window_mean(a, 5, **k),
    "window_stats": lambda a, **k: tp.window_stats(a, (3, 5), mode="wrap", **k),
    "gabor": lambda a, **k: tp.gabor(a, 0.2, sigma_x=1.5, sigma_y=1.5, **k),
    "gabor_magnitude": lambda a, **k: tp.gabor_magnitude(a, 0.2, theta=0.5, sigma_x=1.2, sigma_y=2, **k),
    "gabor_texture": lambda a, **k: tp.gabor_texture(a, 0.2, sigma_x=1.5, sigma_y=1.5, size=3, **k),
    "gradient": lambda a, **k: tp.gradient(a, **k),
    "gradient_and_hessian": lambda a, **k: tp.gradient_and_hessian(a, **k),
    "recolor_by_label": lambda a, **k: tp.recolor_by_label(
        a, np.arange(21 * 27).reshape(21, 27) % 5, channel_axis=0, **k),
    "apply_palette": lambda a, **k: tp.apply_palette(a, [[0, 0], [2000, 2000], [4000, 100]], channel_axis=0, **k),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("chunks", [None, (1, 8, 10)])
def test_every_operation_gives_a_dataarray_like_its_input(name, chunks, rng):
    x, arr = scene(rng, chunks)
    op = OPS[name]
    with raise_if_dask_computes():
        out = op(arr)
    outs = out if isinstance(out, tuple) else (out,)
    want = op(x, nodata=0)  # the numpy result with the DataArray's nodata
    wants = want if isinstance(want, tuple) else (want,)
    for o, w in zip(outs, wants):
        assert_like(o, arr, math.nan)
        assert isinstance(o.data, da.Array if chunks else np.ndarray)  # lazy stays lazy
        assert isinstance(w, np.ndarray)
        np.testing.assert_array_equal(np.asarray(o.values), w)


def test_a_dataarray_without_nodata_and_the_override(rng):
    x, arr = scene(rng, (1, 8, 10), nodata=None)
    out = tp.window_mean(arr, 5)
    assert_like(out, arr, None)
    np.testing.assert_array_equal(out.values, tp.window_mean(x, 5))
    out = tp.window_mean(arr, 5, nodata=0)
    assert_like(out, arr, math.nan)
    np.testing.assert_array_equal(out.values, tp.window_mean(x, 5, nodata=0))
    arr = arr.rio.write_nodata(0)
    out = tp.window_mean(arr, 5, nodata=None)  # disabled: the 0s are pixels, no nodata is declared
    assert_like(out, arr, None)
    np.testing.assert_array_equal(out.values, tp.window_mean(x, 5))


def test_a_2d_dataarray_and_layouts_that_change(rng):
    x, arr = scene(rng, (1, 8, 10))
    band = arr.sel(band="red")
    assert band.dims == ("y", "x")
    out = tp.window_variance(band, 3)
    assert out.dims == ("y", "x") and out.rio.crs == arr.rio.crs
    np.testing.assert_array_equal(out.values, tp.window_variance(x[0], 3, nodata=0))
    idx = tp.palette_indices(arr, [[0, 0], [2000, 2000]], channel_axis=0)
    assert idx.dims == ("y", "x") and "band" not in idx.coords and idx.rio.crs == arr.rio.crs
    assert idx.attrs["_FillValue"] == 255 and idx.dtype == np.uint8
    np.testing.assert_array_equal(idx.values[:6, :9], 255)
    bank = tp.gabor_bank(arr, [0.2, 0.3], [0, 1], sigma_x=1.5, sigma_y=1.5)
    assert bank.dims == ("filter", "band", "y", "x") and bank.rio.crs == arr.rio.crs
    values, means = tp.label_means(arr, xr.DataArray(np.arange(21 * 27).reshape(21, 27) % 3, dims=("y", "x")),
                                   channel_axis=0)
    assert isinstance(values, np.ndarray) and means.shape == (3, 2)
    palette = tp.median_cut_palette(arr, 2, channel_axis=0)
    assert isinstance(palette, np.ndarray) and palette.min() > 0  # the footprint is no colour


def test_open_raster_xarray_operation_and_save_carry_the_nodata(tmp_path, rng):
    from tiledproc.io import read_attrs

    x, _ = scene(rng)
    path = tp.save_raster(x, tmp_path / "scene.zarr", attrs={"nodata": 0}, chunks=(1, 8, 10))
    arr = tp.open_raster(path, xarray=True)
    assert isinstance(arr.data, da.Array) and arr.rio.nodata == 0
    with raise_if_dask_computes():
        mean = tp.window_mean(arr, 5)
    out = tp.save_raster(mean, tmp_path / "mean.zarr")
    assert read_attrs(out)["nodata"] == "nan"
    np.testing.assert_array_equal(tp.open_raster(out).compute(), tp.window_mean(x, 5, nodata=0))


def test_a_store_decoded_by_xarray_has_nan_nodata(tmp_path, rng):
    """open_zarr decodes an integer store's _FillValue into NaN: that NaN is the nodata."""
    x, arr = scene(rng, nodata=None)
    ds = arr.drop_vars(["spatial_ref", "band"]).to_dataset(name="scene")
    ds["scene"].encoding["_FillValue"] = 0
    ds.to_zarr(tmp_path / "xr.zarr", zarr_format=3, consolidated=False)
    back = xr.open_zarr(tmp_path / "xr.zarr", consolidated=False)["scene"]
    assert back.dtype.kind == "f" and np.isnan(back.values[:, :6, :9]).all()
    out = tp.window_mean(back, 5)
    assert math.isnan(out.attrs["_FillValue"])
    np.testing.assert_allclose(out.values, tp.window_mean(x, 5, nodata=0), rtol=1e-6)


def test_spatial_dims_not_last_are_refused_with_the_transpose(rng):
    from tiledproc.errors import InvalidParameterError

    _, arr = scene(rng)
    with pytest.raises(InvalidParameterError, match=r"image.transpose\(\*\('band', 'y', 'x'\)\)"):
        tp.window_mean(arr.transpose("y", "x", "band"), 3)
    out = tp.apply_palette(arr.transpose("y", "x", "band"), [[0, 0], [4000, 4000]])  # colour: channel_axis=-1
    assert out.dims == ("y", "x", "band")


@pytest.mark.parametrize("crs", ["EPSG:32633", "ESRI:54008"])  # UTM; MODIS sinusoidal (no EPSG code)
def test_open_raster_xarray_has_the_crs_and_transform_rioxarray_reads(tmp_path, rng, crs):
    """A CF / rioxarray store in; open_raster(xarray=True), an operation, save_raster and
    xr.open_zarr of the output all give rioxarray the input's CRS and transform."""
    import rioxarray  # noqa: F401  (the .rio accessor)
    import xarray as xr
    from pyproj import CRS

    data = rng.random((2, 30, 40)).astype("f4")
    src = xr.DataArray(data, dims=("band", "y", "x"),
                       coords={"band": [1, 2], "y": 5000.0 - 20 * np.arange(30) - 10, "x": 300.0 + 20 * np.arange(40) + 10})
    src = src.rio.write_crs(crs)
    src.to_dataset(name="v").to_zarr(tmp_path / "cf.zarr", mode="w")
    want_crs, want_t = CRS.from_user_input(crs), src.rio.transform()

    scene = tp.open_raster(tmp_path / "cf.zarr", xarray=True)
    assert isinstance(scene.data, da.Array)
    assert CRS.from_user_input(scene.rio.crs.to_wkt()) == want_crs and scene.rio.transform() == want_t
    np.testing.assert_array_equal(scene.x, src.x)
    mean = tp.window_mean(scene, 3)
    assert mean.rio.transform() == want_t and CRS.from_user_input(mean.rio.crs.to_wkt()) == want_crs
    out = tp.save_raster(mean, tmp_path / "m.zarr")
    back = xr.open_zarr(out, consolidated=False)["0"]
    assert CRS.from_user_input(back.rio.crs.to_wkt()) == want_crs
    assert back.rio.transform().almost_equals(want_t)
    np.testing.assert_allclose(back.values, tp.window_mean(data, 3), rtol=1e-6)
