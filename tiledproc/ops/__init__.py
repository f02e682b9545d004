"""Public operations: validate, declare the halo, dispatch numpy or dask."""

from .window import window_mean, window_stats, window_std, window_variance

__all__ = ["window_mean", "window_variance", "window_std", "window_stats"]
