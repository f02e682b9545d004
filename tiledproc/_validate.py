"""``parse_*`` helpers: return a normalised value or raise an error that names
the parameter, what was expected and what was given."""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from .errors import InvalidParameterError, InvalidTypeError

__all__ = [
    "MODES",
    "parse_mode",
    "parse_window_size",
    "MAX_WINDOW_SIZE",
    "parse_spatial_ndim",
    "parse_nan_policy",
    "parse_positive_float",
    "parse_int",
    "parse_real",
    "as_image",
    "shown",
]


def shown(value) -> str:
    """``repr(value)`` for a message, short for an integer of thousands of digits (whose
    repr Python refuses past 4300)."""
    if isinstance(value, int) and not isinstance(value, bool) and value and abs(value) > 10**40:
        return f"an integer of {math.floor(math.log10(abs(value))) + 1} digits"
    try:
        text = repr(value)
    except ValueError:
        return f"a {type(value).__name__} too large to print"
    return text if len(text) <= 200 else text[:197] + "..."


#: Boundary modes of every windowed operation, with scipy.ndimage's meaning.
MODES = ("reflect", "mirror", "nearest", "constant", "wrap")


def parse_int(value, name: str) -> int:
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise InvalidTypeError(
        f"Expected {name} to be an integer, got {shown(value)} ({type(value).__name__}) instead.",
        param=name,
    )


def parse_real(value, name: str) -> float:
    """``value`` as a float; a number too large for one (``10**400``) is refused under
    ``name``, not as an OverflowError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(
            f"Expected {name} to be a real number, got {shown(value)} ({type(value).__name__}) instead.",
            param=name,
        )
    try:
        return float(value)
    except OverflowError:
        digits = math.floor(math.log10(abs(value))) + 1 if isinstance(value, numbers.Integral) else None
        what = f"an integer of {digits} digits" if digits else f"a {type(value).__name__} too large"
        raise InvalidParameterError(
            f"Expected {name} to be a finite number, got {what} instead (beyond the float range).",
            param=name,
        ) from None


def parse_positive_float(value, name: str, *, allow_zero: bool = False) -> float:
    v = parse_real(value, name)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        what = "non-negative" if allow_zero else "positive"
        raise InvalidParameterError(f"Expected {name} to be a finite {what} number, got {shown(value)} instead.", param=name)
    return v


#: The largest window size: a window wider than twice the image is computed
#: exactly for any size (see ops/window.py), but sizes are 64-bit integers in
#: the stores' provenance and the run files.
MAX_WINDOW_SIZE = 2**63 - 1


def parse_window_size(size, name: str = "size") -> tuple[int, int]:
    """A window size: one odd positive int, or a pair ``(size_y, size_x)``, at most
    :data:`MAX_WINDOW_SIZE`."""
    if isinstance(size, (tuple, list, np.ndarray)):
        sizes = list(size)
        if len(sizes) != 2:
            raise InvalidParameterError(
                f"Expected {name} to be an odd positive integer or a pair (size_y, size_x), "
                f"got {shown(size)} instead.",
                param=name,
            )
    else:
        sizes = [size, size]
    out = []
    for s in sizes:
        s = parse_int(s, name)
        if s > MAX_WINDOW_SIZE:
            raise InvalidParameterError(
                f"Expected {name} to be at most 2**63 - 1 ({MAX_WINDOW_SIZE}), got {shown(size)} instead: sizes "
                f"are recorded as 64-bit integers in the outputs' metadata. Any size up to that is computed "
                f"exactly, however much larger than the image.",
                param=name,
            )
        if s < 1 or s % 2 == 0:
            hint = f"; use e.g. {s + 1}" if s > 0 else "; use e.g. 3"
            raise InvalidParameterError(
                f"Expected {name} to be an odd positive integer (the window is centred on the "
                f"pixel), got {shown(size)} instead{hint}.",
                param=name,
            )
        out.append(s)
    return out[0], out[1]


def parse_mode(mode, name: str = "mode") -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidParameterError(
            f"Expected {name} to be one of {', '.join(repr(m) for m in MODES)}, got {mode!r} instead.",
            param=name,
        )
    return mode


def parse_nan_policy(policy, name: str = "nan_policy") -> str:
    if policy not in ("propagate", "omit"):
        raise InvalidParameterError(
            f"Expected {name} to be 'propagate' or 'omit', got {policy!r} instead.",
            param=name,
        )
    return policy


def parse_spatial_ndim(a, name: str = "image", minimum: int = 2) -> None:
    """Spatial operations need at least ``(y, x)``."""
    ndim = getattr(a, "ndim", None)
    if ndim is None:
        raise InvalidTypeError(
            f"Expected {name} to be a numpy or dask array, got {type(a).__name__} instead.",
            param=name,
        )
    if ndim < minimum:
        raise InvalidParameterError(
            f"Expected {name} to have at least {minimum} dimensions (..., y, x), "
            f"got shape {tuple(a.shape)} instead.",
            param=name,
        )


def as_image(a, name: str = "image"):
    """``a`` as a numpy or dask array, refusing what no operation can take.

    Lists and other array-likes become numpy arrays; a dask array must have
    known chunk sizes (a halo or a stored chunk needs them), so one made by
    boolean indexing or ``from_delayed`` without shapes is refused with the
    fix.
    """
    import dask.array as da

    if isinstance(a, da.Array):
        if any(isinstance(c, float) and c != c for cs in a.chunks for c in cs):
            raise InvalidParameterError(
                f"Expected {name} to have known chunk sizes, got a dask array with unknown (NaN) "
                f"chunk sizes {a.chunks} instead; call {name}.compute_chunk_sizes() first.",
                param=name,
            )
        return a
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "__array__") or isinstance(a, (list, tuple)):
        return np.asarray(a)
    parse_spatial_ndim(a, name)  # raises the type error
    return a
