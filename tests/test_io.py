"""Zarr in and out, TIFF ingest, overwrite/resume rules, provenance."""

import hashlib
import json
import os

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

import tiledproc as tp
from tiledproc.errors import (
    InvalidParameterError,
    NotAZarrStoreError,
    OutputExistsError,
    OutputInsideInputError,
    ResumeMismatchError,
    StoreNotFoundError,
    TiffError,
)
from tiledproc.io import raster_info, read_attrs
from tiledproc.io.chunkio import layout_of
from tiledproc.io.record import DONE_LOG

from .conftest import raise_if_dask_computes


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "float32", "float64"])
@pytest.mark.parametrize("codec", ["lz4", "zstd", "none", "zstd-plain"])
def test_round_trip_and_zarr_compatibility(tmp_path, rng, dtype, codec):
    x = (rng.normal(size=(3, 45, 70)) * 50).astype(dtype)
    out = tp.save_raster(da.from_array(x, chunks=(2, 16, 32)), tmp_path / "r.zarr", codec=codec)
    a = tp.open_raster(out)
    assert a.shape == x.shape and a.dtype == x.dtype and a.chunks[0] == (2, 1)
    np.testing.assert_array_equal(a.compute(), x)
    # what we wrote is a normal Zarr v3 array (edge chunks padded as the spec says)
    z = zarr.open_array(str(out / "0"), mode="r")
    assert z.metadata.zarr_format == 3 and z.chunks == (2, 16, 32)
    np.testing.assert_array_equal(z[...], x)
    # regions that cut across chunks, integer and strided indexing
    np.testing.assert_array_equal(a[1, 10:40, 5:69].compute(), x[1, 10:40, 5:69])
    np.testing.assert_array_equal(a[:, ::3, -1].compute(), x[:, ::3, -1])


