"""``ingest_tiff``: TIFF/BigTIFF/GeoTIFF to a tiledproc Zarr store."""

from __future__ import annotations

from pathlib import Path

from .write import write_outputs
from ..io.codecs import DEFAULT_CODEC
from ..io.output import OutputSpec
from ..io.tiff import read_tiff, tiff_attrs

__all__ = ["ingest_tiff"]


def ingest_tiff(
    src,
    dst,
    *,
    chunks=None,
    overwrite: bool = False,
    resume: bool = False,
    codec: str = DEFAULT_CODEC,
    series: int = 0,
    scheduler=None,
    progress: str = "off",
    space_check: bool = True,
) -> Path:
    """Convert a TIFF to a Zarr raster without loading the file.

    Parameters
    ----------
    src : path
        TIFF, BigTIFF or GeoTIFF, tiled or stripped, any compression tifffile and
        imagecodecs decode (LZW and Deflate with predictors, ZSTD, JPEG, ...).
    dst : path
        The output store.
    chunks : (band, y, x), optional
        Stored chunks; default ``(1, 1024, 1024)``.
    overwrite, resume, space_check : bool
        As for :func:`save_raster`.

    The source is opened read-only and never modified. ``(y, x)`` becomes
    ``(1, y, x)``, ``(y, x, samples)`` becomes ``(samples, y, x)``. The
    georeferencing (``proj:code``, ``spatial:transform``, raw ``geotiff``
    keys) and ``nodata`` are stored in the attributes.
    """
    chunks = tuple(chunks) if chunks is not None else (1, 1024, 1024)
    array = read_tiff(src, chunks=chunks, series=series)
    spec = OutputSpec(
        Path(dst),
        array,
        chunks=chunks,
        codec=codec,
        provenance={"operation": "ingest_tiff", "parameters": {"series": series}, "input": str(src)},
        attrs=tiff_attrs(src, series),
    )
    write_outputs([spec], overwrite=overwrite, resume=resume, inputs=[src], scheduler=scheduler,
                  progress=progress, label="ingest", space_check=space_check)
    return spec.path
