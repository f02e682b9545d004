"""``save_raster``: write one array to a Zarr store, resumably."""

from __future__ import annotations

from pathlib import Path

from .write import write_outputs
from ..io.output import OutputSpec
from ..io.codecs import DEFAULT_CODEC

__all__ = ["save_raster"]


def save_raster(
    array,
    path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    attrs: dict | None = None,
    chunks=None,
    codec: str = DEFAULT_CODEC,
    inputs=(),
    scheduler=None,
    progress: str = "off",
    pyramid: int = 0,
    space_check: bool = True,
) -> Path:
    """Write ``array`` to ``path`` as a Zarr v3 (OME-Zarr 0.5) raster, one task per chunk.

    Parameters
    ----------
    array : (y, x) or (band, y, x) numpy or dask array
    path : str or Path
        The output store (a directory, conventionally ending in ``.zarr``).
    overwrite : bool
        Replace an existing output. Without it an existing output is refused.
        Only a store tiledproc wrote (its ``zarr.json`` carries tiledproc's
        provenance) is ever replaced; a directory or file of anything else,
        the working or home directory or an ancestor of either, and an
        input or its ancestor are refused (README, "Data safety").
    resume : bool
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
    chunks : tuple, optional
        Stored chunk shape; default: the dask chunks (numpy: 1 x 1024 x 1024).
    codec : str
        One of :data:`tiledproc.io.codecs.CODECS` (default ``"lz4"``).
    inputs : sequence of paths
        Input stores the result is made from: the output may not be, or be
        inside, or contain any of them. A dask array read with
        :func:`open_raster` adds nothing here by itself; pass its path.
    scheduler : str, optional
        ``"threads"`` (default), ``"processes"``, ``"synchronous"`` or a
        ``tcp://`` address.
    progress : {"off", "auto", "bar", "log"}
    pyramid : int
        Add this many 2x downsampled levels (OME-Zarr multiscales) for
        viewers and ``tiledproc preview`` (0 to 20).
    space_check : bool
        Refuse an output larger, uncompressed, than the free space of its
        file system (default). Turn it off for data known to compress well.

    Returns
    -------
    path : Path
    """
    attrs = dict(attrs or {})
    provenance = {k: attrs.pop(k) for k in ("operation", "parameters", "input") if k in attrs}
    provenance.setdefault("operation", "save_raster")
    spec = OutputSpec(Path(path), array, chunks=chunks, codec=codec, provenance=provenance, attrs=attrs)
    write_outputs([spec], overwrite=overwrite, resume=resume, inputs=inputs, scheduler=scheduler,
                  progress=progress, pyramid=pyramid, space_check=space_check)
    return spec.path
