"""Jobs: computations written to stores, on an executor.

``write_outputs`` (:mod:`.write`) runs every chunk write of a set of
outputs in one graph and keeps their completion records; ``save_raster``,
``ingest_tiff`` and the pyramid levels (:mod:`.pyramid`) are jobs built on
it. This is the one layer that joins storage (:mod:`tiledproc.io`) and
execution (:mod:`tiledproc.execute`).
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "ingest_tiff": ".ingest",
    "export_cog": ".export",
    "save_raster": ".save",
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = ["save_raster", "ingest_tiff", "export_cog"]
