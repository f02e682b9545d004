"""The reader-facing layout of a raster store: what makes one output readable at
once as an OME-Zarr 0.5 image, an xarray/rioxarray dataset, a GDAL raster and a
GeoZarr (``proj:``/``spatial:``/``multiscales``) dataset.

::

    out.zarr/              group: ome (multiscales, omero), proj:*, spatial:*, multiscales,
                           zarr_conventions, nodata, band_names, tiledproc (provenance)
      0                    level 0, dims (c, y, x); attrs grid_mapping, coordinates, _FillValue, _CRS
      x, y                 1-D pixel-centre coordinates of level 0 (georeferenced outputs only)
      c                    band names (when the input has them)
      spatial_ref          CF grid mapping (crs_wkt, spatial_ref, GeoTransform)
      1/                   pyramid level 1, a group: its own 0, x, y, c, spatial_ref, spatial:*
      2/ ...

``xarray.open_zarr(out)`` is level 0 with its coordinates and CRS; level k is
``xarray.open_zarr(out, group="k")``. The functions here write metadata only;
the chunks are written by :mod:`tiledproc.io.output` and :mod:`tiledproc.jobs.pyramid`.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from . import geo
from .metadata import json_safe

__all__ = ["level_attrs", "write_coordinates", "group_geo_attrs", "set_omero", "LEVEL_ARRAY"]

#: the data array's name in every level group (level 0's is the root's ``0``)
LEVEL_ARRAY = "0"


def georef_of(attrs: dict) -> geo.Georef:
    return geo.georef_from_attrs(attrs)


def group_geo_attrs(attrs: dict, shape: tuple[int, ...]) -> dict[str, Any]:
    """``attrs`` with the georeferencing rewritten whole for a raster of ``shape``
    (``proj:*``, ``spatial:*`` incl. shape and bbox) and the ``zarr_conventions``
    declaring them."""
    out = {k: v for k, v in attrs.items() if not k.startswith(("proj:", "spatial:")) and k != "zarr_conventions"}
    names = out.get("band_names")
    if names is not None and (not isinstance(names, (list, tuple)) or len(names) != shape[0]):
        del out["band_names"]  # an op that makes other bands names its own
    g = georef_of(attrs)
    if g:
        out.update(json_safe(geo.geo_attrs(g, tuple(shape[-2:]))))
    conventions = geo.zarr_conventions(out)
    if conventions:
        out["zarr_conventions"] = conventions
    return out


def ome_attrs(ome: dict, zarr_format: int) -> dict[str, Any]:
    """The OME attributes of an image: ``{"ome": ...}`` (0.5, Zarr v3) or, for Zarr v2,
    the OME-Zarr 0.4 form (``multiscales`` with ``version`` at the top level)."""
    if zarr_format == 3:
        return {"ome": ome}
    ms = [dict(m, version="0.4") for m in ome["multiscales"]]
    out: dict[str, Any] = {"multiscales": ms}
    if "image-label" in ome:
        out["image-label"] = dict(ome["image-label"], version="0.4")
    if "omero" in ome:
        out["omero"] = ome["omero"]
    return out


def level_attrs(attrs: dict, dtype, zarr_format: int = 3) -> dict[str, Any]:
    """Attributes of a level's data array: the CF links to its coordinates and grid
    mapping, the declared nodata as ``_FillValue``, GDAL's ``_CRS``, band names."""
    out: dict[str, Any] = {}
    g = georef_of(attrs)
    if g:
        out["grid_mapping"] = "spatial_ref"
        out["coordinates"] = "spatial_ref"
    if g.crs is not None:
        out["_CRS"] = {"wkt": g.crs.to_wkt("WKT2_2019"), "projjson": g.crs.to_json_dict()}
    from .read import decode_nodata

    v = decode_nodata(attrs.get("nodata"))  # None: no nodata, or a GDAL_NODATA that is no number
    if v is not None:
        kind = np.dtype(dtype).kind
        if kind in "iub" and isinstance(v, float) and (not np.isfinite(v) or not v.is_integer()):
            pass  # a float nodata an integer array cannot hold declares nothing
        else:
            if zarr_format == 2:
                pass  # v2: xarray and GDAL take the array's own fill_value as _FillValue / nodata
            else:
                # xarray's zarr v3 encoding: a float _FillValue is the base64 of its float64 bytes
                out["_FillValue"] = (base64.standard_b64encode(struct.pack("<d", float(v))).decode()
                                     if kind == "f" else int(v))
    names = attrs.get("band_names")
    if names:
        out["long_name"] = list(names)
    return out


