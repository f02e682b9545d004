"""Nodata: the pixels of a raster that hold no measurement, for every operation.

Each public image operation takes ``nodata=``: ``"auto"`` (the default: the
nodata an ``xarray.DataArray`` declares, see :func:`dataarray_nodata`; none
for numpy and dask arrays), a value, or ``None`` (no nodata: every pixel is
valid). When a raster has nodata, a pixel is *missing* where it equals the
nodata value or is NaN (a float raster's NaN is never a measurement), and
each family applies one rule, that of the float64 reference with the missing
pixels set to NaN:

* window statistics: the statistics of the valid pixels of each window
  (``nan_policy="omit"``); NaN where a window holds none;
* Gabor and derivatives: NaN wherever the reference's NaN reaches (every
  output pixel whose stencil, or whose kernel weights above DBL_EPSILON as
  scipy.ndimage counts them, touch a missing pixel; ``gabor_texture``: every
  window holding such a response pixel);
* label means: missing pixels are left out of their label's mean (a label
  with no valid pixel is not listed), and keep nodata (NaN) in
  ``recolor_by_label``;
* palettes: ``median_cut_palette`` ignores missing pixels (a pixel is
  missing if any channel is); ``palette_indices`` gives them the reserved
  index ``reserved_index(dtype)`` (the largest value of the index dtype,
  chosen to hold one more index than the palette has colours);
  ``apply_palette`` gives them NaN.

Float outputs declare NaN as their nodata, palette indices their reserved
index. The substitution happens around the kernels, never inside them: an
input without nodata runs exactly as before.
"""

from __future__ import annotations

import functools
import inspect
import math
import textwrap
from typing import Any

import dask.array as da
import numpy as np

from ..errors import InvalidParameterError, InvalidTypeError

__all__ = [
    "AUTO",
    "WithNodata",
    "parse_nodata",
    "missing",
    "to_nan",
    "reserved_index",
    "output_nodata",
    "nodata_op",
]

AUTO = "auto"


class WithNodata:
    """An array and its nodata value, as one argument (what pipelines pass to the operations)."""

    __slots__ = ("data", "nodata")

    def __init__(self, data, nodata):
        self.data = data
        self.nodata = nodata

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim


def parse_nodata(value, dtype, name: str = "nodata", *, strict: bool = True):
    """``value`` as the nodata of an array of ``dtype``: None, an int (integer dtypes) or a float.

    Strings ``"nan"``, ``"none"`` and numbers in strings (as GDAL stores them)
    are accepted. A value no pixel of ``dtype`` can hold (0.5 or NaN for an
    integer dtype, 300 for uint8) is refused when ``strict``, else dropped
    (a store's declared nodata that cannot apply).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().rstrip("\x00").strip().lower()
        if text in ("none", ""):
            return None
        try:
            value = float(text)
        except ValueError:
            raise InvalidTypeError(
                f"Expected {name} to be a number, 'nan' or 'none', got {value!r} instead.", param=name
            ) from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidTypeError(
            f"Expected {name} to be a number, NaN or None, got {type(value).__name__} {value!r} instead.",
            param=name,
        )
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        v = float(value)
        with np.errstate(over="ignore"):
            rounded = float(np.float64(v).astype(dtype))  # as GDAL compares: the dtype's nearest value
        if math.isinf(rounded) and not math.isinf(v):
            if strict:
                raise InvalidParameterError(
                    f"Expected {name} to be a value of the image's dtype {dtype}, got {value!r} instead: "
                    f"beyond its range, no pixel could equal it.", param=name)
            return None
        return rounded
    if dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        ok = isinstance(value, (int, np.integer)) or (math.isfinite(float(value)) and float(value).is_integer())
        v = int(value) if ok else None
        if ok and info is not None and not info.min <= v <= info.max:
            ok = False
        if ok and info is None and v not in (0, 1):
            ok = False
        if not ok:
            if strict:
                raise InvalidParameterError(
                    f"Expected {name} to be a value of the image's dtype {dtype}, got {value!r} instead: "
                    f"no pixel could equal it; pass nodata=None to treat every pixel as valid.", param=name)
            return None
        return v
    return None


def _missing_block(block, nodata):
    if block.dtype.kind == "f":
        bad = np.isnan(block)
        if not math.isnan(nodata):
            bad |= block == nodata
        return bad
    return block == nodata


def missing(a, nodata):
    """Boolean mask (numpy or dask, like ``a``) of the missing pixels of ``a``."""
    if isinstance(a, da.Array):
        return a.map_blocks(_missing_block, nodata, dtype=bool, name="nodata-mask-" + da.core.tokenize(a.name, nodata))
    return _missing_block(np.asarray(a), nodata)


def float_for(dtype) -> np.dtype:
    """The kernels' input type for ``dtype`` (as ``_dtypes.kernel_input``)."""
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64):
        return dtype
    return np.dtype(np.float32 if dtype.itemsize <= 2 else np.float64)


