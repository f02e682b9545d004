"""Every operation a pipeline step (and a one-operation command) can run: the catalogue.

The spatial operations are declared here, the colour ones in
:mod:`.ops_color`; :func:`all_operations` is the catalogue, in the order the
commands and ``tiledproc ops`` list them.
"""

from __future__ import annotations

from .. import ops
from .ops_color import COLOR_OPERATIONS
from .registry import Operation, Param

__all__ = ["OPERATIONS", "all_operations"]

_SPATIAL: list[Operation] = []


def register(op: Operation) -> Operation:
    _SPATIAL.append(op)
    return op

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


# ------------------------------------------------------------------ Gabor

def _gabor_params(with_theta=True):
    params = [Param("frequency", "float", help="spatial frequency of the harmonic, cycles per pixel")]
    if with_theta:
        params.append(Param("theta", "float", 0.0, help="orientation in radians (0: harmonic along x)"))
    params += [
        Param("bandwidth", "float", 1.0, help="sets sigma_x/sigma_y when they are not given"),
        Param("sigma_x", "float?", None, help="standard deviation before rotation, x"),
        Param("sigma_y", "float?", None, help="standard deviation before rotation, y"),
        Param("n_stds", "float", 3.0, help="kernel half-size in standard deviations"),
        Param("offset", "float", 0.0, help="phase offset in radians"),
        Param("mode", "str", "reflect", _MODES, "how the image is extended beyond its edge"),
        Param("cval", "float", 0.0, help="value beyond the edge for mode='constant'"),
    ]
    return tuple(params)


def _gabor_kwargs(p, with_theta=True):
    keys = ["bandwidth", "sigma_x", "sigma_y", "n_stds", "offset"]
    out = {k: p[k] for k in keys}
    if with_theta:
        out["theta"] = p["theta"]
    return out


def _gabor_halo(p):
    from ..ops.gabor import GaborParams

    return GaborParams(p["frequency"], **_gabor_kwargs(p)).radius


register(Operation(
    "gabor", "real and imaginary Gabor responses (skimage.filters.gabor)",
    _gabor_params(), ("real", "imag"),
    lambda inputs, p: dict(zip(("real", "imag"), ops.gabor(
        inputs["input"], p["frequency"], mode=p["mode"], cval=p["cval"], **_gabor_kwargs(p)))),
    halo=_gabor_halo,
))
register(Operation(
    "gabor_magnitude", "magnitude of the Gabor response", _gabor_params(), ("magnitude",),
    lambda inputs, p: {"magnitude": ops.gabor_magnitude(
        inputs["input"], p["frequency"], mode=p["mode"], cval=p["cval"], **_gabor_kwargs(p))},
    halo=_gabor_halo,
))


def _bank(inputs, p):
    bank = ops.gabor_bank(inputs["input"], p["frequencies"], p["thetas"], mode=p["mode"], cval=p["cval"],
                          part=p["part"], **_gabor_kwargs(p, with_theta=False))
    # (filter, band, y, x) -> (filter * band, y, x), filter-major, for storage
    return {"responses": bank.reshape((-1,) + bank.shape[-2:])}


def _bank_halo(p):
    from ..ops.gabor import GaborParams

    radii = [GaborParams(f, t, **_gabor_kwargs(p, with_theta=False)).radius
             for f in p["frequencies"] for t in p["thetas"]]
    return max(r[0] for r in radii), max(r[1] for r in radii)


register(Operation(
    "gabor_bank", "a bank of Gabor responses, filters x bands stacked along the band axis",
    (Param("frequencies", "floats", help="spatial frequencies"),
     Param("thetas", "floats", help="orientations in radians"),
     Param("part", "str", "magnitude", ("magnitude", "real", "imag"), "which part of each response"))
    + _gabor_params(with_theta=False)[1:],
    ("responses",), _bank, halo=_bank_halo,
))


def _texture(inputs, p):
    mean, var = ops.gabor_texture(inputs["input"], p["frequency"], size=p["size"], part=p["part"],
                                  mode=p["mode"], cval=p["cval"], window_mode=p["window_mode"],
                                  **_gabor_kwargs(p))
    return {"mean": mean, "variance": var}


def _texture_halo(p):
    gy, gx = _gabor_halo(p)
    wy, wx = _window_halo(p)
    return gy + wy, gx + wx


register(Operation(
    "gabor_texture", "windowed mean and variance of a Gabor response (texture features)",
    _gabor_params() + (
        Param("size", "size", 15, help="odd window size of the statistics, or [size_y, size_x]"),
        Param("part", "str", "real", ("real", "imag", "magnitude"), "which part of the response"),
        Param("window_mode", "str", "reflect", _MODES, "boundary mode of the window statistics"),
    ),
    ("mean", "variance"), _texture, halo=_texture_halo,
))


# ------------------------------------------------------------------ derivatives

def _spacing_params():
    return (Param("spacing", "floats?", None, help="pixel spacing [y, x] (default 1, 1)"),)


def _spacing(p):
    s = p.get("spacing")
    if s is None:
        return 1.0
    return s[0] if len(s) == 1 else tuple(s)


register(Operation(
    "gradient", "gradient (numpy.gradient: central inside, one-sided at the edge)",
    _spacing_params(), ("d_y", "d_x"),
    lambda inputs, p: dict(zip(("d_y", "d_x"), ops.gradient(inputs["input"], _spacing(p)))),
    halo=lambda p: (1, 1),
))
register(Operation(
    "gradient_magnitude", "magnitude of the gradient", _spacing_params(), ("magnitude",),
    lambda inputs, p: {"magnitude": ops.gradient_magnitude(inputs["input"], _spacing(p))},
    halo=lambda p: (1, 1),
))
register(Operation(
    "hessian", "Hessian: numpy.gradient of each gradient component, or the compact [1, -2, 1] stencil",
    _spacing_params() + (
        Param("method", "str", "gradient", ("gradient", "compact"), "gradient of gradient, or compact"),
        Param("mode", "str", "reflect", _MODES, "boundary mode of the compact method"),
        Param("cval", "float", 0.0, help="value beyond the edge for the compact method, mode='constant'"),
    ),
    ("d_yy", "d_yx", "d_xx"),
    lambda inputs, p: dict(zip(("d_yy", "d_yx", "d_xx"), ops.finite_difference_hessian(
        inputs["input"], _spacing(p), method=p["method"], mode=p["mode"], cval=p["cval"]))),
    halo=lambda p: (2, 2) if p["method"] == "gradient" else (1, 1),
))
register(Operation(
    "derivatives", "gradient and Hessian (numpy.gradient rules), all five in one pass",
    _spacing_params(), ("d_y", "d_x", "d_yy", "d_yx", "d_xx"),
    lambda inputs, p: dict(zip(("d_y", "d_x", "d_yy", "d_yx", "d_xx"),
                               ops.gradient_and_hessian(inputs["input"], _spacing(p)))),
    halo=lambda p: (2, 2),
))


#: name -> operation, spatial first, then colour
OPERATIONS: dict[str, Operation] = {op.name: op for op in (*_SPATIAL, *COLOR_OPERATIONS)}


def all_operations() -> dict[str, Operation]:
    """The operations by name."""
    return OPERATIONS
