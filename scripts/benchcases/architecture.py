"""Where tiledproc departs from dask's and zarr's own tools, each beside the tool it replaces.

Three departures (the figures ARCHITECTURE.md quotes), each measured side by side on the
same data in the same run, plus one question about a private dask API:

1. ``io``: direct chunk I/O (:mod:`tiledproc.io.chunkio`) against
   zarr-python 3's array API and ``dask.array.from_zarr`` / ``to_zarr``:
   reading and writing one 1 x 5000 x 5000 float32 band, chunks 1024^2,
   Blosc-LZ4 + shuffle (the default codec), on 2 threads (a thread pool of
   2, zarr's ``threading.max_workers`` 2, dask threads 2). Each child times
   ``PASSES`` passes after one untimed warm-up and reports the median pass
   and its wall time per chunk (25 chunks). Writes start from the band in
   memory, into an array made by zarr (same metadata for every writer).
2. ``halo``: tiledproc's halo exchange (``halo_exchange`` in
   :mod:`tiledproc.graph.overlap`, as ``tiledproc.window_stats`` builds it)
   against ``dask.array.map_overlap`` with the *same* block function
   (tiledproc's ``_overlap_block`` around the window_stats kernel;
   ``boundary="none"``, ``trim=False``: the block function applies the
   reflect boundary itself, so both give the same bits, which ``halo_same``
   checks on the 5000^2 band). Reported: tasks of the optimised,
   materialised graph (what an executor receives), the time to build the
   arrays and to materialise that graph, and the time to compute mean and
   variance into memory-less sinks, on dask's threaded scheduler
   (``da.store`` into no-op targets) and on tiledproc's scan-order executor
   (each block handed to a callback that drops it): the same sinks and
   scheduler for both graphs, so only the graph differs.
3. ``executor``: the scan-order executor
   (:func:`tiledproc.execute.local.run_in_order`, what ``write_outputs``
   uses for local threads) against dask's threaded scheduler
   (``dask.threaded.get`` with a posttask callback, as tiledproc's
   ``processes`` branch does) running the *same* graph of chunk writes
   through the same ``write_outputs`` (only ``_LocalExecutor.run`` is
   swapped, in the child): window_stats 15, mean and variance stores, of a
   5000^2 band, a 20000^2 band and a 20000^2 array that is mostly fill
   value (little disk traffic, the same 4 MiB per chunk held in memory);
   wall time of the write and the child's VmHWM.
4. ``conversion``: what ``dask._task_spec.convert_legacy_graph`` costs in
   ``run_in_order`` on the 20000^2 write graph, beside the public
   ``dask.core.get_deps`` (dependencies) and ``dask.core.get`` (running one
   task from its inputs).

Halo and executor configurations run ``REPEATS`` times each, taking turns,
and report the median (the machine may be shared). Inputs are
``bench-data/band5k.zarr`` and ``band20k.zarr`` (the window case's bands,
73 MB and 1.2 GB, made once) and ``fill20k.zarr`` (58 MB). Outputs go under
``bench-data/out/`` and are deleted after each measurement (at most 3 GB
at a time). About 3-6 minutes on 2 cores, plus 75 s the first time to make
``band20k``.
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import time
from itertools import accumulate

import numpy as np

from .common import ensure_scene, table

THREADS = 2
PASSES = 15
REPEATS = 3  # runs of every halo and executor configuration, alternating
SIZE = 15
SCENES = {"band5k": (1, 5000, 5000), "band20k": (1, 20000, 20000)}
SPARSE = "fill20k"  # 1 x 20000 x 20000, fill value 0, 20 of its 400 chunks stored
SHORT = {"band5k": "5k", "band20k": "20k", SPARSE: "fill20k", "dask_threads": "dask-sched",
         "scan_order": "scan-order"}


# --------------------------------------------------------------------------- helpers


class _Sink:
    """A ``da.store`` target that keeps nothing (a memory-less sink)."""

    def __setitem__(self, key, value):
        pass


def _band(data, scene="band5k"):
    return data / f"{scene}.zarr" / "0"


def _chunk_slices(shape, chunks):
    grid = [range(-(-s // c)) for s, c in zip(shape, chunks)]
    idx = list(np.ndindex(*[len(g) for g in grid]))
    return idx, [tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(ix, chunks, shape)) for ix in idx]


def _drain(results):
    """Consume an iterator of chunks, keeping none (as a writer downstream would)."""
    for _ in results:
        pass


def _passes(run, n_chunks):
    """One untimed warm-up, then PASSES timed passes: median seconds and ms per chunk."""
    run()
    times = []
    for _ in range(PASSES):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"seconds": med, "ms_per_chunk": round(1e3 * med / n_chunks, 2),
            "note": f"{1e3 * med / n_chunks:.2f} ms/chunk (median of {PASSES}; min {min(times):.3f} s)"}


def _new_zarr(path, like):
    """An empty zarr array shaped, chunked, coded and filled like ``like``, made by zarr."""
    import zarr

    shutil.rmtree(path, ignore_errors=True)
    return zarr.create_array(str(path), shape=like.shape, chunks=like.chunks, dtype=like.dtype,
                             compressors=like.compressors, fill_value=like.fill_value)


def ensure_sparse(data):
    """A plain Zarr v3 array of 1 x 20000 x 20000 float32 whose chunks are mostly the fill value 0.

    Reads of a missing chunk cost an ``np.full`` and its window statistics
    (zeros) compress to almost nothing, so the executor is compared with
    little disk traffic: what each executor holds is the same 4 MiB per
    chunk as on real data. Made once, under a temporary name then renamed.
    """
    import zarr

    from tiledproc.io.codecs import compressors_for

    path = data / f"{SPARSE}.zarr"
    if (path / "zarr.json").exists():
        return path
    print(f"making {path} (1, 20000, 20000) float32, mostly fill value ...", flush=True)
    tmp = data / f"{SPARSE}.zarr.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    z = zarr.create_array(str(tmp), shape=(1, 20000, 20000), chunks=(1, 1024, 1024), dtype="float32",
                          compressors=compressors_for("lz4"), fill_value=0.0)
    rng = np.random.default_rng(0)
    for i in range(20):  # one stored chunk in every chunk row and in every chunk column
        j = (7 * i) % 20
        ys, xs = slice(1024 * i, min(1024 * (i + 1), 20000)), slice(1024 * j, min(1024 * (j + 1), 20000))
        z[0, ys, xs] = rng.normal(100.0, 10.0, (ys.stop - ys.start, xs.stop - xs.start)).astype(np.float32)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- 1. chunk I/O


def io_read(data, method):
    """Read every chunk of the 5000^2 band, 2 threads."""
    from concurrent.futures import ThreadPoolExecutor

    import dask
    import dask.array as da
    import zarr

    from tiledproc.io.chunkio import ChunkReader, layout_of, read_region

    z = zarr.open_array(str(_band(data)), mode="r")
    layout = layout_of(_band(data))
    _, slices = _chunk_slices(z.shape, z.chunks)
    pool = ThreadPoolExecutor(THREADS)
    dask.config.set(scheduler="threads", num_workers=THREADS)
    zarr.config.set({"threading.max_workers": THREADS})
    tp_array = da.from_array(ChunkReader(layout), chunks=layout.chunks, lock=False, asarray=False,
                             meta=np.empty((0,) * 3, dtype=np.float32))  # as open_raster builds it
    zarr_array = da.from_zarr(z)
    assert zarr_array.chunks == tp_array.chunks, zarr_array.chunks

    def tiledproc_chunks():  # read_region per chunk from 2 threads
        _drain(pool.map(lambda s: read_region(layout, s), slices))

    def zarr_chunks():  # z[chunk] per chunk from 2 threads
        _drain(pool.map(lambda s: z[s], slices))

    def zarr_whole():  # z[...]: zarr's own concurrent read of all chunks
        z[...]

    def tiledproc_dask():  # one ChunkReader task per chunk into a no-op target
        da.store(tp_array, _Sink(), lock=False)

    def zarr_dask():  # da.from_zarr, one task per chunk, into a no-op target
        da.store(zarr_array, _Sink(), lock=False)

    run = {f.__name__: f for f in (tiledproc_chunks, zarr_chunks, zarr_whole, tiledproc_dask, zarr_dask)}[method]
    return _passes(run, len(slices))


def io_write(data, method):
    """Write every chunk of the 5000^2 band (from memory) into a fresh zarr-made array, 2 threads."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    import dask
    import dask.array as da
    import zarr
    from dask.array import PerformanceWarning

    from tiledproc.io.chunkio import layout_of, write_chunk

    src = zarr.open_array(str(_band(data)), mode="r")
    idx, slices = _chunk_slices(src.shape, src.chunks)
    x = np.empty(src.shape, dtype=src.dtype)
    for s in slices:  # chunk by chunk, so the child's peak RSS is the band plus the writes'
        x[s] = src[s]
    target = data / "out" / f"io-{method}"
    pool = ThreadPoolExecutor(THREADS)
    dask.config.set(scheduler="threads", num_workers=THREADS)
    zarr.config.set({"threading.max_workers": THREADS})
    z = _new_zarr(target, src)  # made by zarr for every method: the same metadata
    layout = layout_of(target)
    xd = da.from_array(x, chunks=src.chunks)

    def one_chunk(block, block_id=None):
        write_chunk(layout, tuple(block_id), block)
        return np.zeros((1, 1, 1), dtype=np.int64)

    writes = da.map_blocks(one_chunk, xd, dtype=np.int64, chunks=tuple((1,) * len(c) for c in xd.chunks))

    def tiledproc_chunks():  # write_chunk per chunk from 2 threads
        _drain(pool.map(lambda i: write_chunk(layout, idx[i], x[slices[i]]), range(len(idx))))

    def zarr_chunks():  # z[chunk] = block per chunk from 2 threads
        _drain(pool.map(lambda s: z.__setitem__(s, x[s]), slices))

    def zarr_whole():  # z[...] = band: zarr's own concurrent write of all chunks
        z[...] = x

    def tiledproc_dask():  # one write_chunk task per chunk, dask threads
        writes.compute()

    def zarr_dask():  # da.to_zarr into the zarr array, dask threads
        da.to_zarr(xd, z)

    # dask's to_zarr rechunks to "auto" chunks (128 MiB: the whole band in one
    # task) unless array.chunk-size admits one stored chunk; with 4 MiB it
    # writes one task per chunk, and any rechunk warning is an error here
    dask.config.set({"array.chunk-size": "4MiB"})
    warnings.simplefilter("error", PerformanceWarning)
    run = {f.__name__: f for f in (tiledproc_chunks, zarr_chunks, zarr_whole, tiledproc_dask, zarr_dask)}[method]
    out = _passes(run, len(slices))
    back = zarr.open_array(str(target), mode="r")
    assert all(np.array_equal(back[s], x[s], equal_nan=True) for s in slices), "the written band differs"
    shutil.rmtree(target, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- 2. halo exchange


def _halo_arrays(a, method):
    """(mean, variance) of window_stats 15, reflect, built by tiledproc or by da.map_overlap."""
    import dask.array as da

    import tiledproc as tp

    if method == "tiledproc":
        return tp.window_stats(a, SIZE, mode="reflect")
    from tiledproc.graph.overlap import _overlap_block
    from tiledproc.ops.window import _box_kernel

    r = SIZE // 2
    kernel = functools.partial(_box_kernel, size=(SIZE, SIZE), cval=0.0, omit=False,
                               outputs=("mean", "variance"), out_dtype=np.dtype(np.float32))
    ych, xch = a.chunks[-2:]
    func = functools.partial(
        _overlap_block, kernel=kernel, radius=(r, r), depth=(r, r), periodic=False,
        starts=tuple(tuple(accumulate((0,) + c[:-1])) for c in (ych, xch)), lengths=(ych, xch),
        shape=a.shape[-2:], mode="reflect")
    stacked = da.map_overlap(func, a, depth={0: 0, 1: r, 2: r}, boundary="none", trim=False,
                             dtype=np.float32, chunks=((2,),) + a.chunks, new_axis=0,
                             meta=np.empty((0,) * 4, dtype=np.float32))
    return stacked[0], stacked[1]


def _warm_kernel():
    """Load the compiled window kernel (numba cache) before anything is timed."""
    import tiledproc as tp

    tp.window_stats(np.random.default_rng(0).random((1, 64, 64), dtype=np.float32), SIZE)


def _scan_keys(arrays):
    """The block keys of ``arrays`` in raster-scan order (chunk, then array), as write_outputs sorts writes."""
    return [(a.name,) + ix for ix in np.ndindex(*arrays[0].numblocks) for a in arrays]


def halo(data, method, scene, scheduler):
    """Graph size, graph build time and compute of mean and variance into memory-less sinks."""
    import dask.array as da
    from dask.base import collections_to_expr

    import tiledproc as tp
    from tiledproc.execute.local import run_in_order
    from tiledproc.execute.schedulers import build_graph

    _warm_kernel()
    a = tp.open_raster(data / f"{scene}.zarr")
    t0 = time.perf_counter()
    m, v = _halo_arrays(a, method)
    t1 = time.perf_counter()
    graph = dict(collections_to_expr([m, v], True).optimize().__dask_graph__())
    t2 = time.perf_counter()
    n_tasks = len(graph)
    del graph
    t3 = time.perf_counter()
    if scheduler == "dask_threads":    # da.store into no-op targets
        da.store([m, v], [_Sink(), _Sink()], lock=False, scheduler="threads", num_workers=THREADS)
    elif scheduler == "scan_order":    # every block handed to a callback that drops it
        keys = _scan_keys([m, v])
        run_in_order(build_graph([m, v], keys), keys, lambda i, block: None, THREADS)
    else:
        raise ValueError(scheduler)
    compute = time.perf_counter() - t3
    return {"seconds": compute, "tasks": n_tasks, "build_s": round(t1 - t0, 4), "graph_s": round(t2 - t1, 4),
            "note": f"{n_tasks} tasks, build {1e3 * (t1 - t0):.0f} ms + materialise {1e3 * (t2 - t1):.0f} ms"}


def halo_same(data, scene="band5k"):
    """Both graphs give the same bits (mean and variance of the 5000^2 band)."""
    import dask

    import tiledproc as tp

    a = tp.open_raster(data / f"{scene}.zarr")
    got = dask.compute(*_halo_arrays(a, "tiledproc"), *_halo_arrays(a, "dask"), scheduler="threads",
                       num_workers=THREADS)
    same = all(np.array_equal(got[k], got[k + 2], equal_nan=True) for k in (0, 1))
    return {"seconds": 0.0, "same": same, "note": f"tiledproc halo and map_overlap bit-identical: {same}"}


# --------------------------------------------------------------------------- 3. executor


def _dask_threads_run(self, dsk, keys, on_done):
    """_LocalExecutor.run on dask's threaded scheduler, reporting writes as the processes branch does."""
    import dask.threaded
    from dask.callbacks import Callback

    index = {k: i for i, k in enumerate(keys)}

    def posttask(key, result, dsk, state, worker_id):
        i = index.get(key)
        if i is not None:
            on_done(i, result)

    with Callback(posttask=posttask):
        dask.threaded.get(dsk, list(keys), num_workers=self.workers or os.cpu_count())


def executor(data, scheduler, scene):
    """window_stats 15 of one band, mean and variance stores, through write_outputs."""
    import tiledproc as tp
    from tiledproc.execute import schedulers
    from tiledproc.io.output import OutputSpec
    from tiledproc.jobs.write import write_outputs

    if scheduler == "dask_threads":
        schedulers._LocalExecutor.run = _dask_threads_run
    elif scheduler != "scan_order":
        raise ValueError(scheduler)
    _warm_kernel()
    out = data / "out"
    m, v = tp.window_stats(tp.open_raster(data / f"{scene}.zarr"), SIZE, mode="reflect")
    specs = [OutputSpec(out / f"exec-{scheduler}-mean.zarr", m), OutputSpec(out / f"exec-{scheduler}-var.zarr", v)]
    t = time.perf_counter()
    report = write_outputs(specs, overwrite=True, scheduler="threads", progress="off")
    seconds = time.perf_counter() - t
    assert report.chunks_written == 2 * int(np.prod([len(c) for c in m.chunks]))
    for s in specs:
        shutil.rmtree(s.path, ignore_errors=True)
    return {"seconds": seconds, "note": f"{report.chunks_written} chunk writes"}


# --------------------------------------------------------------------------- 4. convert_legacy_graph


def conversion(data, scene="band20k"):
    """What run_in_order's use of dask._task_spec.convert_legacy_graph costs, and the public alternatives."""
    import dask.core
    from dask._task_spec import convert_legacy_graph

    import tiledproc as tp
    from tiledproc.execute.schedulers import build_graph
    from tiledproc.io.output import OutputSpec, prepare_output, write_tasks

    m, v = tp.window_stats(tp.open_raster(data / f"{scene}.zarr"), SIZE, mode="reflect")
    out = data / "out"
    specs = [OutputSpec(out / "conv-mean.zarr", m), OutputSpec(out / "conv-var.zarr", v)]
    prepared = [prepare_output(s, overwrite=True) for s in specs]
    try:
        writers, tasks = write_tasks(prepared)
        keys = [k for k, _, _ in tasks]
        t = time.perf_counter()
        dsk = build_graph(writers, keys)
        t_build = time.perf_counter() - t
    finally:
        for p in prepared:
            p.close()
            p.release(failed=True)
        for s in specs:
            shutil.rmtree(s.path, ignore_errors=True)
    kinds = sorted({type(x).__name__ for x in dsk.values()})

    def best(f, n=5):
        out = []
        for _ in range(n):
            t = time.perf_counter()
            r = f()
            out.append(time.perf_counter() - t)
        return min(out), r

    # what run_in_order does: convert, then read the dependencies off the nodes
    t_conv, (graph, deps) = best(lambda: (lambda g: (g, {k: set(n.dependencies) for k, n in g.items()}))(
        convert_legacy_graph(dsk)))
    # the public alternative for the dependencies
    t_pub, (deps_pub, _) = best(lambda: dask.core.get_deps(dsk))
    same = deps_pub == deps
    # the public way to run one task given its inputs: dask.core.get on a
    # one-task graph with the inputs as its cache (it converts that graph
    # itself). Per-task overhead beside calling the node, on a no-op graph.
    from dask._task_spec import Task, TaskRef

    def noop(*args):
        return 0

    n = 2000
    small = {("x", i): Task(("x", i), noop, *(TaskRef(("x", j)) for j in range(max(0, i - 3), i))) for i in range(n)}
    cache = {("x", j): 0 for j in range(n)}
    order = [(k, {d: 0 for d in small[k].dependencies}) for k in small]
    t_node, _ = best(lambda: [small[k](args) for k, args in order])
    t_get, _ = best(lambda: [dask.core.get({k: small[k]}, [k], cache=dict(args)) for k, args in order])
    del cache
    per_task_us = 1e6 * (t_get - t_node) / n
    return {
        "seconds": t_conv,
        "tasks": len(dsk),
        "note": (f"{len(dsk)} tasks ({', '.join(kinds)}); build_graph {t_build:.3f} s; "
                 f"convert_legacy_graph + deps {1e3 * t_conv:.1f} ms; dask.core.get_deps {1e3 * t_pub:.1f} ms "
                 f"(same deps: {same}); dask.core.get per task +{per_task_us:.1f} us over node(args) "
                 f"= {per_task_us * len(dsk) / 1e3:.0f} ms for this graph"),
        "convert_ms": round(1e3 * t_conv, 2), "get_deps_ms": round(1e3 * t_pub, 2), "same_deps": same,
        "core_get_us_per_task": round(per_task_us, 2), "build_graph_s": round(t_build, 3),
    }


MEASUREMENTS = {"io_read": io_read, "io_write": io_write, "halo": halo, "halo_same": halo_same,
                "executor": executor, "conversion": conversion}

IO_METHODS = ("tiledproc_chunks", "zarr_chunks", "zarr_whole", "tiledproc_dask", "zarr_dask")


def _named(record, name):
    record["name"] = name
    return record


def _alternating(measure, configs):
    """Each (name, measurement, args) REPEATS times, the configurations taking turns (so a
    slow spell of the shared machine hits all of them); one row per configuration with the
    median seconds and peak RSS, and every run's seconds in its note."""
    runs = {name: [] for name, _, _ in configs}
    for _ in range(REPEATS):
        for name, what, args in configs:
            runs[name].append(measure("architecture", what, args))
    rows = []
    for name, what, args in configs:
        good = [r for r in runs[name] if "error" not in r]
        if not good:
            rows.append(_named(runs[name][0], name))
            continue
        row = dict(sorted(good, key=lambda r: r["seconds"])[len(good) // 2])
        row["peak_rss"] = int(statistics.median(r["peak_rss"] for r in good))
        row["runs_s"] = [round(r["seconds"], 3) for r in good]
        row["note"] = f"{row['note']}; runs {', '.join(f'{t:.2f}' for t in row['runs_s'])} s"
        rows.append(_named(row, name))
    return rows


def _print_rss_ratios(rows, ratios):
    by = {r["name"]: r for r in rows}
    for label, a, b in ratios:
        if "peak_rss" in by.get(a, {}) and "peak_rss" in by.get(b, {}):
            print(f"  peak RSS {label:<31} {by[a]['peak_rss'] / by[b]['peak_rss']:6.2f}x")


def _show(rows, *keys):
    for r in rows:
        if "error" not in r:
            print(f"  {r['name']:<28} " + "  ".join(f"{k}={r[k]}" for k in keys if k in r))


def case(data, measure):
    """tiledproc's chunk I/O, halo exchange and scan-order executor beside zarr's and dask's own."""
    for scene, shape in SCENES.items():
        ensure_scene(data, scene, shape)
    ensure_sparse(data)
    rows = []

    read = [_named(measure("architecture", "io_read", {"method": m}), f"read {m}") for m in IO_METHODS]
    write = [_named(measure("architecture", "io_write", {"method": m}), f"write {m}") for m in IO_METHODS]
    table(f"1. chunk I/O: 1 x 5000 x 5000 float32, 25 chunks of 1024^2, Blosc-LZ4 + shuffle, {THREADS} threads "
          f"(seconds: median pass of {PASSES})", read + write, [
              ("read: zarr per chunk / tiledproc per chunk", "read zarr_chunks", "read tiledproc_chunks"),
              ("read: zarr z[...] / tiledproc per chunk", "read zarr_whole", "read tiledproc_chunks"),
              ("read: da.from_zarr / tiledproc ChunkReader", "read zarr_dask", "read tiledproc_dask"),
              ("write: zarr per chunk / tiledproc per chunk", "write zarr_chunks", "write tiledproc_chunks"),
              ("write: zarr z[...] = / tiledproc per chunk", "write zarr_whole", "write tiledproc_chunks"),
              ("write: da.to_zarr / tiledproc write_chunk", "write zarr_dask", "write tiledproc_dask"),
          ])
    rows += read + write

    configs, ratios = [], []
    for scene in SCENES:
        for sched in ("dask_threads", "scan_order"):
            tp_name, da_name = (f"{label} {SHORT[scene]} {SHORT[sched]}" for label in ("tiledproc", "map_overlap"))
            for method, name in (("tiledproc", tp_name), ("dask", da_name)):
                configs.append((name, "halo", {"method": method, "scene": scene, "scheduler": sched}))
            ratios.append((f"{SHORT[scene]} {SHORT[sched]}: map_overlap / tiledproc", da_name, tp_name))
    halo_rows = _alternating(measure, configs)
    same = _named(measure("architecture", "halo_same", {}), "same bits (5000^2)")
    table("2. halo exchange: window_stats 15 (same block function), mean + variance into memory-less sinks "
          f"({THREADS} threads; dask-sched: da.store into no-op targets on dask's threaded scheduler, scan-order: "
          f"run_in_order handing each block to a callback that drops it); seconds = compute, median of {REPEATS}",
          halo_rows + [same], ratios)
    _print_rss_ratios(halo_rows, ratios)
    _show(halo_rows, "tasks", "build_s", "graph_s")
    rows += halo_rows + [same]

    exec_rows = _alternating(measure, [(f"{sched} {scene}", "executor", {"scheduler": sched, "scene": scene})
                                       for scene in (*SCENES, SPARSE) for sched in ("scan_order", "dask_threads")])
    table(f"3. executor: write_outputs of window_stats 15 (mean + variance stores), {THREADS} threads, "
          f"median of {REPEATS}",
          exec_rows, [
              ("time 5000^2: dask threaded / scan order", "dask_threads band5k", "scan_order band5k"),
              ("time 20000^2: dask threaded / scan order", "dask_threads band20k", "scan_order band20k"),
              ("time fill20k: dask threaded / scan order", f"dask_threads {SPARSE}", f"scan_order {SPARSE}"),
          ])
    _print_rss_ratios(exec_rows, [(f"{scene}: dask threaded / scan order", f"dask_threads {scene}",
                                   f"scan_order {scene}") for scene in (*SCENES, SPARSE)])
    rows += exec_rows

    conv = _named(measure("architecture", "conversion", {}), "convert_legacy_graph 20k")
    table("4. dask._task_spec.convert_legacy_graph in run_in_order (write graph of the 20000^2 band)", [conv])
    rows.append(conv)
    shutil.rmtree(data / "out", ignore_errors=True)
    return rows
