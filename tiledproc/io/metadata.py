"""Attributes of a tiledproc store: OME-Zarr 0.5 multiscales, georeferencing,
provenance. Pure functions on JSON-able dicts; no I/O here."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "ome_multiscales",
    "dimension_names",
    "json_safe",
    "carry_over",
]

GEO_KEYS_PREFIXES = ("proj:", "spatial:")
#: keys copied from an input store to every output made from it
CARRIED = ("geotiff", "nodata", "band_names")


def dimension_names(ndim: int) -> list[str]:
    return ["c", "y", "x"][-ndim:] if ndim <= 3 else [f"dim_{k}" for k in range(ndim - 2)] + ["y", "x"]


def ome_multiscales(name: str, ndim: int, levels: int, spacing: tuple[float, float] = (1.0, 1.0)) -> dict:
    """The ``ome`` attribute of an OME-Zarr 0.5 image with ``levels`` 2x levels."""
    axes = [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    axes = axes[-ndim:]
    datasets = []
    for k in range(levels):
        f = float(2**k)
        scale = [1.0] * (ndim - 2) + [spacing[0] * f, spacing[1] * f]
        datasets.append({"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    return {
        "version": "0.5",
        "multiscales": [{"name": name, "axes": axes, "datasets": datasets}],
    }


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, tuples and enums made JSON-able.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"``:
    zarr.json must stay standard JSON that every reader accepts.
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "name") and hasattr(value, "value"):  # enums
        return str(value.name)
    return str(value)


def carry_over(attrs: dict) -> dict:
    """The attributes of an input store that every output made from it keeps:
    georeferencing (``proj:*``, ``spatial:*``, the GeoTIFF tags) and nodata."""
    out = {k: v for k, v in attrs.items() if k.startswith(GEO_KEYS_PREFIXES) or k in CARRIED}
    return out
