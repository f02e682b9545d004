"""Registration of every operation as a pipeline step."""

from __future__ import annotations

from .. import ops
from .registry import Operation, Param, register

_MODES = ("reflect", "mirror", "nearest", "constant", "wrap")


def _window_params():
    return (
        Param("size", "size", help="odd window size, or [size_y, size_x]"),
        Param("mode", "str", "reflect", _MODES, "how the image is extended beyond its edge"),
        Param("cval", "float", 0.0, help="value beyond the edge for mode='constant' (may be nan)"),
        Param("nan_policy", "str", "propagate", ("propagate", "omit"),
              help="'omit': statistics over the non-NaN pixels of each window"),
    )


def _window_halo(p):
    s = p["size"]
    sy, sx = (s, s) if isinstance(s, int) else s
    return sy // 2, sx // 2


def _window_kwargs(p):
    return dict(mode=p["mode"], cval=p["cval"], nan_policy=p["nan_policy"])


register(Operation(
    "window_stats", "windowed mean and population variance in one pass",
    _window_params(), ("mean", "variance"),
    lambda inputs, p: dict(zip(("mean", "variance"),
                               ops.window_stats(inputs["input"], p["size"], **_window_kwargs(p)))),
    halo=_window_halo,
))
register(Operation(
    "window_mean", "windowed mean", _window_params(), ("mean",),
    lambda inputs, p: {"mean": ops.window_mean(inputs["input"], p["size"], **_window_kwargs(p))},
    halo=_window_halo,
))
register(Operation(
    "window_variance", "windowed population variance", _window_params(), ("variance",),
    lambda inputs, p: {"variance": ops.window_variance(inputs["input"], p["size"], **_window_kwargs(p))},
    halo=_window_halo,
))
register(Operation(
    "window_std", "windowed population standard deviation", _window_params(), ("std",),
    lambda inputs, p: {"std": ops.window_std(inputs["input"], p["size"], **_window_kwargs(p))},
    halo=_window_halo,
))
