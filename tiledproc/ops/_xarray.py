"""xarray in, xarray out: every image operation accepts an ``xarray.DataArray``.

The operation runs on ``DataArray.data`` (numpy stays numpy, dask stays lazy
dask: nothing is computed), and each output that keeps the input's spatial
layout comes back as a DataArray with the input's dims, coords (rioxarray's
``spatial_ref`` coordinate included) and attrs (``grid_mapping`` included,
also when xarray moved it into ``encoding``). The output's ``_FillValue``
attribute is the nodata it really uses (NaN for float outputs, the reserved
index for palette indices), as rioxarray's ``.rio.nodata`` reads it; with no
nodata, none is declared. Outputs of another layout are returned as they
are (``label_means``, ``median_cut_palette``: small numpy tables).

The spatial operations act on the last two dims, as on numpy arrays: a
``(band, y, x)`` or ``(y, x)`` DataArray. xarray is imported only when a
DataArray is passed: it stays an optional dependency.
"""

from __future__ import annotations

import math
import sys

import numpy as np

__all__ = ["is_dataarray", "dataarray_nodata", "wrap_result", "check_spatial_dims"]


def is_dataarray(value) -> bool:
    xr = sys.modules.get("xarray")
    return xr is not None and isinstance(value, xr.DataArray)


_SPATIAL_NAMES = ({"y", "x"}, {"lat", "lon"}, {"latitude", "longitude"}, {"row", "col"})


def check_spatial_dims(arr) -> None:
    """Refuse a DataArray whose named spatial dims are not its last two (the axes the filter runs over)."""
    from ..errors import InvalidParameterError

    dims = tuple(arr.dims)
    for names in _SPATIAL_NAMES:
        if names <= set(dims) and set(dims[-2:]) != names:
            order = tuple(d for d in dims if d not in names) + tuple(sorted(names, key=dims.index))
            raise InvalidParameterError(
                f"Expected image's spatial dims {sorted(names)} to be its last two, got dims {dims} instead; "
                f"the operation runs over the last two axes: pass image.transpose(*{order!r}).", param="image")


def dataarray_nodata(arr):
    """The nodata a DataArray declares, as rioxarray reads it.

    ``attrs["_FillValue"]`` (rioxarray's ``write_nodata``), else
    ``encoding["_FillValue"]`` (what ``open_zarr``/``open_dataset`` decoded:
    NaN when the data were decoded to float from an integer store, since the
    fill pixels are NaN then), else ``attrs["nodata"]`` or
    ``attrs["missing_value"]``; None if none.
    """
    attrs, enc = arr.attrs, arr.encoding
    if "_FillValue" in attrs:
        return attrs["_FillValue"]
    if enc.get("_FillValue") is not None:
        stored = enc.get("dtype")
        if arr.dtype.kind == "f" and stored is not None and np.dtype(stored).kind != "f":
            return math.nan
        return enc["_FillValue"]
    for key in ("nodata", "missing_value"):
        if attrs.get(key) is not None:
            return attrs[key]
    return None


def _like(out, ref, dims, nodata):
    import xarray as xr

    coords = {k: v for k, v in ref.coords.items() if set(v.dims) <= set(dims)}
    attrs = dict(ref.attrs)
    attrs.pop("_FillValue", None)
    attrs.pop("nodata", None)
    if nodata is not None:
        attrs["_FillValue"] = nodata
    res = xr.DataArray(out, dims=dims, coords=coords, attrs=attrs, name=ref.name)
    if "grid_mapping" in ref.encoding:
        res.encoding["grid_mapping"] = ref.encoding["grid_mapping"]
    return res


def _out_nodata(out, nodata):
    if nodata is None:
        return None
    from ._nodata import output_nodata

    return output_nodata(out.dtype)


def _wrap_one(out, ref, nodata, channel_axis):
    shape = getattr(out, "shape", None)
    if shape is None or not hasattr(out, "dtype"):
        return out
    nd = _out_nodata(out, nodata)
    if tuple(shape) == tuple(ref.shape):
        return _like(out, ref, ref.dims, nd)
    if len(shape) == ref.ndim + 1 and tuple(shape[1:]) == tuple(ref.shape):
        return _like(out, ref, ("filter",) + ref.dims, nd)
    if channel_axis is not None and len(shape) == ref.ndim - 1:
        axis = channel_axis % ref.ndim
        dims = tuple(d for k, d in enumerate(ref.dims) if k != axis)
        if tuple(shape) == tuple(s for k, s in enumerate(ref.shape) if k != axis):
            return _like(out, ref, dims, nd)
    return out


def wrap_result(result, ref, nodata, channel_axis=None):
    """The outputs of an operation on ``ref.data`` as DataArrays like ``ref`` (see the module)."""
    if isinstance(result, tuple):
        return tuple(_wrap_one(r, ref, nodata, channel_axis) for r in result)
    return _wrap_one(result, ref, nodata, channel_axis)
