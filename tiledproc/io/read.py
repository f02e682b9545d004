"""Reading raster stores: find the array, its attributes, and open it lazily.

A tiledproc raster store is an OME-Zarr 0.5 image: a Zarr v3 group whose
``zarr.json`` carries the ``ome`` multiscales, the provenance (``tiledproc``)
and the georeferencing, and whose array ``0`` holds the full-resolution
``(band, y, x)`` data (optional pyramid levels ``1``, ``2``, ... follow, see
:mod:`tiledproc.io.levels`). Plain Zarr arrays (v2 or v3) are read as well.
Local stores of the layouts tiledproc writes are read through the direct
chunk path (:mod:`tiledproc.io.chunkio`), anything else through zarr.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from .._lazy import lazy_module
from ..errors import (
    IncompleteInputError,
    InvalidParameterError,
    NotAZarrStoreError,
    StorageError,
    StoreNotFoundError,
    TiledprocWarning,
)
from .chunkio import ChunkReader, layout_of, storage_error
from .metadata import json_safe
from .remote import ObjectPath, as_location, remote_error, zarr_open
from .safety import tree_size

# dask is imported when a raster is opened, not when metadata is read (`tiledproc info`)
da = lazy_module("dask.array")

__all__ = ["locate", "read_attrs", "metadata_stamp", "check_complete", "open_raster", "raster_info", "LEVEL0",
           "raster_nodata", "decode_nodata", "array_path"]

LEVEL0 = "0"


def _check_metadata(p: Path) -> None:
    """A clear error for metadata that exists but cannot be read or parsed."""
    for name in ("zarr.json", ".zarray", ".zgroup", ".zattrs"):
        f = p / name
        try:
            text = f.read_bytes()
        except FileNotFoundError:
            continue
        except StorageError:
            raise
        except IsADirectoryError:
            raise NotAZarrStoreError(f"{str(f)!r} is a directory; a Zarr store's metadata is a file.") from None
        except OSError as e:
            raise storage_error(e, f"reading {str(f)!r}") from None
        try:
            json.loads(text)
        except ValueError as e:
            raise NotAZarrStoreError(
                f"{str(f)!r} is damaged: not valid JSON ({e}); restore it, or make the store again."
            ) from None


def locate(path, storage_options=None) -> tuple[Path | ObjectPath, zarr.Array, dict]:
    """(store path, level-0 zarr array, root attributes) of a raster store.

    ``path`` is a local path or a URL (:mod:`tiledproc.io.remote`), read with
    ``storage_options``; the store path returned is a ``Path`` or an ``ObjectPath``."""
    p = as_location(path, storage_options)
    remote = isinstance(p, ObjectPath)
    if remote:
        has_meta = any((p / n).is_file() for n in ("zarr.json", ".zarray", ".zgroup"))
        if not has_meta:
            if p.is_file():
                hint = " Convert it first: tiledproc ingest SRC DST." if p.suffix.lower() in (".tif", ".tiff") else ""
                raise NotAZarrStoreError(f"{str(p)!r} is an object, not a Zarr store.{hint}")
            if p.scheme in ("http", "https") or not p.is_dir():
                raise StoreNotFoundError(f"Input store {str(p)!r} does not exist.")
    elif not p.exists():
        raise StoreNotFoundError(f"Input store {str(p)!r} does not exist.")
    if not remote and p.is_file():
        hint = " Convert it first: tiledproc ingest SRC DST." if p.suffix.lower() in (".tif", ".tiff") else ""
        raise NotAZarrStoreError(f"{str(p)!r} is a file, not a Zarr store.{hint}")
    if not remote and not os.access(p, os.R_OK | os.X_OK):
        raise StorageError(f"Cannot read {str(p)!r}: permission denied; check its permissions.")
    _check_metadata(p)
    try:
        node = zarr_open(p, mode="r")
    except StorageError:
        raise
    except PermissionError as e:
        raise storage_error(e, f"opening {str(p)!r}") from None
    except (FileNotFoundError, zarr.errors.BaseZarrError, KeyError, ValueError, TypeError) as e:
        if any((p / n).exists() for n in ("zarr.json", ".zarray", ".zgroup")):
            detail = " ".join(str(e).split()) or type(e).__name__
            raise NotAZarrStoreError(f"{str(p)!r} has Zarr metadata that zarr cannot read: {detail}") from e
        raise NotAZarrStoreError(
            f"{str(p)!r} is not a Zarr store (no zarr.json or .zarray/.zgroup inside)."
        ) from e
    except Exception as e:  # the object store's own errors (network, permissions)
        if remote:
            raise remote_error(e, f"opening {str(p)!r}", p.options) from None
        raise
    if isinstance(node, zarr.Array):
        return p, node, dict(node.attrs)
    attrs = dict(node.attrs)
    level0 = _multiscale_level0(attrs)
    if level0 is None:
        arrays = sorted(node.array_keys())
        if len(arrays) > 1:  # a CF / xarray dataset: its one data variable beside the coordinates
            from .layout import cf_data_variable

            cf = cf_data_variable(node)
            arrays = [cf] if cf is not None else arrays
        if len(arrays) != 1:
            raise NotAZarrStoreError(
                f"{str(p)!r} is a Zarr group without OME multiscales and with "
                f"{len(arrays)} arrays ({', '.join(arrays) or 'none'}); name the array, "
                f"e.g. {str(p / (arrays[0] if arrays else 'ARRAY'))!r}."
            )
        level0 = arrays[0]
    arr = node[level0]
    if not isinstance(arr, zarr.Array):
        raise NotAZarrStoreError(f"{str(p / level0)!r} is not a Zarr array.")
    return p, arr, attrs


def array_path(p, z) -> str:
    """The path of array ``z`` inside the store ``p`` ("" when the store is the array)."""
    path = z.path or ""
    if isinstance(p, ObjectPath) and p.key:
        path = path[len(p.key):].lstrip("/") if path == p.key or path.startswith(p.key + "/") else path
    return path


def _multiscale_level0(attrs: dict) -> str | None:
    """The full-resolution dataset of OME-Zarr 0.5 (``ome.multiscales``) or 0.4 (``multiscales``)."""
    for holder in (attrs.get("ome"), attrs):
        try:
            return str(holder["multiscales"][0]["datasets"][0]["path"])
        except (KeyError, IndexError, TypeError):
            continue
    return None


def read_attrs(path: str | os.PathLike[str], *, storage_options: dict | None = None) -> dict[str, Any]:
    """The root attributes of a raster store (group attributes, or the array's).

    Parameters
    ----------
    path : str or os.PathLike
        A tiledproc/OME-Zarr image or a plain Zarr array.

    Returns
    -------
    attrs : dict
        For a tiledproc output: ``ome`` (the multiscales), ``tiledproc`` (the
        provenance: operation, parameters, input, version, fingerprint,
        ``complete``) and the georeferencing, as stored.

    Raises
    ------
    StoreNotFoundError
        The path does not exist.
    NotAZarrStoreError
        The path exists but is not a Zarr array or image, or its metadata is
        damaged.
    StorageError
        The store cannot be read (permissions).
    """
    return locate(path, storage_options)[2]


def metadata_stamp(p: Path) -> str:
    """Changes when the store is rewritten: content and mtime of its metadata."""
    parts = []
    for name in ("zarr.json", ".zarray", ".zattrs", ".zgroup", f"{LEVEL0}/zarr.json"):
        f = p / name
        try:
            data = f.read_bytes()
            mtime = f.stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            continue
        parts.append(f"{name}:{mtime}:{hashlib.sha256(data).hexdigest()}")
    return ";".join(parts)


def check_complete(path, attrs: dict, *, allow_incomplete: bool = False) -> None:
    """Refuse an input whose provenance says its run was interrupted (or warn, if allowed)."""
    prov = attrs.get("tiledproc")
    if not isinstance(prov, dict) or prov.get("complete") is not False:
        return
    what = f"the tiledproc {prov.get('operation', 'run')} that made it"
    if allow_incomplete:
        warnings.warn(
            f"Input {str(path)!r} is incomplete ({what} was interrupted); its missing chunks read as "
            f"fill value (NaN or 0).", TiledprocWarning, stacklevel=3,
        )
        return
    raise IncompleteInputError(
        f"Input {str(path)!r} is incomplete: {what} was interrupted, so some of its chunks are missing. "
        f"Finish it by running that command again with --resume, or pass --allow-incomplete "
        f"(allow_incomplete=True) to use it as it is."
    )


def open_raster(
    path: str | os.PathLike[str],
    *,
    chunks: tuple[int, ...] | None = None,
    allow_incomplete: bool = False,
    xarray: bool = False,
    nodata: Any = "auto",
    storage_options: dict | None = None,
) -> da.Array:
    """Open a Zarr raster lazily as a ``(band, y, x)`` dask array (or DataArray).

    Nothing is read but the metadata: the chunks are read when the array (or
    a result made from it) is computed.

    Parameters
    ----------
    path : str or os.PathLike
        A tiledproc/OME-Zarr image (its level 0 is read) or a plain Zarr array
        (v2 or v3).
    chunks : tuple of int, optional
        Dask chunks; by default the stored chunks (shards for sharded arrays).
    allow_incomplete : bool, optional
        Read an output whose run was interrupted (its provenance says
        incomplete; missing chunks read as fill value). Refused by default,
        since its results would be silently partial; allowed, it warns (a
        :class:`~tiledproc.errors.TiledprocWarning`).
    xarray : bool, optional
        Return an ``xarray.DataArray`` (dims ``band, y, x``; a ``band``
        coordinate of the band names, or 1..n; the dask array as its data,
        nothing read) whose ``attrs["_FillValue"]`` is the nodata, as
        rioxarray's ``.rio.nodata`` reads it. Every operation takes it and
        applies that nodata (``nodata="auto"``). Needs xarray installed.
    nodata : "auto", number or None, optional
        With ``xarray=True``: the nodata to declare; ``"auto"`` (default) is
        the store's own (:func:`raster_nodata`), ``None`` declares none (every
        pixel valid). A plain dask array carries no nodata: read it with
        :func:`raster_nodata` and pass it to the operation (``nodata=``).
    storage_options : dict, optional
        For a URL (``s3://``, ``gs://``, ``az://``, ``https://``, ``memory://``):
        endpoint, region, ``anonymous``, ``profile`` ... (README, "Object
        storage"); by default each cloud's environment and credential chain.

    Returns
    -------
    raster : (band, y, x) dask.array.Array, or xarray.DataArray
        The stored dtype. A 2-D store reads as one band; other axes of length
        1 (OME-Zarr's t and z) are dropped.

    Raises
    ------
    StoreNotFoundError
        The path does not exist.
    NotAZarrStoreError
        The path exists but is not a Zarr array or image (a TIFF: convert it
        with :func:`ingest_tiff`), its metadata is damaged, or it holds an
        array that is not ``(y, x)`` or ``(band, y, x)``.
    IncompleteInputError
        The store is an interrupted tiledproc output (see ``allow_incomplete``).
    StorageError
        The store cannot be read (permissions).

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> import numpy as np
    >>> from tiledproc import open_raster, save_raster
    >>> directory = tempfile.mkdtemp()
    >>> path = save_raster(np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    ...                    os.path.join(directory, "scene.zarr"))
    >>> raster = open_raster(path)
    >>> raster.shape, raster.dtype
    ((2, 3, 4), dtype('float32'))
    >>> raster[1, 0].compute().tolist()
    [12.0, 13.0, 14.0, 15.0]
    >>> shutil.rmtree(directory)
    """
    from dask.base import tokenize

    if not xarray and not (isinstance(nodata, str) and nodata == "auto"):
        raise InvalidParameterError(
            f"Expected nodata only with xarray=True (a DataArray declares it), got nodata={nodata!r} for a "
            f"dask array, which cannot carry it; pass nodata= to the operation instead.", param="nodata")
    p, z, attrs = locate(path, storage_options)
    check_complete(p, attrs, allow_incomplete=allow_incomplete)
    lead = [n for n in z.shape[:-2] if n != 1]
    if z.ndim < 2 or len(lead) > 1:
        raise NotAZarrStoreError(
            f"{str(p)!r} holds an array of shape {z.shape}; tiledproc reads (y, x) or (band, y, x) rasters "
            f"(other axes of length 1, as OME-Zarr's t and z often are, are dropped)."
        )
    stored = getattr(z, "shards", None) or z.chunks
    chunks = stored if chunks is None else chunks
    name = "raster-" + tokenize(str(p.resolve()), z.path, z.shape, str(z.dtype), chunks, metadata_stamp(p))
    rel = array_path(p, z)
    layout = layout_of(p / rel) if rel else layout_of(p)
    if layout is not None:
        reader = ChunkReader(layout)
        a = da.from_array(reader, chunks=chunks, name=name, lock=False, asarray=False,
                          meta=np.empty((0,) * z.ndim, dtype=reader.dtype))
    else:
        a = da.from_zarr(z, chunks=chunks, name=name)
    if a.ndim != 3:  # (y, x) -> one band; OME-Zarr (t, c, z, y, x) with t = z = 1 -> (c, y, x)
        a = a.reshape((lead[0] if lead else 1,) + a.shape[-2:])
    if xarray:
        nd = decode_nodata(attrs.get("nodata")) if isinstance(nodata, str) and nodata == "auto" else nodata
        return _dataarray(a, attrs, nd, p)
    return a


def _dataarray(a: da.Array, attrs: dict, nodata, p):
    """The raster as rioxarray and xarray-spatial expect it: dims ``(band, y, x)``, a
    ``band`` coordinate (band names or 1..n), pixel-centre ``x``/``y`` coordinates from
    the transform, and the CRS as a CF ``spatial_ref`` coordinate (rioxarray's
    ``.rio.crs`` / ``.rio.transform()`` read it without being imported here)."""
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - xarray is installed with the test extras
        raise InvalidParameterError(
            "Expected xarray to be installed for xarray=True, got an environment without it; "
            "pip install xarray, or open the raster as a dask array (xarray=False).", param="xarray") from None
    from . import geo
    from .layout import georef_of, input_attrs

    names = attrs.get("band_names")
    band = list(names) if isinstance(names, list) and len(names) == a.shape[0] else list(range(1, a.shape[0] + 1))
    coords: dict = {"band": band}
    g = georef_of(attrs)
    if not g:  # a CF / rioxarray store: the grid mapping and the x/y coordinates beside the variable
        g = georef_of(input_attrs(p))
    if g.transform is not None:
        yx = geo.coordinates(g.transform, tuple(a.shape[-2:]))
        if yx is not None:
            coords["y"], coords["x"] = yx
    out_attrs = {"source": str(p)}
    if g:
        coords["spatial_ref"] = xr.Variable((), 0, attrs=json_safe(geo.cf_grid_mapping(g)))
        out_attrs["grid_mapping"] = "spatial_ref"
    if nodata is not None:
        out_attrs["_FillValue"] = nodata
    return xr.DataArray(a, dims=("band", "y", "x"), coords=coords, attrs=out_attrs,
                        name=p.name.rsplit(".", 1)[0] or "raster")


def decode_nodata(value):
    """A stored nodata attribute as a number (``"nan"``, ``"inf"`` as JSON keeps them -> float); None if none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            v = float(value.strip().strip("\x00").strip())
        except ValueError:
            return None
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    return None


def raster_nodata(path: str | os.PathLike[str], *, series: int = 0) -> int | float | None:
    """The nodata value a raster declares, or None.

    A Zarr store's ``nodata`` attribute (what ``ingest`` copies from the
    GeoTIFF and every tiledproc output declares), or a TIFF's ``GDAL_NODATA``
    tag. NaN is returned as ``float('nan')``.

    Parameters
    ----------
    path : str or os.PathLike
        A Zarr raster store or a (Geo)TIFF file.
    series : int, optional
        The TIFF series (default 0).

    Returns
    -------
    nodata : int, float or None

    Raises
    ------
    StoreNotFoundError
        The path does not exist.
    NotAZarrStoreError
        The path is neither a TIFF nor a Zarr store.

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> import numpy as np
    >>> from tiledproc import raster_nodata, save_raster
    >>> directory = tempfile.mkdtemp()
    >>> path = save_raster(np.zeros((1, 4, 4), dtype=np.uint16), os.path.join(directory, "scene.zarr"),
    ...                    attrs={"nodata": 0})
    >>> raster_nodata(path)
    0
    >>> shutil.rmtree(directory)
    """
    from .tiff import is_tiff, tiff_attrs

    p = Path(path).expanduser()
    if p.is_file() and is_tiff(p):
        return decode_nodata(tiff_attrs(p, series).get("nodata"))
    return decode_nodata(locate(path)[2].get("nodata"))


def raster_info(path: str | os.PathLike[str], *, storage_options: dict | None = None) -> dict[str, Any]:
    """Shape, dtype, chunks, codec, size on disk and attributes of a store.

    What ``tiledproc info`` prints; the store's level-0 array is described.

    Parameters
    ----------
    path : str or os.PathLike
        A tiledproc/OME-Zarr image or a plain Zarr array.

    Returns
    -------
    info : dict
        ``path``, ``array`` (the array's path in the store), ``shape``,
        ``dtype``, ``chunks``, ``shards`` (None when unsharded),
        ``zarr_format``, ``codecs``, ``fill_value``, ``dimension_names``,
        ``levels`` (the OME multiscales' dataset paths), ``nbytes``
        (uncompressed), ``bytes_on_disk``, ``ratio`` (``nbytes /
        bytes_on_disk``, None for an empty store) and ``attrs`` (as
        :func:`read_attrs`). JSON-serialisable.

    Raises
    ------
    StoreNotFoundError
        The path does not exist.
    NotAZarrStoreError
        The path exists but is not a Zarr array or image, or its metadata is
        damaged.
    StorageError
        The store cannot be read (permissions).
    """
    p, z, attrs = locate(path, storage_options)
    meta = z.metadata.to_dict()
    codecs = meta.get("codecs") or [c for c in (meta.get("compressor"),) if c]
    levels = []
    ome = attrs.get("ome", {}).get("multiscales") if isinstance(attrs.get("ome"), dict) else None
    if ome:
        levels = [d["path"] for d in ome[0].get("datasets", [])]
    nbytes = int(np.prod(z.shape)) * z.dtype.itemsize
    disk = tree_size(p)
    return {
        "path": str(p),
        "array": array_path(p, z),
        "shape": list(z.shape),
        "dtype": str(z.dtype),
        "chunks": list(z.chunks),
        "shards": list(z.shards) if getattr(z, "shards", None) else None,
        "zarr_format": z.metadata.zarr_format,
        "codecs": json_safe(codecs),
        "fill_value": json_safe(np.asarray(z.fill_value).item() if z.fill_value is not None else None),
        "dimension_names": list(getattr(z.metadata, "dimension_names", None) or []),
        "levels": levels,
        "nbytes": nbytes,
        "bytes_on_disk": disk,
        "ratio": (nbytes / disk) if disk else None,
        "attrs": attrs,
    }