def create_named_array(group, name: str, dims: list[str], *, zarr_format: int = 3, **kw) -> zarr.Array:
    """Array ``name`` in the group at ``group`` (a local path or an
    :class:`~tiledproc.io.remote.ObjectPath`), with dimension names in the form of
    the Zarr format: ``dimension_names`` (v3) or xarray's ``_ARRAY_DIMENSIONS``
    attribute (v2)."""
    from .remote import zarr_create_array

    if zarr_format == 2:
        kw["attributes"] = {**dict(kw.get("attributes") or {}), "_ARRAY_DIMENSIONS": list(dims)}
    else:
        kw["dimension_names"] = list(dims)
    return zarr_create_array(group / name, zarr_format=zarr_format, **kw)


def write_coordinates(group, attrs: dict, shape: tuple[int, int, int], factor: int = 1, *,
                      zarr_format: int = 3) -> None:
    """Write ``x``, ``y``, ``c`` and ``spatial_ref`` beside a level of ``shape``
    (``factor`` times coarser than level 0) into the group at ``group`` (a local
    path or an :class:`~tiledproc.io.remote.ObjectPath`)."""
    g = georef_of(attrs)
    transform = geo.level_transform(g.transform, factor) if g.transform is not None else None
    if transform is not None:
        yx = geo.coordinates(transform, tuple(shape[-2:]))
        if yx is not None:
            for name, values, units in (("y", yx[0], None), ("x", yx[1], None)):
                meta = {"axis": name.upper(), "long_name": f"{name} coordinate of projection",
                        "standard_name": f"projection_{name}_coordinate"}
                if g.crs is not None and g.crs.axis_info and g.crs.is_projected:
                    meta["units"] = "metre"
                elif g.crs is not None and g.crs.is_geographic:
                    meta = {"axis": name.upper(),
                            "standard_name": "latitude" if name == "y" else "longitude",
                            "units": "degrees_north" if name == "y" else "degrees_east"}
                a = create_named_array(group, name, [name], shape=values.shape, dtype="f8",
                                       attributes=meta, overwrite=True, compressors=None,
                                       zarr_format=zarr_format)
                a[:] = values
    names = attrs.get("band_names")
    if names and len(names) == shape[0]:
        values = np.array([str(n) for n in names])
        # v2: fixed-width unicode, which GDAL's Zarr driver reads; v3: zarr's string type
        dtype = values.dtype if zarr_format == 2 else str
        a = create_named_array(group, "c", ["c"], shape=(shape[0],), dtype=dtype, overwrite=True,
                               zarr_format=zarr_format)
        a[:] = values
    if g:
        ref = geo.cf_grid_mapping(geo.Georef(g.crs, transform))
        a = create_named_array(group, "spatial_ref", [], shape=(), dtype="i8",
                               attributes=json_safe(ref), overwrite=True, fill_value=0,
                               zarr_format=zarr_format)
        a[()] = 0


