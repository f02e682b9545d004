"""Pieces shared by the colour operations (labels and palettes): parsing a colour
image, the pixel layout the compiled kernels read, dask chunk helpers and the
local thread pool.
"""

from __future__ import annotations

import functools
import os

import dask.array as da
import dask.threaded
import numpy as np
from dask._task_spec import convert_legacy_graph
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .._dtypes import check_real_dtype
from .._validate import as_image, parse_int
from ..errors import InvalidParameterError
from ..graph.overlap import numpy_scheduler

__all__ = [
    "PIECE",
    "parse_channel_axis",
    "parse_colour_image",
    "kernel_pixels",
    "pixels_2d",
    "spatial_chunks",
    "whole_channels",
    "reread",
    "pieces",
    "thread_map",
]

#: pixels per piece when a numpy image is split over threads
PIECE = 1 << 20


def parse_channel_axis(channel_axis, ndim: int, name: str = "image") -> int:
    """The channel axis as a non-negative axis number of an ``ndim``-dimensional image."""
    axis = parse_int(channel_axis, "channel_axis")
    if not -ndim <= axis < ndim:
        raise InvalidParameterError(
            f"Expected channel_axis to be an axis of {name} ({-ndim} to {ndim - 1} for a "
            f"{ndim}-D {name}), got {channel_axis!r} instead.",
            param="channel_axis",
        )
    return axis % ndim


def parse_colour_image(image, channel_axis, name: str = "image"):
    """Validate a colour image: returns ``(image, axis)``. A dask array must have known
    chunk sizes (see :func:`tiledproc._validate.as_image`)."""
    image = as_image(image, name)
    if image.ndim < 2:
        raise InvalidParameterError(
            f"Expected {name} to have a channel axis and at least one spatial axis, "
            f"got shape {tuple(image.shape)} instead.",
            param=name,
        )
    check_real_dtype(image.dtype, name)
    return image, parse_channel_axis(channel_axis, image.ndim, name)


def kernel_pixels(dtype) -> np.dtype:
    """The dtype the compiled kernels read pixels in (few dtypes: few compiled versions)."""
    dtype = np.dtype(dtype)
    if dtype in (np.uint8, np.uint16, np.float32, np.float64):
        return dtype
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    if dtype.kind in "iu" and dtype.itemsize <= 2 or dtype == np.float16:
        return np.dtype(np.float32)  # exact
    return np.dtype(np.float64)  # as the float64 reference converts them


def pixels_2d(block: np.ndarray, axis: int) -> tuple[np.ndarray, bool]:
    """``(pixels, channel_first)``: a (C, n) view when the channels are the first axis, else (n, C)."""
    block = block.astype(kernel_pixels(block.dtype), copy=False)
    C = block.shape[axis]
    if axis == 0:
        return block.reshape(C, -1), True
    return np.moveaxis(block, axis, -1).reshape(-1, C), False


def spatial_chunks(image: da.Array, axis: int) -> tuple:
    return tuple(c for k, c in enumerate(image.chunks) if k != axis)


def whole_channels(image: da.Array, axis: int) -> da.Array:
    """Every block holds all the channels (colour kernels work pixel by pixel)."""
    if len(image.chunks[axis]) > 1:
        image = image.rechunk({axis: -1})
    return image


def reread(x: da.Array, seed: str) -> da.Array:
    """The same array computed by its own copy of the graph (every key renamed).

    A reduction that reads this copy and a map that reads ``x`` do not share
    tasks, so no input chunk is kept in memory between the two passes: the data
    is read twice instead. (``dask.graph_manipulation.clone`` does the same but
    loses dependencies inside rechunked graphs in this dask version.)
    """
    dsk = convert_legacy_graph(dict(x.__dask_graph__()))
    tag = tokenize(seed)[:12]

    def rename(k):
        return (f"{k[0]}-{tag}",) + tuple(k[1:]) if isinstance(k, tuple) else f"{k}-{tag}"

    subs = {k: rename(k) for k in dsk}
    graph = {subs[k]: node.substitute(subs, key=subs[k]) for k, node in dsk.items()}
    name = rename(x.name)
    return da.Array(HighLevelGraph.from_collections(name, graph, dependencies=()), name, x.chunks,
                    meta=x._meta)


def pieces(n: int, size: int = PIECE) -> list[slice]:
    k = max(1, min(-(-n // size), 4 * (os.cpu_count() or 1)))
    bounds = np.linspace(0, n, k + 1).astype(np.int64)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def thread_map(func, items):
    """``[func(item) for item in items]`` for numpy input, on dask's shared local thread
    pool (one thread under ``dask.config.set(scheduler="synchronous")``): no pool of
    its own, and never a distributed client (see :func:`numpy_scheduler`)."""
    items = list(items)
    if len(items) <= 1 or numpy_scheduler() == "synchronous":
        return [func(i) for i in items]
    dsk = {("piece", k): (functools.partial(func, item),) for k, item in enumerate(items)}
    return dask.threaded.get(dsk, list(dsk))
