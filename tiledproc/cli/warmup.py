"""``tiledproc warmup``: compile every kernel into numba's cache (e.g. in a cluster job's prologue)."""

from __future__ import annotations

import os
import time

import click

from . import cli


@cli.command()
@click.option("--family", "families", multiple=True,
              type=click.Choice(["derivatives", "labels", "gabor", "window", "palette"]),
              help="Only these kernel families (repeatable; default: all).")
def warmup(families):
    """Compile every kernel (every version the operations can use) into numba's cache.

    The first use of a kernel compiles it (a few seconds per kernel family);
    the compiled code is cached in NUMBA_CACHE_DIR (default: __pycache__
    beside tiledproc's sources), so later processes that see the same cache
    start at once. Run this once per machine image, or in the prologue of a
    cluster job or a CI run with NUMBA_CACHE_DIR on a path every worker
    shares. Prints, per family, how long it took and how many functions were
    compiled (0: already cached).
    """
    from ..kernels.warmup import FAMILY_ORDER, warm_all

    cache = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ beside tiledproc's sources (NUMBA_CACHE_DIR not set)"
    click.echo(f"numba cache: {cache}")
    start = time.perf_counter()

    def report(r):
        what = f"compiled {r.compiled} functions" if r.compiled else "already cached"
        click.echo(f"  {r.family:<12} {r.seconds:6.1f} s  ({what})")

    results = warm_all(families or FAMILY_ORDER, report=report)
    total = sum(r.compiled for r in results)
    click.echo(f"warmup done in {time.perf_counter() - start:.1f} s: {total} functions compiled")
