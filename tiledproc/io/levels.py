"""Pyramid levels of a raster store: arrays ``1``, ``2``, ... beside ``0``, listed in
the OME-Zarr multiscales (level k at scale 2**k). The levels are computed by
:func:`tiledproc.jobs.pyramid.add_levels`; this module only stores them."""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize

from .chunkio import ChunkLayout, ChunkReader, layout_of
from .geo import level_transform, zarr_conventions
from .layout import LEVEL_ARRAY, create_named_array, group_geo_attrs, ome_attrs, write_coordinates
from .metadata import level_path, ome_multiscales, physical_scale
from .read import LEVEL0, metadata_stamp
from .remote import as_location, zarr_create_group, zarr_open

__all__ = ["store_levels", "level_array", "create_level", "set_levels"]


def store_levels(path) -> list[str]:
    """The multiscale levels a raster store lists (``["0"]`` without OME metadata)."""
    try:
        attrs = dict(zarr_open(as_location(path), mode="r", kind="group").attrs)
        return [d["path"] for d in attrs.get("ome", attrs)["multiscales"][0]["datasets"]]  # 0.5 or 0.4 (v2)
    except (KeyError, IndexError, TypeError, FileNotFoundError, zarr.errors.GroupNotFoundError):
        return [LEVEL0]


def level_array(path, level: str) -> da.Array:
    """One level of a raster store as a dask array chunked as stored (``level``: a
    multiscale dataset path, or a level number)."""
    if level != LEVEL0 and "/" not in level and level.isdigit():
        level = level_path(int(level))
    p = as_location(path) / level
    layout = layout_of(p)
    if layout is not None:
        reader = ChunkReader(layout)
        return da.from_array(reader, chunks=layout.chunks, lock=False, asarray=False,
                             name="level-" + tokenize(str(p.resolve()), metadata_stamp(as_location(path))),
                             meta=np.empty((0,) * len(layout.shape), dtype=reader.dtype))
    return da.from_zarr(zarr_open(p, mode="r", kind="array"))


def create_level(path, name: str, shape) -> ChunkLayout:
    """Create (or replace) level ``name`` (a group holding array ``0`` and its own
    coordinates, see :mod:`tiledproc.io.layout`) with level 0's dtype, chunks, codec
    and fill value."""
    path = as_location(path)
    base = zarr_open(path / LEVEL0, mode="r", kind="array")
    group = zarr_open(path, mode="r+", kind="group")
    attrs = dict(group.attrs)
    zarr_format = group.metadata.zarr_format
    chunks = tuple(min(c, max(n, 1)) for c, n in zip(base.chunks, shape))
    if name in group:
        del group[name]
    sub = path / name
    zarr_create_group(sub, zarr_format=zarr_format, overwrite=True)
    dims = getattr(base.metadata, "dimension_names", None) or base.attrs.get("_ARRAY_DIMENSIONS")
    create_named_array(sub, LEVEL_ARRAY, list(dims), zarr_format=zarr_format, shape=tuple(shape),
                       dtype=base.dtype, chunks=chunks, compressors=base.compressors,
                       fill_value=base.fill_value, overwrite=True,
                       attributes={k: v for k, v in base.attrs.items() if k != "_ARRAY_DIMENSIONS"})
    factor = 2 ** int(name)
    write_coordinates(sub, attrs, tuple(shape), factor, zarr_format=zarr_format)
    t = attrs.get("spatial:transform")
    if t is not None:
        zarr_open(sub, mode="r+", kind="group").attrs.update(group_geo_attrs(
            {**{k: v for k, v in attrs.items() if k.startswith(("proj:", "spatial:"))},
             "spatial:transform": list(level_transform(t, factor))}, tuple(shape)))
    return layout_of(sub / LEVEL_ARRAY)


def set_levels(path, names: Sequence[str]) -> None:
    """List ``names`` as the OME-Zarr multiscale levels (level k at scale 2**k, path
    :func:`level_path`) and as the GeoZarr ``multiscales`` layout; drop others."""
    path = as_location(path)
    group = zarr_open(path, mode="r+", kind="group")
    keep = {n.split("/")[0] for n in names}
    for old in store_levels(path):
        top = old.split("/")[0]
        if top not in keep and top in group:
            del group[top]
    attrs = dict(group.attrs)
    v2 = group.metadata.zarr_format == 2
    ome = dict(attrs) if v2 else dict(attrs.get("ome", {}))  # OME-Zarr 0.4 (v2): at the top level
    name = (ome.get("multiscales") or [{}])[0].get("name", path.stem)
    base = zarr_open(path / LEVEL0, mode="r", kind="array")
    spacing, unit = physical_scale(attrs)
    new = ome_multiscales(name, base.ndim, len(names), spacing, unit, label="image-label" in ome)
    if v2:
        group.attrs.update(ome_attrs(new, 2))
    else:
        ome.update(new)
        group.attrs["ome"] = ome
    t = attrs.get("spatial:transform")
    if t is not None and not v2:  # GeoZarr multiscales (v3 only: v2 has OME 0.4's "multiscales" there)
        layout = []
        for k in range(len(names)):
            shape = zarr_open(path / level_path(k), mode="r", kind="array").shape
            entry = {"asset": level_path(k), "spatial:shape": list(shape[-2:]),
                     "spatial:transform": list(level_transform(t, 2 ** k))}
            if k:
                entry.update({"derived_from": level_path(k - 1), "transform": {"scale": [2.0, 2.0]},
                              "resampling_method": "nearest" if "image-label" in ome else "average"})
            layout.append(entry)
        attrs = dict(group.attrs)
        attrs["multiscales"] = {"layout": layout}
        attrs["zarr_conventions"] = zarr_conventions(attrs)
        group.attrs.update({"multiscales": attrs["multiscales"], "zarr_conventions": attrs["zarr_conventions"]})
