"""``tiledproc info STORE``: what a store holds, how it is stored, where it came from."""

from __future__ import annotations

import json

import click

from .._format import format_bytes
from . import cli


def _codec_text(codecs) -> str:
    parts = []
    for c in codecs or []:
        name = c.get("name") if isinstance(c, dict) else str(c)
        cfg = c.get("configuration", {}) if isinstance(c, dict) else {}
        if name == "bytes":
            continue
        if name == "blosc":
            parts.append(f"blosc {cfg.get('cname')} level {cfg.get('clevel')} {cfg.get('shuffle')}")
        else:
            extra = " ".join(f"{k}={v}" for k, v in cfg.items())
            parts.append(f"{name} {extra}".strip())
    return ", ".join(parts) or "none (raw bytes)"


@cli.command()
@click.argument("store", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def info(store, as_json):
    """Shape, dtype, chunks, codec, size on disk and attributes of STORE."""
    from ..io.read import raster_info  # zarr: when a store is read, not for --help

    d = raster_info(store)
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(f"store:      {d['path']}" + (f" (array {d['array']!r})" if d["array"] else ""))
    click.echo(f"shape:      {tuple(d['shape'])}  ({', '.join(d['dimension_names']) or 'no axis names'})")
    click.echo(f"dtype:      {d['dtype']}")
    click.echo(f"chunks:     {tuple(d['chunks'])}" + (f", shards {tuple(d['shards'])}" if d["shards"] else ""))
    click.echo(f"codec:      {_codec_text(d['codecs'])}  (zarr v{d['zarr_format']}, fill {d['fill_value']})")
    ratio = f", ratio {d['ratio']:.2f}" if d["ratio"] else ""
    click.echo(f"size:       {format_bytes(d['nbytes'])} in memory, {format_bytes(d['bytes_on_disk'])} on disk{ratio}")
    if d["levels"]:
        click.echo(f"levels:     {', '.join(d['levels'])}")
    attrs = dict(d["attrs"])
    prov = attrs.pop("tiledproc", None)
    attrs.pop("ome", None)
    if prov:
        state = "complete" if prov.get("complete") else "INCOMPLETE (resume with --resume)"
        click.echo(f"provenance: {prov.get('operation')} by tiledproc {prov.get('version')}, {state}")
        for key in ("input", "parameters", "pipeline", "output", "created", "finished", "fingerprint"):
            if key in prov:
                click.echo(f"  {key}: {json.dumps(prov[key]) if not isinstance(prov[key], str) else prov[key]}")
    for key, value in attrs.items():
        text = json.dumps(value)
        click.echo(f"{key}: {text if len(text) < 200 else text[:197] + '...'}")
