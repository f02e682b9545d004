"""Per-label mean colours: ``label_means`` and ``recolor_by_label``.

One pass over the data, O(N): each block's labels are turned into slots (an
offset when the block's labels are dense, a hash table otherwise) and the
block's pixels are summed per slot in float64; the per-block tables
``(label, sums, count)`` are merged by a tree reduction. Memory is O(K) for K
labels, whatever the number of pixels. Labels may be any integers (negative,
sparse, 64-bit ids) and may be chunked differently from the image.
"""

from __future__ import annotations

import functools
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
from ..kernels.labels import block_table, gather_rows, label_dtype, lookup_rows, merge_tables
from ._blocks import parse_colour_image, pieces, pixels_2d, reread, spatial_chunks, thread_map, whole_channels
from ._nodata import nodata_op

__all__ = ["label_means", "recolor_by_label"]

#: tables merged per task of the tree reduction
SPLIT_EVERY = 8


# ----------------------------------------------------------------- validation


def _parse(image, labels, channel_axis):
    image, axis = parse_colour_image(image, channel_axis)
    labels = as_image(labels, "labels")
    ldtype = np.dtype(labels.dtype)
    if ldtype.kind not in "iu":
        hint = " (a mask: use labels.astype(np.uint8))" if ldtype == np.bool_ else ""
        raise InvalidTypeError(f"Expected labels to have an integer dtype, got {ldtype} instead{hint}.", param="labels")
    expected = tuple(s for k, s in enumerate(image.shape) if k != axis)
    if tuple(labels.shape) != expected:
        raise InvalidParameterError(
            f"Expected labels to have the image's shape without its channel axis, {expected}, "
            f"got {tuple(labels.shape)} instead (image shape {tuple(image.shape)}, "
            f"channel_axis={channel_axis}).",
            param="labels",
        )
    return image, labels, axis


