"""Pipeline files (TOML) -> validated steps -> one dask graph -> outputs."""

from .config import Pipeline, load_pipeline, parse_pipeline
from .operations import OPERATIONS, all_operations
from .registry import Operation, Param
from .run import RunOptions, default_pipeline, run_pipeline

__all__ = [
    "Pipeline",
    "load_pipeline",
    "parse_pipeline",
    "run_pipeline",
    "RunOptions",
    "default_pipeline",
    "Operation",
    "Param",
    "OPERATIONS",
    "all_operations",
]
