"""Synthetic rasters that look like the real thing, made chunk by chunk.

``scene``: a multi-band image of land-cover patches with their own smooth
spectra and oriented texture (fields, roofs), over fractal terrain, with
sensor noise, as float32 radiance or uint16 reflectance x 10000.
``labels``: superpixel-like labels (a jittered grid of cells with wavy
borders), int32.

Every pixel is a pure function of its coordinates and the seed: the coarse
random grids are tiny and made once, the noise comes from fixed 256 x 256
tiles, so a chunk is computed on its own, in any order, on any worker, and
the result does not depend on the chunking.
"""

from __future__ import annotations

import functools
from itertools import accumulate

import dask.array as da
import numpy as np
from dask.base import tokenize

from ._validate import parse_int
from .limits import check_chunk_size, check_raster_size
from .errors import InvalidParameterError

__all__ = ["synth_scene", "synth_labels", "KINDS"]

KINDS = ("scene", "labels")
NOISE_TILE = 256


def _coarse(seed: int, band: int, step: int, shape: tuple[int, int], salt: int) -> np.ndarray:
    ny = shape[0] // step + 3
    nx = shape[1] // step + 3
    rng = np.random.default_rng([seed, band, step, salt])
    return rng.standard_normal((ny, nx))


def _smooth_weights(pos: np.ndarray, step: int):
    t = (pos + 0.5) / step
    i = np.floor(t).astype(np.int64)
    f = t - i
    return i, f * f * (3 - 2 * f)  # smoothstep


