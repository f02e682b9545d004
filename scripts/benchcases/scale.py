"""Scale: the driver's peak RSS, graph build time and tasks per output chunk of window_stats
(size 15, mean and variance) as the raster grows, on Zarr inputs whose chunks are all fill
value (made here, no disk: only their metadata exists).

Each size runs in its own child process (its VmHWM is its own): open the store, build
window_stats, write both outputs through ``write_outputs`` on the local scan-order
executor, which runs the writes in windows of chunks (:mod:`tiledproc.graph.window`).
Reported: wall time, peak RSS, the time to build the lazy arrays (``build``), the time from
opening the store to the first finished chunk write (``first_write``), the number of
windows and the tasks per output chunk handed to the executor. Outputs (fill value 0, the
constant result of a constant input) go to ``bench-data/out`` and are deleted after each size.

    python scripts/bench.py scale
"""

from __future__ import annotations

import time

SIZES = [(1, 5000), (1, 20000), (1, 50000), (1, 100000), (16, 50000)]


def _fill(data, bands, n):
    import zarr

    path = data / f"fill-{bands}x{n}.zarr"
    if not (path / "0" / "zarr.json").exists():
        g = zarr.create_group(str(path), zarr_format=3, overwrite=True)
        g.create_array("0", shape=(bands, n, n), chunks=(1, 1024, 1024), dtype="float32", fill_value=0)
    return path


def window_stats(data, bands: int, n: int) -> dict:
    import tiledproc as tp
    from tiledproc.io.output import OutputSpec
    from tiledproc.io.read import open_raster
    from tiledproc.jobs import write as jw

    src = _fill(data, bands, n)
    start = time.perf_counter()
    t = time.perf_counter()
    mean, var = tp.window_stats(open_raster(src), size=15)
    build = time.perf_counter() - t
    outs = [OutputSpec(data / "out" / f"{k}.zarr", x, fill_value=0.0) for k, x in (("mean", mean), ("var", var))]
    jw.write_outputs(outs, progress="off", space_check=False)
    writes = sum(w for w, _ in jw.last_windows)
    tasks = sum(t for _, t in jw.last_windows)
    return {"seconds": time.perf_counter() - start, "build": build, "windows": len(jw.last_windows),
            "first_write": jw.last_first_write[0] - start,
            "writes": writes, "tasks_per_chunk": tasks / writes,
            "max_window_tasks": max(t for _, t in jw.last_windows)}


def tasks_per_chunk(data, n: int = 100000) -> dict:
    """Tasks per output chunk over a whole 1 x n^2 run of every windowed op: every window
    ``windows()`` makes is culled and counted (nothing is computed)."""
    import tiledproc as tp
    from tiledproc.graph import window as gw
    from tiledproc.io.output import OutputSpec, prepare_output, write_tasks
    from tiledproc.io.read import open_raster

    a = open_raster(_fill(data, 1, n))
    out = {}
    for op, kw in [("window_mean", {"size": 7}), ("window_stats", {"size": 15}), ("gabor", {"frequency": 0.2}),
                   ("gradient", {}), ("finite_difference_hessian", {})]:
        r = getattr(tp, op)(a, **kw)
        r = list(r) if isinstance(r, (tuple, list)) else [r]
        prepared = [prepare_output(OutputSpec(data / "out" / f"{op}{k}.zarr", x, fill_value=0.0))
                    for k, x in enumerate(r)]
        try:
            writers, todo = write_tasks(prepared)
            hlg = gw.merged_graph(writers)
            tasks = writes = 0
            worst = 0.0
            for w in gw.grid_windows([len(c) for c in todo.grid_chunks]):
                keys = [key for key, _, _ in todo.at(w)]
                t = len(gw.window_graph(hlg, keys))
                tasks, writes, worst = tasks + t, writes + len(keys), max(worst, t / len(keys))
        finally:
            for p in prepared:
                p.release()
        out[op] = {"tasks_per_chunk": tasks / writes, "worst_window": worst}
    return out


def first_write(data, bands: int, n: int) -> dict:
    """Seconds from opening the store to the first finished chunk write (the run is then
    abandoned: the child exits)."""
    import os
    import threading

    from tiledproc.jobs import write as jw

    import shutil

    shutil.rmtree(data / "out", ignore_errors=True)  # this measurement leaves its run unfinished
    _fill(data, bands, n)
    start = time.perf_counter()
    run = threading.Thread(target=window_stats, args=(data, bands, n), daemon=True)
    run.start()
    while not jw.last_first_write:
        if not run.is_alive():
            raise RuntimeError("the write ended before its first chunk")
        time.sleep(0.01)
    import json

    print(json.dumps({"case": "scale", "name": "first_write", "bands": bands, "n": n,
                      "seconds": jw.last_first_write[0] - start, "peak_rss": 0}), flush=True)
    os._exit(0)


