"""Public operations: validate, declare the halo, dispatch numpy or dask."""

from .derivatives import gradient, gradient_and_hessian, gradient_magnitude, hessian
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
    "hessian",
    "gradient_and_hessian",
    "label_means",
    "recolor_by_label",
    "palette_indices",
    "apply_palette",
    "median_cut_palette",
]
