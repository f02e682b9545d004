"""Pipeline files (TOML) -> a validated :class:`Pipeline`.

Every mistake is reported before any work starts, as one
:class:`~tiledproc.errors.ConfigError` naming the file, the table and the
key. Relative paths are relative to the directory of the pipeline file.

Format::

    [input]                      # the pipeline input: a Zarr store or a TIFF
    path = "scene.zarr"
    chunks = [1, 1024, 1024]     # optional: read chunks (TIFF default 1x1024x1024)
    [input.synth]                # optional: make a synthetic raster there if missing
    shape = [4, 2048, 2048]

    [inputs.labels]              # more named inputs, referred to by name
    path = "labels.zarr"

    [steps.stats]                # named steps, run in file order
    op = "window_stats"          # `tiledproc ops` lists operations and parameters
    input = "input"              # default; or "<step>" / "<step>.<output>" / an input name
    size = 15

    [outputs.mean]
    from = "stats.mean"
    path = "out/mean.zarr"
    codec = "lz4"                # optional

    [run]                        # optional defaults for the command line options
    scheduler = "threads"        # threads | processes | synchronous | tcp://host:port
    cluster = "local:2"          # a distributed LocalCluster of N worker processes
    progress = "auto"            # auto | bar | log | off
    overwrite = false
    pyramid = 0                  # extra 2x pyramid levels in every output

    [cluster]                    # a SLURM/PBS cluster through dask-jobqueue
    type = "slurm"
    ...
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from ..errors import ConfigError, TiledprocError
from ..io.codecs import CODECS
from .registry import Operation, all_operations

log = logging.getLogger("tiledproc")

__all__ = ["Pipeline", "InputDecl", "StepDecl", "OutputDecl", "load_pipeline", "parse_pipeline", "Ref"]

TOP_LEVEL = ("pipeline", "input", "inputs", "steps", "outputs", "run", "cluster")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
RUN_KEYS = {
    "scheduler": str, "cluster": str, "progress": str, "overwrite": bool, "pyramid": int, "codec": str,
    "log_interval": (int, float),
}
SYNTH_KEYS = {"kind": str, "shape": list, "dtype": str, "chunks": list, "seed": int, "cell": int}


@dataclass(frozen=True)
class Ref:
    """A reference to an array: an input, or one output of a step."""

    source: str
    output: str | None = None

    def __str__(self) -> str:
        return self.source if self.output is None else f"{self.source}.{self.output}"


@dataclass
class InputDecl:
    name: str
    path: Path
    chunks: tuple[int, ...] | None = None
    synth: dict | None = None
    series: int = 0


@dataclass
class StepDecl:
    name: str
    op: Operation
    params: dict
    inputs: dict[str, Ref]
    raw: dict = field(default_factory=dict)


@dataclass
class OutputDecl:
    name: str
    ref: Ref
    path: Path
    codec: str | None = None
    chunks: tuple[int, ...] | None = None


@dataclass
class Pipeline:
    source: str
    base: Path
    inputs: dict[str, InputDecl]
    steps: dict[str, StepDecl]
    outputs: dict[str, OutputDecl]
    run: dict = field(default_factory=dict)
    cluster: dict = field(default_factory=dict)
    name: str = "pipeline"


class _Ctx:
    def __init__(self, source: str):
        self.source = source

    def fail(self, table: str | None, key: str | None, message: str):
        raise ConfigError.at(self.source, table, key, message)


def load_pipeline(path, *, base: Path | None = None) -> Pipeline:
    """Read and validate a pipeline file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"Pipeline file {str(p)!r} does not exist.")
    if p.is_dir():
        raise ConfigError(f"Pipeline file {str(p)!r} is a directory; give the .toml file.")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file (a pipeline is a TOML file).") from None
    return parse_pipeline(data, source=str(p), base=base if base is not None else p.parent)


def _check_types(ctx: _Ctx, table: str, data: dict, allowed: dict) -> None:
    for key, value in data.items():
        if key not in allowed:
            ctx.fail(table, key, f"unknown key; expected one of {', '.join(sorted(allowed))}.")
        kinds = allowed[key]
        if kinds is not None and (not isinstance(value, kinds) or (kinds is int and isinstance(value, bool))):
            names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
            ctx.fail(table, key, f"expected {names}, got {value!r}.")


def _int_list(ctx, table, key, value, length=None) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        ctx.fail(table, key, f"expected a list of positive integers, got {value!r}.")
    if length is not None and len(value) != length:
        ctx.fail(table, key, f"expected {length} integers (band, y, x), got {value!r}.")
    return tuple(value)