def _nan_block(block, nodata, target):
    out = block.astype(target, copy=block.dtype != target)
    if not (block.dtype.kind == "f" and math.isnan(nodata)):  # NaN nodata of a float block: already NaN
        np.copyto(out, np.nan, where=block == nodata)
    return out


def to_nan(a, nodata):
    """``a`` as the kernels' float type with its missing pixels set to NaN (lazy for dask)."""
    target = float_for(a.dtype)
    if a.dtype.kind == "f" and math.isnan(nodata):
        return a  # already NaN where missing: nothing to do, nothing to cost
    if isinstance(a, da.Array):
        return a.map_blocks(_nan_block, nodata, target, dtype=target,
                            name="nodata-nan-" + da.core.tokenize(a.name, nodata, str(target)))
    return _nan_block(np.asarray(a), nodata, target)


def reserved_index(dtype) -> int:
    """The palette index of nodata pixels: the largest value of the index dtype."""
    return int(np.iinfo(dtype).max)


def output_nodata(dtype):
    """The nodata an output of ``dtype`` made from a raster with nodata declares."""
    dtype = np.dtype(dtype)
    return math.nan if dtype.kind == "f" else reserved_index(dtype)


# ----------------------------------------------------------------- the families


def _where(mask, value, a):
    if isinstance(a, da.Array) or isinstance(mask, da.Array):
        return da.where(mask, value, a)
    return np.where(mask, value, a)


def _any_channel(mask, axis, keepdims=False):
    return mask.any(axis=axis, keepdims=keepdims)


def _run_window(func, data, nd, bound):
    bound.arguments["image"] = to_nan(data, nd)
    bound.arguments["nan_policy"] = "omit"
    return func(*bound.args, **bound.kwargs)


def _run_filter(func, data, nd, bound):
    bound.arguments["image"] = to_nan(data, nd)
    return func(*bound.args, **bound.kwargs)


def _split(a, axis, C):
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(0, C)
    head = a[tuple(idx)]
    idx[axis] = slice(C, C + 1)
    return head, a[tuple(idx)]


def _with_valid_channel(data, nd, axis):
    """``data`` with missing pixels 0 and one more channel, 1 where the pixel is valid."""
    filled = to_nan(data, nd)
    bad = _any_channel(missing(filled, math.nan), axis, keepdims=True)
    valid = (~bad).astype(filled.dtype)
    lib = da if isinstance(filled, da.Array) else np
    filled = lib.where(bad, filled.dtype.type(0), filled)
    return lib.concatenate([filled, valid], axis=axis)


def _run_label_means(func, data, nd, bound):
    axis = bound.arguments.get("channel_axis", -1) % data.ndim
    C = data.shape[axis]
    bound.arguments["image"] = _with_valid_channel(data, nd, axis)
    values, means = func(*bound.args, **bound.kwargs)
    frac = means[:, C]
    keep = frac > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = means[keep, :C] / frac[keep, None]
    return values[keep], out


def _run_recolor(func, data, nd, bound):
    axis = bound.arguments.get("channel_axis", -1) % data.ndim
    C = data.shape[axis]
    ext = _with_valid_channel(data, nd, axis)
    bound.arguments["image"] = ext
    bound.arguments["channel_axis"] = axis
    out = func(*bound.args, **bound.kwargs)
    head, frac = _split(out, axis, C)
    valid = _split(ext, axis, C)[1]  # the pixel's own validity channel
    if isinstance(head, da.Array):
        return da.map_blocks(_ratio_block, head, frac, valid, dtype=head.dtype,
                             name="nodata-recolor-" + da.core.tokenize(head.name, valid.name))
    return _ratio_block(head, frac, valid)


