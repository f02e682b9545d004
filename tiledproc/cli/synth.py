"""``tiledproc synth DST``: a realistic synthetic raster, written chunk by chunk."""

from __future__ import annotations

import time

import click

from ..io.codecs import DEFAULT_CODEC
from . import cli, options


@cli.command()
@click.argument("dst", type=click.Path())
@click.option("--shape", default="16,5000,5000", show_default=True, callback=options.int_triple("16,5000,5000"),
              metavar="B,Y,X",
              help="Bands, rows, columns.")
@click.option("--kind", type=click.Choice(["scene", "labels"]), default="scene", show_default=True,
              help="scene: smooth fields, texture and noise; labels: superpixel-like int32 labels.")
@click.option("--dtype", type=click.Choice(["float32", "float64", "uint16"]), default="float32",
              show_default=True, help="Scene dtype (labels are int32).")
@click.option("--cell", type=click.IntRange(2), default=24, show_default=True, help="Label cell size in pixels.")
@click.option("--seed", type=int, default=0, show_default=True)
@options.chunks
@options.overwrite
@options.resume
@options.codec
@options.scheduler
@options.progress
@options.threads
@options.no_space_check
def synth(dst, shape, kind, dtype, cell, seed, chunks, overwrite, resume, codec, scheduler, progress, threads,
          space_check):
    """Write a synthetic raster to DST without ever holding it in memory."""
    from ..execute.schedulers import parse_scheduler
    from ..io.output import OutputSpec
    from ..jobs.write import write_outputs
    from ..synth import synth_labels, synth_scene

    chunks = chunks or (1, 1024, 1024)
    if kind == "labels":
        a = synth_labels(shape, cell=cell, chunks=chunks, seed=seed)
        params = {"kind": kind, "shape": list(shape), "cell": cell, "seed": seed}
    else:
        a = synth_scene(shape, dtype=dtype, chunks=chunks, seed=seed)
        params = {"kind": kind, "shape": list(shape), "dtype": dtype, "seed": seed}
    start = time.perf_counter()
    provenance = {"operation": "synth", "parameters": params}
    if kind == "labels":
        provenance["categorical"] = True
    spec = OutputSpec(dst, a, chunks=chunks, codec=codec or DEFAULT_CODEC, provenance=provenance)
    write_outputs([spec], overwrite=bool(overwrite), resume=resume, scheduler=parse_scheduler(scheduler, workers=threads),
                  progress=progress or "auto", label="synth", space_check=space_check)
    click.echo(f"wrote {kind} {shape} to {spec.path} in {time.perf_counter() - start:.2f} s")
