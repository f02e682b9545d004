"""Windowed mean + variance, size 15, reflect, 16 x 5000 x 5000 float32, Zarr to Zarr."""

from __future__ import annotations

import numpy as np

from .common import ensure_scene, outputs, table, write

SIZE = 15


def tiledproc_stats(data, scene="scene"):
    import tiledproc as tp

    m, v = tp.window_stats(tp.open_raster(data / f"{scene}.zarr"), SIZE, mode="reflect")
    write([m, v], outputs(data, f"{scene}-mean", f"{scene}-var"), codec=_codec_of(data / f"{scene}.zarr"))


def io_floor(data, scene="scene"):
    """Read the input once and write two outputs of its shape with the same codec."""
    import tiledproc as tp

    a = tp.open_raster(data / f"{scene}.zarr")
    write([a, a], outputs(data, "copy1", "copy2"), codec=_codec_of(data / f"{scene}.zarr"))


def _codec_of(store):
    from tiledproc.io import read_attrs

    return read_attrs(store)["tiledproc"].get("codec", "lz4")


def dask_image_stats(data, scene="scene"):
    """dask-image: uniform_filter of x and of x*x, var = E[x^2] - E[x]^2 (same I/O as tiledproc)."""
    import dask_image.ndfilters as dif

    import tiledproc as tp

    a = tp.open_raster(data / f"{scene}.zarr")
    size = (1, SIZE, SIZE)
    m = dif.uniform_filter(a, size, mode="reflect")
    m2 = dif.uniform_filter(a * a, size, mode="reflect")
    write([m, m2 - m * m], outputs(data, "di-mean", "di-var"))


def dask_image_to_zarr(data, scene="scene"):
    """dask-image as a user writes it: da.from_zarr, uniform_filter of x and x*x,
    da.to_zarr into zarr arrays with the same codec and chunks (zarr-python's writer)."""
    import dask.array as da
    import dask_image.ndfilters as dif
    import zarr

    from tiledproc.io.codecs import compressors_for

    src = zarr.open_array(str(data / f"{scene}.zarr" / "0"), mode="r")
    a = da.from_zarr(src)
    size = (1, SIZE, SIZE)
    m = dif.uniform_filter(a, size, mode="reflect")
    m2 = dif.uniform_filter(a * a, size, mode="reflect")
    targets = []
    for p in outputs(data, "diz-mean", "diz-var"):
        targets.append(zarr.create_array(str(p), shape=a.shape, dtype=a.dtype, chunks=src.chunks,
                                         compressors=compressors_for(_codec_of(data / f"{scene}.zarr"))))
    da.store([m, m2 - m * m], targets, lock=False)


def _bands(data):
    import tiledproc as tp

    return tp.open_raster(data / "scene.zarr").compute()


def scipy_memory(data):
    """scipy.ndimage in memory on one thread, band by band (load time excluded)."""
    import time

    from scipy import ndimage as ndi

    x = _bands(data)
    t = time.perf_counter()
    for b in x:
        m = ndi.uniform_filter(b, SIZE, mode="reflect")
        _ = ndi.uniform_filter(b * b, SIZE, mode="reflect") - m * m
    return {"seconds": time.perf_counter() - t}


def opencv_memory(data):
    """OpenCV boxFilter in memory, band by band (load time excluded)."""
    import time

    import cv2

    x = _bands(data)
    t = time.perf_counter()
    for b in x:
        m = cv2.boxFilter(b, -1, (SIZE, SIZE), borderType=cv2.BORDER_REFLECT)
        _ = cv2.boxFilter(b * b, -1, (SIZE, SIZE), borderType=cv2.BORDER_REFLECT) - m * m
    return {"seconds": time.perf_counter() - t}


def accuracy(data):
    """Max relative error of tiledproc's variance against float64 scipy, one band."""
    import tiledproc as tp
    from scipy import ndimage as ndi

    b = tp.open_raster(data / "scene.zarr")[0].compute().astype(np.float64)
    c = b - b.mean()
    m = ndi.uniform_filter(c, SIZE, mode="reflect")
    ref = ndi.uniform_filter(c * c, SIZE, mode="reflect") - m * m
    got = tp.open_raster(data / "out" / "scene-var.zarr")[0].compute().astype(np.float64)
    return {"max_rel_err": float(np.max(np.abs(got - ref) / ref))}


def codec_ratio(data, scene="scene"):
    """Stored size of the scene against its bytes in memory."""
    from tiledproc.io import raster_info

    info = raster_info(data / f"{scene}.zarr")
    return {"seconds": 0.0, "note": f"compression ratio {info['ratio']:.2f}"}


MEASUREMENTS = {
    "codec_ratio": codec_ratio,
    "tiledproc": tiledproc_stats,
    "io_floor": io_floor,
    "dask_image": dask_image_stats,
    "dask_image_to_zarr": dask_image_to_zarr,
    "scipy_1thread_memory": scipy_memory,
    "opencv_memory": opencv_memory,
    "accuracy": accuracy,
}


def case(data, measure):
    """window_stats (size 15, reflect) beside dask-image, scipy and OpenCV; memory flatness."""
    ensure_scene(data)
    # accuracy reads what tiledproc wrote, so it runs right after it
    rows = [measure("window", n, {}) for n in ("io_floor", "tiledproc", "accuracy", "dask_image",
                                               "dask_image_to_zarr", "scipy_1thread_memory", "opencv_memory")]
    rows[2]["seconds"] = rows[2].get("seconds", 0.0)
    table("window_stats 16 x 5000 x 5000 float32, Zarr -> Zarr (mean + variance stores)", rows, [
        ("dask-image (tiledproc's writer) / tiledproc (speed-up)", "dask_image", "tiledproc"),
        ("dask-image (da.to_zarr) / tiledproc (speed-up)", "dask_image_to_zarr", "tiledproc"),
        ("tiledproc / I/O floor", "tiledproc", "io_floor"),
        ("tiledproc / OpenCV in memory", "tiledproc", "opencv_memory"),
    ])
    # peak memory must not grow with the band size
    ensure_scene(data, "band5k", (1, 5000, 5000))
    ensure_scene(data, "band20k", (1, 20000, 20000))
    mem = [measure("window", "tiledproc", {"scene": s}) for s in ("band5k", "band20k")]
    for r, s in zip(mem, ("band5k", "band20k")):
        r["name"] = f"tiledproc {s}"
    table("peak RSS, one band of 5000^2 vs 20000^2", mem,
          [("time 20000^2 / 5000^2 (16x the pixels)", "tiledproc band20k", "tiledproc band5k")])
    if all("peak_rss" in r for r in mem):
        print(f"  peak RSS ratio 20000^2 / 5000^2: {mem[1]['peak_rss'] / mem[0]['peak_rss']:.2f}")
    return rows + mem


def layouts(data, measure):
    """The codec and chunk shape: I/O floor and window_stats for each (the choice of the default)."""
    rows = []
    for codec, chunk in [("lz4", 1024), ("zstd", 1024), ("none", 1024), ("lz4", 512), ("lz4", 2048)]:
        name = f"scene-{codec}-{chunk}"
        ensure_scene(data, name, chunks=(1, chunk, chunk), codec=codec)
        for m in ("io_floor", "tiledproc", "codec_ratio"):
            r = measure("window", m, {"scene": name})
            r["name"] = f"{codec} {chunk}: {m}"
            rows.append(r)
    table("codec and chunk shape (16 x 5000 x 5000 float32, window_stats 15)", rows)
    return rows
