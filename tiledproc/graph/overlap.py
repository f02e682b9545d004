"""The one runner behind every windowed operation.

An operation hands over a block kernel and its radius ``(ry, rx)`` over the
last two axes; the runner does the rest:

* numpy in: the kernel runs on the whole array (a large one in tiles, on
  dask's local threads: :func:`numpy_scheduler`), the boundary maps follow
  ``mode`` at the true image edges;
* dask in: :func:`halo_exchange` gives every block its neighbours' edge
  strips of width ``radius`` (periodic for ``wrap``), one small task per
  strip rather than ``dask.array.overlap``'s whole-neighbour slices (the
  measurement is in ARCHITECTURE.md), and each block is mapped to exactly
  its core. At the true image edge the
  kernel's boundary map applies ``mode`` itself, as the in-memory reference
  does. Chunks smaller than the halo are merged first; an axis whose
  halo would reach beyond the image is made a single chunk.

The kernel receives ``(block, ymap, xmap)`` (see :mod:`tiledproc.kernels._boundary`)
and returns ``(n_outputs, ..., H, W)`` for the core it was asked for, so
several outputs (mean and variance, real and imaginary) come from one pass.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from itertools import accumulate

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask._task_spec import Task, TaskRef
from dask.highlevelgraph import HighLevelGraph, Layer, MaterializedLayer

from ..kernels._boundary import axis_map

__all__ = ["apply_overlap", "is_dask", "plan_axis", "numpy_scheduler"]

Kernel = Callable[..., np.ndarray]

#: numpy inputs with at least this many elements are processed in tiles on threads
LARGE_NUMPY = 2**23
TILE = 1024


def is_dask(a) -> bool:
    return isinstance(a, da.Array)


def numpy_scheduler() -> str:
    """How numpy input is computed: eagerly, in this process, on dask's local
    threads, or on one thread when dask's config asks for the synchronous
    scheduler (``dask.config.set(scheduler="synchronous")``). A distributed
    client is never used for numpy input: it would ship the whole array."""
    chosen = dask.config.get("scheduler", None)
    return "synchronous" if chosen in ("sync", "synchronous", "single-threaded") else "threads"


def _merge_small(chunks: Sequence[int], minimum: int) -> tuple[int, ...]:
    """Merge neighbouring chunks until each holds at least ``minimum`` elements.

    Chunks that are already large enough keep their boundaries, so a store's
    1024-chunks with a 3-pixel tail become (..., 1024, 1027).
    """
    out: list[int] = []
    acc = 0
    for c in chunks:
        acc += c
        if acc >= minimum:
            out.append(acc)
            acc = 0
    if acc:
        if out:
            out[-1] += acc
        else:
            out.append(acc)
    return tuple(out)


def plan_axis(chunks: Sequence[int], radius: int) -> tuple[tuple[int, ...], int]:
    """``(chunks, depth)`` for one spatial axis with a kernel of ``radius``.

    The depth is the radius when the axis has several chunks, else 0 (the
    whole axis is in one block and the boundary map covers everything). No
    chunk may be smaller than the depth, because a halo is taken from the
    immediate neighbour only.
    """
    chunks = tuple(int(c) for c in chunks)
    n = sum(chunks)
    if radius == 0 or len(chunks) <= 1:
        return chunks, 0
    if radius >= n:
        return (n,), 0
    merged = _merge_small(chunks, radius)
    if len(merged) == 1:
        return merged, 0
    return merged, radius


HALO_PIECE = "halo-piece"


def _copy_piece(chunk: np.ndarray, ys: slice, xs: slice) -> np.ndarray:
    """The edge of a chunk a neighbour needs, copied so the chunk itself can be freed."""
    return np.array(chunk[..., ys, xs])


def _assemble(rows: list) -> np.ndarray:
    """A block with its halo, from a grid (list of rows) of pieces."""
    lead = rows[0][0].shape[:-2]
    h = sum(row[0].shape[-2] for row in rows)
    w = sum(p.shape[-1] for p in rows[0])
    out = np.empty(lead + (h, w), dtype=rows[0][0].dtype)
    y = 0
    for row in rows:
        x = 0
        for p in row:
            out[..., y:y + p.shape[-2], x:x + p.shape[-1]] = p
            x += p.shape[-1]
        y += row[0].shape[-2]
    return out


def halo_exchange(a: da.Array, dy: int, dx: int, periodic: bool) -> da.Array:
    """Each block of ``a`` extended by ``dy`` rows and ``dx`` columns from its neighbours.

    Like ``dask.array.overlap.overlap`` with ``boundary="none"`` (no halo
    beyond the image edge) or ``"periodic"``, but the halos are separate
    small copies (tasks named ``halo-piece-...``) rather than views of the
    neighbouring chunks: once the pieces are cut, a chunk is held only until
    its own block is computed. Every chunk must be at least ``dy`` x ``dx``.
    """
    token = tokenize(a.name, dy, dx, periodic)
    ext_name, piece_name = f"halo-ext-{token}", f"{HALO_PIECE}-{token}"
    ny, nx = a.numblocks[-2:]
    dsk = {}

    def neighbour(n, i, d, depth):
        if d and not depth:
            return None
        k = i + d
        if periodic:
            return k % n
        return k if 0 <= k < n else None

    def edge(side, depth):  # -1: the first rows/columns, +1: the last, 0: all
        return slice(None) if side == 0 else (slice(-depth, None) if side > 0 else slice(0, depth))

    for lead in np.ndindex(*a.numblocks[:-2]):
        for i in range(ny):
            for j in range(nx):
                rows = []
                for di in (-1, 0, 1):
                    ni = neighbour(ny, i, di, dy)
                    if ni is None:
                        continue
                    row = []
                    for dj in (-1, 0, 1):
                        nj = neighbour(nx, j, dj, dx)
                        if nj is None:
                            continue
                        src = (a.name, *lead, ni, nj)
                        if di == 0 and dj == 0:
                            row.append(src)
                            continue
                        # the side of the neighbour that faces this block
                        key = (piece_name, *lead, ni, nj, -di, -dj)
                        if key not in dsk:
                            dsk[key] = (_copy_piece, src, edge(-di, dy), edge(-dj, dx))
                        row.append(key)
                    rows.append(row)
                dsk[(ext_name, *lead, i, j)] = (_assemble, rows)

    def grown(chunks, n, depth):
        out = []
        for i, c in enumerate(chunks):
            before = depth if (periodic or i > 0) else 0
            after = depth if (periodic or i < n - 1) else 0
            out.append(c + before + after if n > 1 else c)
        return tuple(out)

    chunks = a.chunks[:-2] + (grown(a.chunks[-2], ny, dy), grown(a.chunks[-1], nx, dx))
    graph = HighLevelGraph.from_collections(ext_name, dsk, dependencies=[a])
    return da.Array(graph, ext_name, chunks, meta=a._meta)


def _edges(chunk: np.ndarray, *, sides: tuple, dy: int, dx: int) -> dict:
    """The strips of ``chunk`` its neighbours need, keyed by the neighbour's offset
    ``(di, dj)``: copies, so the chunk itself can be freed once its own block is done."""
    out = {}
    for di, dj in sides:
        ys = slice(None) if di == 0 else (slice(-dy, None) if di > 0 else slice(0, dy))
        xs = slice(None) if dj == 0 else (slice(-dx, None) if dj > 0 else slice(0, dx))
        out[(di, dj)] = np.array(chunk[..., ys, xs])
    return out


def _edges_pair(left: np.ndarray, right: np.ndarray, *, sides: tuple, dy: int, dx: int) -> tuple:
    """:func:`_edges` of two neighbouring chunks of a row in one task (``sides`` is a pair)."""
    return (_edges(left, sides=sides[0], dy=dy, dx=dx), _edges(right, sides=sides[1], dy=dy, dx=dx))


def _halo_block(core: np.ndarray, *edges, layout: tuple, compute, block_id: tuple, picks: tuple = ()) -> np.ndarray:
    """Assemble a block with its halo from its core and its neighbours' strips, then
    compute it (``compute(block, block_id=...)``). ``picks[k]`` is, for the ``k``-th
    neighbour, None when ``edges[k]`` is its own edge cut, or which of a pair's cuts it is."""
    it = iter(range(len(edges)))
    rows = []
    for row in layout:
        pieces = []
        for di, dj in row:
            if (di, dj) == (0, 0):
                pieces.append(core)
                continue
            k = next(it)
            cut = edges[k] if not picks or picks[k] is None else edges[k][picks[k]]
            pieces.append(cut[(-di, -dj)])
        rows.append(pieces)
    return compute(_assemble(rows), block_id=block_id)


