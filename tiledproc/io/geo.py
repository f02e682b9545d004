"""Georeferencing: CRS and affine transform, read from GeoTIFF keys, CF/rioxarray
Zarr stores and our own outputs, and written so that xarray + rioxarray, GDAL and
the GeoZarr ``proj:``/``spatial:`` conventions read them without help.

The canonical form is a :class:`Georef`: a :class:`pyproj.CRS` (carried whole:
WKT2-2019 and PROJJSON, plus ``proj:code`` when the CRS is identified by an
authority code) and a rasterio-ordered affine ``(a, b, c, d, e, f)`` mapping
pixel corners ``(col, row)`` to ``x = a*col + b*row + c``, ``y = d*col + e*row + f``.

GeoTIFF keys are turned into a CRS the way GDAL's ``gt_wkt_srs.cpp`` does:
an EPSG code when the keys give one, else a PROJ definition built from the
user-defined keys (the projection method ``ProjCoordTransGeoKey`` and its
parameters, the datum or ellipsoid, the units), which :mod:`pyproj` turns
into the full CRS.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj

__all__ = [
    "Georef",
    "crs_from_geokeys",
    "geokeys_from_tags",
    "georef_from_attrs",
    "georef_from_cf",
    "geo_attrs",
    "cf_grid_mapping",
    "coordinates",
    "level_transform",
    "zarr_conventions",
    "geokey_directory",
    "CONVENTIONS",
]

#: the GeoZarr conventions tiledproc writes, as declared in ``zarr_conventions``
CONVENTIONS = {
    "proj:": {
        "uuid": "f17cb550-5864-4468-aeb7-f3180cfb622f",
        "schema_url": "https://raw.githubusercontent.com/zarr-conventions/proj/refs/tags/v1/schema.json",
        "spec_url": "https://github.com/zarr-conventions/proj/blob/v1/README.md",
        "name": "proj:",
        "description": "Coordinate reference system information for geospatial data",
    },
    "spatial:": {
        "uuid": "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4",
        "schema_url": "https://raw.githubusercontent.com/zarr-conventions/spatial/refs/tags/v1/schema.json",
        "spec_url": "https://github.com/zarr-conventions/spatial/blob/v1/README.md",
        "name": "spatial:",
        "description": "Spatial coordinate information",
    },
    "multiscales": {
        "uuid": "d35379db-88df-4056-af3a-620245f8e347",
        "schema_url": "https://raw.githubusercontent.com/zarr-conventions/multiscales/refs/tags/v1/schema.json",
        "spec_url": "https://github.com/zarr-conventions/multiscales/blob/v1/README.md",
        "name": "multiscales",
        "description": "Multiscale layout of zarr datasets",
    },
}


@dataclass(frozen=True)
class Georef:
    """A CRS (or None) and an affine transform (or None) of a raster."""

    crs: pyproj.CRS | None = None
    transform: tuple[float, float, float, float, float, float] | None = None

    def __bool__(self) -> bool:
        return self.crs is not None or self.transform is not None


# --------------------------------------------------------------------------- GeoTIFF

# GeoKey ids (GeoTIFF 1.1, OGC 19-008r4)
GT_MODEL_TYPE, GT_RASTER_TYPE = 1024, 1025
GEOGRAPHIC_TYPE, GEOG_DATUM, GEOG_PRIME_MERIDIAN, GEOG_ANGULAR_UNITS = 2048, 2050, 2051, 2054
GEOG_ELLIPSOID, GEOG_SEMI_MAJOR, GEOG_SEMI_MINOR, GEOG_INV_FLATTENING = 2056, 2057, 2058, 2059
GEOG_PRIME_MERIDIAN_LONG = 2061
PROJECTED_CS_TYPE, PROJECTION, PROJ_COORD_TRANS, PROJ_LINEAR_UNITS = 3072, 3074, 3075, 3076
PROJ_PARAMS = {
    "StdParallel1": 3078, "StdParallel2": 3079, "NatOriginLong": 3080, "NatOriginLat": 3081,
    "FalseEasting": 3082, "FalseNorthing": 3083, "FalseOriginLong": 3084, "FalseOriginLat": 3085,
    "FalseOriginEasting": 3086, "FalseOriginNorthing": 3087, "CenterLong": 3088, "CenterLat": 3089,
    "CenterEasting": 3090, "CenterNorthing": 3091, "ScaleAtNatOrigin": 3092, "ScaleAtCenter": 3093,
    "AzimuthAngle": 3094, "StraightVertPoleLong": 3095,
}
USER_DEFINED = 32767
#: EPSG linear unit codes -> metres
LINEAR_UNITS = {9001: 1.0, 9002: 0.3048, 9003: 1200.0 / 3937.0, 9005: 0.3047972654, 9036: 1000.0}
#: EPSG angular unit codes -> degrees
ANGULAR_UNITS = {9101: 180.0 / math.pi, 9102: 1.0, 9105: 0.9}

# ProjCoordTransGeoKey -> (PROJ method, parameters): the mapping of GDAL's gt_wkt_srs.cpp
# (parameters of the natural origin, falling back to the centre / false origin keys)
_LON = ("NatOriginLong", "CenterLong", "FalseOriginLong", "StraightVertPoleLong")
_LAT = ("NatOriginLat", "CenterLat", "FalseOriginLat")
_FE = ("FalseEasting", "CenterEasting", "FalseOriginEasting")
_FN = ("FalseNorthing", "CenterNorthing", "FalseOriginNorthing")
_K = ("ScaleAtNatOrigin", "ScaleAtCenter")
COORD_TRANS = {
    1: ("tmerc", {"lon_0": _LON, "lat_0": _LAT, "k_0": _K}),
    7: ("merc", {"lon_0": _LON, "lat_ts": ("StdParallel1",), "k_0": _K}),
    8: ("lcc", {"lon_0": _LON, "lat_0": _LAT, "lat_1": ("StdParallel1",), "lat_2": ("StdParallel2",)}),
    9: ("lcc", {"lon_0": _LON, "lat_0": _LAT, "lat_1": _LAT, "k_0": _K}),
    10: ("laea", {"lon_0": _LON, "lat_0": _LAT}),
    11: ("aea", {"lon_0": _LON, "lat_0": _LAT, "lat_1": ("StdParallel1",), "lat_2": ("StdParallel2",)}),
    12: ("aeqd", {"lon_0": _LON, "lat_0": _LAT}),
    14: ("stere", {"lon_0": _LON, "lat_0": _LAT, "k_0": _K}),
    15: ("stere", {"lon_0": _LON, "lat_ts": _LAT, "k_0": _K}),  # polar: lat_0 set from lat_ts below
    16: ("sterea", {"lon_0": _LON, "lat_0": _LAT, "k_0": _K}),
    17: ("eqc", {"lon_0": _LON, "lat_ts": ("StdParallel1",) + _LAT}),
    18: ("cass", {"lon_0": _LON, "lat_0": _LAT}),
    19: ("gnom", {"lon_0": _LON, "lat_0": _LAT}),
    20: ("mill", {"lon_0": _LON}),
    21: ("ortho", {"lon_0": _LON, "lat_0": _LAT}),
    22: ("poly", {"lon_0": _LON, "lat_0": _LAT}),
    23: ("robin", {"lon_0": _LON}),
    24: ("sinu", {"lon_0": _LON}),
    25: ("vandg", {"lon_0": _LON}),
}


def geokeys_from_tags(directory, doubles=None, ascii_params=None) -> dict[int, Any]:
    """The GeoKeys of a GeoKeyDirectoryTag (34735) as ``{key id: value}``, values
    taken from the tag itself (SHORT), GeoDoubleParamsTag (34736) or
    GeoAsciiParamsTag (34737)."""
    d = [int(v) for v in np.asarray(directory).ravel()]
    doubles = [float(v) for v in np.asarray(doubles if doubles is not None else []).ravel()]
    text = ascii_params if isinstance(ascii_params, str) else (
        ascii_params.decode("latin-1") if isinstance(ascii_params, bytes) else "")
    keys: dict[int, Any] = {}
    if len(d) < 4:
        return keys
    n = d[3]
    for k in range(n):
        key, loc, count, off = d[4 + 4 * k: 8 + 4 * k]
        if loc == 0:
            keys[key] = off
        elif loc == 34736:
            vals = doubles[off: off + count]
            keys[key] = vals[0] if count == 1 else vals
        elif loc == 34737:
            keys[key] = text[off: off + count].rstrip("|\x00")
        elif loc == 34735:
            vals = d[off: off + count]
            keys[key] = vals[0] if count == 1 else vals
    return keys


def _code(keys, key) -> int | None:
    v = keys.get(key)
    if v is None:
        return None
    v = int(v)
    return None if v in (0, USER_DEFINED) else v


def _param(keys, names, scale=1.0):
    for name in names:
        v = keys.get(PROJ_PARAMS[name])
        if v is not None:
            return float(v) * scale
    return None


def _geodetic_crs(keys) -> pyproj.CRS:
    """The geographic CRS of the keys: its EPSG code, else one made of the datum,
    the ellipsoid or the axes given (WGS 84 when none is, as GDAL assumes)."""
    from pyproj.crs import GeographicCRS
    from pyproj.crs.datum import CustomDatum, CustomEllipsoid, Datum, Ellipsoid

    gcs = _code(keys, GEOGRAPHIC_TYPE)
    if gcs is not None:
        try:
            return pyproj.CRS.from_epsg(gcs)
        except pyproj.exceptions.CRSError:
            pass
    datum = _code(keys, GEOG_DATUM)
    if datum is not None:
        try:
            return GeographicCRS(datum=Datum.from_epsg(datum))
        except pyproj.exceptions.CRSError:
            pass
    ell = _code(keys, GEOG_ELLIPSOID)
    if ell is not None:
        try:
            return GeographicCRS(datum=CustomDatum(ellipsoid=Ellipsoid.from_epsg(ell)))
        except pyproj.exceptions.CRSError:
            pass
    a = keys.get(GEOG_SEMI_MAJOR)
    if a is not None:
        b = keys.get(GEOG_SEMI_MINOR)
        rf = keys.get(GEOG_INV_FLATTENING)
        if b is not None:
            e = CustomEllipsoid(semi_major_axis=float(a), semi_minor_axis=float(b))
        elif rf:
            e = CustomEllipsoid(semi_major_axis=float(a), inverse_flattening=float(rf))
        else:
            e = CustomEllipsoid(semi_major_axis=float(a), semi_minor_axis=float(a))
        return GeographicCRS(datum=CustomDatum(ellipsoid=e))
    return pyproj.CRS.from_epsg(4326)


def crs_from_geokeys(keys: dict[int, Any]) -> pyproj.CRS | None:
    """The CRS the GeoKeys describe, or None when they describe none (or one
    this mapping does not know: the raw keys stay in the attributes)."""
    model = keys.get(GT_MODEL_TYPE)
    pcs = _code(keys, PROJECTED_CS_TYPE)
    if pcs is not None:
        try:
            return pyproj.CRS.from_epsg(pcs)
        except pyproj.exceptions.CRSError:
            pass
    citation = keys.get(1026) or keys.get(3073) or ""
    crs = crs_from_citation(str(citation))
    if crs is not None:
        return crs
    if model == 2:
        return _geodetic_crs(keys)
    if model not in (1, None):
        return None
    if model is None and PROJ_COORD_TRANS not in keys and PROJECTION not in keys:
        gcs = _code(keys, GEOGRAPHIC_TYPE)
        return _geodetic_crs(keys) if gcs is not None else None
    base = _geodetic_crs(keys)
    conv = _code(keys, PROJECTION)
    if conv is not None and PROJ_COORD_TRANS not in keys:
        # an EPSG conversion (e.g. a UTM zone or state plane) over the geographic CRS
        try:
            op = pyproj.crs.CoordinateOperation.from_epsg(conv)
            return pyproj.crs.ProjectedCRS(conversion=op, geodetic_crs=base)
        except pyproj.exceptions.CRSError:
            return None
    method = keys.get(PROJ_COORD_TRANS)
    if method is None or int(method) not in COORD_TRANS:
        return None
    name, params = COORD_TRANS[int(method)]
    ang = ANGULAR_UNITS.get(int(keys.get(GEOG_ANGULAR_UNITS, 9102)), 1.0)
    units = LINEAR_UNITS.get(int(keys.get(PROJ_LINEAR_UNITS, 9001)), 1.0)
    parts = [f"+proj={name}"]
    for p, names in params.items():
        scale = 1.0 if p == "k_0" else ang
        v = _param(keys, names, scale)
        if v is not None:
            parts.append(f"+{p}={v!r}")
    if int(method) == 15:  # polar stereographic: the pole from the sign of the latitude of true scale
        lat_ts = _param(keys, _LAT, ang) or 90.0
        parts.append(f"+lat_0={90.0 if lat_ts >= 0 else -90.0!r}")
    fe = _param(keys, _FE) or 0.0
    fn = _param(keys, _FN) or 0.0
    parts += [f"+x_0={fe * units!r}", f"+y_0={fn * units!r}"]
    ell = base.ellipsoid
    parts += [f"+a={ell.semi_major_metre!r}", f"+b={ell.semi_minor_metre!r}"]
    parts.append("+units=m" if units == 1.0 else f"+to_meter={units!r}")
    parts.append("+no_defs")
    try:
        # PROJ names the method and its parameters; the base CRS is the keys' own, datum included
        proj = pyproj.CRS.from_proj4(" ".join(parts)).to_json_dict()
        proj["base_crs"] = base.to_json_dict()
        proj["name"] = str(citation).split("|")[0].strip() or "unknown"
        return pyproj.CRS.from_json_dict(proj)
    except (pyproj.exceptions.CRSError, KeyError):
        return None


def transform_from_geotiff(tags: dict[str, Any]) -> tuple | None:
    """The affine transform (pixel corners) of ModelTransformation or ModelPixelScale +
    ModelTiepoint, shifted by half a pixel for PixelIsPoint rasters."""
    transform = None
    if tags.get("ModelTransformation") is not None:
        m = np.asarray(tags["ModelTransformation"], dtype=float).reshape(4, 4)
        transform = [m[0, 0], m[0, 1], m[0, 3], m[1, 0], m[1, 1], m[1, 3]]
    elif tags.get("ModelPixelScale") is not None and tags.get("ModelTiepoint") is not None:
        sx, sy = [float(v) for v in np.asarray(tags["ModelPixelScale"]).ravel()[:2]]
        i, j, _, X, Y, _ = [float(v) for v in np.asarray(tags["ModelTiepoint"]).ravel()[:6]]
        transform = [sx, 0.0, X - i * sx, 0.0, -sy, Y + j * sy]
    if transform is None or not all(math.isfinite(t) for t in transform):
        return None
    return tuple(float(t) for t in transform)


#: PROJ method -> ProjCoordTransGeoKey, for writing (the inverse of COORD_TRANS)
PROJ_TO_CT = {"tmerc": 1, "merc": 7, "laea": 10, "aea": 11, "aeqd": 12, "sterea": 16, "eqc": 17,
              "cass": 18, "gnom": 19, "mill": 20, "ortho": 21, "poly": 22, "robin": 23, "sinu": 24,
              "vandg": 25}


def _method_keys(crs: pyproj.CRS) -> list[tuple[int, str, float]] | None:
    """(key, kind, value) of the projection method keys of a projected CRS, or None."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            d = crs.to_dict()
        except pyproj.exceptions.CRSError:
            return None
    proj = d.get("proj")
    if proj == "utm":
        d = {"proj": "tmerc", "lat_0": 0.0, "lon_0": -183.0 + 6.0 * float(d["zone"]), "k_0": 0.9996,
             "x_0": 500000.0, "y_0": 10000000.0 if d.get("south") else 0.0}
        proj = "tmerc"
    if proj == "lcc":
        ct = 8 if "lat_2" in d and float(d["lat_2"]) != float(d.get("lat_1", d["lat_2"])) else 9
    elif proj == "stere":
        ct = 15 if abs(float(d.get("lat_0", 0.0))) == 90.0 else 14
    else:
        ct = PROJ_TO_CT.get(proj)
    if ct is None:
        return None
    lon = float(d.get("lon_0", 0.0))
    lat = float(d.get("lat_ts", d.get("lat_0", 0.0))) if ct == 15 else float(d.get("lat_0", 0.0))
    k0 = float(d.get("k_0", d.get("k", 1.0)))
    fe, fn = float(d.get("x_0", 0.0)), float(d.get("y_0", 0.0))
    out: list[tuple[int, str, float]] = [(PROJ_COORD_TRANS, "short", ct)]
    names = {"NatOriginLong": lon, "CenterLong": lon, "FalseOriginLong": lon, "StraightVertPoleLong": lon,
             "NatOriginLat": lat, "CenterLat": lat, "FalseOriginLat": lat,
             "FalseEasting": fe, "FalseNorthing": fn, "FalseOriginEasting": fe, "FalseOriginNorthing": fn,
             "CenterEasting": fe, "CenterNorthing": fn, "ScaleAtNatOrigin": k0, "ScaleAtCenter": k0}
    if "lat_1" in d:
        names["StdParallel1"] = float(d["lat_1"])
    if "lat_2" in d:
        names["StdParallel2"] = float(d["lat_2"])
    if proj in ("merc", "eqc") and "lat_ts" in d:
        names["StdParallel1"] = float(d["lat_ts"])
    for name, v in names.items():
        out.append((PROJ_PARAMS[name], "double", v))
    return out


