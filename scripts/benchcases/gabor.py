"""Gabor (classic 31 x 31 kernel) and gradient + Hessian on 16 x 5000 x 5000 float32, Zarr to Zarr."""

from __future__ import annotations

import math
import time

import numpy as np

from .common import ensure_scene, outputs, table, write

CLASSIC = dict(frequency=0.15, theta=math.pi / 2, sigma_x=5.0, sigma_y=5.0)
ANISO = dict(frequency=0.15, theta=0.5, sigma_x=3.0, sigma_y=6.0)


def tiledproc_gabor(data, params="classic"):
    import tiledproc as tp

    kw = CLASSIC if params == "classic" else ANISO
    real, imag = tp.gabor(tp.open_raster(data / "scene.zarr"), **kw)
    write([real, imag], outputs(data, f"gabor-{params}-real", f"gabor-{params}-imag"))


def dask_image_gabor(data, bands=1):
    """dask-image ndfilters.convolve with the real and imaginary kernels, the first `bands` bands."""
    import dask_image.ndfilters as dif

    import tiledproc as tp

    a = tp.open_raster(data / "scene.zarr")[:bands]
    k = tp.gabor_kernel(**CLASSIC)
    kr = k.real.astype(np.float32)[None]
    ki = k.imag.astype(np.float32)[None]
    write([dif.convolve(a, kr, mode="reflect"), dif.convolve(a, ki, mode="reflect")],
          outputs(data, "di-gabor-real", "di-gabor-imag"))


def opencv_gabor(data):
    """cv2.filter2D in memory, both parts of every band (load time excluded)."""
    import cv2

    import tiledproc as tp

    x = tp.open_raster(data / "scene.zarr").compute()
    k = tp.gabor_kernel(**CLASSIC)
    kr = np.ascontiguousarray(k.real[::-1, ::-1]).astype(np.float32)  # filter2D correlates
    ki = np.ascontiguousarray(k.imag[::-1, ::-1]).astype(np.float32)
    t = time.perf_counter()
    for b in x:
        cv2.filter2D(b, -1, kr, borderType=cv2.BORDER_REFLECT)
        cv2.filter2D(b, -1, ki, borderType=cv2.BORDER_REFLECT)
    return {"seconds": time.perf_counter() - t}


def accuracy(data, params="classic"):
    """Max error against skimage.filters.gabor (float64) on a 1024 x 1024 corner of band 0."""
    from skimage.filters import gabor as sk_gabor

    import tiledproc as tp

    kw = CLASSIC if params == "classic" else ANISO
    x = tp.open_raster(data / "scene.zarr")[0, :1024, :1024].compute().astype(np.float64)
    t = time.perf_counter()
    ref_r, ref_i = sk_gabor(x, **kw)
    direct = time.perf_counter() - t
    r, i = tp.gabor(x, **kw)
    scale = max(np.abs(ref_r).max(), np.abs(ref_i).max())
    err = max(np.abs(r - ref_r).max(), np.abs(i - ref_i).max())
    return {"seconds": direct, "max_abs_err": float(err), "max_rel_err": float(err / scale),
            "note": f"{params}: seconds = skimage direct convolution of the 1024^2 corner"}


def tiledproc_derivatives(data):
    import tiledproc as tp

    outs = tp.gradient_and_hessian(tp.open_raster(data / "scene.zarr"))
    write(list(outs), outputs(data, "d_y", "d_x", "d_yy", "d_yx", "d_xx"))


def io_floor5(data):
    """Read the input once, write five outputs of its shape."""
    import tiledproc as tp

    a = tp.open_raster(data / "scene.zarr")
    write([a] * 5, outputs(data, *(f"copy{k}" for k in range(5))))


MEASUREMENTS = {
    "tiledproc_gabor": tiledproc_gabor,
    "dask_image_gabor": dask_image_gabor,
    "opencv_gabor": opencv_gabor,
    "accuracy": accuracy,
    "tiledproc_derivatives": tiledproc_derivatives,
    "io_floor5": io_floor5,
}


def case(data, measure):
    """Gabor real + imag (31 x 31) beside dask-image and OpenCV; gradient + Hessian beside the I/O floor."""
    ensure_scene(data)
    rows = [measure("gabor", "tiledproc_gabor", {}),
            measure("gabor", "opencv_gabor", {}),
            measure("gabor", "dask_image_gabor", {"bands": 1})]
    di = rows[-1]
    if "seconds" in di:
        rows.append({"name": "dask_image_gabor x16 (extrapolated)", "seconds": di["seconds"] * 16,
                     "peak_rss": di["peak_rss"], "note": "one band measured, times 16"})
    rows.append(measure("gabor", "tiledproc_gabor", {"params": "aniso"}))
    rows[-1]["name"] = "tiledproc_gabor anisotropic (FFT)"
    rows += [measure("gabor", "accuracy", {"params": p}) for p in ("classic", "aniso")]
    for r, p in zip(rows[-2:], ("classic", "aniso")):
        r["name"] = f"accuracy {p}"
    table("Gabor real + imag, 31 x 31 (f 0.15, theta pi/2, sigma 5), 16 x 5000 x 5000 float32", rows, [
        ("dask-image / tiledproc (speed-up)", "dask_image_gabor x16 (extrapolated)", "tiledproc_gabor"),
        ("tiledproc / OpenCV in memory", "tiledproc_gabor", "opencv_gabor"),
    ])
    d = [measure("gabor", "io_floor5", {}), measure("gabor", "tiledproc_derivatives", {})]
    table("gradient + Hessian, 5 outputs, 16 x 5000 x 5000 float32", d,
          [("tiledproc / I/O floor", "tiledproc_derivatives", "io_floor5")])
    return rows + d
