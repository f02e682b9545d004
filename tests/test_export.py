"""``tiledproc export``: Cloud-Optimized GeoTIFFs read back with rasterio (GDAL), checked
against the layout rules of GDAL's validate_cloud_optimized_geotiff.py."""

import numpy as np
import pytest
import rasterio
import tifffile
from click.testing import CliRunner

import tiledproc as tp
from tiledproc.cli import cli
from tiledproc.jobs.export import export_cog
from tiledproc.jobs.pyramid import add_levels
from tiledproc.io.levels import level_array

from .test_geo import MODIS, SINU_DOUBLES, SINU_KEYS, footprint_scene, make_geotiff, same_crs


def cog_errors(path) -> list[str]:
    """The checks of GDAL's validate_cloud_optimized_geotiff.py (GDAL 3.10), through rasterio:
    a tiled image whose overviews are tiled too, every IFD before any pixel data (main IFD
    first, overviews by decreasing size), the smallest overview's data first and the full
    resolution's last, and within each IFD the blocks in increasing order (full check)."""
    errors = []
    with rasterio.open(path) as d:
        if d.width > 512 or d.height > 512:
            if d.block_shapes[0][1] == d.width and d.width > 512:
                errors.append("not tiled")
        ovr = d.overviews(1)
        if (d.width > 512 or d.height > 512) and not ovr:
            errors.append("no overviews")

        def item(name, ovr_index=None):
            v = d.get_tag_item(name, "TIFF", bidx=1, ovr=ovr_index)
            return int(v) if v is not None else 0

        ifd = [item("IFD_OFFSET")] + [item("IFD_OFFSET", i) for i in range(len(ovr))]
        data = [item("BLOCK_OFFSET_0_0")] + [item("BLOCK_OFFSET_0_0", i) for i in range(len(ovr))]
        if ifd[0] not in (8, 16):
            errors.append(f"main IFD at {ifd[0]}, not 8 (TIFF) or 16 (BigTIFF)")
        if ovr and ifd[0] > ifd[1]:
            errors.append("main IFD after the first overview's")
        for i in range(1, len(ifd) - 1):
            if ifd[i] > ifd[i + 1]:
                errors.append(f"overview {i - 1}'s IFD after overview {i}'s")
        if data[-1] and data[-1] < ifd[-1]:
            errors.append("data of the smallest level before its IFD")
        for i in range(len(data) - 2, 0, -1):
            if data[i] and data[i] < data[i + 1]:
                errors.append(f"data of overview {i - 1} before that of overview {i}")
        if len(data) >= 2 and data[0] and data[0] < data[1]:
            errors.append("full-resolution data before the first overview's")
    # full check: block offsets increase within each IFD (row-major, band after band)
    with tifffile.TiffFile(path) as tf:
        for k, page in enumerate(tf.pages):
            offsets = [o for o in page.dataoffsets if o]
            if offsets != sorted(offsets):
                errors.append(f"IFD {k}: blocks not in increasing order")
            if not page.is_tiled:
                errors.append(f"IFD {k}: not tiled")
    return errors


@pytest.fixture
def modis_store(tmp_path, rng):
    data = footprint_scene(rng, shape=(3, 301, 437))
    tif = make_geotiff(tmp_path / "modis.tif", data, keys=SINU_KEYS, doubles=SINU_DOUBLES, nodata="0",
                       names=["red", "nir", "swir"])
    return tp.ingest_tiff(tif, tmp_path / "s.zarr", chunks=(1, 96, 80)), data, tif