def geokey_directory(crs: pyproj.CRS | None, transform, *, pixel_is_point: bool = False) -> dict[int, Any]:
    """GeoTIFF tags (ids -> values) for a CRS and transform, as GDAL writes them.

    A CRS with an EPSG code is written as the code; any other projected CRS as
    user-defined keys: the projection method and its parameters, the
    geographic CRS's EPSG code when it has one, else its ellipsoid axes.
    """
    entries: dict[int, tuple[str, Any]] = {}

    def short(key, v):
        entries[key] = ("short", int(v))

    def dbl(key, v):
        entries[key] = ("double", float(v))

    def asc(key, text):
        entries[key] = ("ascii", text)

    if crs is not None:
        epsg = crs.to_epsg(min_confidence=100)
        short(GT_MODEL_TYPE, 2 if crs.is_geographic else 1)
        short(GT_RASTER_TYPE, 2 if pixel_is_point else 1)
        asc(1026, crs.name or "unknown")
        if epsg is not None and crs.is_projected:
            short(PROJECTED_CS_TYPE, epsg)
        elif epsg is not None and crs.is_geographic:
            short(GEOGRAPHIC_TYPE, epsg)
            short(GEOG_ANGULAR_UNITS, 9102)
        else:
            geod = crs.geodetic_crs
            gcode = geod.to_epsg(min_confidence=100) if geod is not None else None
            if crs.is_projected:
                short(PROJECTED_CS_TYPE, USER_DEFINED)
                short(PROJECTION, USER_DEFINED)
                short(PROJ_LINEAR_UNITS, 9001)
                for key, kind, v in _method_keys(crs) or []:
                    (short if kind == "short" else dbl)(key, v)
            if gcode is not None:
                short(GEOGRAPHIC_TYPE, gcode)
            else:
                short(GEOGRAPHIC_TYPE, USER_DEFINED)
                short(GEOG_DATUM, USER_DEFINED)
                short(GEOG_ELLIPSOID, USER_DEFINED)
                ell = crs.ellipsoid
                if ell is not None:
                    dbl(GEOG_SEMI_MAJOR, ell.semi_major_metre)
                    dbl(GEOG_SEMI_MINOR, ell.semi_minor_metre)
            short(GEOG_ANGULAR_UNITS, 9102)
    else:
        short(GT_RASTER_TYPE, 2 if pixel_is_point else 1)
    directory = [1, 1, 0, len(entries)]
    doubles: list[float] = []
    text = ""
    for key in sorted(entries):
        kind, v = entries[key]
        if kind == "short":
            directory += [key, 0, 1, v]
        elif kind == "double":
            directory += [key, 34736, 1, len(doubles)]
            doubles.append(v)
        else:
            s = v.replace("|", "/") + "|"
            directory += [key, 34737, len(s), len(text)]
            text += s
    tags: dict[int, Any] = {34735: directory}
    if doubles:
        tags[34736] = doubles
    if text:
        tags[34737] = text
    if transform is not None:
        a, b, c, d, e, f = (float(t) for t in transform)
        if b == 0 and d == 0 and a > 0 and e < 0:
            tags[33550] = [a, -e, 0.0]
            tags[33922] = [0.0, 0.0, 0.0, c, f, 0.0]
        else:  # rotated or not north-up: only the full matrix says it
            tags[34264] = [a, b, 0.0, c, d, e, 0.0, f, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    return tags


def crs_from_citation(text: str) -> pyproj.CRS | None:
    """A CRS GDAL carried as ``ESRI PE String = WKT`` in a GeoTIFF citation."""
    marker = "ESRI PE String = "
    if marker in text:
        try:
            return pyproj.CRS.from_wkt(text.split(marker, 1)[1].strip().rstrip("|"))
        except pyproj.exceptions.CRSError:
            return None
    return None


# --------------------------------------------------------------------------- attributes


def crs_attrs(crs: pyproj.CRS) -> dict[str, Any]:
    """The GeoZarr ``proj:`` attributes of a CRS: WKT2 and PROJJSON, plus the code."""
    out: dict[str, Any] = {"proj:wkt2": crs.to_wkt("WKT2_2019"), "proj:projjson": crs.to_json_dict()}
    auth = crs.to_authority(min_confidence=100)
    if auth is not None:
        out = {"proj:code": f"{auth[0]}:{auth[1]}", **out}
    return out


def geo_attrs(georef: Georef, shape: tuple[int, int] | None = None) -> dict[str, Any]:
    """The group attributes of a georeferenced raster (``proj:``, ``spatial:``)."""
    out: dict[str, Any] = {}
    if georef.crs is not None:
        out.update(crs_attrs(georef.crs))
    if georef.transform is not None:
        out["spatial:dimensions"] = ["y", "x"]
        out["spatial:transform_type"] = "affine"
        out["spatial:transform"] = [float(t) for t in georef.transform]
        out["spatial:registration"] = "pixel"
        if shape is not None:
            out["spatial:shape"] = [int(shape[0]), int(shape[1])]
            a, b, c, d, e, f = georef.transform
            h, w = shape
            xs = [c, a * w + c, b * h + c, a * w + b * h + c]
            ys = [f, d * w + f, e * h + f, d * w + e * h + f]
            out["spatial:bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    return out


def zarr_conventions(attrs: dict) -> list[dict]:
    """The ``zarr_conventions`` declaration for the conventions ``attrs`` use."""
    used = []
    if any(k.startswith("proj:") for k in attrs):
        used.append(CONVENTIONS["proj:"])
    if any(k.startswith("spatial:") for k in attrs):
        used.append(CONVENTIONS["spatial:"])
    if "multiscales" in attrs:
        used.append(CONVENTIONS["multiscales"])
    return [dict(c) for c in used]


def _crs_from_any(value) -> pyproj.CRS | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str) and value.lstrip().startswith("{"):
            value = json.loads(value)
        if isinstance(value, dict):
            return pyproj.CRS.from_json_dict(value)
        return pyproj.CRS.from_user_input(value)
    except (pyproj.exceptions.CRSError, ValueError, TypeError):
        return None


def georef_from_attrs(attrs: dict) -> Georef:
    """The georeferencing our own outputs (and GeoZarr stores) carry in their attributes:
    ``proj:wkt2`` / ``proj:projjson`` / ``proj:code``, ``spatial:transform``; an
    older tiledproc store's raw ``geotiff`` keys are read as a last resort."""
    crs = None
    for key in ("proj:wkt2", "proj:projjson", "proj:code"):
        crs = _crs_from_any(attrs.get(key))
        if crs is not None:
            break
    t = attrs.get("spatial:transform")
    transform = tuple(float(v) for v in t) if isinstance(t, (list, tuple)) and len(t) == 6 else None
    return Georef(crs, transform)


def georef_from_cf(grid_mapping_attrs: dict | None, x=None, y=None) -> Georef:
    """The georeferencing of a CF / rioxarray raster: the grid-mapping variable's
    ``crs_wkt`` or ``spatial_ref`` (or its CF parameters) and ``GeoTransform``, else
    a transform from regularly spaced 1-D ``x``/``y`` pixel-centre coordinates."""
    gm = dict(grid_mapping_attrs or {})
    crs = None
    for key in ("crs_wkt", "spatial_ref"):
        crs = _crs_from_any(gm.get(key))
        if crs is not None:
            break
    if crs is None and gm.get("grid_mapping_name"):
        try:
            crs = pyproj.CRS.from_cf(gm)
        except (pyproj.exceptions.CRSError, KeyError, ValueError):
            crs = None
    transform = None
    if x is not None and y is not None and len(x) >= 2 and len(y) >= 2:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        dx = (x[-1] - x[0]) / (len(x) - 1)
        dy = (y[-1] - y[0]) / (len(y) - 1)
        if np.allclose(np.diff(x), dx, rtol=1e-6, atol=0) and np.allclose(np.diff(y), dy, rtol=1e-6, atol=0):
            transform = (float(dx), 0.0, float(x[0] - dx / 2), 0.0, float(dy), float(y[0] - dy / 2))
    if transform is None and gm.get("GeoTransform"):
        try:
            c, a, b, f, d, e = (float(v) for v in str(gm["GeoTransform"]).split())
            transform = (a, b, c, d, e, f)
        except ValueError:
            transform = None
    return Georef(crs, transform)


def cf_grid_mapping(georef: Georef) -> dict[str, Any]:
    """Attributes of the CF grid-mapping scalar ``spatial_ref`` as rioxarray writes
    them (``crs_wkt``, ``spatial_ref``, the CF parameters, ``GeoTransform``)."""
    out: dict[str, Any] = {}
    if georef.crs is not None:
        try:
            out.update(georef.crs.to_cf())
        except (pyproj.exceptions.CRSError, KeyError, ValueError):
            pass
        wkt = georef.crs.to_wkt("WKT2_2019")
        out["crs_wkt"] = wkt
        out["spatial_ref"] = wkt
    if georef.transform is not None:
        a, b, c, d, e, f = georef.transform
        out["GeoTransform"] = " ".join(repr(float(v)) for v in (c, a, b, f, d, e))
    return out


def coordinates(transform, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """1-D pixel-centre ``(y, x)`` coordinates of a north-up transform (None if rotated)."""
    a, b, c, d, e, f = transform
    if b != 0 or d != 0:
        return None
    h, w = shape
    x = c + a * (np.arange(w, dtype=np.float64) + 0.5)
    y = f + e * (np.arange(h, dtype=np.float64) + 0.5)
    return y, x


def level_transform(transform, factor: int) -> tuple[float, ...]:
    """The transform of a pyramid level ``factor`` times coarser (same corner)."""
    a, b, c, d, e, f = transform
    return (a * factor, b * factor, c, d * factor, e * factor, f)