class OverlapLayer(Layer):
    """The halo exchange and the block computation of a windowed operation, as a
    graph layer that makes its tasks only when asked for them.

    Two tasks per block: ``halo-piece-...`` cuts, from input chunk ``(…, i, j)``,
    the strips its neighbours need (one task for all of them), and the block task
    assembles its core with the neighbours' strips and runs the kernel. Nothing is
    stored per block: a task is made from its key, so building the layer costs the
    same for any raster size, and :func:`tiledproc.graph.window.cull` asks it for the
    tasks of one window of chunks at a time.

    When a window is culled, the edge cuts of two chunks side by side in a row
    that the window both needs are one task (``halo-piece-…-pair``, keyed by the
    left chunk): 1.5 tasks per block instead of 2 (plus the chunk reads), so a
    one-output operation stays under 3 tasks per output chunk with its window's
    ring. It reads nothing more, and holds at most one more chunk, than single cuts.
    """

    def __init__(self, out_name: str, piece_name: str, in_name: str, numblocks: tuple, depth: tuple,
                 periodic: bool, compute):
        super().__init__()
        self.out_name, self.piece_name, self.in_name = out_name, piece_name, in_name
        self.pair_name = f"{piece_name}-pair"
        self.numblocks = tuple(numblocks)
        self.dy, self.dx = depth
        self.periodic = periodic
        self.compute = compute

    # -- structure
    def _neighbour(self, n: int, i: int, d: int, depth: int):
        if d and not depth:
            return None
        k = i + d
        if self.periodic:
            return k % n
        return k if 0 <= k < n else None

    def _offsets(self, i: int, j: int):
        """[(di, dj, ni, nj)] of the block's neighbours (and itself), in row order."""
        ny, nx = self.numblocks[-2:]
        out = []
        for di in (-1, 0, 1):
            ni = self._neighbour(ny, i, di, self.dy)
            if ni is None:
                continue
            for dj in (-1, 0, 1):
                nj = self._neighbour(nx, j, dj, self.dx)
                if nj is None:
                    continue
                out.append((di, dj, ni, nj))
        return out

    def _sides(self, i: int, j: int) -> tuple:
        return tuple((di, dj) for di, dj, _, _ in self._offsets(i, j) if (di, dj) != (0, 0))

    def _piece_task(self, key):
        lead, i, j = key[1:-2], key[-2], key[-1]
        src = (self.in_name, *lead, i, j)
        return Task(key, functools.partial(_edges, sides=self._sides(i, j), dy=self.dy, dx=self.dx), TaskRef(src))

    def _pair_task(self, key):
        """The edge cuts of chunks ``(…, i, j)`` and ``(…, i, j + 1)`` in one task."""
        lead, i, j = key[1:-2], key[-2], key[-1]
        func = functools.partial(_edges_pair, sides=(self._sides(i, j), self._sides(i, j + 1)), dy=self.dy,
                                 dx=self.dx)
        return Task(key, func, TaskRef((self.in_name, *lead, i, j)), TaskRef((self.in_name, *lead, i, j + 1)))

    def _block_task(self, key, where: dict | None = None):
        """The block task of ``key``; ``where`` maps a neighbour chunk ``(…, i, j)`` to
        ``(piece key, index in a pair)`` (default: its own edge cut)."""
        lead, i, j = key[2:-2], key[-2], key[-1]
        offsets = self._offsets(i, j)
        layout, refs, picks = [], [], []
        for di in sorted({o[0] for o in offsets}):
            layout.append(tuple((o[0], o[1]) for o in offsets if o[0] == di))
        for di, dj, ni, nj in offsets:
            if (di, dj) != (0, 0):
                pos = (*lead, ni, nj)
                piece, pick = (where or {}).get(pos, ((self.piece_name, *pos), None))
                refs.append(TaskRef(piece))
                picks.append(pick)
        func = functools.partial(_halo_block, layout=tuple(layout), compute=self.compute, block_id=key[1:],
                                 picks=tuple(picks) if any(p is not None for p in picks) else ())
        return Task(key, func, TaskRef((self.in_name, *lead, i, j)), *refs)

    # -- the Layer protocol
    @property
    def has_legacy_tasks(self):
        return False

    def is_materialized(self) -> bool:
        return False

    def _blocks(self):
        return itertools.product(*(range(n) for n in self.numblocks))

    def get_output_keys(self):
        return {(self.out_name, 0, *b) for b in self._blocks()}

    def _valid(self, key) -> bool:
        if not isinstance(key, tuple) or not key or key[0] not in (self.out_name, self.piece_name, self.pair_name):
            return False
        idx = key[2:] if key[0] == self.out_name else key[1:]
        if key[0] == self.out_name and key[1] != 0:
            return False
        if key[0] == self.pair_name and not (len(idx) == len(self.numblocks) and idx[-1] + 1 < self.numblocks[-1]):
            return False
        return len(idx) == len(self.numblocks) and all(0 <= b < n for b, n in zip(idx, self.numblocks))

    def __getitem__(self, key):
        if not self._valid(key):
            raise KeyError(key)
        if key[0] == self.piece_name:
            return self._piece_task(key)
        if key[0] == self.pair_name:
            return self._pair_task(key)
        return self._block_task(key)

    def __contains__(self, key) -> bool:
        return self._valid(key)

    def __iter__(self):
        for b in self._blocks():
            yield (self.piece_name, *b)
        for b in self._blocks():
            yield (self.out_name, 0, *b)

    def __len__(self) -> int:
        return 2 * math.prod(self.numblocks)

    def _pairs(self, positions: set) -> dict:
        """``position -> (piece key, pick)`` for the edge cuts ``positions`` (``(…, i, j)``):
        chunks side by side in a row paired from the left, the others alone."""
        where = {}
        for pos in sorted(positions):
            if pos in where:
                continue
            right = (*pos[:-1], pos[-1] + 1)
            if right in positions and right not in where:
                key = (self.pair_name, *pos)
                where[pos], where[right] = (key, 0), (key, 1)
            else:
                where[pos] = ((self.piece_name, *pos), None)
        return where

    def cull(self, keys, all_hlg_keys):
        tasks, deps = {}, {}
        wanted = [k for k in keys if isinstance(k, tuple) and k and k[0] == self.out_name and self._valid(k)]
        positions = set()
        for k in wanted:
            lead, i, j = k[2:-2], k[-2], k[-1]
            positions.update((*lead, ni, nj) for di, dj, ni, nj in self._offsets(i, j) if (di, dj) != (0, 0))
        where = self._pairs(positions)
        for k in wanted:
            t = self._block_task(k, where)
            tasks[k] = t
            deps[k] = set(t.dependencies)
        for key, _ in set(where.values()):
            t = self._pair_task(key) if key[0] == self.pair_name else self._piece_task(key)
            tasks[key] = t
            deps[key] = set(t.dependencies)
        return MaterializedLayer(tasks), deps

    def __reduce__(self):  # pragma: no cover - layers are not shipped; tasks are
        return (OverlapLayer, (self.out_name, self.piece_name, self.in_name, self.numblocks,
                               (self.dy, self.dx), self.periodic, self.compute))


