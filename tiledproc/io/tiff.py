"""TIFF, BigTIFF and GeoTIFF in, without loading the file.

A TIFF is read region by region: tiles or strips through tifffile's zarr
view of the file (only the tiles/strips a region touches are decoded),
uncompressed contiguous images through a memory map opened and closed for
each region. The reader is opened by path in every task, so it pickles
and runs on any worker. Peak memory is a few read regions, whatever the
file size (a compressed image stored as one single strip is the exception:
its strip must be decoded whole).

A TIFF at a URL (``https://``, ``s3://``, ...) is read the same way through
:class:`~tiledproc.io.remote.RangeFile`: every read tifffile makes is one
ranged GET, so only the headers and the tiles or strips of the regions
read are fetched, never the whole file; the bytes fetched are counted
(:func:`~tiledproc.io.remote.bytes_read`).

Axes: ``(y, x)`` becomes ``(1, y, x)``, ``(y, x, samples)`` becomes
``(samples, y, x)``, ``(band, y, x)`` stays. GeoTIFF georeferencing goes
to the attributes (``proj:code``, ``spatial:transform``, the raw keys under
``geotiff``, ``nodata``).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import dask.array as da
import numpy as np
import tifffile
import zarr
from dask.base import tokenize

from ..errors import StoreNotFoundError, TiffError
from .geo import GT_RASTER_TYPE, Georef, crs_from_geokeys, geo_attrs, geokeys_from_tags, transform_from_geotiff
from .metadata import json_safe
from .remote import ObjectPath, RangeFile, as_location, is_url
from .safety import refuse_url


def _open_tiff(path) -> tifffile.TiffFile:
    """A TiffFile over a local path or, for an object, over ranged GETs."""
    if isinstance(path, ObjectPath):
        return tifffile.TiffFile(RangeFile(path), name=path.name)
    return tifffile.TiffFile(str(path))

__all__ = ["read_tiff", "tiff_attrs", "is_tiff", "TiffRegionReader"]

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".gtif")
#: budget for one read region of a stripped TIFF (full-width row bands)
READ_BUDGET = 256 * 2**20


def is_tiff(path) -> bool:
    p = as_location(path) if is_url(path) else Path(path)
    if p.suffix.lower() in TIFF_SUFFIXES:
        return True
    if isinstance(p, ObjectPath):
        return False
    if p.is_file():
        with open(p, "rb") as f:
            head = f.read(4)
        return head[:2] in (b"II", b"MM") and head[2:4] in (b"*\x00", b"\x00*", b"+\x00", b"\x00+")
    return False


class TiffRegionReader:
    """A picklable array-like over one series of a TIFF: ``reader[y0:y1, ...]``."""

    def __init__(self, path, series: int = 0):
        self.remote = as_location(path) if is_url(path) else None
        self.path = str(self.remote) if self.remote is not None else str(Path(path).expanduser())
        self.series = series
        try:
            with self._open() as tf:
                if series >= len(tf.series):
                    raise TiffError(f"{self.path!r} has {len(tf.series)} image series, not {series + 1}.")
                s = tf.series[series]
                self.shape = tuple(s.shape)
                self.dtype = np.dtype(s.dtype)
                self.axes = s.axes
                page = s.keyframe
                self.tiled = bool(page.is_tiled)
                # a single contiguous, uncompressed block: readable through a memory map
                self.offset = s.dataoffset if s.dataoffset is not None and self.remote is None else None
                self.byteorder = tf.byteorder
                self.chunk_shape = tuple(getattr(page, "chunks", ()) or ())
                self.compression = getattr(page.compression, "name", str(page.compression))
        except TiffError:
            raise
        except (tifffile.TiffFileError, OSError, ValueError) as e:
            raise TiffError(f"Cannot read {self.path!r} as a TIFF: {e}") from e
        self.ndim = len(self.shape)
        st = self.remote.stat() if self.remote is not None else os.stat(self.path)
        self.stamp = (st.st_size, st.st_mtime_ns, getattr(st, "e_tag", None))
        if all(self.shape):
            # decode one pixel now, so a compression nothing here can decode is refused
            # before any output is made, not halfway through the write
            try:
                self[(slice(0, 1),) * self.ndim]
            except (ValueError, RuntimeError, NotImplementedError, tifffile.TiffFileError) as e:
                raise TiffError(
                    f"Cannot decode {self.path!r} ({self.compression}): {e}. tifffile decodes "
                    f"compressed TIFFs with the imagecodecs package, which tiledproc installs; "
                    f"check that it imports (python -c 'import imagecodecs')."
                ) from e

    def _open(self) -> tifffile.TiffFile:
        return _open_tiff(self.remote if self.remote is not None else self.path)

    def __getitem__(self, key):
        if self.offset is not None:
            dtype = self.dtype.newbyteorder(self.byteorder)
            # an explicit mmap, closed here: np.memmap keeps its map open until garbage collection
            with open(self.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                view = np.ndarray(self.shape, dtype=dtype, buffer=mm, offset=self.offset)
                out = np.array(view[key], dtype=self.dtype)
                del view  # no view may outlive the map
            return out
        with self._open() as tf:
            store = tf.series[self.series].aszarr()
            try:
                return np.asarray(zarr.open_array(store, mode="r")[key])
            finally:
                store.close()


def _read_chunks(reader: TiffRegionReader, yx_chunks: tuple[int, int]) -> tuple:
    """Read regions: the output chunks, or full-width row bands for strips."""
    cy, cx = yx_chunks
    axes = reader.axes
    shape = reader.shape
    y = axes.index("Y")
    x = axes.index("X")
    chunks = list(shape)
    chunks[y] = min(cy, shape[y])
    chunks[x] = min(cx, shape[x])
    for k, ax in enumerate(axes):
        if ax not in "YX":
            chunks[k] = shape[k] if ax == "S" and k == len(axes) - 1 else 1
    if not reader.tiled and reader.offset is None:
        # strips span the full width: read whole row bands if they fit the budget
        row_band = chunks[y] * shape[x] * int(np.prod([shape[k] for k, a in enumerate(axes) if a == "S"]))
        if row_band * reader.dtype.itemsize <= READ_BUDGET:
            chunks[x] = shape[x]
    return tuple(chunks)


def read_tiff(path, *, chunks=(1, 1024, 1024), series: int = 0) -> da.Array:
    """A TIFF as a lazy ``(band, y, x)`` dask array with the given chunks."""
    refuse_url(path, "TIFF")
    p = as_location(path)
    if isinstance(p, ObjectPath):
        if not p.is_file():
            raise StoreNotFoundError(f"Input TIFF {str(p)!r} does not exist.")
    elif not p.exists():
        raise StoreNotFoundError(f"Input TIFF {str(p)!r} does not exist.")
    elif not p.is_file():
        raise TiffError(f"{str(p)!r} is not a file.")
    reader = TiffRegionReader(p, series)
    axes = reader.axes
    if len(axes) == 2 and axes == "YX":
        order = None
    elif len(axes) == 3 and axes[1:] == "YX":
        order = None
    elif len(axes) == 3 and axes[:2] == "YX":
        order = (2, 0, 1)
    else:
        raise TiffError(
            f"{str(p)!r} has axes {axes!r} (shape {reader.shape}); tiledproc ingests (y, x), "
            f"(y, x, samples) and (band, y, x) images."
        )
    bands = chunks[0] if len(chunks) == 3 else 1
    yx = tuple(chunks[-2:])
    name = "tiff-" + tokenize(str(p.resolve()), series, reader.stamp, _read_chunks(reader, yx))
    a = da.from_array(reader, chunks=_read_chunks(reader, yx), lock=False, asarray=True,
                      name=name, meta=np.empty((0,) * reader.ndim, dtype=reader.dtype))
    if order is not None:
        a = a.transpose(order)
    if a.ndim == 2:
        a = a[None]
    return a.rechunk((bands,) + yx)


def _nodata(value: str):
    text = value.strip().strip("\x00").strip()
    try:
        v = float(text)
    except ValueError:
        return text
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def tiff_attrs(path, series: int = 0) -> dict:
    """Georeferencing, nodata and band descriptions of a (Geo)TIFF as JSON-able attributes.

    The CRS is made from the GeoKeys with pyproj (:func:`tiledproc.io.geo.crs_from_geokeys`)
    and carried whole (``proj:wkt2``, ``proj:projjson``, ``proj:code`` when it has one);
    the transform from ModelTransformation or ModelPixelScale + ModelTiepoint; band
    descriptions from GDAL_METADATA (``band_names``).
    """
    attrs: dict = {}
    with _open_tiff(as_location(path)) as tf:
        page = tf.series[series].keyframe
        tags = page.tags
        nd = tags.get(42113)
        if nd is not None:
            attrs["nodata"] = json_safe(_nodata(str(nd.value)))
        md = tags.get(42112)
        bands = tf.series[series].shape[0] if len(tf.series[series].shape) == 3 and \
            tf.series[series].axes[1:] == "YX" else (tf.series[series].shape[-1]
                                                    if tf.series[series].axes[-1:] == "S" else 1)
        if md is not None:
            attrs["gdal_metadata"] = str(md.value)
            names = band_descriptions(str(md.value), bands)
            if names is not None:
                attrs["band_names"] = names
        raw = {name: (tags[code].value if code in tags else None) for name, code in
               (("ModelTransformation", 34264), ("ModelPixelScale", 33550), ("ModelTiepoint", 33922))}
        keys = geokeys_from_tags(tags[34735].value, tags[34736].value if 34736 in tags else None,
                                 tags[34737].value if 34737 in tags else None) if 34735 in tags else {}
        geo = tf.geotiff_metadata if tf.is_geotiff else None
    if geo:
        attrs["geotiff"] = json_safe(geo)
    if not keys and raw["ModelPixelScale"] is None and raw["ModelTransformation"] is None:
        return attrs
    crs = crs_from_geokeys(keys) if keys else None
    transform = transform_from_geotiff(raw)
    if transform is not None and int(keys.get(GT_RASTER_TYPE, 1)) == 2:  # PixelIsPoint: to pixel corners
        a, b, c, d, e, f = transform
        transform = (a, b, c - 0.5 * a - 0.5 * b, d, e, f - 0.5 * d - 0.5 * e)
        attrs["geotiff:raster_type"] = "PixelIsPoint"
    attrs.update(geo_attrs(Georef(crs, transform)))
    return attrs


def band_descriptions(gdal_metadata: str, bands: int) -> list[str] | None:
    """The band descriptions of a GDAL_METADATA tag (``<Item name="DESCRIPTION"
    sample="k" role="description">``), one per band (``""`` where none is given)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(gdal_metadata.strip().strip("\x00"))
    except ET.ParseError:
        return None
    names = [""] * bands
    found = False
    for item in root.iter("Item"):
        if item.get("role") == "description" or item.get("name") == "DESCRIPTION":
            sample = item.get("sample")
            if sample is not None and sample.isdigit() and int(sample) < bands:
                names[int(sample)] = item.text or ""
                found = True
    return names if found else None