def _parse_input(ctx, table: str, name: str, data, base: Path) -> InputDecl:
    if not isinstance(data, dict):
        ctx.fail(table, None, f"expected a table with a path, got {data!r}.")
    _check_types(ctx, table, data, {"path": str, "chunks": list, "synth": dict, "series": int})
    if "path" not in data:
        ctx.fail(table, "path", "missing; give the Zarr store or TIFF to read.")
    path = Path(data["path"]).expanduser()
    if not path.is_absolute():
        path = base / path
    chunks = _int_list(ctx, table, "chunks", data["chunks"], 3) if "chunks" in data else None
    synth = data.get("synth")
    if synth is not None:
        _check_types(ctx, f"{table}.synth", synth, SYNTH_KEYS)
        kind = synth.get("kind", "scene")
        if kind not in ("scene", "labels"):
            ctx.fail(f"{table}.synth", "kind", f"expected 'scene' or 'labels', got {kind!r}.")
        if "shape" in synth:
            _int_list(ctx, f"{table}.synth", "shape", synth["shape"], 3)
        if "chunks" in synth:
            _int_list(ctx, f"{table}.synth", "chunks", synth["chunks"], 3)
    return InputDecl(name, path, chunks, synth, data.get("series", 0))


def _parse_ref(ctx, table, key, value, known: dict[str, tuple[str, ...] | None]) -> Ref:
    """``known``: input names -> None, step names -> their outputs."""
    if not isinstance(value, str) or not value:
        ctx.fail(table, key, f"expected the name of an input or of an earlier step's output, got {value!r}.")
    source, _, output = value.partition(".")
    if source not in known:
        choices = ", ".join(repr(k) for k in known) or "none"
        ctx.fail(table, key, f"{value!r} is not an input or an earlier step (known: {choices}).")
    outputs = known[source]
    if outputs is None:
        if output:
            ctx.fail(table, key, f"input {source!r} has no outputs; refer to it as {source!r}.")
        return Ref(source)
    if not output:
        if len(outputs) != 1:
            ctx.fail(table, key, f"step {source!r} has several outputs; choose one of "
                                 f"{', '.join(repr(f'{source}.{o}') for o in outputs)}.")
        return Ref(source, outputs[0])
    if output not in outputs:
        ctx.fail(table, key, f"step {source!r} has no output {output!r}; its outputs are "
                             f"{', '.join(repr(o) for o in outputs)}.")
    return Ref(source, output)