def _take(block: np.ndarray, k: int) -> np.ndarray:
    return block[k]


def _overlap_block(
    block: np.ndarray,
    *,
    kernel: Kernel,
    radius: tuple[int, int],
    depth: tuple[int, int],
    periodic: bool,
    starts: tuple[tuple[int, ...], tuple[int, ...]],
    lengths: tuple[tuple[int, ...], tuple[int, ...]],
    shape: tuple[int, int],
    mode: str,
    block_id=None,
) -> np.ndarray:
    maps = []
    for k in range(2):
        i = block_id[-2 + k]
        nblocks = len(lengths[k])
        d = depth[k]
        before = d if (periodic or i > 0) else 0
        after = d if (periodic or i < nblocks - 1) else 0
        core_start, core_len = starts[k][i], lengths[k][i]
        block_len = block.shape[-2 + k]
        if block_len != before + core_len + after:  # pragma: no cover - dask invariant
            raise AssertionError(
                f"unexpected halo on axis {k}: block {block_len}, core {core_len}, depth {d}"
            )
        maps.append(
            axis_map(core_start, core_len, radius[k], radius[k], core_start - before,
                     block_len, shape[k], mode)
        )
    return kernel(block, maps[0], maps[1])


def apply_overlap(
    kernel: Kernel,
    a,
    *,
    radius: tuple[int, int],
    mode: str,
    n_outputs: int,
    dtype,
    name: str,
    token_parts: Sequence = (),
    collapse: tuple[bool, bool] = (False, False),
):
    """Run ``kernel`` over the last two axes of ``a`` with a halo of ``radius``.

    Returns a list of ``n_outputs`` arrays shaped like ``a``: numpy for numpy
    input, lazy dask arrays (with deterministic names) for dask input.

    ``collapse`` (y, x): along a collapsed axis (radius 0) the kernel returns
    one value per block instead of one per pixel (a partial reduction over the
    block's rows or columns), so the output has one row (column) per block:
    1 for numpy input, the number of blocks (or tiles) along it for dask.
    """
    ry, rx = (int(r) for r in radius)
    if (collapse[0] and ry) or (collapse[1] and rx):
        raise ValueError("a collapsed axis takes no halo")
    if not is_dask(a) and np.asarray(a).size >= LARGE_NUMPY:
        # a large in-memory array: run in tiles on the local threads (bounded
        # scratch memory, all cores), then hand numpy back
        a = np.asarray(a)
        tiles = da.from_array(a, chunks=(1,) * (a.ndim - 2) + (TILE, TILE), name=False)
        outs = apply_overlap(kernel, tiles, radius=radius, mode=mode, n_outputs=n_outputs, dtype=dtype,
                             name=name, token_parts=token_parts, collapse=collapse)
        return list(dask.compute(*outs, scheduler=numpy_scheduler()))
    if not is_dask(a):
        a = np.asarray(a)
        H, W = a.shape[-2:]
        if H == 0 or W == 0:
            return [np.empty(a.shape, dtype=dtype) for _ in range(n_outputs)]
        ymap = axis_map(0, H, ry, ry, 0, H, H, mode)
        xmap = axis_map(0, W, rx, rx, 0, W, W, mode)
        out = kernel(a, ymap, xmap)
        return [out[k] for k in range(n_outputs)]

    if 0 in a.shape:
        return [da.empty(a.shape, dtype=dtype, chunks=a.chunks) for _ in range(n_outputs)]
    ychunks, dy = plan_axis(a.chunks[-2], ry)
    xchunks, dx = plan_axis(a.chunks[-1], rx)
    if (ychunks, xchunks) != a.chunks[-2:]:
        a = a.rechunk(a.chunks[:-2] + (ychunks, xchunks))
    periodic = mode == "wrap"
    nd = a.ndim
    starts = tuple(tuple(accumulate((0,) + c[:-1])) for c in (ychunks, xchunks))
    func = functools.partial(
        _overlap_block,
        kernel=kernel,
        radius=(ry, rx),
        depth=(dy, dx),
        periodic=periodic,
        starts=starts,
        lengths=(ychunks, xchunks),
        shape=a.shape[-2:],
        mode=mode,
    )
    token = tokenize(a.name, ry, rx, mode, n_outputs, np.dtype(dtype).str, tuple(collapse), *token_parts)
    out_chunks = tuple((1,) * len(c) if flag else c for c, flag in zip((ychunks, xchunks), collapse))
    chunks = ((n_outputs,),) + a.chunks[:-2] + out_chunks
    meta = np.empty((0,) * (nd + 1), dtype=dtype)
    out_name = f"{name}-{token}"
    if dy or dx:
        # the halo exchange and the kernel in one lazy layer: two tasks per block
        layer = OverlapLayer(out_name, f"{HALO_PIECE}-{token}", a.name, a.numblocks, (dy, dx), periodic, func)
        graph = HighLevelGraph.from_collections(out_name, layer, dependencies=[a])
        stacked = da.Array(graph, out_name, chunks, meta=meta)
    else:
        stacked = da.map_blocks(func, a, dtype=dtype, chunks=chunks, new_axis=0, name=out_name, meta=meta)
    # one blockwise selection per output: fused with whatever consumes it (a chunk write)
    return [da.map_blocks(_take, stacked, k, drop_axis=0, dtype=dtype, name=f"{name}-out{k}-{token}",
                          meta=np.empty((0,) * nd, dtype=dtype)) for k in range(n_outputs)]
