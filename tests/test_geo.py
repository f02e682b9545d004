"""Georeferencing and metadata read by the field's own tools: GeoTIFFs made with
tifffile (and with GDAL) ingested, processed and read back with rasterio, xarray,
rioxarray, ome-zarr-models and ome_zarr's reader (napari's reader logic)."""

import json
import warnings

import numpy as np
import pyproj
import pytest
import rasterio
import rioxarray  # noqa: F401  (the .rio accessor)
import tifffile
import xarray as xr
import zarr
from click.testing import CliRunner
from rasterio.transform import from_origin

import tiledproc as tp
from tiledproc.cli import cli
from tiledproc.io.geo import CONVENTIONS, geokeys_from_tags, crs_from_geokeys
from tiledproc.io.read import read_attrs
from tiledproc.io.tiff import tiff_attrs
from tiledproc.jobs.pyramid import add_levels

MODIS = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"

# GeoKey directories as GDAL writes them (MODIS sinusoidal: user-defined keys, no EPSG code)
SINU_KEYS = [1, 1, 0, 14, 1024, 0, 1, 1, 1025, 0, 1, 1, 1026, 34737, 8, 0, 2048, 0, 1, 32767,
             2050, 0, 1, 32767, 2054, 0, 1, 9102, 2056, 0, 1, 32767, 2057, 34736, 1, 3,
             2058, 34736, 1, 4, 3072, 0, 1, 32767, 3074, 0, 1, 32767, 3075, 0, 1, 24,
             3076, 0, 1, 9001, 3082, 34736, 1, 1, 3083, 34736, 1, 2, 3088, 34736, 1, 0]
SINU_DOUBLES = [0.0, 0.0, 0.0, 6371007.181, 6371007.181]
UTM_KEYS = [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633, 3076, 0, 1, 9001]


def gdal_metadata(names):
    items = "".join(f'<Item name="DESCRIPTION" sample="{k}" role="description">{n}</Item>'
                    for k, n in enumerate(names))
    return f"<GDALMetadata>{items}</GDALMetadata>"


def make_geotiff(path, data, *, keys, doubles=None, nodata=None, names=None,
                 origin=(-1_000_000.0, 5_000_000.0), pixel=463.3125, tile=None):
    """A GeoTIFF written with tifffile: (band, y, x) data, planar, GeoKeys and GDAL tags."""
    tags = [(33550, "d", 3, (pixel, pixel, 0.0), True),
            (33922, "d", 6, (0.0, 0.0, 0.0, origin[0], origin[1], 0.0), True),
            (34735, "H", len(keys), keys, True)]
    if doubles:
        tags.append((34736, "d", len(doubles), doubles, True))
    tags.append((34737, "s", 0, "unnamed|", True))
    if names:
        tags.append((42112, "s", 0, gdal_metadata(names), True))
    if nodata is not None:
        tags.append((42113, "s", 0, nodata, True))
    tifffile.imwrite(path, data, planarconfig="separate" if data.ndim == 3 else None,
                     photometric="minisblack", extratags=tags, tile=tile, metadata=None)
    return path