def _ratio_block(head, frac, valid):
    """Each pixel's label mean over the label's valid pixels; NaN on a missing pixel."""
    with np.errstate(invalid="ignore", divide="ignore"):
        res = head / frac
    res[np.broadcast_to(valid == 0, res.shape)] = np.nan
    return res


def _palette_len(palette) -> int:
    if isinstance(palette, da.Array):
        return int(palette.shape[0])
    return int(np.asarray(palette).shape[0])


def _run_indices(func, data, nd, bound):
    axis = bound.arguments.get("channel_axis", -1) % data.ndim
    nan_image = to_nan(data, nd)
    bound.arguments["image"] = nan_image
    idx = func(*bound.args, **bound.kwargs)
    from .palette import index_dtype

    dtype = index_dtype(_palette_len(bound.arguments["palette"]) + 1)
    bad = _any_channel(missing(nan_image, math.nan), axis)
    return _where(bad, dtype.type(reserved_index(dtype)), idx.astype(dtype))


def _run_apply(func, data, nd, bound):
    axis = bound.arguments.get("channel_axis", -1) % data.ndim
    nan_image = to_nan(data, nd)
    bound.arguments["image"] = nan_image
    out = func(*bound.args, **bound.kwargs)
    bad = _any_channel(missing(nan_image, math.nan), axis, keepdims=True)
    return _where(bad, out.dtype.type(np.nan), out)


# ----------------------------------------------------------------- Gabor
#
# The kernel's separable path (isotropic and axis-aligned kernels) lets a NaN
# reach through weights that are exactly 0 (the imaginary part's zero
# columns), which scipy.ndimage skips; so missing pixels are not sent in as
# NaN. They are filled with a value of their block (the median of its valid
# pixels: near the data, so the kernel keeps its fast path), the filter runs
# on pixels that are all finite, and each output is set to NaN where the
# reference's NaN reaches: where the footprint of the part's weights above
# DBL_EPSILON (scipy's rule) covers a missing pixel, with the same boundary
# mode.

_EPS = np.finfo(np.float64).eps


