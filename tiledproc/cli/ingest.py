"""``tiledproc ingest SRC DST``: TIFF/BigTIFF/GeoTIFF to Zarr without loading the file."""

from __future__ import annotations

import logging
import time

import click

from ..io.codecs import DEFAULT_CODEC
from ..io.remote import as_location, bytes_read, is_url
from . import cli, options

log = logging.getLogger("tiledproc")


@cli.command()
@click.argument("src", type=click.Path())
@click.argument("dst", type=click.Path())
@options.chunks
@options.overwrite
@options.resume
@options.codec
@options.scheduler
@options.progress
@options.threads
@options.no_space_check
@click.option("--series", type=click.IntRange(0), default=0, help="Image series of the TIFF (default 0).")
def ingest(src, dst, chunks, overwrite, resume, codec, scheduler, progress, threads, space_check, series):
    """Convert the TIFF SRC to the Zarr store DST, region by region.

    (y, x) becomes (1, y, x), (y, x, samples) becomes (samples, y, x).
    Georeferencing and nodata go into the attributes. SRC is never modified.
    """
    from ..execute.schedulers import parse_scheduler
    from ..jobs.ingest import ingest_tiff

    start = time.perf_counter()
    path = ingest_tiff(src, dst, chunks=chunks, overwrite=bool(overwrite), resume=resume,
                       codec=codec or DEFAULT_CODEC, series=series,
                       scheduler=parse_scheduler(scheduler, workers=threads), progress=progress or "auto",
                       space_check=space_check)
    click.echo(f"ingested {src} -> {path} in {time.perf_counter() - start:.2f} s")
    if is_url(src):
        from .._format import format_bytes

        loc = as_location(src)
        total = loc.stat().st_size
        got = bytes_read(str(loc))
        click.echo(f"read {format_bytes(got)} of {format_bytes(total)} from {loc} with range requests "
                   f"({got} of {total} bytes)")