def test_reads_what_zarr_writes(tmp_path, rng):
    x = rng.normal(size=(2, 33, 41)).astype(np.float32)
    x[0, :16, :16] = np.nan  # an all-fill chunk zarr does not store
    z = zarr.create_array(str(tmp_path / "plain.zarr"), shape=x.shape, chunks=(1, 16, 16), dtype="f4",
                          compressors=[zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")],
                          fill_value=float("nan"))
    z[...] = x
    assert layout_of(tmp_path / "plain.zarr") is not None  # read by the fast path
    np.testing.assert_array_equal(tp.open_raster(tmp_path / "plain.zarr").compute(), x)
    # a zarr v2 array goes through zarr itself
    z2 = zarr.create_array(str(tmp_path / "v2.zarr"), shape=x.shape[1:], chunks=(10, 10), dtype="f4",
                           zarr_format=2)
    z2[...] = x[1]
    a = tp.open_raster(tmp_path / "v2.zarr")
    assert a.shape == (1, 33, 41)
    np.testing.assert_array_equal(a.compute()[0], x[1])


def test_all_fill_chunks_are_not_stored(tmp_path):
    x = np.full((1, 64, 64), np.nan, dtype=np.float32)
    x[0, 40:, 40:] = 1
    out = tp.save_raster(x, tmp_path / "n.zarr", chunks=(1, 32, 32))
    files = sorted(str(f.relative_to(out / "0")) for f in (out / "0" / "c").rglob("*") if f.is_file())
    assert files == ["c/0/1/1"]  # only chunk (0, 1, 1) holds data
    np.testing.assert_array_equal(tp.open_raster(out).compute(), x)


def test_provenance_and_ome_metadata(tmp_path, rng):
    src = tp.save_raster(rng.normal(size=(2, 20, 30)).astype(np.float32), tmp_path / "in.zarr")
    m, _ = tp.window_stats(tp.open_raster(src), 5)
    out = tp.save_raster(m, tmp_path / "m.zarr", inputs=[src],
                         attrs={"operation": "window_mean", "parameters": {"size": 5}, "input": str(src),
                                "band_names": ["a", "b"]})
    attrs = read_attrs(out)
    prov = attrs["tiledproc"]
    assert prov["operation"] == "window_mean" and prov["parameters"] == {"size": 5}
    assert prov["input"] == str(src) and prov["version"] == tp.__version__ and prov["complete"] is True
    assert attrs["band_names"] == ["a", "b"]
    ms = attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["c", "y", "x"] and ms["datasets"][0]["path"] == "0"
    assert attrs["ome"]["version"] == "0.5"
    assert zarr.open_array(str(out / "0")).metadata.dimension_names == ("c", "y", "x")
    info = raster_info(out)
    assert info["shape"] == [2, 20, 30] and info["codecs"][1]["configuration"]["cname"] == "lz4"
    assert info["bytes_on_disk"] > 0
    json.dumps(info)  # JSON-able for `tiledproc info --json`


def test_open_raster_errors_name_the_path(tmp_path):
    with pytest.raises(StoreNotFoundError, match=r"Input store '.*missing\.zarr' does not exist"):
        tp.open_raster(tmp_path / "missing.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAZarrStoreError, match=r"'.*empty' is not a Zarr store"):
        tp.open_raster(tmp_path / "empty")
    (tmp_path / "img.tif").write_bytes(b"II*\x00")
    with pytest.raises(NotAZarrStoreError, match=r"is a file, not a Zarr store\. Convert it first: tiledproc ingest"):
        tp.open_raster(tmp_path / "img.tif")
    zarr.create_array(str(tmp_path / "4d.zarr"), shape=(2, 2, 3, 3), dtype="f4", chunks=(1, 1, 3, 3))
    with pytest.raises(NotAZarrStoreError, match=r"shape \(2, 2, 3, 3\); tiledproc reads \(y, x\) or \(band, y, x\) rasters"):
        tp.open_raster(tmp_path / "4d.zarr")
    g = zarr.create_group(str(tmp_path / "g.zarr"))
    g.create_array("a", shape=(3, 3), dtype="f4")
    g.create_array("b", shape=(3, 3), dtype="f4")
    with pytest.raises(NotAZarrStoreError, match="without OME multiscales and with 2 arrays"):
        tp.open_raster(tmp_path / "g.zarr")


def test_open_is_lazy(tmp_path, rng):
    src = tp.save_raster(rng.normal(size=(1, 20, 20)), tmp_path / "a.zarr")
    with raise_if_dask_computes():
        a = tp.open_raster(src)
        tp.window_stats(a, 3)


def test_overwrite_rules(store_root, rng):
    """On a local directory, the S3 server and Azurite (store_root, tests/conftest.py)."""
    x = rng.normal(size=(1, 8, 8))
    out = str(tp.save_raster(x, str(store_root / "o.zarr")))
    with pytest.raises(OutputExistsError, match="already exists; pass overwrite"):
        tp.save_raster(x + 1, out)
    np.testing.assert_array_equal(tp.open_raster(out).compute(), x)  # nothing lost
    tp.save_raster(x + 1, out, overwrite=True)
    np.testing.assert_array_equal(tp.open_raster(out).compute(), x + 1)


def test_output_inside_or_containing_input_is_refused(store_root, rng):
    src = str(tp.save_raster(rng.normal(size=(1, 8, 8)), str(store_root / "d" / "in.zarr")))
    a = tp.open_raster(src)
    for bad in (src, f"{src}/sub.zarr", str(store_root / "d")):
        with pytest.raises(OutputInsideInputError, match="input"):
            tp.save_raster(a, bad, inputs=[src], overwrite=True)
    assert tp.open_raster(src).shape == (1, 8, 8)  # the input survives
    # a sibling whose name starts with the input's is not inside it (whole path segments compare)
    tp.save_raster(a, f"{src}2", inputs=[src])


def test_resume_refuses_a_different_computation(tmp_path, rng):
    x = da.from_array(rng.normal(size=(1, 16, 16)), chunks=8)
    m, v = tp.window_stats(x, 3)
    out = tp.save_raster(m, tmp_path / "m.zarr")
    tp.save_raster(m, out, resume=True)  # same computation: fine, nothing to do
    with pytest.raises(ResumeMismatchError, match="made by a different computation"):
        tp.save_raster(v, out, resume=True)
    with pytest.raises(ResumeMismatchError, match="made by a different computation"):
        tp.save_raster(tp.window_stats(x, 5)[0], out, resume=True)
    (tmp_path / "junk").mkdir()
    with pytest.raises(ResumeMismatchError, match="not an output written by tiledproc"):
        tp.save_raster(m, tmp_path / "junk", resume=True)


def test_resume_computes_only_missing_chunks(tmp_path, rng):
    """A record of finished chunks is all resume trusts (the driver writes it)."""
    from tiledproc.jobs.write import write_outputs
    from tiledproc.io.read import LEVEL0
    from tiledproc.io.output import OutputSpec

    x = da.from_array(rng.normal(size=(2, 40, 40)), chunks=(1, 20, 20))
    m, _ = tp.window_stats(x, 5)
    full = tp.save_raster(m, tmp_path / "full.zarr")
    spec = OutputSpec(tmp_path / "part.zarr", m)
    r1 = write_outputs([spec])
    assert r1.chunks_written == 8
    # pretend the run died after 3 chunks: drop the completion mark and 5 chunk records
    g = zarr.open_group(str(spec.path), mode="r+")
    meta = dict(g.attrs)["tiledproc"]
    meta["complete"] = False
    g.attrs["tiledproc"] = meta
    record = spec.path / LEVEL0 / DONE_LOG
    entries = {tuple(map(int, line.split()[:3])): line for line in record.read_text().splitlines()}
    kept = [entries[i] for i in [(0, 0, 0), (0, 0, 1), (1, 1, 1)]]
    # three whole entries, then one cut short by the crash
    record.write_text("\n".join(kept) + "\n" + entries[(1, 0, 0)][:5])
    os.remove(spec.path / LEVEL0 / "c" / "1" / "0" / "0")  # a chunk that never made it to disk
    r2 = write_outputs([OutputSpec(tmp_path / "part.zarr", m)], resume=True)
    assert (r2.chunks_written, r2.chunks_skipped, r2.chunks_repaired) == (5, 3, 0)
    for index in [(0, 0, 0), (0, 0, 1), (1, 1, 1)]:
        a, b = (p / LEVEL0 / "c" / "/".join(map(str, index)) for p in (full, spec.path))
        assert sha(a) == sha(b)
    assert read_attrs(spec.path)["tiledproc"]["complete"] is True
    np.testing.assert_array_equal(tp.open_raster(spec.path).compute(), tp.open_raster(full).compute())


def test_save_raster_refuses_bad_arrays(tmp_path):
    with pytest.raises(InvalidParameterError, match=r"Expected a raster of shape \(y, x\) or \(band, y, x\)"):
        tp.save_raster(np.zeros((2, 2, 3, 3)), tmp_path / "x.zarr")
    with pytest.raises(InvalidParameterError, match="Expected codec to be one of"):
        tp.save_raster(np.zeros((3, 3)), tmp_path / "x.zarr", codec="snappy")
    with pytest.raises(InvalidParameterError, match="Expected chunks to be 3 positive integers"):
        tp.save_raster(np.zeros((3, 3)), tmp_path / "x.zarr", chunks=(1, 0, 3))


# ---------------------------------------------------------------- TIFF ingest

GEOKEYS = [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633, 3076, 0, 1, 9001]


def geotags(nodata="nan"):
    return [
        (33550, "d", 3, (10.0, 10.0, 0.0), False),
        (33922, "d", 6, (0, 0, 0, 500000.0, 4600000.0, 0), False),
        (34735, "H", len(GEOKEYS), GEOKEYS, False),
        (42113, "s", 0, nodata, False),
    ]


@pytest.mark.parametrize(
    "layout,kwargs",
    [
        ("yx", {"tile": (32, 48)}),
        ("yx", {"rowsperstrip": 7, "compression": "zlib"}),
        ("yx", {}),  # one contiguous uncompressed strip: memory-mapped regions
        ("yxs", {"tile": (16, 16), "compression": "zlib"}),
        ("yxs", {"rowsperstrip": 5}),
        ("yxs", {}),
        ("cyx", {"tile": (32, 32)}),
        ("cyx", {"photometric": "minisblack", "planarconfig": "separate"}),
    ],
)
def test_ingest_tiff_layouts(tmp_path, rng, layout, kwargs):
    shape = {"yx": (70, 90), "yxs": (70, 90, 3), "cyx": (4, 70, 90)}[layout]
    x = rng.integers(0, 60000, size=shape).astype(np.uint16)
    src = tmp_path / "in.tif"
    extra = {"photometric": "rgb"} if layout == "yxs" else {}
    if layout == "cyx" and "photometric" not in kwargs:
        extra = {"photometric": "minisblack"}
    tifffile.imwrite(src, x, extratags=geotags(), **extra, **kwargs)
    before = (sha(src), os.stat(src).st_mtime_ns)
    out = tp.ingest_tiff(src, tmp_path / "out.zarr", chunks=(1, 32, 40))
    expected = {"yx": x[None], "yxs": np.moveaxis(x, -1, 0), "cyx": x}[layout]
    a = tp.open_raster(out)
    assert a.chunks[1][0] == 32 and a.chunks[2][0] == 40
    np.testing.assert_array_equal(a.compute(), expected)
    assert (sha(src), os.stat(src).st_mtime_ns) == before  # the input is never modified
    attrs = read_attrs(out)
    assert attrs["proj:code"] == "EPSG:32633"
    assert attrs["spatial:transform"] == [10.0, 0.0, 500000.0, 0.0, -10.0, 4600000.0]
    assert attrs["nodata"] == "nan" and attrs["geotiff"]["ProjectedCSTypeGeoKey"] == 32633
    assert attrs["tiledproc"]["operation"] == "ingest_tiff"


def test_ingest_bigtiff_and_odd_tags(tmp_path, rng):
    x = rng.normal(size=(50, 60)).astype(np.float32)
    src = tmp_path / "big.tif"
    tags = geotags(nodata="-9999 \x00")  # GDAL pads strings
    tifffile.imwrite(src, x, bigtiff=True, tile=(16, 16), compression="zlib", extratags=tags)
    out = tp.ingest_tiff(src, tmp_path / "big.zarr")
    np.testing.assert_array_equal(tp.open_raster(out).compute()[0], x)
    assert read_attrs(out)["nodata"] == -9999


def test_ingest_plain_tiff_and_errors(tmp_path, rng):
    x = rng.integers(0, 255, size=(20, 30)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "plain.tif", x)
    out = tp.ingest_tiff(tmp_path / "plain.tif", tmp_path / "plain.zarr")
    assert "proj:code" not in read_attrs(out)
    with pytest.raises(OutputExistsError):
        tp.ingest_tiff(tmp_path / "plain.tif", out)
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        tp.ingest_tiff(tmp_path / "nope.tif", tmp_path / "x.zarr")
    (tmp_path / "fake.tif").write_text("not a tiff")
    with pytest.raises(TiffError, match="Cannot read .*fake.tif.* as a TIFF"):
        tp.ingest_tiff(tmp_path / "fake.tif", tmp_path / "y.zarr")
    tifffile.imwrite(tmp_path / "t.tif", rng.integers(0, 9, size=(2, 3, 8, 9)).astype(np.uint8),
                     photometric="minisblack")
    with pytest.raises(TiffError, match="has axes"):
        tp.ingest_tiff(tmp_path / "t.tif", tmp_path / "z.zarr")


@pytest.mark.parametrize("compression,kwargs", [
    ("lzw", {"predictor": True}), ("lzw", {}), ("zlib", {"predictor": True}), ("zstd", {}), ("packbits", {}),
])
def test_ingest_gdal_compressions(tmp_path, rng, compression, kwargs):
    # GDAL's common choices; LZW needs imagecodecs, a dependency
    x = rng.normal(size=(2, 45, 70)).astype(np.float32) if compression != "packbits" else \
        rng.integers(0, 4, size=(2, 45, 70)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "c.tif", x, compression=compression, tile=(16, 32), photometric="minisblack",
                     **kwargs)
    out = tp.ingest_tiff(tmp_path / "c.tif", tmp_path / "c.zarr", chunks=(1, 20, 30))
    np.testing.assert_array_equal(tp.open_raster(out).compute(), x)


def test_ingest_refuses_an_undecodable_tiff_before_writing(tmp_path, rng, monkeypatch):
    from tiledproc.io.tiff import TiffRegionReader

    tifffile.imwrite(tmp_path / "c.tif", rng.normal(size=(20, 30)).astype(np.float32), compression="lzw")

    def missing_codec(self, key):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(TiffRegionReader, "__getitem__", missing_codec)
    with pytest.raises(TiffError, match=r"Cannot decode .*c\.tif.* \(LZW\).*imagecodecs"):
        tp.ingest_tiff(tmp_path / "c.tif", tmp_path / "c.zarr")
    assert not (tmp_path / "c.zarr").exists()


@pytest.mark.slow
def test_ingest_memory_does_not_grow_with_file_size(tmp_path):
    """Peak memory of ingest is a few regions, not the file (checked in a child process)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import resource, sys, numpy as np, tifffile, tiledproc as tp
        n = int(sys.argv[1]); path = sys.argv[2]
        rng = np.random.default_rng(0)
        tiles = (rng.integers(0, 4000, (256, 256), dtype=np.uint16) for _ in range((n // 256) ** 2))
        with tifffile.TiffWriter(path, bigtiff=True) as tw:  # written tile by tile
            tw.write(tiles, shape=(n, n), dtype='uint16', tile=(256, 256), compression='zlib')
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tp.ingest_tiff(path, path + '.zarr', chunks=(1, 512, 512))
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
        """
    )
    grow = []
    for n in (2048, 8192):  # 8 MB and 128 MB of pixels
        r = subprocess.run([sys.executable, "-c", code, str(n), str(tmp_path / f"f{n}.tif")],
                           capture_output=True, text=True, check=True)
        grow.append(int(r.stdout.strip()) * 1024)
    assert grow[1] < 64 * 2**20, grow  # far below the 128 MB the larger file holds


def test_ome_zarr_04_and_singleton_axes(tmp_path, rng):
    """An OME-Zarr 0.4 image (v2, multiscales at the top) with t = z = 1 reads as (c, y, x)."""
    x = rng.integers(0, 1000, size=(1, 3, 1, 40, 50)).astype(np.uint16)
    g = zarr.open_group(str(tmp_path / "ome.zarr"), mode="w", zarr_format=2)
    g.attrs["multiscales"] = [{"version": "0.4", "datasets": [{"path": "s0"}],
                               "axes": [{"name": n} for n in "tczyx"]}]
    g.create_array("s0", shape=x.shape, chunks=(1, 1, 1, 16, 16), dtype=x.dtype)[...] = x
    a = tp.open_raster(tmp_path / "ome.zarr")
    assert a.shape == (3, 40, 50)
    np.testing.assert_array_equal(a.compute(), x[0, :, 0])
    zarr.create_array(str(tmp_path / "tz.zarr"), shape=(2, 3, 4, 4), dtype="f4")
    with pytest.raises(NotAZarrStoreError, match="other axes of length 1"):
        tp.open_raster(tmp_path / "tz.zarr")