def distributed(data, bands: int, n: int) -> dict:
    """window_stats on a 2-process LocalCluster (reached by address, its scheduler in this
    process, whose RSS is sampled), then on the local executor with 2 threads."""
    import os
    import shutil
    import threading

    import psutil
    from distributed import Client, LocalCluster

    import tiledproc as tp
    from tiledproc.execute.schedulers import SchedulerSpec
    from tiledproc.io.output import OutputSpec
    from tiledproc.io.read import open_raster
    from tiledproc.jobs import write as jw

    src = _fill(data, bands, n)

    def run(spec):
        shutil.rmtree(data / "out", ignore_errors=True)
        mean, var = tp.window_stats(open_raster(src), size=15)
        outs = [OutputSpec(data / "out" / f"{k}.zarr", x, fill_value=0.0) for k, x in (("mean", mean), ("var", var))]
        t = time.perf_counter()
        jw.write_outputs(outs, progress="off", space_check=False, scheduler=spec)
        return time.perf_counter() - t

    me = psutil.Process(os.getpid())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        peak, stop = [0], []

        def sample():
            while not stop:
                peak[0] = max(peak[0], me.memory_info().rss)
                time.sleep(0.05)

        before = me.memory_info().rss
        threading.Thread(target=sample, daemon=True).start()
        dist = run(SchedulerSpec("address", address=cluster.scheduler_address))
        stop.append(1)
    writes = sum(w for w, _ in jw.last_windows)
    tasks = sum(t for _, t in jw.last_windows)
    local = run(SchedulerSpec("threads", workers=2))
    return {"distributed_s": dist, "local_s": local, "writes": writes, "tasks": tasks,
            "overhead_ms_per_write": (dist - local) / writes * 1000, "overhead_ms_per_task": (dist - local) / tasks * 1000,
            "scheduler_process_rss_before": before, "scheduler_process_rss_peak": peak[0]}


#: the operation commands measured by ``ops_peak``: (command, output options, extra options)
OPS = {
    "gabor": (["--real", "{out}/real.zarr", "--imag", "{out}/imag.zarr"], ["--frequency", "0.2"]),
    "derivatives": (["--d-y", "{out}/dy.zarr", "--d-x", "{out}/dx.zarr", "--d-yy", "{out}/dyy.zarr",
                     "--d-yx", "{out}/dyx.zarr", "--d-xx", "{out}/dxx.zarr"], []),
    "recolor-by-label": (["--recolored", "{out}/recolored.zarr"], ["--labels", "{labels}"]),
    "quantize": (["--indices", "{out}/indices.zarr", "--quantized", "{out}/quantized.zarr"], ["--n-colors", "16"]),
}


def ops_peak(data, op: str, n: int) -> dict:
    """One operation command (``tiledproc OP``, run in this process) on a 1 x n^2 fill-value
    input (3 x n^2, all bands in a chunk, for recolor-by-label and quantize, with labels of
    one value): its wall time; the child's VmHWM is the driver's peak."""
    import shutil

    import zarr

    from tiledproc.cli import main

    colour = op in ("recolor-by-label", "quantize")
    src = data / f"fill-{'3' if colour else '1'}x{n}-ops.zarr"
    if not (src / "0" / "zarr.json").exists():
        g = zarr.create_group(str(src), zarr_format=3, overwrite=True)
        g.create_array("0", shape=(3 if colour else 1, n, n), chunks=(3 if colour else 1, 1024, 1024),
                       dtype="float32", fill_value=0)
    labels = data / f"fill-labels-{n}.zarr"
    if op == "recolor-by-label" and not (labels / "0" / "zarr.json").exists():
        g = zarr.create_group(str(labels), zarr_format=3, overwrite=True)
        g.create_array("0", shape=(1, n, n), chunks=(1, 1024, 1024), dtype="int32", fill_value=1)
    out = data / "out"
    shutil.rmtree(out, ignore_errors=True)
    outputs, extra = OPS[op]
    args = [op, str(src), *(a.format(out=out, labels=labels) for a in outputs + extra), "--progress", "off",
            "--threads", "2"]
    start = time.perf_counter()
    try:
        try:
            main(args)
        except SystemExit as e:
            if e.code:
                raise RuntimeError(f"tiledproc {op} exited with {e.code}") from None
    finally:
        seconds = time.perf_counter() - start
        shutil.rmtree(out, ignore_errors=True)
    from tiledproc.jobs import write as jw

    writes = sum(w for w, _ in jw.last_windows)
    tasks = sum(t for _, t in jw.last_windows)
    return {"seconds": seconds, "windows": len(jw.last_windows), "writes": writes,
            "tasks_per_chunk": tasks / max(writes, 1), "max_window_tasks": max((t for _, t in jw.last_windows), default=0)}


MEASUREMENTS = {"window_stats": window_stats, "ops_peak": ops_peak, "tasks_per_chunk": tasks_per_chunk, "first_write": first_write,
                "distributed": distributed}


def case(data, measure, sizes=SIZES) -> list:
    """Driver peak RSS, graph build time and tasks per output chunk of window_stats as the raster grows."""
    records = []
    print(f"{'input':>12} {'seconds':>8} {'peak MiB':>9} {'build s':>8} {'first write s':>13} {'windows':>8} "
          f"{'tasks/chunk':>12} "
          f"{'max window tasks':>17}")
    for bands, n in sizes:
        r = measure("scale", "window_stats", {"bands": bands, "n": n})
        records.append(r)
        if "error" in r:
            print(f"{bands}x{n}^2: {r['error']}")
            continue
        print(f"{f'{bands}x{n}^2':>12} {r['seconds']:8.1f} {r['peak_rss'] / 2**20:9.0f} {r['build']:8.3f} {r['first_write']:13.2f} "
              f"{r['windows']:8d} {r['tasks_per_chunk']:12.2f} {r['max_window_tasks']:17d}")
    return records
