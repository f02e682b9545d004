"""Public operations: validate, declare the halo, dispatch numpy or dask.

Every image operation takes the image as its first parameter, ``image``.
Deprecated spellings keep working with a DeprecationWarning that names the new
one (see :mod:`tiledproc.ops._deprecate`): the keyword ``a=`` for ``image``,
and ``hessian`` for :func:`finite_difference_hessian`. Deprecated names are
not in ``__all__``.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "finite_difference_hessian": ".derivatives",
    "gradient": ".derivatives",
    "gradient_and_hessian": ".derivatives",
    "gradient_magnitude": ".derivatives",
    "hessian": ".derivatives",
    "gabor": ".gabor",
    "gabor_bank": ".gabor",
    "gabor_kernel": ".gabor",
    "gabor_magnitude": ".gabor",
    "gabor_texture": ".gabor",
    "label_means": ".labels",
    "recolor_by_label": ".labels",
    "apply_palette": ".palette",
    "median_cut_palette": ".palette",
    "palette_indices": ".palette",
    "window_mean": ".window",
    "window_stats": ".window",
    "window_std": ".window",
    "window_variance": ".window",
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
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