def footprint_scene(rng, shape=(3, 97, 131), dtype=np.uint16, fill=0):
    data = rng.integers(100, 4000, size=shape).astype(dtype)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    data[:, (yy + xx) < shape[1] // 2] = fill  # an off-nadir footprint: a nodata corner
    return data


def same_crs(a, b) -> bool:
    """Same coordinate system, whatever each names it: equal projected coordinates on a grid."""
    a, b = pyproj.CRS.from_user_input(a), pyproj.CRS.from_user_input(b)
    if a.is_projected != b.is_projected:
        return False
    lon, lat = np.meshgrid(np.linspace(-20, 20, 5), np.linspace(20, 60, 5))
    ta = pyproj.Transformer.from_crs("EPSG:4326", a, always_xy=True)
    tb = pyproj.Transformer.from_crs("EPSG:4326", b, always_xy=True)
    return bool(np.allclose(ta.transform(lon, lat), tb.transform(lon, lat), rtol=0, atol=1e-3)) and \
        np.isclose(a.ellipsoid.semi_major_metre, b.ellipsoid.semi_major_metre) and \
        np.isclose(a.ellipsoid.semi_minor_metre, b.ellipsoid.semi_minor_metre)


def open_level(path, group=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # xarray: no consolidated metadata
        return xr.open_zarr(path, group=group, consolidated=False)


@pytest.fixture
def modis_tif(tmp_path, rng):
    data = footprint_scene(rng)
    return make_geotiff(tmp_path / "modis.tif", data, keys=SINU_KEYS, doubles=SINU_DOUBLES, nodata="0",
                        names=["red", "nir", "swir"]), data


# ---------------------------------------------------------------- reading GeoTIFFs

@pytest.mark.parametrize("crs", [
    MODIS, "EPSG:32633", "EPSG:4326",
    "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m",
    "+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +datum=NAD83 +units=m",
    "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=aea +lat_0=23 +lon_0=-96 +lat_1=29.5 +lat_2=45.5 +x_0=0 +y_0=0 +datum=NAD83 +units=m",
    "+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9996 +x_0=500000 +y_0=0 +ellps=intl +units=m",
], ids=["sinusoidal", "utm", "wgs84", "laea", "lcc", "polar-stereo", "albers", "tmerc-intl"])
def test_geokeys_as_gdal_writes_them_give_gdals_crs(tmp_path, crs):
    path = tmp_path / "g.tif"
    with rasterio.open(path, "w", driver="GTiff", width=5, height=4, count=1, dtype="uint8", crs=crs,
                       transform=rasterio.Affine(10.0, 0.0, 100.0, 0.0, -10.0, 200.0)) as d:
        d.write(np.zeros((1, 4, 5), np.uint8))
    with rasterio.open(path) as d:
        ref_crs, ref_transform = d.crs.to_wkt(), tuple(d.transform)[:6]
    attrs = tiff_attrs(path)
    got = pyproj.CRS.from_wkt(attrs["proj:wkt2"])
    assert same_crs(got, ref_crs)
    assert pyproj.CRS.from_json_dict(attrs["proj:projjson"]) == got
    assert tuple(attrs["spatial:transform"]) == ref_transform
    epsg = pyproj.CRS.from_wkt(ref_crs).to_epsg(min_confidence=100)
    assert attrs.get("proj:code") == (f"EPSG:{epsg}" if epsg else None)


def test_tifffile_geotiff_user_defined_projection(modis_tif):
    path, data = modis_tif
    keys = geokeys_from_tags(SINU_KEYS, SINU_DOUBLES, "unnamed|")
    assert keys[3075] == 24 and keys[2057] == 6371007.181
    with rasterio.open(path) as d:  # GDAL is the reference for what the keys mean
        ref, transform, nodata, names = d.crs.to_wkt(), tuple(d.transform)[:6], d.nodata, d.descriptions
        assert np.array_equal(d.read(), data)
    assert same_crs(crs_from_geokeys(keys), ref)
    attrs = tiff_attrs(path)
    assert "proj:code" not in attrs  # no EPSG code exists for it; the CRS is carried whole
    assert same_crs(attrs["proj:wkt2"], ref) and same_crs(attrs["proj:wkt2"], MODIS)
    assert tuple(attrs["spatial:transform"]) == transform
    assert attrs["nodata"] == nodata == 0
    assert attrs["band_names"] == list(names) == ["red", "nir", "swir"]


def test_nan_nodata_and_epsg(tmp_path, rng):
    data = footprint_scene(rng, dtype=np.float32, fill=np.nan)
    path = make_geotiff(tmp_path / "f.tif", data, keys=UTM_KEYS, nodata="nan", origin=(500000.0, 6000000.0),
                        pixel=10.0, tile=(32, 32))
    with rasterio.open(path) as d:
        assert np.isnan(d.nodata) and d.crs.to_epsg() == 32633
    out = tp.ingest_tiff(path, tmp_path / "f.zarr", chunks=(1, 40, 40))
    attrs = read_attrs(out)
    assert attrs["proj:code"] == "EPSG:32633" and attrs["nodata"] == "nan"
    a = open_level(out)["0"]
    assert a.rio.crs.to_epsg() == 32633
    assert tuple(a.rio.transform())[:6] == (10.0, 0.0, 500000.0, 0.0, -10.0, 6000000.0)
    assert np.isnan(a.rio.encoded_nodata)


# ---------------------------------------------------------------- our outputs in xarray / rioxarray

@pytest.mark.parametrize("pyramid", [0, 2])
def test_ingest_and_op_read_by_xarray_and_rioxarray(tmp_path, modis_tif, pyramid):
    path, data = modis_tif
    with rasterio.open(path) as d:
        ref_crs, ref_transform = d.crs.to_wkt(), d.transform
    scene = tp.ingest_tiff(path, tmp_path / "s.zarr", chunks=(1, 40, 32))
    # save_raster inherits georeferencing, nodata and band names from the store the array reads
    mean = tp.save_raster(tp.window_mean(tp.open_raster(scene), 5), tmp_path / "m.zarr", pyramid=pyramid)
    for store, dtype in ((scene, np.uint16), (mean, np.float32)):
        ds = open_level(store)
        assert set(ds.data_vars) == {"0"}
        a = ds["0"]
        assert a.dims == ("c", "y", "x") and a.shape == data.shape
        assert same_crs(a.rio.crs.to_wkt(), ref_crs)
        assert a.rio.transform() == ref_transform
        assert list(a["c"].values) == ["red", "nir", "swir"]
        np.testing.assert_allclose(a["x"].values, ref_transform.c + ref_transform.a * (np.arange(131) + 0.5))
        np.testing.assert_allclose(a["y"].values, ref_transform.f + ref_transform.e * (np.arange(97) + 0.5))
        attrs = read_attrs(store)
        assert {c["uuid"] for c in attrs["zarr_conventions"]} >= {CONVENTIONS["proj:"]["uuid"],
                                                                 CONVENTIONS["spatial:"]["uuid"]}
        assert attrs["spatial:shape"] == [97, 131]
    ds = open_level(scene)
    np.testing.assert_array_equal(ds["0"].values[np.isfinite(ds["0"].values)], data[data != 0])  # 0 is masked
    if pyramid:
        for k in (1, 2):
            lev = open_level(mean, group=str(k))["0"]
            assert lev.shape == (3, -(-97 // 2**k), -(-131 // 2**k))
            assert lev.rio.transform() == ref_transform @ ref_transform.scale(2**k)
            assert same_crs(lev.rio.crs.to_wkt(), ref_crs)
        layout = read_attrs(mean)["multiscales"]["layout"]
        assert [e["asset"] for e in layout] == ["0", "1/0", "2/0"]
        assert [tuple(e["spatial:transform"]) for e in layout] == [
            tuple(ref_transform @ ref_transform.scale(2**k))[:6] for k in range(3)]
        assert CONVENTIONS["multiscales"]["uuid"] in {c["uuid"] for c in read_attrs(mean)["zarr_conventions"]}
        # open_datatree(mean) cannot align levels under level 0 (ARCHITECTURE.md); the documented
        # recipe: every level as a sibling node
        with pytest.raises(ValueError, match="not aligned"):
            xr.open_datatree(mean, engine="zarr", consolidated=False)
        tree = xr.DataTree.from_dict({str(k): open_level(mean, group=None if k == 0 else str(k)) for k in range(3)})
        assert [tree[str(k)]["0"].shape[1] for k in range(3)] == [97, 49, 25]
        assert tree["2"]["0"].rio.transform() == ref_transform @ ref_transform.scale(4)
    else:
        tree = xr.open_datatree(mean, engine="zarr", consolidated=False)
        assert tree["0"].shape == data.shape


def test_cf_rioxarray_input_round_trip(tmp_path, rng):
    """A Zarr written by rioxarray/xarray, processed by tiledproc, read back with rioxarray."""
    arr = xr.DataArray(rng.random((2, 40, 50)).astype("float32"), dims=("band", "y", "x"),
                       coords={"band": [1, 2], "x": 1000 + 30 * (np.arange(50) + 0.5),
                               "y": 2000 - 30 * (np.arange(40) + 0.5)}, name="band_data")
    arr = arr.rio.write_crs(MODIS).rio.write_transform(from_origin(1000, 2000, 30, 30))
    arr = arr.rio.write_nodata(np.nan, encoded=True)
    arr.to_dataset().to_zarr(tmp_path / "cf.zarr", zarr_format=3, consolidated=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["window-stats", str(tmp_path / "cf.zarr"), "--size", "5",
                                 "--mean", str(tmp_path / "mean.zarr")])
    assert result.exit_code == 0, result.output
    src = xr.open_zarr(tmp_path / "cf.zarr", consolidated=False, decode_coords="all")["band_data"]
    out = open_level(tmp_path / "mean.zarr")["0"]
    assert out.rio.crs == src.rio.crs
    assert out.rio.transform() == src.rio.transform()
    np.testing.assert_allclose(out.x.values, src.x.values)
    np.testing.assert_allclose(out.values, tp.window_mean(src.values, 5), rtol=1e-6)


def test_band_names_of_ops_that_make_other_bands_are_dropped(tmp_path, modis_tif):
    path, _ = modis_tif
    scene = tp.ingest_tiff(path, tmp_path / "s.zarr")
    one = tp.save_raster(tp.open_raster(scene)[:1] + 1, tmp_path / "one.zarr")
    attrs = read_attrs(one)
    assert "band_names" not in attrs  # 3 names for 1 band would mislabel it
    assert same_crs(attrs["proj:wkt2"], MODIS)  # the georeferencing still holds


# ---------------------------------------------------------------- OME-Zarr and napari's reader

@pytest.mark.parametrize("pyramid", [0, 3])
def test_ome_zarr_valid_with_channels_limits_and_scale(tmp_path, modis_tif, pyramid):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models.v05.image import Image

    path, data = modis_tif
    scene = tp.ingest_tiff(path, tmp_path / "s.zarr", chunks=(1, 32, 32))
    if pyramid:
        add_levels(scene, pyramid)
        from tiledproc.io.layout import set_omero
        set_omero(scene)
    Image.from_zarr(zarr.open_group(str(scene), mode="r"))
    nodes = list(Reader(parse_url(str(scene)))())
    meta = nodes[0].metadata
    assert meta["channel_names"] == ["red", "nir", "swir"]
    for (lo, hi), band in zip(meta["contrast_limits"], data):
        valid = band[band != 0].astype(float)  # nodata is not part of the stretch
        assert valid.min() <= lo < hi <= valid.max()
        assert lo >= np.percentile(valid, 0.05) - 60 and hi <= np.percentile(valid, 99.95) + 60
    ms = read_attrs(scene)["ome"]["multiscales"][0]
    assert ms["axes"][1] == {"name": "y", "type": "space", "unit": "meter"}
    assert [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]] == [
        [1.0, 463.3125 * 2**k, 463.3125 * 2**k] for k in range(pyramid + 1)]
    assert len(nodes[0].data) == pyramid + 1


def test_palette_indices_are_an_ome_label_image(tmp_path, rng):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader
    from ome_zarr_models.v05.image_label import ImageLabel

    image = rng.random((3, 60, 70)).astype(np.float32)
    tp.save_raster(image, tmp_path / "img.zarr")
    toml = tmp_path / "p.toml"
    toml.write_text(f'''
[input]
path = "{tmp_path / 'img.zarr'}"
[steps.quantize]
op = "quantize"
n_colors = 4
[outputs.indices]
from = "quantize.indices"
path = "{tmp_path / 'idx.zarr'}"
''')
    result = CliRunner().invoke(cli, ["run", str(toml), "--pyramid", "1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    ImageLabel.from_zarr(zarr.open_group(str(tmp_path / "idx.zarr"), mode="r"))
    node = list(Reader(parse_url(str(tmp_path / "idx.zarr")))())[0]
    assert any(isinstance(s, Label) for s in node.specs)  # napari: a labels layer


def test_microscopy_units_are_carried(tmp_path, rng):
    src = tmp_path / "cells.zarr"
    tp.save_raster(rng.random((1, 50, 60)).astype(np.float32), src)
    g = zarr.open_group(str(src), mode="r+")
    ome = dict(g.attrs["ome"])
    ms = ome["multiscales"][0]
    ms["axes"] = [ms["axes"][0]] + [dict(a, unit="micrometer") for a in ms["axes"][1:]]
    ms["datasets"][0]["coordinateTransformations"][0]["scale"] = [1.0, 0.25, 0.5]
    g.attrs["ome"] = ome
    out = tp.save_raster(tp.window_mean(tp.open_raster(src), 3), tmp_path / "m.zarr")
    ms = read_attrs(out)["ome"]["multiscales"][0]
    assert ms["axes"][2]["unit"] == "micrometer"
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 0.25, 0.5]
    assert "spatial:transform" not in read_attrs(out)


def test_stored_attrs_are_standard_json(tmp_path, modis_tif):
    path, _ = modis_tif
    scene = tp.ingest_tiff(path, tmp_path / "s.zarr")
    for f in ("zarr.json", "0/zarr.json", "spatial_ref/zarr.json"):
        json.loads((scene / f).read_text(), parse_constant=lambda c: pytest.fail(f"{f}: {c}"))


# ---------------------------------------------------------------- Zarr v2 for GDAL

@pytest.mark.parametrize("dtype, nodata", [(np.uint16, "0"), (np.float32, "nan")])
def test_zarr_v2_output_read_by_gdal(tmp_path, rng, dtype, nodata):
    data = footprint_scene(rng, dtype=dtype, fill=0 if nodata == "0" else np.nan)
    tif = make_geotiff(tmp_path / "s.tif", data, keys=SINU_KEYS, doubles=SINU_DOUBLES, nodata=nodata,
                       names=["red", "nir", "swir"])
    scene = tp.ingest_tiff(tif, tmp_path / "s.zarr", chunks=(1, 40, 48))
    out = tp.save_raster(tp.open_raster(scene), tmp_path / "v2.zarr", zarr_format=2, pyramid=1)
    assert (out / ".zgroup").exists() and not (out / "zarr.json").exists()
    np.testing.assert_array_equal(tp.open_raster(out).compute(), data)  # the fast chunk path reads v2
    with rasterio.open(f'ZARR:"{out}":/0') as d, rasterio.open(tif) as src:
        np.testing.assert_array_equal(d.read(), data)
        assert same_crs(d.crs.to_wkt(), src.crs.to_wkt())
        # GDAL derives the transform from the x/y coordinate arrays (float rounding only)
        assert d.transform.almost_equals(src.transform, precision=1e-9 * 463.3125)
        assert (np.isnan(d.nodata) and np.isnan(src.nodata)) if nodata == "nan" else d.nodata == src.nodata
    a = open_level(out)["0"]
    assert same_crs(a.rio.crs.to_wkt(), MODIS) and list(a["c"].values) == ["red", "nir", "swir"]
    assert open_level(out, group="1")["0"].shape == (3, 49, 66)
    from ome_zarr_models.v04.image import Image as Image04
    Image04.from_zarr(zarr.open_group(str(out), mode="r"))


def test_cli_zarr_format_2_and_pipeline_key(tmp_path, modis_tif):
    path, data = modis_tif
    runner = CliRunner()
    r = runner.invoke(cli, ["window-stats", str(path), "--size", "3", "--mean", str(tmp_path / "m.zarr"),
                            "--zarr-format", "2", "--pyramid", "1"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    with rasterio.open(f'ZARR:"{tmp_path / "m.zarr"}":/0') as d, rasterio.open(path) as src:
        np.testing.assert_allclose(d.read(), tp.window_mean(data, 3, nodata=0), rtol=1e-6)  # its GDAL_NODATA
        assert same_crs(d.crs.to_wkt(), src.crs.to_wkt())
    r = runner.invoke(cli, ["window-stats", str(path), "--size", "3", "--mean", str(tmp_path / "x.zarr"),
                            "--zarr-format", "4"])
    assert r.exit_code == 2 and "zarr-format" in r.stderr
    toml = tmp_path / "p.toml"
    toml.write_text(f'[input]\npath = "{path}"\n[steps.w]\nop = "window_stats"\nsize = 3\n'
                    f'[outputs.mean]\nfrom = "w.mean"\npath = "{tmp_path / "p.zarr"}"\n[run]\nzarr_format = 5\n')
    r = runner.invoke(cli, ["run", str(toml)])
    assert r.exit_code == 2 and "zarr_format" in r.stderr and "expected 2 or 3" in r.stderr


def test_omero_limits_from_sampled_chunks_skip_the_nodata_footprint(tmp_path, modis_tif):
    from tiledproc.io.layout import set_omero

    path, data = modis_tif
    scene = tp.ingest_tiff(path, tmp_path / "s.zarr", chunks=(1, 32, 32))
    set_omero(scene, max_pixels=2 * 32 * 32)  # two whole chunks per band, not a strided read of all
    for ch, band in zip(read_attrs(scene)["ome"]["omero"]["channels"], data):
        valid = band[band != 0]
        w = ch["window"]
        assert valid.min() <= w["start"] < w["end"] <= valid.max()
        assert w["min"] >= valid.min() and w["max"] <= valid.max()  # the footprint's 0 is not in it
