"""What nodata costs: window_stats 15 x 15 of the scene without nodata, beside the same scene with a
10% nodata footprint (a finite fill, as GDAL writes, and NaN).

The input without nodata builds exactly the graph it built before nodata existed (the same task
names, tests/test_nodata.py pins it), so its time is today's; the footprint inputs pay one
substitution pass (fill -> NaN, fused with the read) and the kernel's nan_policy="omit" path.

    python scripts/bench.py nodata
    TILEDPROC_BENCH_NODATA_BANDS=4 python scripts/bench.py nodata    # a quarter of the bands
"""

from __future__ import annotations

import os
import time

from .common import CHUNKS, SCENE_SHAPE, ensure_scene, table

FILL = -9999.0


def _shape():
    bands = int(os.environ.get("TILEDPROC_BENCH_NODATA_BANDS", SCENE_SHAPE[0]))
    return (bands,) + SCENE_SHAPE[1:]


def _footprint_block(block, block_info=None, *, fill):
    """The scene with a 10% footprint: the pixels left of a diagonal edge (x + y / 4 < 0.1 W + H / 8)."""
    import numpy as np

    (_, (y0, y1), (x0, x1)) = block_info[0]["array-location"]
    H, W = block_info[0]["shape"][-2:]
    yy, xx = np.mgrid[y0:y1, x0:x1]
    out = block.copy()
    out[:, xx + yy / 4 < 0.1 * W + H / 8] = fill
    return out


def ensure_footprint(data, name: str, fill) -> "os.PathLike":
    import math

    from tiledproc.io.output import OutputSpec
    from tiledproc.jobs.write import write_outputs

    import tiledproc as tp

    src = ensure_scene(data, f"nodata-scene-{_shape()[0]}", shape=_shape())
    path = data / f"{name}-{_shape()[0]}.zarr"
    if not (path / "zarr.json").exists():
        a = tp.open_raster(src)
        b = a.map_blocks(_footprint_block, fill=fill, dtype=a.dtype)
        nodata = "nan" if math.isnan(fill) else fill
        write_outputs([OutputSpec(path, b, chunks=CHUNKS, provenance={"operation": "bench-footprint"},
                                  attrs={"nodata": nodata})], overwrite=True, progress="off")
    return path


def _run(data, path, nodata):
    from tiledproc.io.output import OutputSpec
    from tiledproc.jobs.write import write_outputs

    import tiledproc as tp

    t = time.perf_counter()
    kw = {} if nodata is None else {"nodata": nodata}
    mean, var = tp.window_stats(tp.open_raster(path), 15, **kw)
    out = data / "out"
    write_outputs([OutputSpec(out / "nodata-mean.zarr", mean), OutputSpec(out / "nodata-var.zarr", var)],
                  overwrite=True, progress="off")
    return {"seconds": time.perf_counter() - t}


def plain(data):
    """No nodata: today's graph."""
    return _run(data, ensure_scene(data, f"nodata-scene-{_shape()[0]}", shape=_shape()), None)


def footprint_fill(data):
    """A 10% footprint of -9999 (nodata=-9999): substitution + omit."""
    from tiledproc.io.read import raster_nodata

    path = ensure_footprint(data, "nodata-fill", FILL)
    return _run(data, path, raster_nodata(path))


def footprint_nan(data):
    """A 10% footprint of NaN (nodata=nan): omit only."""
    from tiledproc.io.read import raster_nodata

    path = ensure_footprint(data, "nodata-nan", float("nan"))
    return _run(data, path, raster_nodata(path))


MEASUREMENTS = {"plain": plain, "footprint_fill": footprint_fill, "footprint_nan": footprint_nan}


def case(data, measure):
    """window_stats 15 x 15 without nodata and with a 10% footprint (fill, NaN), interleaved twice."""
    ensure_footprint(data, "nodata-fill", FILL)
    ensure_footprint(data, "nodata-nan", float("nan"))
    rows = []
    for rep in (1, 2):
        for name in ("plain", "footprint_fill", "footprint_nan"):
            r = measure("nodata", name, {})
            r["name"] = f"{name} #{rep}"
            rows.append(r)
    table(f"nodata: window_stats 15x15 of {_shape()} float32, mean + variance", rows, [
        ("fill footprint / plain (#1)", "footprint_fill #1", "plain #1"),
        ("NaN footprint / plain (#1)", "footprint_nan #1", "plain #1"),
        ("fill footprint / plain (#2)", "footprint_fill #2", "plain #2"),
        ("NaN footprint / plain (#2)", "footprint_nan #2", "plain #2"),
    ])
    return rows
