"""Storage: Zarr and TIFF in and out, chunk by chunk. No maths and no scheduling here.

Reading (:mod:`.read`), pyramid levels (:mod:`.levels`), the write/resume
protocol of an output (:mod:`.output`, :mod:`.record`, :mod:`.stamps`),
what may be replaced and the writer lock (:mod:`.safety`), the direct chunk
path (:mod:`.chunkio`), TIFF (:mod:`.tiff`), PNG (:mod:`.png`) and metadata.
Jobs that write stores (``save_raster``, ``ingest_tiff``) are in
:mod:`tiledproc.jobs`.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "open_raster": ".read",
    "raster_nodata": ".read",
    "raster_info": ".read",
    "read_attrs": ".read",
    "read_tiff": ".tiff",
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = ["open_raster", "raster_nodata", "read_tiff", "raster_info", "read_attrs"]
