"""tiledproc: rasters too large for memory, processed chunk by chunk from Zarr
with dask, with results identical to scipy/numpy/scikit-image in memory.

``__all__`` lists the public API. Deprecated names still work, with a
DeprecationWarning naming the new one: ``hessian`` (now
``finite_difference_hessian``) and the keyword ``a=`` of the image operations
(now ``image=``).
"""

from ._lazy import lazy_exports
from ._version import __version__
from .errors import TiledprocError

# imported on first use (see tiledproc._lazy): ``import tiledproc`` costs no dask, zarr or numba
_EXPORTS = {
    "open_raster": ".io",
    "raster_nodata": ".io",
    "save_raster": ".jobs",
    "ingest_tiff": ".jobs",
    "export_cog": ".jobs",
    **{name: ".ops" for name in (
        "finite_difference_hessian", "gabor", "gabor_bank", "gabor_kernel", "gabor_magnitude", "gabor_texture",
        "gradient", "gradient_and_hessian", "gradient_magnitude",
        "hessian",  # deprecated: the former name of finite_difference_hessian, not in __all__
        "label_means", "recolor_by_label", "palette_indices", "apply_palette", "median_cut_palette",
        "window_mean", "window_stats", "window_std", "window_variance",
    )},
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "__version__",
    "TiledprocError",
    "open_raster",
    "raster_nodata",
    "save_raster",
    "ingest_tiff",
    "export_cog",
    "window_mean",
    "window_variance",
    "window_std",
    "window_stats",
    "gabor_kernel",
    "gabor",
    "gabor_magnitude",
    "gabor_bank",
    "gabor_texture",
    "gradient",
    "gradient_magnitude",
    "finite_difference_hessian",
    "gradient_and_hessian",
    "label_means",
    "recolor_by_label",
    "palette_indices",
    "apply_palette",
    "median_cut_palette",
]
