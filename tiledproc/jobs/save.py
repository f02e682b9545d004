"""``save_raster``: write one array to a Zarr store, resumably."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy.typing as npt

from ..execute.schedulers import parse_scheduler
from .write import write_outputs
from ..io.output import OutputSpec
from ..io.codecs import DEFAULT_CODEC
from ..io.layout import inherited_attrs
from ..io.metadata import json_safe
from ..ops._xarray import dataarray_nodata, is_dataarray
from ..io.remote import ObjectPath, as_location, is_url

__all__ = ["save_raster"]


def save_raster(
    array: npt.ArrayLike | da.Array,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    resume: bool = False,
    attrs: dict[str, Any] | None = None,
    chunks: tuple[int, ...] | None = None,
    codec: str = DEFAULT_CODEC,
    inputs: Sequence[str | os.PathLike[str]] = (),
    scheduler: str | None = None,
    threads: int | None = None,
    progress: str = "off",
    pyramid: int = 0,
    space_check: bool = True,
    zarr_format: int = 3,
    storage_options: dict[str, Any] | None = None,
) -> Path | ObjectPath:
    """Write ``array`` to ``path`` as a Zarr v3 (OME-Zarr 0.5) raster, one task per chunk.

    A dask array is computed here, chunk by chunk: each chunk is written as
    soon as it is computed (to a temporary name, then renamed into place)
    and recorded in the output's completion record, so memory is bounded by
    the chunks in flight and an interrupted write can be resumed.

    Parameters
    ----------
    array : (y, x) or (band, y, x) array_like, dask.array.Array or xarray.DataArray
        Any boolean, integer or real floating dtype, stored as it is. A
        ``(y, x)`` array is stored as one band. A DataArray's nodata
        (``_FillValue``, as rioxarray declares it) is stored as ``nodata``.
    path : str or os.PathLike
        The output store: a directory, conventionally ending in ``.zarr``, or
        a URL ``s3://``, ``gs://``, ``az://`` or ``memory://`` (README, "Object
        storage").
    overwrite : bool, optional
        Replace an existing output. Without it an existing output is refused.
        Only a store tiledproc wrote (its ``zarr.json`` carries tiledproc's
        provenance) is ever replaced; a directory or file of anything else,
        the working or home directory or an ancestor of either, and an
        input or its ancestor are refused (README, "Data safety").
    resume : bool, optional
        Finish an interrupted write of the *same* computation: chunks the
        completion record lists are kept, only the others are computed. The
        result is bit-identical to an uninterrupted run. An output made by a
        different computation, or whose inputs changed since it was begun,
        is refused. Recorded chunks that are missing or damaged are computed
        again.
    attrs : dict, optional
        Provenance and metadata. The keys ``operation``, ``parameters`` and
        ``input`` go to ``attrs["tiledproc"]`` next to the tiledproc version
        and the fingerprint; any other key is stored as a group attribute.
    chunks : tuple of int, optional
        Stored chunk shape, one positive size per axis of the stored
        ``(band, y, x)`` array; default: the dask chunks (numpy: 1 x 1024 x
        1024, clipped to the shape).
    codec : {'lz4', 'zstd', 'zstd-1', 'zstd-plain', 'none'}, optional
        One of :data:`tiledproc.io.codecs.CODECS` (default ``'lz4'``:
        Blosc-LZ4 with byte shuffle).
    inputs : sequence of str or os.PathLike, optional
        Input stores the result is made from: the output may not be, or be
        inside, or contain any of them. The output inherits the first one's
        georeferencing (CRS, transform), nodata and band names; without
        ``inputs``, those of the first store or TIFF the dask array's graph
        reads (:func:`open_raster`, :func:`read_tiff`). ``attrs`` override them.
    scheduler : str, optional
        ``'threads'`` (default), ``'processes'``, ``'synchronous'`` or a
        ``tcp://`` address of a running dask.distributed scheduler.
    threads : int, optional
        Local threads (or processes) to use; default: the CPUs this process
        may use (its affinity and cgroup quota), or dask's ``num_workers``
        config.
    progress : {'off', 'auto', 'bar', 'log'}, optional
        How progress is shown on stderr (default ``'off'``; ``'auto'``: a bar
        on a terminal, log lines otherwise).
    pyramid : int, optional
        Add this many 2x downsampled levels (OME-Zarr multiscales) for
        viewers and ``tiledproc preview`` (0 to 20, default 0).
    space_check : bool, optional
        Refuse an output larger, uncompressed, than the free space of its
        file system (default). Turn it off for data known to compress well.
        Object stores are not checked.
    zarr_format : {3, 2}, optional
        3 (default): Zarr v3, OME-Zarr 0.5. 2: Zarr v2 with OME-Zarr 0.4
        metadata, for readers that know only v2 (GDAL up to 3.12); the
        fill value is the declared nodata.
    storage_options : dict, optional
        For URLs (the output and any URL in ``inputs``): ``endpoint``,
        ``region``, ``anonymous``, ``profile``, ... ; by default each cloud's
        environment and credential chain. Never written to the output.

    Returns
    -------
    path : pathlib.Path or ObjectPath
        The output store (``path`` with ``~`` expanded; a URL as an
        ``ObjectPath``, whose ``str`` is the URL).

    Raises
    ------
    InvalidParameterError
        ``array`` is not ``(y, x)`` or ``(band, y, x)`` or not of a real
        numeric dtype, ``chunks`` does not fit it, or ``codec``,
        ``scheduler``, ``progress`` or ``pyramid`` is not one of the values
        above.
    OutputExistsError
        The output exists and neither ``overwrite`` nor ``resume`` is given.
    UnsafeOutputError
        The path is one tiledproc never writes over (see ``overwrite``).
    OutputInsideInputError
        The output is, lies inside or contains one of ``inputs``.
    ResumeMismatchError
        ``resume`` on an output of another computation or of changed inputs.
    OutputLockedError
        Another run is writing the output.
    ResourceLimitError
        The raster, a chunk or the output is too large (the free space check
        included).
    StorageError
        The output cannot be written (no space left, a read-only file
        system, permissions); the message names the file.
    ClusterError
        The scheduler at a ``tcp://`` address cannot be reached.

    Notes
    -----
    Everything that can be refused (the parameters, the paths, the sizes
    and the free space, the scheduler) is refused before any store is
    created. A write that fails before its first chunk is written removes
    the store it made; one that fails later leaves a store that
    ``resume=True`` finishes.

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> import numpy as np
    >>> from tiledproc import open_raster, save_raster
    >>> directory = tempfile.mkdtemp()
    >>> path = save_raster(np.ones((2, 3, 4), dtype=np.uint16), os.path.join(directory, "ones.zarr"),
    ...                    attrs={"operation": "example"})
    >>> path.name
    'ones.zarr'
    >>> open_raster(path).sum().compute().tolist()
    24
    >>> shutil.rmtree(directory)
    """
    attrs = dict(attrs or {})
    if is_dataarray(array):  # its nodata is declared, its data written
        nd = dataarray_nodata(array)
        if nd is not None:
            attrs.setdefault("nodata", json_safe(nd))
        array = array.data
    attrs = {**inherited_attrs(array, inputs), **attrs}
    provenance = {k: attrs.pop(k) for k in ("operation", "parameters", "input") if k in attrs}
    provenance.setdefault("operation", "save_raster")
    spec = OutputSpec(path, array, chunks=chunks, codec=codec, provenance=provenance, attrs=attrs,
                      zarr_format=zarr_format, storage_options=storage_options)
    inputs = [as_location(i, storage_options) if is_url(i) else i for i in inputs]
    write_outputs([spec], overwrite=overwrite, resume=resume, inputs=inputs,
                  scheduler=parse_scheduler(scheduler, workers=threads),
                  progress=progress, pyramid=pyramid, space_check=space_check)
    return spec.path
