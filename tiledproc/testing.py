"""Helpers for testing code built on tiledproc (and for tiledproc's own tests).

* :func:`random_chunks` draws a chunking of a shape, including 1-pixel
  chunks and chunks that do not divide the shape.
* :func:`assert_chunk_invariant` runs an operation on numpy input and on
  several dask chunkings of it and checks that all agree with a reference.
* :func:`window_reference` is the brute-force windowed mean and variance:
  pad with numpy's equivalent of the scipy mode, take every window, call
  ``np.mean``/``np.var`` (or ``np.nanmean``/``np.nanvar``) in float64.
* :data:`NUMPY_PAD_MODE` maps scipy.ndimage modes to ``np.pad`` modes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import dask
import dask.array as da
import numpy as np

__all__ = [
    "NUMPY_PAD_MODE",
    "random_chunks",
    "pad_like_scipy",
    "window_reference",
    "assert_chunk_invariant",
]

#: scipy.ndimage mode -> np.pad mode with the same extension
NUMPY_PAD_MODE = {
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
    "constant": "constant",
}


def random_chunks(shape: Sequence[int], rng: np.random.Generator, *, small: bool = False) -> tuple:
    """A random chunking of ``shape``: irregular sizes, sometimes 1-pixel chunks."""
    out = []
    for n in shape:
        if n <= 1:
            out.append((n,) if n else (0,))
            continue
        style = rng.integers(4) if not small else 0
        if style == 0:  # tiny chunks, possibly one pixel
            size = int(rng.integers(1, max(2, min(n, 4))))
            out.append(da.core.normalize_chunks(size, (n,))[0])
        elif style == 1:  # one chunk
            out.append((n,))
        else:  # irregular cuts
            k = int(rng.integers(1, min(n, 6)))
            cuts = np.sort(rng.choice(np.arange(1, n), size=k, replace=False))
            sizes = np.diff(np.concatenate([[0], cuts, [n]]))
            out.append(tuple(int(s) for s in sizes))
    return tuple(out)


def pad_like_scipy(x: np.ndarray, pad: Sequence[tuple[int, int]], mode: str, cval: float = 0.0) -> np.ndarray:
    """``np.pad`` with the extension scipy.ndimage uses for ``mode``, for any pad width."""
    if mode == "constant":
        return np.pad(x, pad, mode="constant", constant_values=cval)
    if mode == "mirror":
        # np.pad's 'reflect' is periodic for wide pads, as scipy's mirror; axes of length 1 repeat
        out = x
        for ax, (b, a) in enumerate(pad):
            if x.shape[ax] == 1:
                out = np.pad(out, [(0, 0)] * ax + [(b, a)] + [(0, 0)] * (x.ndim - ax - 1), mode="edge")
            else:
                out = np.pad(out, [(0, 0)] * ax + [(b, a)] + [(0, 0)] * (x.ndim - ax - 1), mode="reflect")
        return out
    return np.pad(x, pad, mode=NUMPY_PAD_MODE[mode])


def window_reference(x, size, mode="reflect", cval=0.0, nan_policy="propagate"):
    """Brute-force windowed (mean, variance) over the last two axes, in float64."""
    sy, sx = (size, size) if np.isscalar(size) else size
    x = np.asarray(x, dtype=np.float64)
    pad = [(0, 0)] * (x.ndim - 2) + [(sy // 2, sy // 2), (sx // 2, sx // 2)]
    p = pad_like_scipy(x, pad, mode, cval)
    w = np.lib.stride_tricks.sliding_window_view(p, (sy, sx), axis=(-2, -1))
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if nan_policy == "omit":
            return np.nanmean(w, axis=(-2, -1)), np.nanvar(w, axis=(-2, -1))
        return w.mean(axis=(-2, -1)), w.var(axis=(-2, -1))


def assert_chunk_invariant(
    op: Callable,
    x: np.ndarray,
    reference: Sequence[np.ndarray] | np.ndarray,
    *,
    chunkings: Sequence[tuple],
    rtol: float = 1e-7,
    atol: float = 0.0,
    equal_nan: bool = True,
) -> None:
    """Check ``op(x)`` on numpy input and on every dask chunking against ``reference``.

    ``op`` returns an array or a tuple of arrays; numpy input must give
    numpy output and dask input a lazy dask array, computed here with the
    synchronous scheduler.
    """
    refs = reference if isinstance(reference, (tuple, list)) else [reference]

    def check(result, label):
        results = result if isinstance(result, (tuple, list)) else [result]
        assert len(results) == len(refs), f"{label}: {len(results)} outputs, expected {len(refs)}"
        for k, (r, ref) in enumerate(zip(results, refs)):
            np.testing.assert_allclose(
                np.asarray(r, dtype=np.float64), ref, rtol=rtol, atol=atol, equal_nan=equal_nan,
                err_msg=f"{label}, output {k}",
            )

    out = op(x)
    for r in out if isinstance(out, (tuple, list)) else [out]:
        assert isinstance(r, np.ndarray), f"numpy input gave {type(r).__name__}"
    check(out, "numpy input")
    for chunks in chunkings:
        d = da.from_array(x, chunks=chunks)
        out = op(d)
        for r in out if isinstance(out, (tuple, list)) else [out]:
            assert isinstance(r, da.Array), f"dask input gave {type(r).__name__}"
            assert r.shape == x.shape[-r.ndim:] or r.ndim == x.ndim
        check(dask.compute(*out, scheduler="synchronous") if isinstance(out, (tuple, list))
              else out.compute(scheduler="synchronous"), f"chunks {chunks}")
