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
    g = georef_of(attrs)
    if g:
        out.update(json_safe(geo.geo_attrs(g, tuple(shape[-2:]))))
    conventions = geo.zarr_conventions(out)
    if conventions:
        out["zarr_conventions"] = conventions
    return out


def level_attrs(attrs: dict, dtype) -> dict[str, Any]:
    """Attributes of a level's data array: the CF links to its coordinates and grid
    mapping, the declared nodata as ``_FillValue``, GDAL's ``_CRS``, band names."""
    out: dict[str, Any] = {}
    g = georef_of(attrs)
    if g:
        out["grid_mapping"] = "spatial_ref"
        out["coordinates"] = "spatial_ref"
    if g.crs is not None:
        out["_CRS"] = {"wkt": g.crs.to_wkt("WKT2_2019"), "projjson": g.crs.to_json_dict()}
    nodata = attrs.get("nodata")
    if nodata is not None:
        kind = np.dtype(dtype).kind
        v = float(nodata) if isinstance(nodata, str) else nodata
        if kind in "iub" and isinstance(v, float) and (not np.isfinite(v) or not v.is_integer()):
            pass  # a float nodata an integer array cannot hold declares nothing
        else:
            out["_FillValue"] = json_safe(v if kind == "f" else int(v))
    names = attrs.get("band_names")
    if names:
        out["long_name"] = list(names)
    return out


def write_coordinates(group: zarr.Group, attrs: dict, shape: tuple[int, int, int], factor: int = 1) -> None:
    """Write ``x``, ``y``, ``c`` and ``spatial_ref`` beside a level of ``shape``
    (``factor`` times coarser than level 0) into ``group``."""
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
                a = group.create_array(name, shape=values.shape, dtype="f8", dimension_names=[name],
                                       attributes=meta, overwrite=True, compressors=None)
                a[:] = values
    names = attrs.get("band_names")
    if names and len(names) == shape[0]:
        a = group.create_array("c", shape=(shape[0],), dtype=str, dimension_names=["c"], overwrite=True)
        a[:] = np.array([str(n) for n in names])
    if g:
        ref = geo.cf_grid_mapping(geo.Georef(g.crs, transform))
        a = group.create_array("spatial_ref", shape=(), dtype="i8", dimension_names=[],
                               attributes=json_safe(ref), overwrite=True, fill_value=0)
        a[()] = 0


def set_omero(path, level: str | None = None, *, max_pixels: int = 1 << 20) -> None:
    """Add the OME ``omero`` channels (names and contrast limits) to the image at ``path``.

    The limits are the 0.1 and 99.9 percentiles of the finite, non-nodata pixels
    of the coarsest stored level (``level``, or the last multiscale dataset),
    read whole when it has at most ``max_pixels`` pixels per band, else every
    ``k``-th row and column of it: a few MB read, whatever the raster's size.
    """
    path = Path(path)
    group = zarr.open_group(str(path), mode="r+")
    attrs = dict(group.attrs)
    ome = dict(attrs.get("ome", {}))
    try:
        datasets = ome["multiscales"][0]["datasets"]
    except (KeyError, IndexError):
        return
    level = level or datasets[-1]["path"]
    z = zarr.open_array(str(path / level), mode="r")
    h, w = z.shape[-2:]
    step = max(1, int(np.ceil(np.sqrt(h * w / max_pixels))))
    names = attrs.get("band_names") or []
    nodata = attrs.get("nodata")
    channels = []
    for b in range(z.shape[0]):
        band = np.asarray(z[b, ::step, ::step], dtype=np.float64)
        valid = band[np.isfinite(band)]
        if nodata is not None:
            try:
                nd = float(nodata)
                if np.isfinite(nd):
                    valid = valid[valid != nd]
            except (TypeError, ValueError):
                pass
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
    ome["omero"] = {"channels": channels, "rdefs": {"model": "greyscale" if len(channels) != 3 else "color"}}
    group.attrs["ome"] = json_safe(ome)
