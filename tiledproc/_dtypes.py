"""The one dtype rule of tiledproc.

Floating outputs are ``np.result_type(input, np.float32)``:

============================  ==========
input                         output
============================  ==========
bool, (u)int8, (u)int16       float32
float16, float32              float32
(u)int32, (u)int64, float64   float64
============================  ==========

Sums are accumulated in float64 whatever the output type, and a result is
never written back into an integer input dtype.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidTypeError

__all__ = ["float_type", "check_real_dtype"]


def check_real_dtype(dtype, name: str = "image") -> np.dtype:
    """Return ``dtype`` as a numpy dtype if it is boolean, integer or real floating."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise InvalidTypeError(
            f"Expected {name} to have a boolean, integer or real floating dtype, "
            f"got {dtype} instead.",
            param=name,
        )
    return dtype


def float_type(dtype, name: str = "image") -> np.dtype:
    """The floating dtype of results computed from an input of ``dtype``.

    >>> float_type(np.uint16), float_type(np.int32), float_type(np.float64)
    (dtype('float32'), dtype('float64'), dtype('float64'))
    """
    return np.result_type(check_real_dtype(dtype, name), np.float32)


def kernel_input(block: np.ndarray) -> np.ndarray:
    """``block`` as float32 or float64, the two input types the kernels are compiled for.

    Exact: bool, (u)int8, (u)int16 and float16 fit float32; (u)int32 fits
    float64; (u)int64 is rounded to float64 exactly as the float64 reference
    rounds it. Compiling for two input types instead of twelve keeps the
    first-run compile time (numba) short.
    """
    if block.dtype in (np.float32, np.float64):
        return block
    target = np.float32 if block.dtype.itemsize <= 2 else np.float64
    return block.astype(target)