def _labels_1d(labels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(labels.reshape(-1), dtype=label_dtype(labels.dtype))


# ----------------------------------------------------------------- tables


def _block_table(image_block, label_block, *, axis):
    pix, cf = pixels_2d(image_block, axis)
    return block_table(_labels_1d(label_block), pix, cf)


def _finish(table, ldtype):
    keys, sums, counts = table
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    return keys.astype(ldtype), means


def _numpy_table(image, labels, axis):
    pix, cf = pixels_2d(image, axis)
    lab = _labels_1d(labels)
    parts = thread_map(
        lambda s: block_table(lab[s], pix[:, s] if cf else pix[s], cf), pieces(lab.shape[0]))
    return merge_tables(parts)


def _aligned(image, labels, axis):
    """Both as dask arrays, every image block holding all the channels, labels chunked like
    the image's spatial axes (so block i of one meets block i of the other)."""
    if not is_dask(image):
        chunks = list(labels.chunks)
        chunks.insert(axis, (image.shape[axis],))
        image = da.from_array(image, chunks=tuple(chunks), name="numpy-" + tokenize(image))
    image = whole_channels(image, axis)
    target = spatial_chunks(image, axis)
    if not is_dask(labels):
        labels = da.from_array(labels, chunks=target, name="numpy-" + tokenize(labels))
    elif labels.chunks != target:
        labels = labels.rechunk(target)
    return image, labels


def _table_delayed(image: da.Array, labels: da.Array, axis: int, token: str):
    """The merged (keys, sums, counts) table as one Delayed, by a tree reduction.

    The reduction reads its own copy of the input (a clone of its graph), so that
    an operation mapping the table onto the same input reads it a second time
    instead of holding every chunk in memory until the table is complete.
    """
    image_r = reread(image, "table-" + token)
    labels_r = reread(labels, "table-" + token)
    imgs = image_r.to_delayed().ravel()
    labs = labels_r.to_delayed().ravel()
    func = functools.partial(_block_table, axis=axis)
    parts = [dask.delayed(func, pure=True, name=f"label-table-block-{token}-{i}")(a, b)
             for i, (a, b) in enumerate(zip(imgs, labs))]
    level = 0
    while len(parts) > 1:
        parts = [dask.delayed(merge_tables, pure=True, name=f"label-table-merge-{token}-{level}-{i}")(
            parts[j:j + SPLIT_EVERY]) for i, j in enumerate(range(0, len(parts), SPLIT_EVERY))]
        level += 1
    if not parts:  # an image without pixels
        C = image.shape[axis]
        from ..kernels.labels import empty_table, key_dtype

        return dask.delayed(empty_table(C, key_dtype(label_dtype(labels.dtype))))
    return parts[0]


# ----------------------------------------------------------------- public


@nodata_op("label_means")
def label_means(
    image: npt.ArrayLike | da.Array,
    labels: npt.ArrayLike | da.Array,
    *,
    channel_axis: int = -1,
    scheduler: Any = None,
) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.float64]]:
    """Mean colour of every label: ``(values, means)``.

    Equal to ``np.unique(labels)`` and, for each label, ``image[labels == v].mean(axis=0)``
    in float64 (the channel axis last), computed in one O(N) pass.

    Parameters
    ----------
    image : (..., C, ...) array_like or dask.array.Array
        Any boolean, integer or real floating dtype; ``C`` channels along
        ``channel_axis``. A dask array must have known chunk sizes.
    labels : array_like or dask.array.Array of integers
        ``image``'s shape without the channel axis. Any integers: negative,
        sparse, ids up to 2**64 - 1; how many there are need not be known. A
        dask array may be chunked differently from the image.
    channel_axis : int, optional
        The image's channel axis (default -1, as scikit-image; stored rasters
        are ``(band, y, x)``: pass 0).
    scheduler : str or distributed.Client, optional
        Where dask input is computed (``dask.compute``'s ``scheduler``;
        default: dask's configured scheduler or active client).

    Returns
    -------
    values : (K,) ndarray
        The distinct label values, sorted, in ``labels``' dtype.
    means : (K, C) float64 ndarray
        ``means[i]`` is the mean colour of the pixels labelled ``values[i]``.
        A NaN pixel makes its label's mean NaN, as ``np.mean`` does.

    Raises
    ------
    InvalidParameterError
        ``channel_axis`` is not an axis of ``image``; ``image`` has no
        spatial axis besides its channel axis; ``labels`` does not have the
        image's shape without the channel axis; either has unknown dask chunk
        sizes.
    InvalidTypeError
        ``image`` is not of a boolean, integer or real floating dtype;
        ``labels`` is not of an integer dtype (a boolean mask: use
        ``labels.astype(np.uint8)``); ``channel_axis`` is not an integer.

    See Also
    --------
    recolor_by_label : every pixel replaced by its label's mean, lazily.

    Notes
    -----
    This is the explicit step that computes a table: with dask input the
    table is computed here (it is small: O(K)), on ``scheduler`` (default:
    dask's configured scheduler or active client, as ``dask.compute``), from
    one read of the data: per-block sums merged by a tree reduction; memory
    does not depend on the number of pixels. A numpy image is split over
    dask's local threads. :func:`recolor_by_label` needs no such step: its
    table stays inside its graph.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import label_means
    >>> image = np.array([[[0, 0, 0], [2, 4, 6]], [[10, 10, 10], [4, 8, 12]]], dtype=np.uint8)
    >>> values, means = label_means(image, np.array([[7, -1], [7, -1]]))
    >>> values.tolist(), means.tolist()
    ([-1, 7], [[3.0, 6.0, 9.0], [5.0, 5.0, 5.0]])
    """
    image, labels, axis = _parse(image, labels, channel_axis)
    ldtype = np.dtype(labels.dtype)
    if not is_dask(image) and not is_dask(labels):
        return _finish(_numpy_table(image, labels, axis), ldtype)
    image, labels = _aligned(image, labels, axis)
    token = tokenize(image.name, labels.name, axis)
    (table,) = dask.compute(_table_delayed(image, labels, axis, token), scheduler=scheduler)
    return _finish(table, ldtype)


def _recolor_block(image_block, label_block, table, *, axis, out_dtype, background):
    keys, sums, counts = table
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    return _recolor(image_block, label_block, keys, means, axis, out_dtype, background)


def _recolor(image, labels, keys, means, axis, out_dtype, background, threads=False):
    lab = _labels_1d(labels)
    C = image.shape[axis]
    cf = axis == 0
    out = np.empty((C, lab.shape[0]) if cf else (lab.shape[0], C), dtype=out_dtype)

    def run(s):
        rows = lookup_rows(lab[s], keys)
        gather_rows(rows, means, out[:, s] if cf else out[s], cf)

    if threads:
        thread_map(run, pieces(lab.shape[0]))
    else:
        run(slice(None))
    if cf:
        out = out.reshape(image.shape)
    else:
        shape = tuple(s for k, s in enumerate(image.shape) if k != axis) + (C,)
        out = np.moveaxis(out.reshape(shape), -1, axis)
    if background is not None:
        mask = np.expand_dims(labels == background, axis)
        np.copyto(out, image, where=mask, casting="unsafe")
    return out if out.flags.c_contiguous else np.ascontiguousarray(out)