@pytest.mark.parametrize("pyramid", [0, 2])
@pytest.mark.parametrize("tile", [64, 512])
def test_cog_round_trip(tmp_path, modis_store, pyramid, tile):
    store, data, tif = modis_store
    if pyramid:
        add_levels(store, pyramid)
    out = export_cog(store, tmp_path / "out.tif", tile=tile)
    assert cog_errors(out) == []
    with rasterio.open(out) as d, rasterio.open(tif) as src:
        np.testing.assert_array_equal(d.read(), data)
        assert same_crs(d.crs.to_wkt(), src.crs.to_wkt()) and same_crs(d.crs.to_wkt(), MODIS)
        assert d.transform == src.transform
        assert d.nodata == 0
        assert d.descriptions == ("red", "nir", "swir")
        assert d.block_shapes[0] == (tile, tile)
        n = 0
        size = max(data.shape[1:])
        while size > tile:
            size = -(-size // 2)
            n += 1
        assert d.overviews(1) == [2**k for k in range(1, n + 1)]
        for k in range(1, min(n, pyramid) + 1):  # stored levels are the overviews, as they are
            with rasterio.open(out, OVERVIEW_LEVEL=k - 1) as o:
                np.testing.assert_array_equal(o.read(), level_array(store, str(k)).compute())


def test_float_nan_nodata_and_computed_overviews(tmp_path, rng):
    data = footprint_scene(rng, shape=(2, 150, 170), dtype=np.float32, fill=np.nan)
    store = tp.save_raster(data, tmp_path / "f.zarr", attrs={"nodata": "nan"})
    out = export_cog(store, tmp_path / "f.tif", tile=32)
    assert cog_errors(out) == []
    with rasterio.open(out) as d:
        np.testing.assert_array_equal(d.read(), data)
        assert np.isnan(d.nodata) and d.crs is None
        # computed overviews average 2 x 2 as the pyramid does, NaN-aware
        from tiledproc.kernels.resample import downsample2
        with rasterio.open(out, OVERVIEW_LEVEL=0) as o:
            np.testing.assert_array_equal(o.read(), downsample2(data))


def test_export_of_an_op_output_keeps_the_georeferencing(tmp_path, modis_store):
    store, data, tif = modis_store
    mean = tp.save_raster(tp.window_mean(tp.open_raster(store), 5), tmp_path / "m.zarr")
    result = CliRunner().invoke(cli, ["export", str(mean), str(tmp_path / "m.tif"), "--tile", "128"])
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "m.tif") as d, rasterio.open(tif) as src:
        assert cog_errors(tmp_path / "m.tif") == []
        np.testing.assert_array_equal(d.read(), tp.open_raster(mean).compute())
        assert same_crs(d.crs.to_wkt(), src.crs.to_wkt()) and d.transform == src.transform
        assert d.descriptions == ("red", "nir", "swir")


@pytest.mark.parametrize("args, fragment", [
    (["--tile", "100"], "multiple of 16"),
    (["--tile", "0"], "multiple of 16"),
])
def test_bad_options(tmp_path, modis_store, args, fragment):
    store, _, _ = modis_store
    result = CliRunner().invoke(cli, ["export", str(store), str(tmp_path / "o.tif"), *args])
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert not (tmp_path / "o.tif").exists()


def test_outputs_replaced_only_when_ours(tmp_path, modis_store):
    store, _, _ = modis_store
    runner = CliRunner()
    out = tmp_path / "o.tif"
    assert runner.invoke(cli, ["export", str(store), str(out)]).exit_code == 0
    result = runner.invoke(cli, ["export", str(store), str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert runner.invoke(cli, ["export", str(store), str(out), "--overwrite"]).exit_code == 0
    foreign = tmp_path / "foreign.tif"
    tifffile.imwrite(foreign, np.zeros((4, 4), np.uint8))
    result = runner.invoke(cli, ["export", str(store), str(foreign), "--overwrite"])
    assert result.exit_code == 2 and "not written by tiledproc" in result.stderr
    assert tifffile.imread(foreign).shape == (4, 4)
    result = runner.invoke(cli, ["export", str(store), str(store / "inside.tif")])
    assert result.exit_code == 2 and "inside the input store" in result.stderr
    result = runner.invoke(cli, ["export", str(tmp_path / "missing.zarr"), str(tmp_path / "x.tif")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no debris


def test_the_cog_check_catches_a_plain_tiled_pyramid(tmp_path, rng):
    """A tiled TIFF with overviews written level after level (tifffile's order: each IFD
    followed by its data) is not a COG: the check must say so."""
    data = rng.integers(0, 255, (1100, 1300), dtype=np.uint8)
    path = tmp_path / "plain.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(data, tile=(256, 256), photometric="minisblack")
        tw.write(data[::2, ::2], tile=(256, 256), photometric="minisblack", subfiletype=1)
        tw.write(data[::4, ::4], tile=(256, 256), photometric="minisblack", subfiletype=1)
    errors = cog_errors(path)
    assert "full-resolution data before the first overview's" in errors, errors
