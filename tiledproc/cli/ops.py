"""One command per operation, made from the operation registry, and ``tiledproc ops``.

``tiledproc window-stats SCENE --size 15 --mean mean.zarr --variance var.zarr``
builds the one-step pipeline ``[input] → [steps.<op>] → [outputs]`` and runs
it exactly as ``tiledproc run`` would: same validation, progress, resume and
schedulers.
"""

from __future__ import annotations

import click

from ..errors import ConfigError, UnsafeOutputError
from ..pipeline.config import parse_pipeline
from ..pipeline.operations import all_operations
from ..pipeline.registry import Operation, Param
from . import cli, options


def _size(value: str):
    try:
        parts = [int(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected an odd integer or SIZE_Y,SIZE_X, got {value!r}") from None
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return parts
    raise click.BadParameter(f"expected an odd integer or SIZE_Y,SIZE_X, got {value!r}")


def _floats(value: str):
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None


def _param_option(p: Param):
    flag = "--" + p.name.replace("_", "-")
    kind = p.kind.rstrip("?")
    default_text = "" if p.required or p.default is None else f" [default: {p.default}]"
    help_ = (p.help or p.name) + default_text
    if kind == "bool":
        return click.option(f"{flag}/--no-{p.name.replace('_', '-')}", p.name, default=None, help=help_)
    if p.choices:
        typ = click.Choice([str(c) for c in p.choices])
    else:
        typ = {"int": int, "float": float, "str": str}.get(kind)
    if kind == "size":
        return click.option(flag, p.name, required=p.required, default=None, metavar="N|NY,NX",
                            callback=lambda c, prm, v: None if v is None else _size(v), help=help_)
    if kind == "floats":
        return click.option(flag, p.name, required=p.required, default=None, metavar="A,B,...",
                            callback=lambda c, prm, v: None if v is None else _floats(v), help=help_)
    return click.option(flag, p.name, type=typ, required=p.required, default=None, help=help_)


def _as_options(e: ConfigError, step: str) -> ConfigError:
    """The error named as the command's options: ``--size``, ``--labels``, ``INPUT``."""
    if e.table is None:
        return e
    if e.table == f"steps.{step}":
        name = e.key and "--" + e.key.replace("_", "-")
    elif e.table in ("input", "inputs.input"):
        name = "INPUT" if e.key == "path" else f"--{e.key}"
    elif e.table.startswith("inputs."):
        name = "--" + e.table.split(".", 1)[1] if e.key == "path" else f"--{e.key}"
    else:
        return e
    return ConfigError(f"{e.source}: {name}: {e.detail}" if name else f"{e.source}: {e.detail}")


def _make_command(op: Operation):
    outs = ", ".join(f"--{o.replace('_', '-')} PATH" for o in op.outputs)

    def command(input_path, chunks, nodata, overwrite, resume, scheduler, threads, cluster, progress, codec,
                pyramid, allow_incomplete, space_check, zarr_format, **kw):
        from ..pipeline.run import RunOptions, run_pipeline, summary_text  # dask: only when a command runs

        extra_inputs = {role: kw.pop(role) for role in op.inputs if role != "input"}
        out_paths = {o: kw.pop(f"out_{o}") for o in op.outputs}
        for o, path in out_paths.items():
            if path is not None and not str(path).strip():
                raise UnsafeOutputError(f"--{o.replace('_', '-')}: the output path is empty; give the store to write.")
        if not any(out_paths.values()):
            raise click.UsageError(f"give at least one output: {outs}")
        params = {k: v for k, v in kw.items() if v is not None}
        data = {
            "pipeline": {"name": op.name},
            "input": {"path": input_path, **({"chunks": list(chunks)} if chunks else {}),
                      **({"nodata": nodata} if nodata is not None else {})},
            "inputs": {role: {"path": path} for role, path in extra_inputs.items()},
            "steps": {op.name: {"op": op.name, **{role: role for role in extra_inputs}, **params}},
            "outputs": {o: {"from": f"{op.name}.{o}", "path": path} for o, path in out_paths.items() if path},
        }
        try:
            p = parse_pipeline(data, source=f"tiledproc {op.name.replace('_', '-')}")
            result = run_pipeline(p, RunOptions(overwrite, resume, scheduler, cluster, progress, codec, pyramid,
                                                        allow_incomplete=allow_incomplete,
                                                        space_check=space_check, threads=threads,
                                                        zarr_format=zarr_format),
                                  echo=click.echo)
        except ConfigError as e:  # name the option the user typed, not the pipeline key
            raise _as_options(e, op.name) from e
        click.echo(summary_text(result))

    command.__doc__ = f"{op.summary[0].upper()}{op.summary[1:]} of INPUT (a Zarr store or a TIFF).\n\n" \
                      f"Outputs: {outs} (at least one)."
    cmd = command
    for o in reversed(op.outputs):
        cmd = click.option(f"--{o.replace('_', '-')}", f"out_{o}", type=click.Path(), default=None,
                           help=f"Write the {o} here.")(cmd)
    for p in reversed(op.params):
        cmd = _param_option(p)(cmd)
    for role in reversed([r for r in op.inputs if r != "input"]):
        cmd = click.option(f"--{role}", role, type=click.Path(), required=True,
                           help=f"The {role} store (Zarr or TIFF).")(cmd)
    cmd = options.run_options(cmd)
    cmd = options.nodata(cmd)
    cmd = options.chunks(cmd)
    cmd = click.argument("input_path", metavar="INPUT", type=click.Path())(cmd)
    return cli.command(name=op.name.replace("_", "-"), short_help=op.summary)(cmd)


for _op in all_operations().values():
    _make_command(_op)


@cli.command("ops")
def list_ops():
    """List the operations a pipeline step can run, with their parameters."""
    for op in all_operations().values():
        inputs = ", ".join(op.inputs)
        click.echo(f"{op.name}({inputs}) -> {', '.join(op.outputs)}: {op.summary}")
        for p in op.params:
            default = "required" if p.required else f"default {p.default!r}"
            choices = f", one of {', '.join(map(str, p.choices))}" if p.choices else ""
            click.echo(f"    {p.name} ({p.kind}, {default}{choices}): {p.help}")