@nodata_op("recolor")
def recolor_by_label(
    image: npt.ArrayLike | da.Array,
    labels: npt.ArrayLike | da.Array,
    *,
    channel_axis: int = -1,
    background: int | None = None,
) -> npt.NDArray[np.floating] | da.Array:
    """Replace every pixel by the mean colour of its label.

    Equal to ``means[np.searchsorted(values, labels)]`` with ``values, means =
    label_means(image, labels)`` (channel axis kept in place), cast to the
    result dtype.

    Parameters
    ----------
    image : (..., C, ...) array_like or dask.array.Array
        Any boolean, integer or real floating dtype; ``C`` channels along
        ``channel_axis``. A dask array must have known chunk sizes.
    labels : array_like or dask.array.Array of integers
        ``image``'s shape without the channel axis; any integer values. A
        dask array may be chunked differently from the image.
    channel_axis : int, optional
        The image's channel axis (default -1, as scikit-image; stored rasters
        are ``(band, y, x)``: pass 0).
    background : int, optional
        Pixels with this label are left as they are (converted to the result
        dtype) instead of taking their label's mean. A value ``labels``' dtype
        can hold.

    Returns
    -------
    recolored : ndarray or dask.array.Array
        ``image``'s shape and layout, dtype ``np.result_type(image.dtype,
        np.float32)`` (float32 for 8/16-bit and float32 images, float64 for
        32/64-bit integers and float64); never the integer input dtype.

    Raises
    ------
    InvalidParameterError
        ``channel_axis`` is not an axis of ``image``; ``image`` has no
        spatial axis besides its channel axis; ``labels`` does not have the
        image's shape without the channel axis; either has unknown dask chunk
        sizes; ``background`` is beyond the range of ``labels``' dtype.
    InvalidTypeError
        ``image`` is not of a boolean, integer or real floating dtype;
        ``labels`` is not of an integer dtype (a boolean mask: use
        ``labels.astype(np.uint8)``); ``channel_axis`` is not an integer;
        ``background`` is not an integer.

    See Also
    --------
    label_means : the table of label values and their mean colours.

    Notes
    -----
    numpy in gives numpy out. Dask in gives a lazy dask array chunked like the
    image (all channels in each chunk); nothing is computed when it is built.
    The means table stays in the graph: computing the result reads the data
    twice, once for the table (a tree reduction over a clone of the input's
    graph, so no chunk is held in memory waiting for the table) and once to map
    every pixel to its mean. Memory is O(chunk + K). Written by tiledproc
    (``save_raster``, the CLI, pipelines), the table is computed first, on its
    own, and the map then runs in bounded windows of chunks.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledproc import recolor_by_label
    >>> image = np.array([[[0, 0, 0], [2, 4, 6]], [[10, 10, 10], [4, 8, 12]]], dtype=np.uint8)
    >>> labels = np.array([[7, -1], [7, -1]])
    >>> recolor_by_label(image, labels)[:, 0].tolist()
    [[5.0, 5.0, 5.0], [5.0, 5.0, 5.0]]
    >>> recolor_by_label(image, labels, background=-1)[:, 1].tolist()  # label -1 keeps its colours
    [[2.0, 4.0, 6.0], [4.0, 8.0, 12.0]]
    """
    image, labels, axis = _parse(image, labels, channel_axis)
    if background is not None:
        background = parse_int(background, "background")
        info = np.iinfo(labels.dtype)
        if not info.min <= background <= info.max:
            raise InvalidParameterError(
                f"Expected background to be a label value of labels' dtype {labels.dtype} "
                f"({info.min} to {info.max}), got {background} instead: no pixel could have it.",
                param="background",
            )
    out_dtype = float_type(image.dtype)
    if not is_dask(image) and not is_dask(labels):
        keys, sums, counts = _numpy_table(image, labels, axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts[:, None]
        return _recolor(image, labels, keys, means, axis, out_dtype, background, threads=True)
    image, labels = _aligned(image, labels, axis)
    token = tokenize(image.name, labels.name, axis)
    table = _table_delayed(image, labels, axis, token)
    ind = tuple(range(image.ndim))
    lind = tuple(k for k in ind if k != axis)
    func = functools.partial(_recolor_block, axis=axis, out_dtype=out_dtype, background=background)
    return da.blockwise(
        func, ind, image, ind, labels, lind, table, None,
        dtype=out_dtype, name="recolor-by-label-" + tokenize(token, background),
        meta=np.empty((0,) * image.ndim, dtype=out_dtype),
    )
