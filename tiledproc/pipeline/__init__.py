"""Pipeline files (TOML) -> validated steps -> one dask graph -> outputs."""

from .._lazy import lazy_exports

_EXPORTS = {
    "Pipeline": ".config",
    "load_pipeline": ".config",
    "parse_pipeline": ".config",
    "OPERATIONS": ".operations",
    "all_operations": ".operations",
    "Operation": ".registry",
    "Param": ".registry",
    "RunOptions": ".run",
    "default_pipeline": ".run",
    "run_pipeline": ".run",
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

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