def parse_pipeline(data: dict, *, source: str = "<pipeline>", base: Path | None = None) -> Pipeline:
    """Validate a pipeline given as a dict (the parsed TOML)."""
    ctx = _Ctx(source)
    base = Path.cwd() if base is None else Path(base)
    for key in data:
        if key not in TOP_LEVEL:
            ctx.fail(None, None, f"unknown table [{key}]; expected {', '.join(f'[{t}]' for t in TOP_LEVEL)}.")
    meta = data.get("pipeline", {})
    if not isinstance(meta, dict):
        ctx.fail("pipeline", None, "expected a table.")
    _check_types(ctx, "pipeline", meta, {"name": str, "description": str})

    # inputs
    inputs: dict[str, InputDecl] = {}
    if "input" in data:
        inputs["input"] = _parse_input(ctx, "input", "input", data["input"], base)
    extra = data.get("inputs", {})
    if not isinstance(extra, dict):
        ctx.fail("inputs", None, "expected tables [inputs.NAME] with a path each.")
    for name, decl in extra.items():
        if not NAME.match(name) or name in inputs:
            ctx.fail(f"inputs.{name}", None, "input names are identifiers, each used once "
                                             "([input] is the input called 'input').")
        inputs[name] = _parse_input(ctx, f"inputs.{name}", name, decl, base)
    if not inputs:
        ctx.fail("input", None, "missing; a pipeline needs an [input] table with a path.")

    # steps
    ops = all_operations()
    steps_data = data.get("steps", {})
    if not isinstance(steps_data, dict) or not steps_data:
        ctx.fail("steps", None, "missing; add at least one [steps.NAME] table with an op.")
    known: dict[str, tuple[str, ...] | None] = {name: None for name in inputs}
    steps: dict[str, StepDecl] = {}
    for name, raw in steps_data.items():
        table = f"steps.{name}"
        if not isinstance(raw, dict):
            ctx.fail(table, None, f"expected a table with an op, got {raw!r}.")
        if not NAME.match(name):
            ctx.fail(table, None, "step names are identifiers (letters, digits, _ and -).")
        if name in known:
            ctx.fail(table, None, f"the name {name!r} is already an input or a step.")
        if "op" not in raw:
            ctx.fail(table, "op", f"missing; one of {', '.join(sorted(ops))}.")
        opname = raw["op"]
        if opname not in ops:
            ctx.fail(table, "op", f"unknown operation {opname!r}; expected one of {', '.join(sorted(ops))}.")
        op = ops[opname]
        refs = {}
        for role in op.inputs:
            value = raw.get(role, "input" if role == "input" else None)
            if value is None:
                ctx.fail(table, role, f"missing; {opname} needs an array for {role!r} "
                                      f"(an input name or an earlier step's output).")
            refs[role] = _parse_ref(ctx, table, role, value, known)
        given = {k: v for k, v in raw.items() if k != "op" and k not in op.inputs}
        try:
            params = op.resolve_params(given)
        except KeyError as e:
            key = e.args[0]
            choices = ", ".join(["op"] + list(op.inputs) + [p.name for p in op.params])
            ctx.fail(table, key, f"unknown parameter of {opname}; expected one of {choices}.")
        except LookupError as e:
            key = e.args[0]
            ctx.fail(table, key, f"missing; {opname} requires it ({op.param(key).help}).")
        except TiledprocError as e:
            ctx.fail(table, getattr(e, "key", None) or which_key(given, e), str(e))
        steps[name] = StepDecl(name, op, params, refs, raw)
        known[name] = op.outputs

    # outputs
    out_data = data.get("outputs", {})
    if not isinstance(out_data, dict) or not out_data:
        ctx.fail("outputs", None, "missing; add at least one [outputs.NAME] table with from and path.")
    outputs: dict[str, OutputDecl] = {}
    for name, raw in out_data.items():
        table = f"outputs.{name}"
        if isinstance(raw, str):
            ctx.fail(table, None, f"expected a table with from and path, e.g. "
                                  f"{name} = {{ from = \"step.output\", path = \"{name}.zarr\" }}.")
        if not isinstance(raw, dict):
            ctx.fail(table, None, f"expected a table with from and path, got {raw!r}.")
        _check_types(ctx, table, raw, {"from": str, "path": str, "codec": str, "chunks": list})
        for key in ("from", "path"):
            if key not in raw:
                ctx.fail(table, key, "missing.")
        ref = _parse_ref(ctx, table, "from", raw["from"], known)
        if ref.output is None:
            ctx.fail(table, "from", "an output must come from a step, not straight from an input.")
        if "codec" in raw and raw["codec"] not in CODECS:
            ctx.fail(table, "codec", f"expected one of {', '.join(repr(c) for c in CODECS)}, got {raw['codec']!r}.")
        path = Path(raw["path"]).expanduser()
        if not path.is_absolute():
            path = base / path
        chunks = _int_list(ctx, table, "chunks", raw["chunks"], 3) if "chunks" in raw else None
        outputs[name] = OutputDecl(name, ref, path, raw.get("codec"), chunks)

    _warn_unused_steps(source, steps, outputs)

    run = data.get("run", {})
    if not isinstance(run, dict):
        ctx.fail("run", None, "expected a table.")
    _check_types(ctx, "run", run, RUN_KEYS)
    if run.get("progress", "auto") not in ("auto", "bar", "log", "off"):
        ctx.fail("run", "progress", f"expected auto, bar, log or off, got {run['progress']!r}.")
    if "codec" in run and run["codec"] not in CODECS:
        ctx.fail("run", "codec", f"expected one of {', '.join(repr(c) for c in CODECS)}, got {run['codec']!r}.")
    if run.get("pyramid", 0) < 0:
        ctx.fail("run", "pyramid", f"expected a number of levels >= 0, got {run['pyramid']!r}.")
    cluster = data.get("cluster", {})
    if not isinstance(cluster, dict):
        ctx.fail("cluster", None, "expected a table.")
    if cluster:
        from ..engine.jobqueue import check_cluster_config

        try:
            check_cluster_config(cluster)
        except TiledprocError as e:
            ctx.fail("cluster", getattr(e, "key", None), str(e))
    return Pipeline(source, base, inputs, steps, outputs, dict(run), dict(cluster), meta.get("name", "pipeline"))


def unused_steps(steps: dict[str, StepDecl], outputs: dict[str, OutputDecl]) -> list[str]:
    """Steps that no output depends on (they are never computed)."""
    needed: set[str] = set()
    todo = [o.ref.source for o in outputs.values()]
    while todo:
        name = todo.pop()
        if name in needed or name not in steps:
            continue
        needed.add(name)
        todo.extend(r.source for r in steps[name].inputs.values())
    return [name for name in steps if name not in needed]


def _warn_unused_steps(source, steps, outputs) -> None:
    for name in unused_steps(steps, outputs):
        outs = steps[name].op.outputs
        example = name if len(outs) == 1 else f"{name}.{outs[0]}"
        log.warning("%s: [steps.%s] is not used by any output, so it will not run; "
                    "add an [outputs.NAME] with from = \"%s\" to write it.", source, name, example)


def which_key(given, error: Exception) -> str | None:
    """The parameter an operation's error message is about ("Expected size to ...")."""
    text = str(error)
    for key in given:
        if f"Expected {key} " in text:
            return key
    return None