def set_omero(path, level: str | None = None, *, max_pixels: int = 1 << 20) -> None:
    """Add the OME ``omero`` channels (names and contrast limits) to the image at ``path``.

    The limits are the 0.1 and 99.9 percentiles of the finite, non-nodata pixels
    of the coarsest stored level (``level``, or the last multiscale dataset),
    read whole when it has at most ``max_pixels`` pixels per band, else of as
    many whole stored chunks as hold ``max_pixels`` (at least one), spread along
    its diagonal: at most a few MB per band read, whatever the raster's size.
    """
    from .read import decode_nodata
    from .remote import as_location, zarr_open

    path = as_location(path)
    group = zarr_open(path, mode="r+", kind="group")
    attrs = dict(group.attrs)
    v2 = group.metadata.zarr_format == 2
    ome = dict(attrs) if v2 else dict(attrs.get("ome", {}))  # OME-Zarr 0.4 (v2): at the top level
    try:
        datasets = ome["multiscales"][0]["datasets"]
    except (KeyError, IndexError):
        return
    level = level or datasets[-1]["path"]
    z = zarr_open(path / level, mode="r", kind="array")
    h, w = z.shape[-2:]
    ch, cw = z.chunks[-2:]
    if h * w <= max_pixels:
        regions = [(slice(None), slice(None))]
    else:
        # whole stored chunks spread along the diagonal: a strided read would decode every chunk
        gy, gx = -(-h // ch), -(-w // cw)
        n = max(1, min(max(gy, gx), max_pixels // (ch * cw)))
        picks = sorted({(int((k + 0.5) * gy / n), int((k + 0.5) * gx / n)) for k in range(n)})  # one: the centre
        regions = [(slice(i * ch, (i + 1) * ch), slice(j * cw, (j + 1) * cw)) for i, j in picks]
    names = attrs.get("band_names") or []
    nodata = decode_nodata(attrs.get("nodata"))
    channels = []
    for b in range(z.shape[0]):
        band = np.concatenate([np.asarray(z[b, ys, xs], dtype=np.float64).ravel() for ys, xs in regions])
        valid = band[np.isfinite(band)]
        if nodata is not None and np.isfinite(nodata):
            valid = valid[valid != nodata]
        if valid.size:
            lo, hi = np.percentile(valid, [0.1, 99.9])
            mn, mx = float(valid.min()), float(valid.max())
        else:
            lo = hi = mn = mx = 0.0
        if hi <= lo:
            hi = lo + 1.0
        label = str(names[b]) if b < len(names) and names[b] else f"band {b}"
        channels.append({"label": label, "active": True, "color": "FFFFFF", "coefficient": 1.0,
                         "family": "linear", "inverted": False,
                         "window": {"start": float(lo), "end": float(hi), "min": mn, "max": mx}})
    omero = {"channels": channels, "rdefs": {"model": "greyscale" if len(channels) != 3 else "color"}}
    if v2:
        group.attrs["omero"] = json_safe(omero)
    else:
        ome["omero"] = omero
        group.attrs["ome"] = json_safe(ome)


def _cf_attrs(group: zarr.Group, array: zarr.Array) -> dict[str, Any]:
    """The georeferencing, nodata and band names of a CF / rioxarray data variable."""
    a_attrs = dict(array.attrs)
    gm_name = a_attrs.get("grid_mapping")
    gm = {}
    if isinstance(gm_name, str) and gm_name in group:
        gm = dict(group[gm_name].attrs)
    elif "spatial_ref" in group:
        gm = dict(group["spatial_ref"].attrs)
    dims = list(getattr(array.metadata, "dimension_names", None) or a_attrs.get("_ARRAY_DIMENSIONS") or [])
    ydim, xdim = (dims[-2], dims[-1]) if len(dims) >= 2 else ("y", "x")
    x = np.asarray(group[xdim][:]) if xdim in group and group[xdim].ndim == 1 else None
    y = np.asarray(group[ydim][:]) if ydim in group and group[ydim].ndim == 1 else None
    g = geo.georef_from_cf(gm, x, y)
    out: dict[str, Any] = json_safe(geo.geo_attrs(g)) if g else {}
    fill = a_attrs.get("_FillValue", a_attrs.get("nodata"))
    if isinstance(fill, str) and array.dtype.kind == "f" and array.metadata.zarr_format == 3:
        try:  # xarray's zarr v3 encoding of a float _FillValue: base64 of its float64 bytes
            fill = struct.unpack("<d", base64.standard_b64decode(fill))[0]
        except (ValueError, struct.error):
            fill = None
    if fill is None and array.metadata.zarr_format == 2 and array.fill_value is not None:
        fill = np.asarray(array.fill_value).item()  # v2: xarray's _FillValue is the array's fill_value
    if fill is not None:
        out["nodata"] = json_safe(fill)
    names = a_attrs.get("long_name")
    if isinstance(names, (list, tuple)) and len(dims) == 3 and len(names) == array.shape[0]:
        out["band_names"] = [str(n) for n in names]
    elif len(dims) == 3 and dims[0] in group and group[dims[0]].ndim == 1 and group[dims[0]].dtype.kind in "OUT":
        out["band_names"] = [str(n) for n in group[dims[0]][:]]
    return out


def cf_data_variable(group: zarr.Group) -> str | None:
    """The one data variable of a CF / xarray group (an array with ``grid_mapping``, or
    the one array of two dimensions or more that is not a coordinate), else None."""
    arrays = {name: a for name, a in group.arrays()}
    linked = [n for n, a in arrays.items() if "grid_mapping" in a.attrs and a.ndim >= 2]
    if len(linked) == 1:
        return linked[0]
    coords = set()
    for a in arrays.values():
        c = a.attrs.get("coordinates")
        if isinstance(c, str):
            coords.update(c.split())
    data = [n for n, a in arrays.items() if a.ndim >= 2 and n not in coords]
    return data[0] if len(data) == 1 else None


def input_attrs(path) -> dict[str, Any]:
    """What an output inherits from the input at ``path`` (a tiledproc store, a GeoZarr
    or CF/rioxarray Zarr store or one of its variables, a (Geo)TIFF): georeferencing,
    nodata, band names, the microscopy pixel size. Nothing is read but metadata."""
    return _input_meta(path)[0]


def _input_meta(path) -> tuple[dict[str, Any], np.dtype | None]:
    """:func:`input_attrs` and the dtype of the input's data (None for a TIFF)."""
    from .metadata import carry_over
    from .read import locate
    from .remote import ObjectPath, is_url
    from .tiff import is_tiff, tiff_attrs

    if isinstance(path, ObjectPath) or is_url(path):
        _, z, attrs = locate(path)
        return carry_over(attrs), z.dtype  # a remote store: its own attributes (tiledproc, GeoZarr)
    p = Path(path).expanduser()
    if p.is_file() and is_tiff(p):
        return carry_over(tiff_attrs(p)), None
    p, z, attrs = locate(p)
    out = carry_over(attrs)
    if "proj:wkt2" in out or "proj:code" in out or "spatial:transform" in out:
        return out, z.dtype
    # CF / rioxarray: the variable's group holds the grid mapping and the x/y coordinates
    try:
        if z.path:
            group, array = zarr.open_group(str(p), mode="r"), z
        else:
            group, array = zarr.open_group(str(p.parent), mode="r"), z
            if p.name not in group:
                return out, z.dtype
    except (zarr.errors.BaseZarrError, FileNotFoundError, KeyError, ValueError, TypeError):
        return out, z.dtype
    cf = _cf_attrs(group, array)
    return {**cf, **out}, z.dtype


def source_stores(array) -> list[str]:
    """The stores and TIFFs a dask array's graph reads (for outputs to inherit their
    metadata without being told): the readers of :func:`open_raster` and
    :func:`read_tiff`, and zarr arrays read by ``da.from_zarr``."""
    from .chunkio import ChunkReader
    from .tiff import TiffRegionReader

    graph = getattr(array, "__dask_graph__", None)
    if graph is None:
        return []
    found: list[str] = []
    layers = getattr(graph(), "layers", {})
    for name, layer in layers.items():
        if not str(name).startswith("original-"):
            continue
        for value in layer.values():
            src = None
            if isinstance(value, ChunkReader):
                root = Path(value.layout.root)
                # level 0 of a tiledproc store is its array "0"; a bare array is itself the store
                src = str(root.parent) if (root.parent / "zarr.json").exists() and root.name == "0" else str(root)
            elif isinstance(value, TiffRegionReader):
                src = value.path
            elif isinstance(value, zarr.Array):
                try:
                    src = str(Path(str(value.store.root)) / value.path) if hasattr(value.store, "root") else None
                except (AttributeError, TypeError):
                    src = None
            if src is not None and src not in found:
                found.append(src)
    return found


def inherited_attrs(array, inputs=()) -> dict[str, Any]:
    """The metadata an output computed from ``array`` inherits: that of the first of
    ``inputs``, else of the first store its graph reads (see :func:`input_attrs`).
    A transform only when the output has the input's ``(y, x)`` shape; band names
    only when it has the input's number of bands. The nodata the output really
    uses: the input's when it has the input's dtype (a copy, a subset), NaN for a
    float result of another dtype (a uint16 scene's window mean marks missing
    pixels NaN, never 0), none for another integer dtype; for a TIFF input, whose
    dtype is not read, the input's for an integer result and NaN for a float one."""
    import math

    from ..errors import TiledprocError

    sources = [str(s) for s in inputs] or source_stores(array)
    for src in sources:
        try:
            attrs, dtype = _input_meta(src)
        except (TiledprocError, OSError):
            continue
        out_dtype = np.dtype(array.dtype)
        same = np.dtype(dtype) == out_dtype if dtype is not None else out_dtype.kind != "f"
        if "nodata" in attrs and not same:
            if out_dtype.kind == "f":
                attrs["nodata"] = json_safe(math.nan)
            else:
                attrs.pop("nodata")
        shape = tuple(getattr(array, "shape", ()))
        if len(shape) == 2:
            shape = (1,) + shape
        in_shape = attrs.get("spatial:shape")
        if in_shape is not None and len(shape) == 3 and list(shape[-2:]) != list(in_shape):
            attrs = {k: v for k, v in attrs.items() if not k.startswith("spatial:")}
        return attrs
    return {}
