"""``tiledproc verify STORE``: check every chunk of an output against its completion record."""

from __future__ import annotations

import json
import sys

import click

from ..io.record import verify_output
from . import cli


@cli.command()
@click.argument("store", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-decode", "decode", flag_value=False, default=True,
              help="Check sizes and checksums only, without decoding the chunks (faster).")
def verify(store, as_json, decode):
    """Check that every chunk of STORE (a tiledproc output) is present and intact.

    Each chunk the completion record lists must have its recorded size and
    CRC-32 and decode; pyramid levels must decode. Exit status 0 when the
    output is complete and intact, 1 when a chunk is missing or damaged or
    the output is incomplete (run the command that made it again with
    --resume: it recomputes exactly those chunks), 2 for a path that is not a
    tiledproc output.
    """
    r = verify_output(store, decode=decode)
    damaged_levels = {k: v for k, v in r["levels"].items() if v != "ok"}
    ok = not r["bad"] and not r["unrecorded"] and r["complete"] and not damaged_levels
    if as_json:
        click.echo(json.dumps({**r, "ok": ok}, indent=2))
    else:
        click.echo(f"{r['path']}: {r['good']} of {r['chunks']} chunks intact"
                   + (f", {len(r['bad'])} missing or damaged" if r["bad"] else "")
                   + (f", {r['unrecorded']} never finished (incomplete run)" if r["unrecorded"] else "")
                   + ("" if r["complete"] else "; marked incomplete"))
        for f, why in list(r["bad"].items())[:20]:
            click.echo(f"  {f}: {why}")
        if len(r["bad"]) > 20:
            click.echo(f"  ... and {len(r['bad']) - 20} more")
        for level, why in damaged_levels.items():
            click.echo(f"  level {level}: {why}")
    if not ok:
        click.echo(f"tiledproc: {store}: not intact; run the command that made it again with --resume "
                   f"to recompute what is missing or damaged", err=True)
        sys.exit(1)
