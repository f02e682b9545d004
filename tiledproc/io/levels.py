"""Pyramid levels of a raster store: arrays ``1``, ``2``, ... beside ``0``, listed in
the OME-Zarr multiscales (level k at scale 2**k). The levels are computed by
:func:`tiledproc.jobs.pyramid.add_levels`; this module only stores them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize

from .chunkio import ChunkLayout, ChunkReader, layout_of
from .metadata import ome_multiscales
from .read import LEVEL0, metadata_stamp
from .remote import ObjectPath, as_location, zarr_create_array, zarr_open


def _loc(path):
    return path if isinstance(path, ObjectPath) else as_location(path if not isinstance(path, Path) else str(path))

__all__ = ["store_levels", "level_array", "create_level", "set_levels"]


def store_levels(path) -> list[str]:
    """The multiscale levels a raster store lists (``["0"]`` without OME metadata)."""
    try:
        attrs = dict(zarr_open(_loc(path), mode="r", kind="group").attrs)
        return [d["path"] for d in attrs["ome"]["multiscales"][0]["datasets"]]
    except (KeyError, IndexError, TypeError, FileNotFoundError, zarr.errors.GroupNotFoundError):
        return [LEVEL0]


def level_array(path, level: str) -> da.Array:
    """One level of a raster store as a dask array chunked as stored."""
    p = _loc(path) / level
    layout = layout_of(p)
    if layout is not None:
        reader = ChunkReader(layout)
        return da.from_array(reader, chunks=layout.chunks, lock=False, asarray=False,
                             name="level-" + tokenize(str(p.resolve()), metadata_stamp(_loc(path))),
                             meta=np.empty((0,) * len(layout.shape), dtype=reader.dtype))
    return da.from_zarr(zarr_open(p, mode="r", kind="array"))


def create_level(path, name: str, shape) -> ChunkLayout:
    """Create (or replace) array ``name`` with level 0's dtype, chunks, codec and fill value."""
    path = _loc(path)
    base = zarr_open(path / LEVEL0, mode="r", kind="array")
    chunks = tuple(min(c, max(n, 1)) for c, n in zip(base.chunks, shape))
    zarr_create_array(path / name, shape=tuple(shape), dtype=base.dtype, chunks=chunks,
                      compressors=base.compressors, fill_value=base.fill_value,
                      dimension_names=base.metadata.dimension_names, overwrite=True)
    return layout_of(path / name)


def set_levels(path, names: Sequence[str]) -> None:
    """List ``names`` as the OME-Zarr multiscale levels (level k at scale 2**k); drop others."""
    path = _loc(path)
    group = zarr_open(path, mode="r+", kind="group")
    for old in store_levels(path):
        if old not in names and old in group:
            del group[old]
    attrs = dict(group.attrs)
    name = attrs.get("ome", {}).get("multiscales", [{}])[0].get("name", path.stem)
    ndim = zarr_open(path / LEVEL0, mode="r", kind="array").ndim
    group.attrs["ome"] = ome_multiscales(name, ndim, len(names))
