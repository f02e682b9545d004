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
    "level_path",
    "physical_scale",
    "ome_pixel_size",
]

GEO_KEYS_PREFIXES = ("proj:", "spatial:")
#: keys copied from an input store to every output made from it
CARRIED = ("geotiff", "nodata", "band_names", "geotiff:raster_type")


def dimension_names(ndim: int) -> list[str]:
    return ["c", "y", "x"][-ndim:] if ndim <= 3 else [f"dim_{k}" for k in range(ndim - 2)] + ["y", "x"]


#: OME-Zarr 0.5 path of level k: level 0 is the root's array ``0``, level k >= 1 the array
#: ``0`` of group ``k`` (so the root reads in xarray as level 0 alone, see io/layout.py)
def level_path(k: int) -> str:
    return "0" if k == 0 else f"{k}/0"


def physical_scale(attrs: dict) -> tuple[tuple[float, float], str | None]:
    """The pixel size of level 0 and its OME unit: metres from a north-up
    transform of a projected CRS, else the input's own OME scale and unit
    (``ome:pixel_size``, carried from a microscopy input), else 1 pixel."""
    t = attrs.get("spatial:transform")
    if isinstance(t, (list, tuple)) and len(t) == 6 and t[1] == 0 and t[3] == 0:
        # metres for a projected CRS in metres; a geographic CRS's degrees are no OME space unit
        wkt = str(attrs.get("proj:wkt2", ""))
        metric = wkt.startswith(("PROJCRS", "PROJECTEDCRS")) and 'LENGTHUNIT["metre",1' in wkt
        return (abs(float(t[4])), abs(float(t[0]))), "meter" if metric else None
    px = attrs.get("ome:pixel_size")
    if isinstance(px, dict) and len(px.get("scale", ())) == 2:
        return (float(px["scale"][0]), float(px["scale"][1])), px.get("unit")
    return (1.0, 1.0), None


def ome_multiscales(name: str, ndim: int, levels: int, spacing: tuple[float, float] = (1.0, 1.0),
                    unit: str | None = None, label: bool = False) -> dict:
    """The ``ome`` attribute of an OME-Zarr 0.5 image with ``levels`` 2x levels
    (level paths :func:`level_path`, space axes in ``unit`` when known); ``label``
    marks it an OME label image (napari shows it as a labels layer)."""
    axes = [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    axes = axes[-ndim:]
    if unit:
        axes = [dict(a, unit=unit) if a["type"] == "space" else a for a in axes]
    datasets = []
    for k in range(levels):
        f = float(2**k)
        scale = [1.0] * (ndim - 2) + [spacing[0] * f, spacing[1] * f]
        datasets.append({"path": level_path(k), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    out = {
        "version": "0.5",
        "multiscales": [{"name": name, "axes": axes, "datasets": datasets}],
    }
    if label:
        out["image-label"] = {"version": "0.5"}
    return out


def ome_pixel_size(attrs: dict) -> dict | None:
    """An input's OME level-0 space scale and unit (microscopy), to be carried."""
    try:
        ms = attrs["ome"]["multiscales"][0]
        axes = ms["axes"]
        scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    except (KeyError, IndexError, TypeError):
        return None
    units = [a.get("unit") for a in axes if a.get("type") == "space"]
    if len(scale) < 2 or not units or units[-1] is None:
        return None
    return {"scale": [float(scale[-2]), float(scale[-1])], "unit": units[-1]}


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
    px = attrs.get("ome:pixel_size") or ome_pixel_size(attrs)
    if px is not None and "spatial:transform" not in attrs:
        out["ome:pixel_size"] = px
    return out
