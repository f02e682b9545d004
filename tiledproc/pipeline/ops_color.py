"""Colour operations as pipeline steps (and commands): recolour by label, quantize.

Stored rasters are ``(band, y, x)``: the bands are the colour channels
(``channel_axis=0``); a labels raster is one band, ``(1, y, x)``.

Both steps stay lazy: building them computes nothing, also when the palette
comes from a median cut. The palette (or the label means table) is a node of
the run's graph, computed during the run by its own read of the input:

* ``recolor_by_label`` reads the image and the labels twice: once for the
  means table (a tree reduction), once to write every pixel's mean;
* ``quantize`` with ``n_colors`` reads the image ``2 + refine`` times: the
  sample for the median cut, one pass per Lloyd iteration, then the mapping;
  with an explicit ``palette`` it reads the image once. ``indices`` and
  ``quantized`` come from the same nearest-colour pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._dtypes import float_type
from ..errors import InvalidParameterError, InvalidTypeError
from ..ops.palette_limits import SAMPLE_SIZE
from .registry import Operation, Param

# The operations (and dask) are imported by the builders, when a pipeline runs: the
# catalogue itself is read by every start of the ``tiledproc`` command.

__all__ = ["COLOR_OPERATIONS"]


@dataclass(frozen=True)
class ColoursParam(Param):
    """A palette: ``[[r, g, b], ...]`` in a pipeline file, or a flat list of numbers
    (``--palette 0,0,0,255,255,255`` on the command line) cut into colours of as
    many values as the input has bands."""

    def coerce(self, value):
        if value is None:
            return None
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            rows = []
            for row in value:
                if not row or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in row):
                    raise InvalidTypeError(
                        f"Expected palette to be a list of colours, each a list of numbers, got {row!r} "
                        f"among them instead."
                    )
                rows.append([float(v) for v in row])
            if len({len(r) for r in rows}) > 1:
                raise InvalidParameterError(
                    f"Expected palette colours of equal length, got lengths "
                    f"{sorted({len(r) for r in rows})} instead."
                )
            return rows
        try:
            return super().coerce(value)
        except InvalidTypeError:
            raise InvalidTypeError(
                f"Expected palette to be a list of colours ([[r, g, b], ...]) or a flat list of "
                f"numbers, got {value!r} instead."
            ) from None


def _labels_band(labels):
    if labels.ndim == 3:
        if labels.shape[0] != 1:
            raise InvalidParameterError(
                f"Expected labels to be one band (1, y, x), got shape {tuple(labels.shape)} instead."
            )
        labels = labels[0]
    return labels


def _build_recolor(inputs, p):
    from ..ops.labels import recolor_by_label

    labels = _labels_band(inputs["labels"])
    return {"recolored": recolor_by_label(inputs["input"], labels, channel_axis=0,
                                          background=p["background"])}


def _palette_array(value, bands: int) -> np.ndarray:
    if value and isinstance(value[0], list):
        palette = np.array(value, dtype=np.float64)
    else:
        flat = np.asarray(value, dtype=np.float64)
        if flat.size % bands:
            raise InvalidParameterError(
                f"Expected palette to hold whole colours of {bands} values (the input's bands), "
                f"got {flat.size} values instead."
            )
        palette = flat.reshape(-1, bands)
    return palette


def _colours_block(idx, colours):
    return np.ascontiguousarray(np.moveaxis(colours[idx], -1, 0))


def _colours_or_nodata_block(idx, colours):
    """As _colours_block; the reserved nodata index takes the last row (NaN)."""
    return np.ascontiguousarray(np.moveaxis(colours[np.minimum(idx, colours.shape[0] - 1)], -1, 0))


def _build_quantize(inputs, p):
    import dask.array as da
    from dask.base import tokenize

    from ..ops._nodata import WithNodata, to_nan
    from ..ops.palette import median_cut_delayed, palette_indices, parse_median_cut

    image = inputs["input"]
    raw, nodata = (image.data, image.nodata) if isinstance(image, WithNodata) else (image, None)
    bands = image.shape[0]
    if (p["palette"] is None) == (p["n_colors"] is None):
        raise InvalidParameterError(
            "Expected either palette (explicit colours) or n_colors (a median-cut palette), "
            f"got {'both' if p['palette'] is not None else 'neither'} instead."
        )
    if p["palette"] is not None:
        palette = _palette_array(p["palette"], bands)
    else:
        n_colors, refine, sample_size = parse_median_cut(p["n_colors"], p["refine"], p["sample_size"])
        delayed = median_cut_delayed(raw if nodata is None else to_nan(raw, nodata), n_colors, 0, refine,
                                     sample_size)
        palette = da.from_delayed(delayed, shape=(n_colors, bands), dtype=np.float64,
                                  name="median-cut-palette-" + tokenize(delayed.key))
    indices = palette_indices(image, palette, channel_axis=0)
    out_dtype = float_type(image.dtype)
    colours = palette.astype(out_dtype)
    if isinstance(colours, np.ndarray):
        colours = da.from_array(colours, chunks=colours.shape, name="palette-" + tokenize(colours))
    if nodata is not None:  # one NaN colour after the palette, for the reserved index
        colours = da.concatenate([colours, da.full((1, bands), np.nan, dtype=out_dtype)])
    colours = colours.rechunk(colours.shape)
    quantized = da.blockwise(
        _colours_block if nodata is None else _colours_or_nodata_block, "byx", indices, "yx", colours, "nb", concatenate=True, dtype=out_dtype,
        name="quantized-" + tokenize(indices.name, colours.name),
        meta=np.empty((0, 0, 0), dtype=out_dtype),
    )
    return {"indices": indices, "quantized": quantized}


COLOR_OPERATIONS = (
    Operation(
        "recolor_by_label", "every pixel replaced by the mean colour of its label",
        (Param("background", "int?", None,
               help="label whose pixels are left as they are (converted to the output dtype)"),),
        ("recolored",), _build_recolor, inputs=("input", "labels"),
    ),
    Operation(
        "quantize", "nearest palette colour of every pixel (explicit or median-cut palette)",
        (ColoursParam("palette", "floats?", None,
                      help="explicit colours: [[r, g, b], ...] (or a flat list, as many values per "
                           "colour as bands); or give n_colors"),
         Param("n_colors", "int?", None, help="colours of a median-cut palette of the input"),
         Param("refine", "int", 0, help="Lloyd iterations over the whole input after the median cut"),
         Param("sample_size", "int", SAMPLE_SIZE, help="pixels sampled for the median cut")),
        ("indices", "quantized"), _build_quantize,
    ),
)
