"""Sizes checked before any work: rasters, chunks and their number.

The limits, and why:

* **Chunks per raster: at most** :data:`MAX_CHUNKS` (1,000,000). The task
  graph holds a few tasks per chunk (about 1 KiB of driver memory each), so
  a raster of more chunks would spend gigabytes and minutes before its first
  chunk is read. 16 x 100000 x 100000 in 1024 x 1024 chunks is 153,664
  chunks; use larger chunks for more.
* **Chunk size: at most what the workers can hold.** A windowed operation
  holds about :data:`WORK_BYTES_PER_PIXEL` bytes per pixel of a chunk while
  it works on it (the block with its halo, float64 sums, the outputs); the
  workers together may use at most 80% of the machine's memory.
* **Raster size: at most** :data:`MAX_ELEMENTS` (2**50, a pebibyte of
  bytes): larger shapes are mistakes, whatever the disk.

Every refusal is a :class:`~tiledproc.errors.ResourceLimitError` that states
the size and the limit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from .errors import ResourceLimitError

__all__ = ["MAX_CHUNKS", "MAX_ELEMENTS", "WORK_BYTES_PER_PIXEL", "memory_bytes", "default_workers",
           "check_raster_size", "check_chunk_size"]

MAX_CHUNKS = 1_000_000
MAX_ELEMENTS = 2**50
WORK_BYTES_PER_PIXEL = 48


def default_workers() -> int:
    """Local workers when none are asked for: dask's ``num_workers`` config if set,
    else the CPUs this process may use (its affinity and cgroup quota, as
    ``dask.system.cpu_count`` reads them: a SLURM or PBS job pinned to 4 cores
    gets 4, ``taskset -c 0`` gets 1)."""
    import dask
    import dask.system

    configured = dask.config.get("num_workers", None)
    if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 1:
        return configured
    return max(1, dask.system.cpu_count())


def memory_bytes() -> int:
    """The memory this process may use: the machine's, or its cgroup's limit when lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        total = 16 * 2**30
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(f).read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def _bytes(n: float) -> str:
    from ._format import format_bytes

    return format_bytes(n)


def check_raster_size(shape: Sequence[int], chunks: Sequence[int], itemsize: int, what: str) -> None:
    """Refuse a raster of more than MAX_ELEMENTS values or MAX_CHUNKS chunks, before
    any dask array (or graph) of it is made. ``chunks`` is one chunk shape."""
    shape = [int(s) for s in shape]
    chunks = [max(1, min(int(c), max(s, 1))) for c, s in zip(chunks, shape)]
    elements = math.prod(shape)
    if elements > MAX_ELEMENTS:
        raise ResourceLimitError(
            f"{what} of shape {tuple(shape)} would hold {_bytes(elements * itemsize)}; tiledproc refuses rasters "
            f"of more than 2**50 values. Check the shape."
        )
    n = math.prod(-(-s // c) for s, c in zip(shape, chunks))
    if n > MAX_CHUNKS:
        raise ResourceLimitError(
            f"{what} of shape {tuple(shape)} in chunks of {tuple(chunks)} has {n:,} chunks; at most "
            f"{MAX_CHUNKS:,} are allowed (each costs graph memory before any work). Use larger chunks."
        )


def check_chunk_size(chunks: Sequence[int], what: str, workers: int | None = None) -> None:
    """Refuse chunks so large that the workers could not hold them while working."""
    pixels = math.prod(int(c) for c in chunks)
    workers = workers or default_workers()
    need = pixels * WORK_BYTES_PER_PIXEL * workers
    limit = 0.8 * memory_bytes()
    if need > limit:
        raise ResourceLimitError(
            f"{what}: chunks of {tuple(chunks)} need about {_bytes(need)} of working memory on {workers} "
            f"workers, more than this machine's {_bytes(limit)} (80% of memory); use smaller chunks "
            f"(--chunks)."
        )
