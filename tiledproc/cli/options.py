"""Options shared by several commands, defined once (the ``rio`` way)."""

from __future__ import annotations

import click

from ..io.codecs import CODECS


def int_triple(example: str):
    """A click callback parsing ``B,Y,X`` into three positive integers."""

    def parse(ctx, param, value):
        if value is None:
            return None
        try:
            parts = tuple(int(v) for v in value.split(","))
        except ValueError:
            raise click.BadParameter(f"expected comma-separated integers such as {example}, got {value!r}") from None
        if len(parts) != 3 or min(parts) < 1:
            raise click.BadParameter(f"expected three positive integers such as {example}, got {value!r}")
        return parts

    return parse


overwrite = click.option("--overwrite", is_flag=True, default=None,
                         help="Replace outputs that already exist.")
resume = click.option("--resume", is_flag=True, default=False,
                      help="Finish an interrupted run: keep the chunks already written, compute the rest.")
scheduler = click.option("--scheduler", metavar="NAME|ADDRESS", default=None,
                         help="threads (default), processes, synchronous, or tcp://HOST:PORT of a dask cluster.")
cluster = click.option("--cluster", metavar="local:N", default=None,
                       help="Start a distributed LocalCluster of N worker processes for this run.")
progress = click.option("--progress", type=click.Choice(["auto", "bar", "log", "off"]), default=None,
                        help="Progress display; auto: a bar on a terminal, log lines otherwise.")
codec = click.option("--codec", type=click.Choice(sorted(CODECS)), default=None,
                     help="Compression of the outputs (default lz4).")
chunks = click.option("--chunks", metavar="B,Y,X", default=None, callback=int_triple("1,1024,1024"),
                      help="Chunk shape, e.g. 1,1024,1024: of the store written (ingest, synth), or "
                           "the chunks an operation reads and writes (default: as the input is stored).")
nodata = click.option("--nodata", metavar="VALUE|none", default=None,
                      help="Nodata of INPUT: a number or nan (pixels with it are missing in every operation), "
                           "or none (every pixel valid); default: the input's own (its store's nodata, a "
                           "TIFF's GDAL_NODATA).")
threads = click.option("--threads", type=click.IntRange(1, 4096), default=None, metavar="N",
                       help="Local threads (or processes) to use; default: the CPUs this process may use "
                            "(its affinity and cgroup quota), or dask's num_workers config.")
pyramid = click.option("--pyramid", type=click.IntRange(0, 20), default=None,
                       help="Add this many 2x downsampled levels to every output (for viewers).")

allow_incomplete = click.option("--allow-incomplete", is_flag=True, default=False,
                                help="Use inputs whose run was interrupted (their provenance says incomplete); "
                                     "warns. Better: finish them with --resume first.")
allow_shell = click.option("--allow-shell", is_flag=True, default=False,
                           help="Accept [cluster] keys of the pipeline file that become shell code in the batch "
                                "script (job_script_prologue, job_extra_directives, python); they are shown first.")
allow_remote_scheduler = click.option("--allow-remote-scheduler", is_flag=True, default=False,
                                      help="Connect to a scheduler address that the pipeline file names.")
zarr_format = click.option("--zarr-format", type=click.Choice(["3", "2"]), default=None,
                           callback=lambda ctx, param, value: int(value) if value else None,
                           help="3 (default): Zarr v3 / OME-Zarr 0.5. 2: Zarr v2 / OME-Zarr 0.4, for readers that "
                                "know only v2 (GDAL up to 3.12, so QGIS and rasterio).")
no_space_check = click.option("--no-space-check", "space_check", flag_value=False, default=True,
                              help="Write even when the outputs, uncompressed, exceed the target's free space "
                                   "(for data you know compresses well).")


def run_options(f):
    for opt in reversed([overwrite, resume, scheduler, threads, cluster, progress, codec, pyramid,
                         allow_incomplete, no_space_check, zarr_format]):
        f = opt(f)
    return f
