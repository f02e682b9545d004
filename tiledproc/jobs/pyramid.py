"""Pyramid levels of a raster store, for viewers and quicklooks.

Level ``k`` is level ``k - 1`` averaged over 2 x 2 pixels (see
:func:`tiledproc.kernels.resample.downsample2`), or for categorical rasters
(labels, palette indices: ``categorical`` in the provenance) its top-left
pixel of every 2 x 2, stored as array ``k`` next
to ``0`` with the same chunk shape and codec and listed in the OME-Zarr
multiscales with scale ``2**k``. Each level is made from the level below it
as stored, so building any number of levels reads the full resolution once.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

import contextlib

from ..io.chunkio import write_chunk
from ..io.levels import create_level, level_array, set_levels
from ..io.read import decode_nodata, read_attrs
from ..io.remote import as_location
from ..kernels.resample import downsample2, subsample2
from ..execute.schedulers import Executor, SchedulerSpec, build_graph, open_executor, parse_scheduler

__all__ = ["add_levels"]

log = logging.getLogger("tiledproc")


def _write(block, *, layout, block_id=None):
    write_chunk(layout, tuple(block_id), block)
    return np.zeros((1,) * block.ndim, dtype=np.int8)


def add_levels(path, levels: int, *, scheduler: SchedulerSpec | str | None = None,
               executor: Executor | None = None) -> list[str]:
    """Add ``levels`` 2x levels to the store at ``path`` (replacing any it has).

    Stops early when a level would be smaller than 2 pixels. Returns the
    names of all levels, ``"0"`` first. ``executor`` is one already open
    (a run's own), else one is opened for ``scheduler``.
    """
    path = as_location(path)  # a local Path or an object-store URL
    spec = scheduler if isinstance(scheduler, SchedulerSpec) else parse_scheduler(scheduler)
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(open_executor(spec))
        return _add_levels(path, levels, executor)


def _downsample_nodata(block: np.ndarray, *, nodata) -> np.ndarray:
    """downsample2 over the valid pixels only: a nodata pixel is left out of its 2 x 2 mean,
    and a 2 x 2 of nodata only stays nodata."""
    x = block.astype(np.float64)
    x[block == nodata] = np.nan
    out = downsample2(x)
    if block.dtype.kind in "iub":
        out = np.round(out)
    return np.where(np.isnan(out), nodata, out).astype(block.dtype)


def _add_levels(path: Path, levels: int, executor: Executor) -> list[str]:
    attrs = read_attrs(path)
    categorical = bool(attrs.get("tiledproc", {}).get("categorical"))
    nodata = decode_nodata(attrs.get("nodata"))
    reduce = subsample2 if categorical else downsample2
    if not categorical and nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        reduce = functools.partial(_downsample_nodata, nodata=nodata)  # NaN: downsample2 leaves it out itself
    names = ["0"]
    for k in range(1, levels + 1):
        prev = level_array(path, names[-1])
        if min(prev.shape[-2:]) < 2:
            break
        layout = create_level(path, str(k), prev.shape[:-2] + tuple(-(-n // 2) for n in prev.shape[-2:]))
        chunks = layout.chunks
        src = prev.rechunk(chunks[:-2] + tuple(2 * c for c in chunks[-2:]))
        out_chunks = src.chunks[:-2] + tuple(tuple(-(-c // 2) for c in cs) for cs in src.chunks[-2:])
        small = src.map_blocks(reduce, chunks=out_chunks, dtype=src.dtype)
        w = small.map_blocks(functools.partial(_write, layout=layout), dtype=np.int8,
                             chunks=tuple((1,) * len(c) for c in small.chunks),
                             meta=np.empty((0,) * small.ndim, dtype=np.int8))
        keys = [(w.name,) + i for i in np.ndindex(*w.numblocks)]
        log.info("%s: building pyramid level %d of %d, shape %s, %d chunks", path, k, levels, small.shape, len(keys))
        executor.run(build_graph([w], keys), keys, lambda i, result: None)
        names.append(str(k))
    set_levels(path, names)
    log.info("%s: %d pyramid level(s) above full resolution", path, len(names) - 1)
    return names

