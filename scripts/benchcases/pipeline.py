"""End to end: one pipeline (window_stats, Gabor texture, gradient) on 16 x 5000 x 5000, threads vs LocalCluster."""

from __future__ import annotations

import json
import textwrap
import time

from .common import ensure_scene, outputs, table, write

TOML = """
[pipeline]
name = "bench"

[input]
path = "{scene}"

[steps.stats]
op = "window_stats"
size = 15

[steps.texture]
op = "gabor_texture"
frequency = 0.15
theta = 1.5707963267948966
sigma_x = 5.0
sigma_y = 5.0
size = 15

[steps.grad]
op = "gradient"

[outputs.mean]
from = "stats.mean"
path = "{out}/mean.zarr"

[outputs.variance]
from = "stats.variance"
path = "{out}/variance.zarr"

[outputs.texture_mean]
from = "texture.mean"
path = "{out}/texture_mean.zarr"

[outputs.texture_variance]
from = "texture.variance"
path = "{out}/texture_variance.zarr"

[outputs.d_y]
from = "grad.d_y"
path = "{out}/d_y.zarr"

[outputs.d_x]
from = "grad.d_x"
path = "{out}/d_x.zarr"
"""
N_OUT = 6


def run(data, scheduler="threads"):
    """tiledproc run of the pipeline; the driver's own peak RSS is what the harness reports."""
    from tiledproc.pipeline import load_pipeline, run_pipeline
    from tiledproc.pipeline.run import RunOptions

    out = data / "out" / f"pipeline-{scheduler.replace(':', '')}"
    path = data / f"pipeline-{scheduler.replace(':', '')}.toml"
    path.write_text(textwrap.dedent(TOML.format(scene=data / "scene.zarr", out=out)))
    opts = RunOptions(overwrite=True, progress="off")
    if scheduler.startswith("local:"):
        opts.cluster = scheduler
    else:
        opts.scheduler = scheduler
    t = time.perf_counter()
    result = run_pipeline(load_pipeline(path), opts)
    seconds = time.perf_counter() - t
    moved = sum(a.nbytes for a in result.graph.inputs.values()) + sum(
        o.array.nbytes for o in result.graph.outputs)
    return {"seconds": seconds, "mbps": round(moved / seconds / 1e6), "note": json.dumps(scheduler)}


def io_floor(data):
    """Read the input once, write six outputs of its shape."""
    import tiledproc as tp

    a = tp.open_raster(data / "scene.zarr")
    t = time.perf_counter()
    write([a] * N_OUT, outputs(data, *(f"floor{k}" for k in range(N_OUT))))
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "mbps": round(a.nbytes * (1 + N_OUT) / seconds / 1e6)}


MEASUREMENTS = {"run": run, "io_floor": io_floor}


def case(data, measure):
    """The pipeline end to end: wall time, driver peak RSS, MB/s, beside the I/O floor."""
    ensure_scene(data)
    rows = [measure("pipeline", "io_floor", {}),
            measure("pipeline", "run", {"scheduler": "threads"}),
            measure("pipeline", "run", {"scheduler": "local:2"})]
    rows[1]["name"], rows[2]["name"] = "tiledproc threads", "tiledproc LocalCluster 2 procs"
    table("pipeline: window_stats + gabor_texture + gradient, 6 outputs, 16 x 5000 x 5000 float32", rows, [
        ("threads / I/O floor", "tiledproc threads", "io_floor"),
        ("LocalCluster / I/O floor", "tiledproc LocalCluster 2 procs", "io_floor"),
    ])
    return rows
