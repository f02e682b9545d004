"""Palettes: the exact nearest colour of every pixel, and median-cut palettes.

``palette_indices`` is exactly ``np.argmin`` of the float64 squared distances
(ties to the lowest index), computed without forming the (pixels x colours)
distance matrix: tiles of pixels are compared with the few colours that can be
nearest to them (see :mod:`tiledproc.kernels.palette`). ``median_cut_palette``
cuts a deterministic sample of the image (every pixel for images up to
``sample_size`` pixels) and can refine the palette by Lloyd iterations over
all the chunks.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import dask
import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.base import tokenize

from .._dtypes import float_type
from .._validate import as_image, parse_int
from ..graph.overlap import is_dask
from ..errors import InvalidParameterError, InvalidTypeError
from ..kernels.palette import (
    cluster_sums,
    lloyd_update,
    median_cut,
    merge_samples,
    nearest_block,
    prepare_palette,
    sample_block,
    sample_threshold,
)
from ._blocks import kernel_pixels, parse_colour_image, pieces, reread, thread_map, whole_channels
from ._nodata import nodata_op
from .palette_limits import MAX_COLORS, MAX_REFINE, MAX_SAMPLE_SIZE, SAMPLE_SIZE

log = logging.getLogger("tiledproc")

__all__ = ["palette_indices", "apply_palette", "median_cut_palette"]

#: tables merged per task of the tree reductions
SPLIT_EVERY = 8


# ----------------------------------------------------------------- validation


def index_dtype(n_colors: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds every index of ``n_colors`` colours."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_colors - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def _check_finite(palette: np.ndarray) -> None:
    bad = ~np.isfinite(palette)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InvalidParameterError(
            f"Expected palette to hold finite values, got {float(palette[row][bad[row]][0])!r} in colour "
            f"{row} instead.",
            param="palette",
        )


def parse_palette(palette, channels: int):
    """A palette of ``channels``-channel colours: numpy (checked now) or dask (checked when computed)."""
    palette = as_image(palette, "palette")
    dtype = np.dtype(palette.dtype)
    if dtype.kind not in "biuf":
        raise InvalidTypeError(
            f"Expected palette to have a boolean, integer or real floating dtype, got {dtype} instead.",
            param="palette",
        )
    if palette.ndim != 2:
        raise InvalidParameterError(
            f"Expected palette to be a 2-D array of colours (n_colors, channels), got shape "
            f"{tuple(palette.shape)} instead.",
            param="palette",
        )
    if palette.shape[0] == 0:
        raise InvalidParameterError(
            f"Expected palette to hold at least one colour, got an empty palette of shape "
            f"{tuple(palette.shape)} instead.",
            param="palette",
        )
    if palette.shape[1] != channels:
        raise InvalidParameterError(
            f"Expected palette to have {channels} channels (the image's channel axis), "
            f"got {palette.shape[1]} instead.",
            param="palette",
        )
    if palette.shape[0] > MAX_COLORS:
        raise InvalidParameterError(
            f"Expected palette to hold at most {MAX_COLORS} (2**20) colours, got {palette.shape[0]} "
            f"instead: its tables take about (32 C + 84) bytes per colour in every task that maps "
            f"pixels to it.",
            param="palette",
        )
    if not is_dask(palette):
        palette = palette.astype(np.float64)
        _check_finite(palette)
    return palette


def _prepare(palette):
    palette = np.asarray(palette, dtype=np.float64)
    _check_finite(palette)
    return prepare_palette(palette)


def _prepared_delayed(palette):
    """The prepared palette (k-d tree, summation plan) as one node of the graph."""
    if is_dask(palette):
        palette = palette.rechunk(-1).to_delayed().ravel()[0]
        key = "palette-prepared-" + tokenize(palette.key)
    else:
        key = "palette-prepared-" + tokenize(palette)
    return dask.delayed(_prepare, pure=True, name=key)(palette)


# ----------------------------------------------------------------- block functions


def _planes(block: np.ndarray, axis: int) -> np.ndarray:
    """A (C, H, W) view (or copy) of a block: channels first, spatial axes folded into (H, W)."""
    block = block.astype(kernel_pixels(block.dtype), copy=False)
    b = np.moveaxis(block, axis, 0)
    spatial = b.shape[1:]
    W = spatial[-1] if spatial else 1
    H = int(np.prod(spatial[:-1])) if len(spatial) > 1 else 1
    return b.reshape(b.shape[0], H, W)


def _nearest(block: np.ndarray, prepared, axis: int, threads: bool = False) -> np.ndarray:
    """int32 indices of a block, shaped as its spatial axes."""
    planes = _planes(block, axis)
    spatial = tuple(s for k, s in enumerate(block.shape) if k != axis)
    C, H, W = planes.shape
    if not threads or H < 2:
        return nearest_block(planes, prepared).reshape(spatial)
    out = np.empty((H, W), dtype=np.int32)

    def run(rows):
        out[rows] = nearest_block(planes[:, rows], prepared)

    thread_map(run, pieces(H, max(1, (1 << 18) // max(W, 1))))
    return out.reshape(spatial)


def _indices_block(block, prepared, *, axis, dtype):
    return _nearest(block, prepared, axis).astype(dtype)


def _quantize_block(block, prepared, *, axis, dtype):
    idx = _nearest(block, prepared, axis)
    colours = prepared.palette.astype(dtype)[idx]  # (..., C)
    return np.ascontiguousarray(np.moveaxis(colours, -1, axis))


def _map_palette(image, prepared, axis, func, out_dtype, name, drop_channels, token):
    image = whole_channels(image, axis)
    ind = tuple(range(image.ndim))
    out_ind = tuple(k for k in ind if k != axis) if drop_channels else ind
    return da.blockwise(
        functools.partial(func, axis=axis, dtype=out_dtype), out_ind, image, ind, prepared, None,
        dtype=out_dtype, name=f"{name}-{token}", concatenate=True,
        meta=np.empty((0,) * len(out_ind), dtype=out_dtype),
    )


# ----------------------------------------------------------------- public


@nodata_op("indices")
def palette_indices(
    image: npt.ArrayLike | da.Array,
    palette: npt.ArrayLike | da.Array,
    *,
    channel_axis: int = -1,
) -> npt.NDArray[np.unsignedinteger] | da.Array:
    """Index of the nearest palette colour (Euclidean) of every pixel.

    Exactly the reference ``np.argmin(((x[..., None, :].astype(np.float64) -
    palette.astype(np.float64)) ** 2).sum(-1), axis=-1)`` (channels last):
    distances are summed in numpy's pairwise order, ties go to the lowest
    palette index, and a pixel with a NaN or an infinite channel gets index 0
    (all its distances are NaN or inf, and ``np.argmin`` returns the first).

    Parameters
    ----------
    image : (..., C, ...) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, ``C`` channels along
        ``channel_axis`` (RGB, 8 or 16 bands, ...). A dask array must have
        known chunk sizes.
    palette : (n_colors, C) array_like or dask.array.Array
        One colour per row, finite, ``1 <= n_colors <= 2**20`` (its tables
        take about ``(32 C + 84)`` bytes per colour in every task).
    channel_axis : int, optional
        The image's channel axis (default -1, as scikit-image; stored rasters
        are ``(band, y, x)``: pass 0).

    Returns
    -------
    indices : ndarray or dask.array.Array
        The image's shape without the channel axis, in the smallest unsigned
        integer dtype that holds ``n_colors - 1`` (uint8 up to 256 colours,
        uint16 up to 65 536, uint32 above, up to the limit of 2**20). numpy in
        gives numpy out (the work is split over the local cores); dask in
        gives a lazy dask array chunked like the image.

    Raises
    ------
    InvalidParameterError
        ``channel_axis`` is not an axis of ``image``; ``image`` has no
        spatial axis besides its channel axis or unknown dask chunk sizes;
        ``palette`` is not 2-D, is empty, holds more than 2**20 colours, has
        another number of channels than the image, or holds a NaN or an
        infinity (a dask palette: when it is computed).
    InvalidTypeError
        ``image`` or ``palette`` is not of a boolean, integer or real
        floating dtype; ``channel_axis`` is not an integer.

    See Also
    --------
    apply_palette : the colours themselves.
    median_cut_palette : a palette made from the image.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import palette_indices
    >>> image = np.array([[[0, 0, 0], [200, 10, 10], [6, 6, 6]]], dtype=np.uint8)
    >>> palette_indices(image, [[255, 0, 0], [3, 3, 3], [9, 9, 9]]).tolist()
    [[1, 0, 1]]
    """
    image, axis = parse_colour_image(image, channel_axis)
    palette = parse_palette(palette, image.shape[axis])
    dtype = index_dtype(palette.shape[0])
    if not is_dask(image):
        if is_dask(palette):
            palette = palette.compute()
        return _nearest(image, _prepare(palette), axis, threads=True).astype(dtype)
    prepared = _prepared_delayed(palette)
    return _map_palette(image, prepared, axis, _indices_block, dtype, "palette-indices", True,
                        tokenize(image.name, prepared.key, axis))


@nodata_op("apply_palette")
def apply_palette(
    image: npt.ArrayLike | da.Array,
    palette: npt.ArrayLike | da.Array,
    *,
    channel_axis: int = -1,
) -> npt.NDArray[np.floating] | da.Array:
    """The image quantized to ``palette``: every pixel replaced by its nearest colour.

    ``palette[palette_indices(image, palette)]`` with the channel axis kept in
    place; see :func:`palette_indices` for the exact nearest colour (a pixel
    with a NaN or infinite channel gets colour 0, as there).

    Parameters
    ----------
    image : (..., C, ...) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, ``C`` channels along
        ``channel_axis``. A dask array must have known chunk sizes.
    palette : (n_colors, C) array_like or dask.array.Array
        One colour per row, finite, ``1 <= n_colors <= 2**20``.
    channel_axis : int, optional
        The image's channel axis (default -1, as scikit-image; stored rasters
        are ``(band, y, x)``: pass 0).

    Returns
    -------
    quantized : ndarray or dask.array.Array
        The image's shape and layout, dtype ``np.result_type(image.dtype,
        np.float32)``: the palette's colours in the image's floating type.
        numpy in gives numpy out; dask in gives a lazy dask array chunked
        like the image (all channels in each chunk).

    Raises
    ------
    InvalidParameterError
        ``channel_axis`` is not an axis of ``image``; ``image`` has no
        spatial axis besides its channel axis or unknown dask chunk sizes;
        ``palette`` is not 2-D, is empty, holds more than 2**20 colours, has
        another number of channels than the image, or holds a NaN or an
        infinity (a dask palette: when it is computed).
    InvalidTypeError
        ``image`` or ``palette`` is not of a boolean, integer or real
        floating dtype; ``channel_axis`` is not an integer.

    See Also
    --------
    palette_indices : the index of each pixel's colour.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import apply_palette
    >>> image = np.array([[[0, 0, 0], [200, 10, 10]]], dtype=np.uint8)
    >>> apply_palette(image, [[255, 0, 0], [3, 3, 3]]).tolist()
    [[[3.0, 3.0, 3.0], [255.0, 0.0, 0.0]]]
    """
    image, axis = parse_colour_image(image, channel_axis)
    palette = parse_palette(palette, image.shape[axis])
    out_dtype = float_type(image.dtype)
    if not is_dask(image):
        if is_dask(palette):
            palette = palette.compute()
        prepared = _prepare(palette)
        idx = _nearest(image, prepared, axis, threads=True)
        return np.ascontiguousarray(np.moveaxis(prepared.palette.astype(out_dtype)[idx], -1, axis))
    prepared = _prepared_delayed(palette)
    return _map_palette(image, prepared, axis, _quantize_block, out_dtype, "apply-palette", False,
                        tokenize(image.name, prepared.key, axis))


# ----------------------------------------------------------------- median cut


def _flat_index(offsets, block_spatial, spatial):
    """Row-major index in the whole image of every pixel of a block at ``offsets``."""
    grids = np.meshgrid(*[np.arange(o, o + n, dtype=np.int64) for o, n in zip(offsets, block_spatial)],
                        indexing="ij")
    return np.ravel_multi_index(tuple(g.reshape(-1) for g in grids), spatial).astype(np.int64)


def _sample_part(block, offsets, *, axis, spatial, threshold):
    pix = np.moveaxis(block, axis, -1).reshape(-1, block.shape[axis]).astype(np.float64)
    bspatial = tuple(s for k, s in enumerate(block.shape) if k != axis)
    return sample_block(pix, _flat_index(offsets, bspatial, spatial), threshold)


def _cut(sample, n_colors):
    if sample.shape[0] == 0:
        raise InvalidParameterError(
            "Expected image to have at least one pixel with finite values in every channel for a "
            "median cut, got none.",
            param="image",
        )
    log.info("palette: median cut of a %d-pixel sample into %d colours", sample.shape[0], n_colors)
    start = time.perf_counter()
    out = median_cut(sample, n_colors)
    log.info("palette: median cut done in %.1f s", time.perf_counter() - start)
    return out


def _lloyd_part(block, prepared, *, axis):
    idx = _nearest(block, prepared, axis)
    pix = np.moveaxis(block, axis, -1).reshape(-1, block.shape[axis])
    return cluster_sums(idx, pix, prepared.n)


def _add_sums(parts):
    sums = parts[0][0].copy()
    counts = parts[0][1].copy()
    for s, c in parts[1:]:
        sums += s
        counts += c
    return sums, counts


def _lloyd_finish(prepared, sums):
    log.info("palette: refinement pass over %d pixels done", int(np.sum(sums[1])))
    return lloyd_update(prepared.palette, *sums)


def _tree(parts, func, name):
    level = 0
    while len(parts) > 1:
        parts = [dask.delayed(func, pure=True, name=f"{name}-{level}-{i}")(parts[j:j + SPLIT_EVERY])
                 for i, j in enumerate(range(0, len(parts), SPLIT_EVERY))]
        level += 1
    return parts[0]


def _blocks_with_offsets(image: da.Array, axis: int):
    """(delayed block, spatial offsets) of every block."""
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(int) for c in image.chunks]
    blocks = image.to_delayed()
    for index in np.ndindex(*blocks.shape):
        offsets = tuple(int(starts[k][i]) for k, i in enumerate(index) if k != axis)
        yield blocks[index], offsets


def median_cut_delayed(image: da.Array, n_colors: int, axis: int, refine: int, sample_size: int):
    """The median-cut palette of a dask image as one Delayed (for pipelines: nothing is computed).

    Reads the data ``1 + refine`` times (the sample, then one pass per Lloyd
    iteration), each time through its own copy of the input's graph.
    """
    spatial = tuple(s for k, s in enumerate(image.shape) if k != axis)
    # checked here too: the pipeline's quantize step builds the cut through this function
    n_colors, refine, sample_size = parse_median_cut(n_colors, refine, sample_size, int(np.prod(spatial)))
    image = whole_channels(image, axis)
    token = tokenize(image.name, n_colors, axis, refine, sample_size)
    threshold = sample_threshold(int(np.prod(spatial)), sample_size)
    src = reread(image, "sample-" + token)
    func = functools.partial(_sample_part, axis=axis, spatial=spatial, threshold=threshold)
    parts = [dask.delayed(func, pure=True, name=f"median-cut-sample-{token}-{i}")(b, o)
             for i, (b, o) in enumerate(_blocks_with_offsets(src, axis))]
    sample = dask.delayed(merge_samples, pure=True, name=f"median-cut-merge-{token}")(parts)
    palette = dask.delayed(_cut, pure=True, name=f"median-cut-{token}")(sample, n_colors)
    for it in range(refine):
        prepared = dask.delayed(_prepare, pure=True, name=f"lloyd-prepare-{token}-{it}")(palette)
        src = reread(image, f"lloyd-{it}-" + token)
        func = functools.partial(_lloyd_part, axis=axis)
        parts = [dask.delayed(func, pure=True, name=f"lloyd-sums-{token}-{it}-{i}")(b, prepared)
                 for i, b in enumerate(src.to_delayed().ravel())]
        sums = _tree(parts, _add_sums, f"lloyd-add-{token}-{it}")
        palette = dask.delayed(_lloyd_finish, pure=True, name=f"lloyd-{token}-{it}")(prepared, sums)
    return palette


def parse_median_cut(n_colors, refine, sample_size, n_pixels: int | None = None):
    """``(n_colors, refine, sample_size)`` checked against their limits (see :data:`MAX_COLORS`,
    :data:`MAX_REFINE`, :data:`MAX_SAMPLE_SIZE`) and, given the image's number of pixels,
    ``n_colors`` against the pixels the cut works on."""
    n_colors = parse_int(n_colors, "n_colors")
    if n_colors < 1:
        raise InvalidParameterError(f"Expected n_colors to be a positive integer, got {n_colors} instead.", param="n_colors")
    if n_colors > MAX_COLORS:
        raise InvalidParameterError(
            f"Expected n_colors to be at most {MAX_COLORS} (2**20), got {n_colors} instead: a palette's "
            f"tables take about (32 C + 84) bytes per colour in every task that maps pixels to it.",
            param="n_colors",
        )
    refine = parse_int(refine, "refine")
    if refine < 0:
        raise InvalidParameterError(
            f"Expected refine to be a number of Lloyd iterations >= 0, got {refine} instead.", param="refine")
    if refine > MAX_REFINE:
        raise InvalidParameterError(
            f"Expected refine to be at most {MAX_REFINE} Lloyd iterations, got {refine} instead: each "
            f"reads the whole image once more, and the palette settles in a few tens.",
            param="refine",
        )
    sample_size = parse_int(sample_size, "sample_size")
    if sample_size < 1:
        raise InvalidParameterError(f"Expected sample_size to be a positive integer, got {sample_size} instead.", param="sample_size")
    if sample_size > MAX_SAMPLE_SIZE:
        raise InvalidParameterError(
            f"Expected sample_size to be at most {MAX_SAMPLE_SIZE} (2**24) pixels, got {sample_size} "
            f"instead: the sample is cut in one task, (8 C + 8) bytes per pixel.",
            param="sample_size",
        )
    if n_pixels is not None and n_colors > min(n_pixels, sample_size):
        sampled = min(n_pixels, sample_size)
        which = ("every pixel of the image" if n_pixels <= sample_size
                 else f"sample_size, of the image's {n_pixels}")
        raise InvalidParameterError(
            f"Expected n_colors to be at most the number of pixels the median cut works on, {sampled} "
            f"({which}), got {n_colors} instead: the cut makes at most one colour per pixel.",
            param="n_colors",
        )
    return n_colors, refine, sample_size


@nodata_op("median_cut")
def median_cut_palette(
    image: npt.ArrayLike | da.Array,
    n_colors: int,
    *,
    channel_axis: int = -1,
    refine: int = 0,
    sample_size: int = SAMPLE_SIZE,
    scheduler: Any = None,
) -> npt.NDArray[np.float64]:
    """A palette of ``n_colors`` colours by median cut (Heckbert), computed out of core.

    The pixels of a deterministic sample (all of them when the image has at
    most ``sample_size`` pixels; otherwise those whose row-major index hashes
    below a threshold, the same pixels for any chunking) are cut into boxes:
    repeatedly, the box with the largest sum of squared deviations is cut at
    the median of its points along its axis of largest variance. The palette is
    the mean colour of every box. ``refine`` Lloyd iterations then move each
    colour to the mean of the pixels nearest to it, over the whole image.
    Pixels with a non-finite channel are left out.

    Parameters
    ----------
    image : (..., C, ...) array_like or dask.array.Array
        Any boolean, integer or real floating dtype, ``C`` channels along
        ``channel_axis``. A dask array must have known chunk sizes.
    n_colors : int
        Colours wanted, ``1 <= n_colors <= min(pixels, sample_size, 2**20)``:
        the cut makes at most one colour per pixel it works on, and a
        palette's tables take about ``(32 C + 84)`` bytes per colour in every
        task that maps pixels to it (180 MiB for RGB at 2**20). An image with
        fewer distinct colours gives each of them once, then repeats the last
        (such rows are never nearest: ties go to the lowest index).
    channel_axis : int, optional
        The image's channel axis (default -1, as scikit-image; stored rasters
        are ``(band, y, x)``: pass 0).
    refine : int, optional
        Lloyd iterations over all the pixels after the cut, 0 to 100 (default
        0; each reads the data once more and lowers the quantization error;
        the palette settles in a few tens).
    sample_size : int, optional
        Pixels the cut works on, 1 to 2**24 (default 2**20: 8 * C * 2**20
        bytes; the sample is cut in one task).
    scheduler : str or distributed.Client, optional
        Where dask input is computed (``dask.compute``'s ``scheduler``;
        default: dask's configured scheduler or active client). This is the
        explicit step that computes the palette; the pipeline's ``quantize``
        step keeps it inside the run's graph instead.

    Returns
    -------
    palette : (n_colors, C) float64 ndarray
        Computed here, also for dask input (the sample is gathered by one read
        of the data, each refinement by one more). Deterministic: the same
        palette for the same image and parameters; the median cut alone is the
        same bit for bit for any chunking (refinement sums follow the chunks,
        so refined palettes of two chunkings agree to float64 rounding).

    Raises
    ------
    InvalidParameterError
        ``n_colors``, ``refine`` or ``sample_size`` is outside its range
        above (``n_colors`` also beyond the pixels the cut works on);
        ``channel_axis`` is not an axis of ``image``; ``image`` has no
        spatial axis besides its channel axis, unknown dask chunk sizes, or
        no pixel with finite values in every channel.
    InvalidTypeError
        ``n_colors``, ``refine``, ``sample_size`` or ``channel_axis`` is not an
        integer; ``image`` is not of a boolean, integer or real floating
        dtype.

    See Also
    --------
    apply_palette : the image quantized to the palette.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import median_cut_palette
    >>> image = np.array([[[0, 0, 0], [10, 0, 0], [200, 200, 200], [210, 200, 200]]], dtype=np.uint8)
    >>> median_cut_palette(image, 2).tolist()
    [[5.0, 0.0, 0.0], [205.0, 200.0, 200.0]]
    """
    image, axis = parse_colour_image(image, channel_axis)
    spatial = tuple(s for k, s in enumerate(image.shape) if k != axis)
    n_colors, refine, sample_size = parse_median_cut(n_colors, refine, sample_size, int(np.prod(spatial)))
    if is_dask(image):
        (palette,) = dask.compute(median_cut_delayed(image, n_colors, axis, refine, sample_size),
                                  scheduler=scheduler)
        return palette
    threshold = sample_threshold(int(np.prod(spatial)), sample_size)
    part = _sample_part(image, (0,) * len(spatial), axis=axis, spatial=spatial, threshold=threshold)
    palette = _cut(merge_samples([part]), n_colors)
    for _ in range(refine):
        prepared = _prepare(palette)
        idx = _nearest(image, prepared, axis, threads=True)
        pix = np.moveaxis(image, axis, -1).reshape(-1, image.shape[axis])
        palette = lloyd_update(palette, *cluster_sums(idx, pix, prepared.n))
    return palette
