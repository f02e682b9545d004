"""Public operations: validate, declare the halo, dispatch numpy or dask.

Every image operation takes the image as its first parameter, ``image``.
Deprecated spellings keep working with a DeprecationWarning that names the new
one (see :mod:`tiledproc.ops._deprecate`): the keyword ``a=`` for ``image``,
and ``hessian`` for :func:`finite_difference_hessian`. Deprecated names are
not in ``__all__``.
"""

from .derivatives import (
    finite_difference_hessian,
    gradient,
    gradient_and_hessian,
    gradient_magnitude,
    hessian,
)
from .gabor import gabor, gabor_bank, gabor_kernel, gabor_magnitude, gabor_texture
from .labels import label_means, recolor_by_label
from .palette import apply_palette, median_cut_palette, palette_indices
from .window import window_mean, window_stats, window_std, window_variance

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