def _interp(grid: np.ndarray, step: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Smooth interpolation of ``grid`` (one node every ``step`` pixels) on a window, separably."""
    iy, fy = _smooth_weights(np.arange(y0, y1), step)
    ix, fx = _smooth_weights(np.arange(x0, x1), step)
    cols = slice(ix.min(), ix.max() + 2)
    rows = grid[iy, cols] * (1 - fy)[:, None] + grid[iy + 1, cols] * fy[:, None]
    jx = ix - cols.start
    return rows[:, jx] * (1 - fx) + rows[:, jx + 1] * fx


def _fractal(seed, shape, step, octaves, salt, y0, y1, x0, x1) -> np.ndarray:
    out = np.zeros((y1 - y0, x1 - x0))
    amp = 1.0
    for k in range(octaves):
        s = max(2, step >> k)
        out += amp * _interp(_coarse(seed, 0, s, shape, salt + k), s, y0, y1, x0, x1)
        amp *= 0.5
    return out


def _noise(seed: int, band: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    out = np.empty((y1 - y0, x1 - x0))
    t = NOISE_TILE
    for ty in range(y0 // t, (y1 - 1) // t + 1):
        for tx in range(x0 // t, (x1 - 1) // t + 1):
            tile = np.random.default_rng([seed, band, ty, tx, 7]).standard_normal((t, t))
            ya, yb = max(y0, ty * t), min(y1, (ty + 1) * t)
            xa, xb = max(x0, tx * t), min(x1, (tx + 1) * t)
            out[ya - y0:yb - y0, xa - x0:xb - x0] = tile[ya - ty * t:yb - ty * t, xa - tx * t:xb - tx * t]
    return out


N_COVER = 6  # land-cover classes


def _cover_table(seed: int, nbands: int):
    """Per class: a spectral signature over the bands, a texture orientation and frequency."""
    rng = np.random.default_rng([seed, 99])
    wavelength = np.linspace(0, 1, nbands)
    signature = np.empty((N_COVER, nbands))
    for c in range(N_COVER):  # smooth spectra, like reflectance curves
        a, b, p = rng.uniform(0.2, 1.0), rng.uniform(-0.6, 0.8), rng.uniform(0, np.pi)
        signature[c] = a * (1 + b * wavelength) * (1 + 0.3 * np.sin(3 * wavelength + p))
    theta = rng.uniform(0, np.pi, N_COVER)
    freq = rng.uniform(0.04, 0.2, N_COVER)
    strength = rng.uniform(0.0, 0.25, N_COVER)
    return np.abs(signature) + 0.05, theta, freq, strength


def _scene_fields(seed: int, shape, y0, y1, x0, x1):
    """What all bands share at a window: the land-cover class and terrain x texture."""
    ny, nx = shape
    big = max(32, min(ny, nx) // 4)
    terrain = _fractal(seed, shape, big, 5, 10, y0, y1, x0, x1)
    cover = _fractal(seed, shape, max(16, big // 3), 4, 20, y0, y1, x0, x1)
    cls = np.clip(((cover + 1.6) / 3.2 * N_COVER).astype(np.int64), 0, N_COVER - 1)
    _, theta, freq, strength = _cover_table(seed, 1)
    yy = np.arange(y0, y1)[:, None]
    xx = np.arange(x0, x1)[None, :]
    phase = 2 * np.pi * freq[cls] * (xx * np.cos(theta[cls]) + yy * np.sin(theta[cls]))
    return cls, np.exp(0.25 * terrain) * (1 + strength[cls] * np.sin(phase))


def _scene_band(seed: int, band: int, nbands: int, fields, y0, y1, x0, x1) -> np.ndarray:
    """Patches of land cover with their own spectra and texture, over smooth terrain, plus noise."""
    cls, shade = fields
    signature = _cover_table(seed, nbands)[0]
    return signature[cls, band] * shade + 0.01 * _noise(seed, band, y0, y1, x0, x1)


def _scene_block(*, seed, shape, chunks, dtype, block_id=None):
    b, i, j = block_id
    starts = [tuple(accumulate((0,) + c[:-1])) for c in chunks]
    b0, y0, x0 = starts[0][b], starts[1][i], starts[2][j]
    b1, y1, x1 = b0 + chunks[0][b], y0 + chunks[1][i], x0 + chunks[2][j]
    out = np.empty((b1 - b0, y1 - y0, x1 - x0), dtype=dtype)
    fields = _scene_fields(seed, shape[1:], y0, y1, x0, x1)
    for k, band in enumerate(range(b0, b1)):
        v = _scene_band(seed, band, shape[0], fields, y0, y1, x0, x1)
        if np.dtype(dtype).kind == "u":  # reflectance x 10000, as Sentinel-2 L2A
            out[k] = np.clip(np.round(v * 3000), 0, np.iinfo(dtype).max)
        else:  # radiance-like values
            out[k] = v * 100.0
    return out


def _labels_block(*, seed, shape, chunks, cell, block_id=None):
    _, i, j = block_id
    starts = [tuple(accumulate((0,) + c[:-1])) for c in chunks]
    y0, x0 = starts[1][i], starts[2][j]
    y1, x1 = y0 + chunks[1][i], x0 + chunks[2][j]
    # wavy displacement of the grid makes irregular, superpixel-like cells
    dy = _interp(_coarse(seed, 0, cell, shape[1:], 11), cell, y0, y1, x0, x1) * cell * 0.35
    dx = _interp(_coarse(seed, 0, cell, shape[1:], 12), cell, y0, y1, x0, x1) * cell * 0.35
    yy = np.arange(y0, y1)[:, None] + dy
    xx = np.arange(x0, x1)[None, :] + dx
    ncols = shape[2] // cell + 5
    cy = np.floor(yy / cell).astype(np.int64) + 2
    cx = np.floor(xx / cell).astype(np.int64) + 2
    return (cy * ncols + cx).astype(np.int32)[None]


def _check(shape, chunks, itemsize=4):
    shape = tuple(parse_int(s, "shape") for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidParameterError(f"Expected shape to be (bands, y, x) of positive sizes, got {shape} instead.")
    chunks = tuple(parse_int(c, "chunks") for c in chunks)
    if len(chunks) != 3 or min(chunks) < 1:
        raise InvalidParameterError(f"Expected chunks to be three positive sizes, got {chunks} instead.")
    check_raster_size(shape, chunks, itemsize, "A synthetic raster")
    chunks = tuple(min(c, s) for c, s in zip(chunks, shape))
    check_chunk_size(chunks, "A synthetic raster")
    return shape, da.core.normalize_chunks(chunks, shape)


def synth_scene(shape=(16, 5000, 5000), *, dtype="float32", chunks=(1, 1024, 1024), seed=0) -> da.Array:
    """A lazy synthetic multi-band scene, ``(band, y, x)``, float32 or uint16."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype("float32"), np.dtype("float64"), np.dtype("uint16")):
        raise InvalidParameterError(f"Expected dtype float32, float64 or uint16, got {dtype} instead.")
    shape, chunks = _check(shape, chunks, dtype.itemsize)
    seed = parse_int(seed, "seed")
    # generate up to 16 bands per task (they share the land cover), then split as asked
    gen = ((min(shape[0], 16),) * (shape[0] // 16) + ((shape[0] % 16,) if shape[0] % 16 else ()),
           chunks[1], chunks[2]) if shape[0] > 16 else ((shape[0],), chunks[1], chunks[2])
    func = functools.partial(_scene_block, seed=seed, shape=shape, chunks=gen, dtype=dtype)
    a = da.map_blocks(
        func,
        dtype=dtype, chunks=gen, name="synth-scene-" + tokenize(shape, gen, str(dtype), seed),
        meta=np.empty((0, 0, 0), dtype=dtype),
    )
    return a.rechunk(chunks) if a.chunks != chunks else a


def synth_labels(shape=(1, 2048, 2048), *, cell=24, chunks=(1, 1024, 1024), seed=0) -> da.Array:
    """Lazy superpixel-like int32 labels ``(1, y, x)`` with cells of about ``cell`` pixels."""
    shape, chunks = _check(shape, chunks)
    if shape[0] != 1:
        raise InvalidParameterError(f"Expected one band of labels, got shape {shape} instead.")
    cell = parse_int(cell, "cell")
    if cell < 2:
        raise InvalidParameterError(f"Expected cell to be at least 2 pixels, got {cell} instead.")
    func = functools.partial(_labels_block, seed=seed, shape=shape, chunks=chunks, cell=cell)
    return da.map_blocks(
        func,
        dtype=np.int32, chunks=chunks, name="synth-labels-" + tokenize(shape, chunks, cell, seed),
        meta=np.empty((0, 0, 0), dtype=np.int32),
    )
