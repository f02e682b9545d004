"""``tiledproc export STORE OUT.tif``: a raster store to a Cloud-Optimized GeoTIFF."""

from __future__ import annotations

import time

import click

from . import cli, options


@cli.command()
@click.argument("store", type=click.Path())
@click.argument("out", type=click.Path())
@options.overwrite
@options.allow_incomplete
@click.option("--tile", type=int, default=512, show_default=True,
              help="Tile size in pixels (a multiple of 16 from 16 to 4096).")
@click.option("--compress", "compression", type=click.Choice(["deflate", "none"]), default="deflate",
              show_default=True, help="Tile compression.")
def export(store, out, overwrite, allow_incomplete, tile, compression):
    """Write the raster STORE as the Cloud-Optimized GeoTIFF OUT, out of core.

    CRS (GeoKeys), transform, nodata (GDAL_NODATA) and band descriptions
    come from the store; overviews are its pyramid levels, or computed.
    QGIS, GDAL and rasterio open the result directly (also over HTTP).
    """
    from ..jobs.export import export_cog  # dask and zarr: when the export runs

    start = time.perf_counter()
    path = export_cog(store, out, overwrite=bool(overwrite), tile=tile, compression=compression,
                      allow_incomplete=allow_incomplete)
    click.echo(f"exported {store} -> {path} in {time.perf_counter() - start:.2f} s")
