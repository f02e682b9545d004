"""Zarr and TIFF in and out. No maths here."""

from .ingest import ingest_tiff
from .save import save_raster
from .tiff import read_tiff
from .zarr_store import open_raster, raster_info, read_attrs

__all__ = ["open_raster", "save_raster", "ingest_tiff", "read_tiff", "raster_info", "read_attrs"]
