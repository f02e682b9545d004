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


MEASUREMENTS = {"window_stats": window_stats}


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
