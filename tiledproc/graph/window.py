"""Run a raster's chunk writes in bounded windows: the graph of one window at a time.

A write graph built from lazy layers (dask's ``Blockwise``, the halo exchange's
:class:`~tiledproc.graph.overlap.OverlapLayer`) costs nothing per chunk until
its tasks are asked for. :func:`windows` cuts the chunk writes, in scan order,
into windows of at most :data:`WINDOW_CHUNKS` chunk positions, strip by strip
(:data:`STRIP_CHUNKS` chunk columns wide) so that a window holds a bounded
number of chunks whatever the raster's width; :func:`window_graph` makes the
tasks of one window only (``HighLevelGraph.cull``, which culls these layers
without materialising them). So the driver holds the tasks of one window,
never those of the whole raster.

A window's graph includes the neighbours its edge blocks need, so a chunk on
a window's border is read by both windows: at most one ring of chunks per
window (none for a raster of one strip and one window per band).

A graph that is not made of such layers (a reduction over the whole raster,
as the label means or a palette estimate) is split in two by
:func:`reduction_results`: the few small results the per-chunk layers take from
the reduction (a label table, a palette) are computed first, on their own, then
put in the graph as constants (:func:`with_results`); what is left is windowable.
A graph that cannot be split so (a whole-raster rechunk, whose every chunk a
windowable layer needs) is run whole: :func:`windowable` says which.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from dask._task_spec import DataNode, GraphNode, Task, TaskRef
from dask.blockwise import Blockwise, optimize_blockwise
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

from .overlap import HALO_PIECE, OverlapLayer

__all__ = ["WINDOW_CHUNKS", "STRIP_CHUNKS", "SMALL_LAYER", "merged_graph", "windowable", "windows",
           "grid_windows", "window_graph", "strip_width", "reduction_results", "with_results"]

#: chunk positions (one per chunk of the raster, whatever the number of outputs) in one window
WINDOW_CHUNKS = 256
#: the widest strip, in chunk columns: a window holds about this many chunks of a row at once.
#: 5, the width of a 5000^2 band in 1024^2 chunks, keeps the driver's peak at 50000^2 within
#: 12 % of 5000^2's (8 columns: +17 %, docs/benchmarks.md); the price is the ring: the two
#: border columns of a strip are read again by its neighbours (2 of 5 chunks, not 2 of 8).
STRIP_CHUNKS = 5
#: a materialized layer of at most this many tasks (a store reader, a palette) is shared by every window
SMALL_LAYER = 16


def merged_graph(collections: Sequence) -> HighLevelGraph:
    """One graph for ``collections`` with their blockwise layers fused (lazily)."""
    hlg = HighLevelGraph.merge(*(c.__dask_graph__() for c in collections))
    return optimize_blockwise(hlg, keys=[(c.name,) + (0,) * c.ndim for c in collections])


def _local(layer) -> bool:
    """A layer whose tasks each need a bounded neighbourhood of chunks: a lazy per-chunk
    layer, a layer of a few tasks in all, or a materialized layer whose every task takes
    one key at most (a per-chunk selection, as dask makes for ``x[0]``)."""
    if isinstance(layer, (Blockwise, OverlapLayer)):
        return True
    if not isinstance(layer, MaterializedLayer):
        return False
    if len(layer) <= SMALL_LAYER:
        return True
    return all(isinstance(node, GraphNode) and len(node.dependencies) <= 1 for node in layer.mapping.values())


def windowable(hlg: HighLevelGraph) -> bool:
    """Whether every task of ``hlg`` depends on a bounded neighbourhood of chunks only,
    so that windows can be built and run apart (else the graph is run whole)."""
    return all(_local(layer) for layer in hlg.layers.values())


def reduction_results(hlg: HighLevelGraph) -> list[str] | None:
    """The small layers (at most SMALL_LAYER tasks) of ``hlg`` that hold the results of its
    whole-raster reductions as the per-chunk layers take them (a label table, a palette):
    the small layers that a large per-chunk layer takes directly and that are made from
    more than SMALL_LAYER tasks at any depth (the raster the reduction reads, or the many
    one-task layers of a reduction built from ``dask.delayed`` calls). None when
    the graph cannot be split so (a large per-chunk layer takes a large layer that is not
    local directly: a whole-raster rechunk) or holds no reduction at all."""
    memo: dict = {}

    def below(name) -> int:  # tasks under a layer, at any depth (shared ones counted again), capped
        if name not in memo:
            memo[name] = 0  # a graph has no cycles; this only ends the recursion
            n = 0
            for d in hlg.dependencies.get(name, ()):
                n += len(hlg.layers[d]) + below(d)
                if n > SMALL_LAYER:
                    break
            memo[name] = n
        return memo[name]

    results = set()
    for name, layer in hlg.layers.items():
        if len(layer) <= SMALL_LAYER or not _local(layer):
            continue
        for dep in hlg.dependencies.get(name, ()):
            d = hlg.layers[dep]
            if len(d) > SMALL_LAYER:
                if not _local(d):
                    return None
            elif below(dep) > SMALL_LAYER:  # a small layer made from more than a few tasks
                results.add(dep)
    return sorted(results) or None


def with_results(hlg: HighLevelGraph, values: dict, results: Sequence[str], roots: Sequence[str]) -> HighLevelGraph:
    """``hlg`` with the layers ``results`` made constants (``values``: key -> value, every
    key of those layers) and only the layers ``roots`` still need: the reductions that
    made the values are gone, and what is left is windowable (if it was split right)."""
    layers = dict(hlg.layers)
    deps = dict(hlg.dependencies)
    for name in results:
        layers[name] = MaterializedLayer({k: DataNode(k, values[k]) for k in hlg.layers[name]})
        deps[name] = set()
    return HighLevelGraph(layers, deps).cull_layers(roots)


def strip_width(ncols: int) -> int:
    """Chunk columns per strip: the raster's width when it is at most STRIP_CHUNKS, else
    equal strips of at most STRIP_CHUNKS."""
    if ncols <= STRIP_CHUNKS:
        return max(ncols, 1)
    return math.ceil(ncols / math.ceil(ncols / STRIP_CHUNKS))


def windows(positions: Sequence[tuple], ncols: int, xchunk: int, limit: int | None = None) -> list[list[int]]:
    """Cut writes into windows: ``positions[i]`` is ``(band, y, x)`` (pixel offsets) of
    write ``i``; returns lists of write indices, windows in order, each in scan order
    within its strip. A window has at most ``limit`` distinct chunk positions.

    A band wider than one strip is run strip by strip, each strip in windows of equal
    heights: a window never holds two strips of a band, because the column on a strip's
    border would be read for the first strip and held, for its own blocks, until the
    second (measured: +37 % of peak at 20000^2). Bands of one strip fill windows in turn.
    """
    limit = WINDOW_CHUNKS if limit is None else limit
    strip = strip_width(ncols)
    width = strip * max(1, xchunk)
    order = sorted(range(len(positions)), key=lambda i: (positions[i][0], positions[i][2] // width,
                                                        positions[i][1], positions[i][2], i))
    out: list[list[int]] = []
    current: list[int] = []
    seen: set = set()
    if ncols <= strip:
        for i in order:
            pos = tuple(positions[i])
            if pos not in seen and len(seen) >= limit:
                out.append(current)
                current, seen = [], set()
            seen.add(pos)
            current.append(i)
        return out + ([current] if current else [])
    groups: dict = {}
    for i in order:
        groups.setdefault((positions[i][0], positions[i][2] // width), []).append(i)
    for idx in groups.values():
        rows = sorted({positions[i][1] for i in idx})
        cols = len({positions[i][2] for i in idx})
        n = math.ceil(len(rows) / max(1, limit // cols))  # windows of at most limit // cols rows
        per = math.ceil(len(rows) / n)
        rank = {y: k // per for k, y in enumerate(rows)}
        parts: dict = {}
        for i in idx:
            parts.setdefault(rank[positions[i][1]], []).append(i)
        out.extend(parts[k] for k in sorted(parts))
    return out


def grid_windows(grid: Sequence[int], limit: int | None = None,
                 band_group: int = 1) -> Iterator[list[tuple[int, int, int]]]:
    """The windows of a whole ``(bands, rows, columns)`` chunk grid, made one at a time:
    lists of chunk indices, the cut :func:`windows` makes of every position of a regular
    grid (strip by strip, each strip in windows of equal heights; bands of one strip fill
    windows in turn). With ``band_group`` g, bands are taken g at a time and innermost
    (g chunks of a block of g bands, one after another). Nothing is held per chunk of the
    raster: a window is made when the one before it has been taken."""
    limit = WINDOW_CHUNKS if limit is None else limit
    nb, ny, nx = (int(n) for n in grid)
    g = max(1, int(band_group))
    groups = [range(b0, min(b0 + g, nb)) for b0 in range(0, nb, g)]
    strip = strip_width(nx)
    if nx <= strip:
        current: list[tuple[int, int, int]] = []
        for bands in groups:
            for y in range(ny):
                for x in range(nx):
                    if current and len(current) + len(bands) > limit:
                        yield current
                        current = []
                    current.extend((b, y, x) for b in bands)
        if current:
            yield current
        return
    for bands in groups:
        for x0 in range(0, nx, strip):
            cols = range(x0, min(x0 + strip, nx))
            n = math.ceil(ny / max(1, limit // (len(cols) * len(bands))))
            per = math.ceil(ny / n)
            for y0 in range(0, ny, per):
                yield [(b, y, x) for y in range(y0, min(y0 + per, ny)) for x in cols for b in bands]


def _inline(node: Task, key, value: Task) -> tuple[Task, int]:
    """``node`` with the reference to ``key`` in its arguments (at any depth of nested
    tasks) replaced by the task ``value``, and how many references were replaced."""
    hits = 0
    args = []
    for a in node.args:
        if isinstance(a, TaskRef) and a.key == key:
            args.append(value)
            hits += 1
        elif isinstance(a, Task) and key in a.dependencies:
            a, n = _inline(a, key, value)
            args.append(a)
            hits += n
        else:
            args.append(a)
    if any(key in getattr(v, "dependencies", ()) or (isinstance(v, TaskRef) and v.key == key)
           for v in node.kwargs.values()):
        return node, 0
    return Task(node.key, node.func, *args, **node.kwargs), hits


def fuse_linear(dsk: dict, targets: Sequence) -> dict:
    """Inline every task that has exactly one dependent (and is no target) into it:
    an output's selection from a multi-output block runs inside the chunk write that
    consumes it, a ring chunk read only for its edges inside the edge cut."""
    targets = set(targets)
    dependents: dict = {}
    for k, node in dsk.items():
        for d in getattr(node, "dependencies", ()):
            dependents.setdefault(d, []).append(k)
    nodes = dict(dsk)
    alias: dict = {}

    def home(k):
        while k in alias:
            k = alias[k]
        return k

    for k in list(dsk):
        users = dependents.get(k, ())
        node = nodes.get(k)
        if k in targets or len(users) != 1 or not isinstance(node, Task):
            continue
        u = home(users[0])
        unode = nodes.get(u)
        if not isinstance(unode, Task) or u == k:
            continue
        fused, hits = _inline(unode, k, node)
        if hits != 1 or k in fused.dependencies:
            continue
        nodes[u] = fused
        del nodes[k]
        alias[k] = u
    return nodes


def _retag(dsk: dict, tag) -> dict:
    """``dsk`` with its edge-cut keys made the window's own (``…-w<tag>``).

    The edge cut of a chunk on a window's border is in both windows' graphs, as a
    different task (its read fused in or not, paired with another chunk or not); two
    windows in flight on distributed would otherwise send the scheduler one key with
    two definitions."""
    subs = {k: (f"{k[0]}-w{tag}",) + k[1:] for k in dsk
            if isinstance(k, tuple) and isinstance(k[0], str) and k[0].startswith(HALO_PIECE)}
    if not subs:
        return dsk
    out = {}
    for k, node in dsk.items():
        new = subs.get(k, k)
        if isinstance(node, Task) and (k in subs or not subs.keys().isdisjoint(node.dependencies)):
            node = node.substitute(subs, key=new)
        out[new] = node
    return out


def window_graph(hlg: HighLevelGraph, keys: Sequence, tag=None) -> dict:
    """The tasks ``keys`` need, and no others, made without materialising ``hlg``,
    linear chains fused (:func:`fuse_linear`); with ``tag``, the edge cuts' keys are
    made unique to this window (:func:`_retag`)."""
    dsk = fuse_linear(dict(hlg.cull(list(keys))), keys)
    return dsk if tag is None else _retag(dsk, tag)
