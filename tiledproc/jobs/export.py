"""``export_cog``: a raster store to a Cloud-Optimized GeoTIFF, out of core.

The file is laid out as GDAL's COG driver lays it out, and as GDAL's
``validate_cloud_optimized_geotiff.py`` checks: a BigTIFF whose image file
directories (full resolution first, then each overview, larger to smaller)
all come before any pixel data, and whose tiles are stored smallest overview
first and full resolution last, each directory's tiles in row-major order
band after band (planar configuration 2, so a ``(band, y, x)`` store is
written as it is stored).

Memory: the directories are written first with their tile offset and size
tables reserved (their length is known from the shape), tiles are then
computed, compressed and appended one span of tiles at a time (one band, one
tile row, up to ``SPAN`` pixels wide), and the tables are filled in at the
end. Peak memory is a few spans, whatever the raster's size. Overviews are
the store's own pyramid levels where it has them (``tiledproc pyramid``),
else computed level by level into a temporary Zarr store beside the output
(each from the one below, the way the pyramid is made), which is removed
afterwards.

The georeferencing (GeoKeys from the CRS, ModelPixelScale/Tiepoint or
ModelTransformation), ``GDAL_NODATA`` and the band descriptions
(``GDAL_METADATA``) go to the full-resolution directory. The file is written
under a temporary name and renamed into place: an interrupted export leaves
no half-written file under the output's name.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import dask
import dask.array as da
import numpy as np
import zarr

from .._version import __version__
from ..errors import InvalidParameterError, OutputExistsError, UnsafeOutputError
from ..io.geo import geokey_directory, georef_from_attrs
from ..io.levels import level_array, store_levels
from ..io.metadata import level_path
from ..io.read import check_complete, locate
from ..io.safety import refuse_url
from ..kernels.resample import downsample2, subsample2

__all__ = ["export_cog", "COMPRESSIONS"]

log = logging.getLogger("tiledproc")

#: TIFF compression codes
COMPRESSIONS = {"deflate": 8, "none": 1}
#: widest span of tiles computed at once (pixels)
SPAN = 4096
SOFTWARE = f"tiledproc {__version__}"

# TIFF field types
SHORT, LONG, DOUBLE, ASCII, LONG8 = 3, 4, 12, 2, 16
_SIZES = {SHORT: 2, LONG: 4, DOUBLE: 8, ASCII: 1, LONG8: 8}
_FORMATS = {SHORT: "H", LONG: "I", DOUBLE: "d", LONG8: "Q"}


def _sample_format(dtype: np.dtype) -> int:
    return {"u": 1, "b": 1, "i": 2, "f": 3}[dtype.kind]


@dataclass
class _Ifd:
    shape: tuple[int, int, int]  # (bands, height, width)
    tile: int
    tags: dict[int, tuple[int, list | str]]  # tag -> (type, values)
    offsets_at: int = 0  # file offset of the TileOffsets table
    counts_at: int = 0

    @property
    def grid(self) -> tuple[int, int]:
        return -(-self.shape[1] // self.tile), -(-self.shape[2] // self.tile)

    @property
    def n_tiles(self) -> int:
        ty, tx = self.grid
        return self.shape[0] * ty * tx


def _encode_ifds(ifds: list[_Ifd], start: int) -> bytes:
    """All IFDs, chained, from file offset ``start``; records where each tile table is."""
    out = bytearray()
    for k, ifd in enumerate(ifds):
        here = start + len(out)
        entries = sorted(ifd.tags.items())
        n = len(entries)
        extra_at = here + 8 + 20 * n + 8
        body = bytearray(struct.pack("<Q", n))
        extra = bytearray()
        for tag, (typ, values) in entries:
            if typ == ASCII:
                raw = values.encode("latin-1") + b"\0"
                count = len(raw)
            else:
                count = len(values)
                raw = struct.pack(f"<{count}{_FORMATS[typ]}", *values)
            if len(raw) <= 8:
                body += struct.pack("<HHQ", tag, typ, count) + raw.ljust(8, b"\0")
            else:
                while (extra_at + len(extra)) % 8:
                    extra += b"\0"
                pos = extra_at + len(extra)
                if tag == 324:
                    ifd.offsets_at = pos
                elif tag == 325:
                    ifd.counts_at = pos
                body += struct.pack("<HHQ", tag, typ, count) + struct.pack("<Q", pos)
                extra += raw
            if len(raw) <= 8 and tag in (324, 325):  # one tile: the value sits in the entry
                entry_index = [t for t, _ in entries].index(tag)
                where = here + 8 + 20 * entry_index + 12
                if tag == 324:
                    ifd.offsets_at = where
                else:
                    ifd.counts_at = where
        nxt = 0
        if k + 1 < len(ifds):
            nxt = extra_at + len(extra)
            nxt += (-nxt) % 8
        body += struct.pack("<Q", nxt)
        out += body + extra
        while (start + len(out)) % 8:
            out += b"\0"
    return bytes(out)


def _gdal_metadata(names, dtype) -> str | None:
    items = [f'<Item name="DESCRIPTION" sample="{k}" role="description">{escape(str(n))}</Item>'
             for k, n in enumerate(names or []) if n]
    if not items:
        return None
    return "<GDALMetadata>" + "".join(items) + "</GDALMetadata>"


def _nodata_text(nodata) -> str | None:
    if nodata is None:
        return None
    try:
        v = float(nodata)
    except (TypeError, ValueError):
        return None
    if math.isnan(v):
        return "nan"
    return repr(int(v)) if v.is_integer() else repr(v)


def _tiles_of(level: da.Array, ifd: _Ifd, pad) -> Iterator[np.ndarray]:
    """The tiles of one level, band after band, row-major, each padded to full size."""
    t = ifd.tile
    bands, h, w = ifd.shape
    ty, tx = ifd.grid
    span = max(1, SPAN // t)
    for b in range(bands):
        for r in range(ty):
            y0, y1 = r * t, min(h, (r + 1) * t)
            for c0 in range(0, tx, span):
                c1 = min(tx, c0 + span)
                x0, x1 = c0 * t, min(w, c1 * t)
                (block,) = dask.compute(level[b, y0:y1, x0:x1], scheduler="threads")
                block = np.asarray(block)
                full = np.full((t, (c1 - c0) * t), pad, dtype=block.dtype)
                full[: y1 - y0, : x1 - x0] = block
                for c in range(c1 - c0):
                    yield full[:, c * t:(c + 1) * t]


def _check_out(out: Path, store: Path, overwrite: bool) -> None:
    if out.exists() or out.is_symlink():
        if out.is_dir():
            raise UnsafeOutputError(f"Output {str(out)!r} is a directory; name a .tif file to write.")
        if not overwrite:
            raise OutputExistsError(f"Output {str(out)!r} exists; pass --overwrite (overwrite=True) to replace it.")
        if _software(out) != "tiledproc":
            raise UnsafeOutputError(
                f"Output {str(out)!r} exists and was not written by tiledproc export; tiledproc replaces only "
                f"files it wrote. Remove it yourself or choose another name."
            )
    real_out = out.resolve()
    real_store = store.resolve()
    if real_out == real_store or real_store in real_out.parents:
        raise UnsafeOutputError(f"Output {str(out)!r} would be inside the input store {str(store)!r}.")
    if not out.parent.is_dir():
        raise InvalidParameterError(f"The directory of output {str(out)!r} does not exist; create it first.")


def _software(path: Path) -> str | None:
    import tifffile

    try:
        with tifffile.TiffFile(str(path)) as tf:
            tag = tf.pages[0].tags.get(305)
            return str(tag.value).split()[0] if tag is not None else None
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return None


def export_cog(
    store: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    tile: int = 512,
    compression: str = "deflate",
    level: int = 6,
    allow_incomplete: bool = False,
) -> Path:
    """Write the raster at ``store`` as a Cloud-Optimized GeoTIFF at ``out``.

    Parameters
    ----------
    store : str or os.PathLike
        A tiledproc output or any raster store :func:`open_raster` reads.
    out : str or os.PathLike
        The GeoTIFF to write.
    overwrite : bool, optional
        Replace ``out`` if it exists (only a file tiledproc export wrote).
    tile : int, optional
        Tile size in pixels, a multiple of 16 from 16 to 4096 (default 512, as
        GDAL's COG driver).
    compression : {'deflate', 'none'}, optional
        Tile compression (default ``'deflate'``).
    level : int, optional
        Deflate level, 1 to 9 (default 6).
    allow_incomplete : bool, optional
        Export an interrupted output (missing chunks read as fill value).

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    StoreNotFoundError, NotAZarrStoreError, IncompleteInputError
        ``store`` cannot be read as a raster, or is an interrupted output.
    OutputExistsError
        ``out`` exists and ``overwrite`` is not set.
    UnsafeOutputError
        ``out`` is a directory, lies in the store, or is a file tiledproc did not write.
    InvalidParameterError
        ``tile``, ``compression`` or ``level`` is not one of the values above,
        or ``out``'s directory does not exist.

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> import numpy as np
    >>> from tiledproc import save_raster
    >>> from tiledproc.jobs.export import export_cog
    >>> directory = tempfile.mkdtemp()
    >>> store = save_raster(np.arange(12, dtype=np.uint16).reshape(3, 4), os.path.join(directory, "a.zarr"))
    >>> export_cog(store, os.path.join(directory, "a.tif")).name
    'a.tif'
    >>> shutil.rmtree(directory)
    """
    refuse_url(out, "output")
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile % 16 or not 16 <= tile <= 4096:
        raise InvalidParameterError(f"Expected tile to be a multiple of 16 from 16 to 4096, got {tile!r} instead.",
                                    param="tile")
    if compression not in COMPRESSIONS:
        raise InvalidParameterError(
            f"Expected compression to be one of {', '.join(map(repr, COMPRESSIONS))}, got {compression!r} instead.",
            param="compression")
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 1 <= level <= 9:
        raise InvalidParameterError(f"Expected level to be a deflate level from 1 to 9, got {level!r} instead.",
                                    param="level")
    p, z, attrs = locate(store)
    check_complete(p, attrs, allow_incomplete=allow_incomplete)
    out = Path(out).expanduser()
    _check_out(out, p, overwrite)
    base = level_array(p, z.path or "0") if z.path else da.from_zarr(z)
    if base.ndim == 2:
        base = base[None]
    if base.ndim != 3:
        raise InvalidParameterError(f"{str(p)!r} holds an array of shape {base.shape}; export writes (band, y, x).")
    dtype = np.dtype(base.dtype)
    if dtype.kind == "b":
        base = base.astype(np.uint8)
        dtype = np.dtype(np.uint8)
    if dtype.kind not in "uif":
        raise InvalidParameterError(f"Cannot export dtype {dtype} to a GeoTIFF.")
    georef = georef_from_attrs(attrs)
    nodata = attrs.get("nodata")
    categorical = bool((attrs.get("tiledproc") or {}).get("categorical")) or "image-label" in (attrs.get("ome") or {})
    pad = float("nan") if dtype.kind == "f" else 0
    nd = _nodata_text(nodata)
    if nd is not None and dtype.kind in "iu" and nd != "nan":
        pad = int(float(nd))
    bands, h, w = base.shape
    shapes = [(bands, h, w)]
    while max(shapes[-1][1:]) > tile:
        _, hh, ww = shapes[-1]
        shapes.append((bands, -(-hh // 2), -(-ww // 2)))
    stored = set(store_levels(p)) if not z.path or z.path == "0" else set()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.levels-", dir=out.parent))
    tmp_file = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        levels = [base]
        for k in range(1, len(shapes)):
            path = level_path(k)
            if path in stored:
                a = level_array(p, path)
                if tuple(a.shape) == shapes[k]:
                    levels.append(a.astype(dtype) if a.dtype != dtype else a)
                    continue
            levels.append(_make_level(levels[-1], tmp_dir / str(k), subsample2 if categorical else downsample2))
        ifds = [_ifd(shape, tile, dtype, compression, k) for k, shape in enumerate(shapes)]
        main = ifds[0].tags
        for tag, value in geokey_directory(georef.crs, georef.transform,
                                           pixel_is_point=attrs.get("geotiff:raster_type") == "PixelIsPoint").items():
            typ = {34735: SHORT, 34736: DOUBLE, 34737: ASCII}.get(tag, DOUBLE)
            main[tag] = (typ, value if typ == ASCII else list(value))
        if georef.crs is None and georef.transform is None:
            for tag in (34735, 34736, 34737):
                main.pop(tag, None)
        md = _gdal_metadata(attrs.get("band_names"), dtype)
        if md is not None:
            main[42112] = (ASCII, md)
        if nd is not None:
            main[42113] = (ASCII, nd)
        main[305] = (ASCII, SOFTWARE)
        _write(tmp_file, ifds, levels, pad, compression, level)
        os.replace(tmp_file, out)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if tmp_file.exists():
            tmp_file.unlink()
    log.info("%s: %d x %d x %d COG with %d overview(s)", out, bands, h, w, len(shapes) - 1)
    return out


def _make_level(prev: da.Array, path: Path, reduce) -> da.Array:
    """Level k from level k - 1 (2 x 2 reduce), stored in a temporary Zarr array."""
    bands, h, w = prev.shape
    c = 512  # the source is read in 1024^2 blocks, as tiledproc stores chunk by default
    src = prev.rechunk((1, 2 * c, 2 * c))
    out_chunks = ((1,) * bands,) + tuple(tuple(-(-n // 2) for n in cs) for cs in src.chunks[1:])
    small = src.map_blocks(reduce, chunks=out_chunks, dtype=prev.dtype)
    arr = zarr.create_array(str(path), shape=small.shape, dtype=prev.dtype, chunks=(1, c, c),
                            compressors=None, zarr_format=3)
    da.store(small, arr, lock=False, scheduler="threads")
    return da.from_zarr(zarr.open_array(str(path), mode="r"))


def _ifd(shape, tile, dtype, compression, k) -> _Ifd:
    bands, h, w = shape
    ifd = _Ifd(shape, tile, {})
    n = ifd.n_tiles
    t = ifd.tags
    if k:
        t[254] = (LONG, [1])  # reduced-resolution image
    t[256] = (LONG, [w])
    t[257] = (LONG, [h])
    t[258] = (SHORT, [dtype.itemsize * 8] * bands)
    t[259] = (SHORT, [COMPRESSIONS[compression]])
    t[262] = (SHORT, [1])  # min-is-black
    t[277] = (SHORT, [bands])
    t[284] = (SHORT, [2])  # planar: band after band
    t[322] = (SHORT, [tile])
    t[323] = (SHORT, [tile])
    t[324] = (LONG8, [0] * n)
    t[325] = (LONG8, [0] * n)
    if bands > 1:
        t[338] = (SHORT, [0] * (bands - 1))  # unspecified extra samples
    t[339] = (SHORT, [_sample_format(dtype)] * bands)
    return ifd


def _write(path: Path, ifds: list[_Ifd], levels: list[da.Array], pad, compression: str, level: int) -> None:
    header = b"II" + struct.pack("<HHHQ", 43, 8, 0, 16)
    blob = _encode_ifds(ifds, 16)
    with open(path, "wb") as f:
        f.write(header)
        f.write(blob)
        tables: list[tuple[list[int], list[int]]] = [([], []) for _ in ifds]
        for k in range(len(ifds) - 1, -1, -1):  # smallest overview first, full resolution last
            offsets, counts = tables[k]
            dtype = np.dtype(levels[k].dtype).newbyteorder("<")
            for t in _tiles_of(levels[k], ifds[k], pad):
                raw = np.ascontiguousarray(t, dtype=dtype).tobytes()
                data = zlib.compress(raw, level) if compression == "deflate" else raw
                offsets.append(f.tell())
                counts.append(len(data))
                f.write(data)
        for ifd, (offsets, counts) in zip(ifds, tables):
            f.seek(ifd.offsets_at)
            f.write(struct.pack(f"<{len(offsets)}Q", *offsets))
            f.seek(ifd.counts_at)
            f.write(struct.pack(f"<{len(counts)}Q", *counts))
        f.flush()
        os.fsync(f.fileno())
