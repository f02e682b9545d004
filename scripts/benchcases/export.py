"""``tiledproc export``: peak memory and time of a Cloud-Optimized GeoTIFF export at two raster sizes.

One float32 band of 2000^2 and one of 8000^2 (16 times the pixels), chunks
1 x 1024 x 1024, no pyramid (the overviews are computed into a temporary
store), 512-pixel tiles, deflate level 6. If the export is out of core, the
child's peak RSS (VmHWM) is about the same at both sizes while the time
grows with the pixels. Inputs ``bench-data/export2k.zarr`` and
``export8k.zarr`` (16 MB and 256 MB, made once); the TIFF goes under
``bench-data/out/`` and is deleted by the next measurement.
"""

from __future__ import annotations

import time

from .common import ensure_scene, table

SIZES = {"export_2k": 2000, "export_8k": 8000}


def _export(data, size):
    from tiledproc.jobs.export import export_cog

    src = data / f"export{size // 1000}k.zarr"
    out = data / "out" / f"export{size // 1000}k.tif"
    out.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    export_cog(src, out, overwrite=True)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "note": f"{out.stat().st_size / 2**20:.0f} MiB file"}


def export_2k(data):
    """export of a 1 x 2000 x 2000 float32 band."""
    return _export(data, 2000)


def export_8k(data):
    """export of a 1 x 8000 x 8000 float32 band."""
    return _export(data, 8000)


MEASUREMENTS = {"export_2k": export_2k, "export_8k": export_8k}


def case(data, measure):
    """export: peak memory and time of a COG export, 2000^2 against 8000^2."""
    for size in SIZES.values():
        ensure_scene(data, f"export{size // 1000}k", shape=(1, size, size))
    rows = [measure("export", name, {}) for name in SIZES]
    table("export: COG of one float32 band (tiles 512, deflate, overviews computed)", rows, [
        ("8000^2 / 2000^2 (time)", "export_8k", "export_2k"),
    ])
    return rows