def _fill_block(block, nodata, target):
    out = block.astype(target, copy=True)
    bad = _missing_block(block, nodata)
    if bad.any():
        good = out[~bad]
        fill = float(np.median(good[::max(1, good.size // 4096)])) if good.size else 0.0
        out[bad] = fill
    return out


def _filled(a, nodata):
    target = float_for(a.dtype)
    if isinstance(a, da.Array):
        return a.map_blocks(_fill_block, nodata, target, dtype=target,
                            name="nodata-fill-" + da.core.tokenize(a.name, nodata, str(target)))
    return _fill_block(np.asarray(a), nodata, target)


def _footprints(params, part):
    out = []
    for p in params:
        k = p.kernel()
        re, im = np.abs(k.real) > _EPS, np.abs(k.imag) > _EPS
        f = {"real": re, "imag": im, "magnitude": re | im}[part]
        out.append((p.y0, p.x0, f.astype(np.float64)))
    return out


def _reach_block(block, ymap, xmap, *, feet, ry, rx):
    import scipy.signal

    from ..kernels.gabor import extend_block

    lead = block.shape[:-2]
    flat = block.reshape((-1,) + block.shape[-2:])
    H, W = ymap.shape[0] - 2 * ry, xmap.shape[0] - 2 * rx
    out = np.zeros((len(feet), flat.shape[0], H, W), dtype=bool)
    for f, (y0, x0, foot) in enumerate(feet):
        ym = ymap[ry - y0:ymap.shape[0] - (ry - y0)]
        xm = xmap[rx - x0:xmap.shape[0] - (rx - x0)]
        for b, img in enumerate(flat):
            if not img.any():
                continue
            ext = extend_block(img, ym, xm, 0.0)
            out[f, b] = scipy.signal.fftconvolve(ext, foot, mode="valid") > 0.5
    return out.reshape((len(feet),) + lead + (H, W))


def _reach(bad, params, part, mode):
    """Per filter, True where the reference's NaN reaches from the ``bad`` pixels."""
    from ..graph.overlap import apply_overlap

    feet = _footprints(params, part)
    ry = max(y0 for y0, _, _ in feet)
    rx = max(x0 for _, x0, _ in feet)
    kernel = functools.partial(_reach_block, feet=feet, ry=ry, rx=rx)
    return apply_overlap(kernel, bad, radius=(ry, rx), mode=mode, n_outputs=len(feet), dtype=bool,
                         name="nodata-reach-" + part,
                         token_parts=(tuple(p.token() for p in params), part))


def _gabor_params(args, bank):
    from .gabor import GaborParams

    common = [args[k] for k in ("bandwidth", "sigma_x", "sigma_y", "n_stds", "offset")]
    if not bank:
        return [GaborParams(args["frequency"], args["theta"], *common)]
    fs = np.atleast_1d(np.asarray(args["frequencies"], dtype=np.float64)).ravel()
    ts = np.atleast_1d(np.asarray(args["thetas"], dtype=np.float64)).ravel()
    return [GaborParams(float(f), float(t), *common) for f in fs for t in ts]


def _mask_outputs(outs, reach):
    return [_where(m, o.dtype.type(np.nan), o) for o, m in zip(outs, reach)]


def _run_gabor(func, data, nd, bound):
    bound.arguments["image"] = _filled(data, nd)
    real, imag = func(*bound.args, **bound.kwargs)
    params = _gabor_params(bound.arguments, False)
    bad = missing(data, nd)
    mode = bound.arguments["mode"]
    return tuple(_mask_outputs([o], _reach(bad, params, part, mode))[0]
                 for o, part in ((real, "real"), (imag, "imag")))


def _run_gabor_magnitude(func, data, nd, bound):
    bound.arguments["image"] = _filled(data, nd)
    mag = func(*bound.args, **bound.kwargs)
    params = _gabor_params(bound.arguments, False)
    return _mask_outputs([mag], _reach(missing(data, nd), params, "magnitude", bound.arguments["mode"]))[0]


def _run_gabor_bank(func, data, nd, bound):
    bound.arguments["image"] = _filled(data, nd)
    bank = func(*bound.args, **bound.kwargs)
    params = _gabor_params(bound.arguments, True)
    reach = _reach(missing(data, nd), params, bound.arguments["part"], bound.arguments["mode"])
    lib = da if isinstance(bank, da.Array) else np
    return lib.where(lib.stack(reach), bank.dtype.type(np.nan), bank)


def _run_gabor_texture(func, data, nd, bound):
    """The windowed statistics of the masked response: NaN where a window holds a missing response."""
    from .gabor import gabor, gabor_magnitude
    from .window import window_stats

    args = dict(bound.arguments)
    part = args["part"]
    if not isinstance(part, str) or part not in ("real", "imag", "magnitude"):
        raise InvalidParameterError(
            f"Expected part to be 'real', 'imag' or 'magnitude', got {part!r} instead.", param="part")
    keys = ("frequency", "theta", "bandwidth", "sigma_x", "sigma_y", "n_stds", "offset")
    kw = {k: args[k] for k in keys}
    if part == "magnitude":
        response = gabor_magnitude(data, **kw, mode=args["mode"], cval=args["cval"], nodata=nd)
    else:
        real, imag = gabor(data, **kw, mode=args["mode"], cval=args["cval"], nodata=nd)
        response = real if part == "real" else imag
    return window_stats(response, args["size"], mode=args["window_mode"])


_FAMILIES = {
    "window": _run_window,
    "filter": _run_filter,
    "label_means": _run_label_means,
    "recolor": _run_recolor,
    "indices": _run_indices,
    "apply_palette": _run_apply,
    "median_cut": _run_filter,
    "gabor": _run_gabor,
    "gabor_magnitude": _run_gabor_magnitude,
    "gabor_bank": _run_gabor_bank,
    "gabor_texture": _run_gabor_texture,
}


def _unwrap(value):
    """(array, the nodata it declares or None, the DataArray it came in, or None)."""
    if isinstance(value, WithNodata):
        return value.data, value.nodata, None
    from ._xarray import dataarray_nodata, is_dataarray

    if is_dataarray(value):
        return value.data, dataarray_nodata(value), value
    return value, None, None


_RULES = {
    "window": "the statistics of the valid pixels of each window (``nan_policy='omit'``), NaN where a "
              "window holds none",
    "filter": "NaN wherever the reference's NaN reaches (numpy.gradient's stencils)",
    "gabor": "NaN wherever the reference's NaN reaches (the kernel weights above DBL_EPSILON, as "
             "scipy.ndimage counts them)",
    "gabor_magnitude": "NaN wherever the reference's NaN reaches (the kernel weights above DBL_EPSILON, as "
                       "scipy.ndimage counts them)",
    "gabor_bank": "NaN wherever the reference's NaN reaches (each filter's weights above DBL_EPSILON)",
    "gabor_texture": "NaN in every window that holds a response pixel a missing pixel reaches",
    "label_means": "left out of their label's mean; a label with no valid pixel is not listed (a pixel is "
                   "missing if any channel is)",
    "recolor": "left out of their label's mean, and NaN in the result (a pixel is missing if any channel is)",
    "indices": "the reserved index ``np.iinfo(dtype).max`` (the index dtype holds one more value than the "
               "palette has colours; a pixel is missing if any channel is)",
    "apply_palette": "NaN (a pixel is missing if any channel is)",
    "median_cut": "left out of the cut and of the refinement (a pixel is missing if any channel is)",
}


#: families that act on the last two axes (the colour ones take channel_axis instead)
_SPATIAL = {"window", "filter", "gabor", "gabor_magnitude", "gabor_bank", "gabor_texture"}


def _document(doc: str | None, family: str) -> str | None:
    """``doc`` with the ``nodata`` parameter listed before its Returns section."""
    if not doc or "\n    Returns\n    -------" not in doc:
        return doc
    text = ("Pixels with this value (and NaN) are missing: " + _RULES[family] + ". ``'auto'`` (default): "
            "the nodata of an ``xarray.DataArray`` (``_FillValue``, as rioxarray declares it), none for "
            "numpy and dask arrays; None: every pixel is valid. A DataArray in gives DataArrays out, with "
            "its dims, coords and attrs (``_FillValue``: the nodata the output uses). See "
            ":mod:`tiledproc.ops._nodata`.")
    entry = "    nodata : 'auto', number or None, optional\n" + textwrap.fill(
        text, 78, initial_indent=" " * 8, subsequent_indent=" " * 8) + "\n"
    head, tail = doc.split("\n    Returns\n    -------", 1)
    return head.rstrip("\n") + "\n" + entry + "\n    Returns\n    -------" + tail


def nodata_op(family: str):
    """Give an image operation ``nodata=`` and xarray input (see the module docstring).

    The operation's own code is untouched: missing pixels are substituted
    around it (NaN, a validity channel) and its outputs patched (NaN, the
    reserved index); a DataArray in gives DataArrays out (see ``_xarray``).
    """
    run = _FAMILIES[family]

    def decorate(func):
        sig = inspect.signature(func)
        params = list(sig.parameters.values())
        params.append(inspect.Parameter("nodata", inspect.Parameter.KEYWORD_ONLY, default=AUTO, annotation=Any))

        @functools.wraps(func)
        def wrapper(*args, nodata: Any = AUTO, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            image, declared, xr_in = _unwrap(bound.arguments["image"])
            if xr_in is not None and family in _SPATIAL:
                from ._xarray import check_spatial_dims

                check_spatial_dims(xr_in)
            for key, v in bound.arguments.items():
                if key != "image":
                    bound.arguments[key] = _unwrap(v)[0]
            if isinstance(nodata, str) and nodata == AUTO:
                nd = declared
                strict = False
            else:
                nd = nodata
                strict = True
            if nd is not None:
                if not hasattr(image, "dtype"):
                    image = np.asarray(image)
                nd = parse_nodata(nd, image.dtype, strict=strict)
            if nd is None:
                bound.arguments["image"] = image
                result = func(*bound.args, **bound.kwargs)
            else:
                result = run(func, image, nd, bound)
            if xr_in is None or family in ("label_means", "median_cut"):
                return result  # numpy/dask out as in; the small tables stay numpy
            from ._xarray import wrap_result

            return wrap_result(result, xr_in, nd, bound.arguments.get("channel_axis"))

        wrapper.__signature__ = sig.replace(parameters=params)
        wrapper.__annotations__ = {**func.__annotations__, "nodata": Any}  # a copy: wraps shares the dict
        wrapper.__doc__ = _document(func.__doc__, family)
        return wrapper

    return decorate
