"""``ingest_tiff``: TIFF/BigTIFF/GeoTIFF to a tiledproc Zarr store."""

from __future__ import annotations

import os
from pathlib import Path

from ..execute.schedulers import parse_scheduler
from .write import write_outputs
from ..io.codecs import DEFAULT_CODEC
from ..io.output import OutputSpec
from ..io.remote import ObjectPath, as_location, is_url
from ..io.tiff import read_tiff, tiff_attrs

__all__ = ["ingest_tiff"]


def ingest_tiff(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    chunks: tuple[int, int, int] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    codec: str = DEFAULT_CODEC,
    series: int = 0,
    scheduler: str | None = None,
    threads: int | None = None,
    progress: str = "off",
    space_check: bool = True,
    storage_options: dict | None = None,
) -> Path | ObjectPath:
    """Convert a TIFF to a Zarr raster without loading the file.

    The TIFF is read region by region (its tiles or strips), each region
    written as a chunk of a tiledproc output, so memory is bounded by the
    chunks in flight whatever the file's size.

    Parameters
    ----------
    src : str or os.PathLike
        TIFF, BigTIFF or GeoTIFF, tiled or stripped, any compression tifffile and
        imagecodecs decode (LZW and Deflate with predictors, ZSTD, JPEG, ...).
        A URL (``https://``, ``s3://``, ``gs://``, ``az://``) is read with range
        requests, region by region: only the headers and the tiles or strips
        needed are fetched (:func:`tiledproc.io.remote.bytes_read` counts them).
    dst : str or os.PathLike
        The output store (a directory, conventionally ending in ``.zarr``), or
        a URL as for :func:`save_raster`.
    chunks : (int, int, int), optional
        Stored ``(band, y, x)`` chunks; default ``(1, 1024, 1024)``, clipped
        to the shape.
    overwrite, resume, space_check : bool, optional
        As for :func:`save_raster` (default False, False, True).
    codec : {'lz4', 'zstd', 'zstd-1', 'zstd-plain', 'none'}, optional
        As for :func:`save_raster` (default ``'lz4'``).
    series : int, optional
        The TIFF's image series to ingest, from 0 (default 0).
    scheduler : str, optional
        As for :func:`save_raster`: ``'threads'`` (default), ``'processes'``,
        ``'synchronous'`` or a ``tcp://`` address.
    threads : int, optional
        As for :func:`save_raster`.
    progress : {'off', 'auto', 'bar', 'log'}, optional
        As for :func:`save_raster` (default ``'off'``).
    storage_options : dict, optional
        As for :func:`save_raster`, for ``src`` and ``dst`` when they are URLs.

    Returns
    -------
    path : pathlib.Path
        The output store (``dst`` with ``~`` expanded).

    Raises
    ------
    StoreNotFoundError
        ``src`` does not exist.
    TiffError
        ``src`` is not a file, not a TIFF tifffile can read, has no series
        ``series``, or holds axes other than ``(y, x)``, ``(y, x, samples)``
        or ``(band, y, x)``.
    InvalidParameterError
        ``chunks``, ``codec``, ``scheduler`` or ``progress`` is not one of the
        values above.
    OutputExistsError, UnsafeOutputError, ResumeMismatchError, OutputLockedError
        ``dst`` may not be written, as for :func:`save_raster`.
    ResourceLimitError, StorageError, ClusterError
        As for :func:`save_raster`.

    Notes
    -----
    Everything that can be refused is refused before any store is created.
    The source is opened read-only and never modified. ``(y, x)`` becomes
    ``(1, y, x)``, ``(y, x, samples)`` becomes ``(samples, y, x)``. The
    georeferencing (``proj:code``, ``spatial:transform``, raw ``geotiff``
    keys) and ``nodata`` are stored in the attributes; the provenance
    records ``operation='ingest_tiff'``, the ``series`` and the source path.

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> import numpy as np
    >>> import tifffile
    >>> from tiledproc import ingest_tiff, open_raster
    >>> directory = tempfile.mkdtemp()
    >>> tiff = os.path.join(directory, "band.tif")
    >>> tifffile.imwrite(tiff, np.arange(12, dtype=np.uint16).reshape(3, 4))
    >>> path = ingest_tiff(tiff, os.path.join(directory, "band.zarr"))
    >>> raster = open_raster(path)
    >>> raster.shape, raster.dtype
    ((1, 3, 4), dtype('uint16'))
    >>> raster[0, 1].compute().tolist()
    [4, 5, 6, 7]
    >>> shutil.rmtree(directory)
    """
    chunks = tuple(chunks) if chunks is not None else (1, 1024, 1024)
    if is_url(src):
        src = as_location(src, storage_options)
    array = read_tiff(src, chunks=chunks, series=series)
    spec = OutputSpec(
        dst,
        array,
        chunks=chunks,
        codec=codec,
        provenance={"operation": "ingest_tiff", "parameters": {"series": series}, "input": str(src)},
        attrs=tiff_attrs(src, series),
        storage_options=storage_options,
    )
    write_outputs([spec], overwrite=overwrite, resume=resume, inputs=[src],
                  scheduler=parse_scheduler(scheduler, workers=threads),
                  progress=progress, label="ingest", space_check=space_check)
    return spec.path
