"""Compile every kernel, in every version the operations can call, into numba's cache.

``tiledproc warmup`` runs :func:`warm_all`: each kernel family is called on tiny
inputs of every dtype and layout the operations hand it (the kernels take
sizes, modes, nan_policy, palette sizes and the outputs wanted as runtime
values, so the versions differ only by dtype and layout). What is compiled
lands in numba's on-disk cache (``NUMBA_CACHE_DIR``, by default
``__pycache__`` beside the installed sources), so every later process that
sees the same cache directory, e.g. the workers of a cluster or the steps of
a CI job, loads the compiled code instead of compiling it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _status

__all__ = ["warm_all", "WarmResult", "FAMILY_ORDER"]


@dataclass
class WarmResult:
    family: str
    seconds: float  # wall time
    cpu_seconds: float  # process CPU time (all threads)
    compiled: int  # functions numba compiled (0: all loaded from the cache)


def _maps(H: int, W: int, ry: int, rx: int, mode: str):
    from ._boundary import axis_map

    return (axis_map(0, H, ry, ry, 0, H, H, mode), axis_map(0, W, rx, rx, 0, W, W, mode))


def _blocks(shape, dtypes):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 200, size=shape)
    return [x.astype(dt) for dt in dtypes]


def _warm_window() -> None:
    from . import window as w

    for block in _blocks((2, 12, 13), (np.float32, np.float64)):
        ymap, xmap = _maps(12, 13, 1, 2, "reflect")
        for omit in (False, True):
            for outputs in (("mean", "variance"), ("mean",), ("std",)):
                w.box_stats(block, ymap, xmap, (3, 5), cval=0.0, omit=omit, outputs=outputs,
                            out_dtype=block.dtype)
        ymap, xmap = _maps(12, 13, 1, 2, "constant")
        w.box_stats(block, ymap, xmap, (3, 5), cval=np.nan, omit=True, outputs=("mean", "variance"),
                    out_dtype=np.float64)
        # the re-summing of unsound windows (rare data: compiled here, not when it shows up)
        H, W = 12 - 2, 13 - 4
        flags = np.zeros((H, W), dtype=np.bool_)
        out = np.zeros((H, W), dtype=block.dtype)
        m64 = np.zeros((H, W))
        w._flag(out, out, True, False, 0.0)
        w._serve(flags, 0.0, m64, m64, out, out, True, False)
        w._direct_rest(block[0], ymap, xmap, 3, 5, 0.0, False, flags, out, out, True, False)


def _warm_gabor() -> None:
    from . import gabor as g

    for block in _blocks((9, 10), (np.float32, np.float64)):
        ymap, xmap = _maps(9, 10, 2, 2, "reflect")
        factors = g.separable_factors(0.2, 0.0, 1.0, 1.0, 0.0, 2, 2)
        for outputs in (("real", "imag"), ("magnitude",), ("real",)):
            g.gabor_block_separable(block, ymap, xmap, factors, 0.0, outputs, block.dtype)


def _warm_derivatives() -> None:
    from . import derivatives as d

    for block in _blocks((9, 10), (np.float32, np.float64)):
        for r in (1, 2):
            ymap, xmap = _maps(9, 10, r, r, "constant")
            d.gradient_block(block, ymap, xmap, (1.0, 1.0), d.OUTPUTS if r == 2 else ("d_y", "d_x"),
                             block.dtype)
            d.compact_block(block, ymap, xmap, (1.0, 1.0), 0.0, ("d_yy", "d_yx", "d_xx"), block.dtype)


def _warm_labels() -> None:
    from . import labels as lb

    rng = np.random.default_rng(0)
    n, C = 300, 3
    for ldt in (np.int8, np.int64, np.uint64):
        kdt = lb.label_dtype(ldt)
        for spread in (20, 10**6):  # dense slots, hashed slots
            lab = (rng.integers(0, 20, n) * (spread // 20)).astype(kdt)
            for pix in _blocks((n, C), (np.uint8, np.uint16, np.float32, np.float64)):
                lb.block_table(lab, np.ascontiguousarray(pix.T), True)
                lb.block_table(lab, pix, False)
            keys = np.unique(lab).astype(lb.key_dtype(kdt))
            rows = lb.lookup_rows(lab, keys)
            table = rng.uniform(size=(keys.shape[0], C))
            for odt in (np.float32, np.float64):
                lb.gather_rows(rows, table, np.empty((C, n), dtype=odt), True)
                lb.gather_rows(rows, table, np.empty((n, C), dtype=odt), False)


def _warm_palette() -> None:
    from . import palette as p
    from .palette import kdtree

    rng = np.random.default_rng(0)
    for C in (1, 3, 4, 8):
        for n_colors in (16, 300):  # below and above the candidate cap
            pal = rng.uniform(0, 255, size=(n_colors, C))
            prepared = p.prepare_palette(pal)
            for dt in (np.uint8, np.uint16, np.float32, np.float64):
                img = rng.uniform(0, 255, size=(40, 40, C)).astype(dt)
                planes = np.moveaxis(img, -1, 0)  # channel-last blocks, as the operations pass them
                p.nearest_block(planes, prepared)
                p.nearest_block(np.ascontiguousarray(planes), prepared)  # channel-first blocks
                if n_colors == 16 and dt in (np.float32, np.float64):
                    # a colour whose squares could overflow: every pixel compared with every colour
                    huge = p.prepare_palette(np.concatenate([pal, np.full((1, C), 1e160)]))
                    p.nearest_block(planes, huge)
                    p.nearest_block(np.ascontiguousarray(planes), huge)
        kdtree._build_tree(np.ascontiguousarray(pal), kdtree.LEAF)  # palettes of more than PY_BUILD_MAX colours
        pix = rng.uniform(0, 255, size=(500, C))
        idx = p.nearest_block(np.ascontiguousarray(pix.T).reshape(C, 500, 1), prepared).reshape(-1)
        sums = p.cluster_sums(idx, pix, prepared.n)
        p.lloyd_update(prepared.palette, *sums)
        sample = p.merge_samples([p.sample_block(pix, np.arange(500, dtype=np.int64), None)])
        p.median_cut(sample, 7)


#: family -> what compiles it; in this order (the cheap ones first)
WARMERS: dict[str, Callable[[], None]] = {
    "derivatives": _warm_derivatives,
    "labels": _warm_labels,
    "gabor": _warm_gabor,
    "window": _warm_window,
    "palette": _warm_palette,
}
FAMILY_ORDER = tuple(WARMERS)


def warm_all(families=None, report: Callable[[WarmResult], None] | None = None) -> list[WarmResult]:
    """Compile (or load from the cache) every kernel of ``families`` (default: all).

    Returns, per family, the time it took and how many functions numba had to
    compile (0 when everything was already in the cache); ``report`` is
    called with each as soon as it is known."""
    results = []
    for fam in families or FAMILY_ORDER:
        before = _status.compiled().get(fam, 0)
        t, c = time.perf_counter(), time.process_time()
        WARMERS[fam]()
        r = WarmResult(fam, time.perf_counter() - t, time.process_time() - c,
                       _status.compiled().get(fam, 0) - before)
        results.append(r)
        if report is not None:
            report(r)
    return results
