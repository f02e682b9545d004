"""Pipeline files (TOML) -> a validated :class:`Pipeline`.

Every mistake is reported before any work starts, as one
:class:`~tiledproc.errors.ConfigError` naming the file, the table and the
key. Relative paths are relative to the directory of the pipeline file.

Format::

    [input]                      # the pipeline input: a Zarr store or a TIFF
    path = "scene.zarr"
    chunks = [1, 1024, 1024]     # optional: read chunks (TIFF default 1x1024x1024)
    nodata = 0                   # optional: a number, nan, or "none"; default: the input's own
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

    [storage]                    # optional: options of the object stores the paths are
    endpoint = "http://127.0.0.1:9000"   # URLs in (s3://, gs://, az://, https://; no secrets:
    region = "us-east-1"                 # credentials come from the environment or a profile)
    [run]                        # optional defaults for the command line options
    scheduler = "threads"        # threads | processes | synchronous (an address needs
                                 # --allow-remote-scheduler, see below)
    cluster = "local:2"          # a distributed LocalCluster of N worker processes
    progress = "auto"            # auto | bar | log | off
    overwrite = false
    pyramid = 0                  # extra 2x pyramid levels in every output (0..20)
    codec = "lz4"                # the default codec of the outputs

    [cluster]                    # a SLURM/PBS cluster through dask-jobqueue
    type = "slurm"
    ...

Checked here, before any work (and before ``--dry-run`` builds the graph):

- every integer of the file fits in 64 bits (a larger one, or one too long
  for Python to read, is a ConfigError naming its key, never an
  OverflowError);
- ``[input.synth]``: ``kind`` scene or labels; ``dtype`` float32, float64 or
  uint16 for a scene (labels are int32); ``shape`` and ``chunks`` three
  positive integers (labels have one band); ``cell`` >= 2 and for labels
  only; ``seed`` an integer from 0 to 2**63 - 1;
- an output ``path`` is not empty and neither is nor contains the pipeline
  file's directory (``""``, ``"."``, ``".."``), which writing it would replace;
- ``[run]``: ``scheduler`` threads, processes, synchronous or an address
  (``tcp://host:port``), ``cluster`` local or local:N, not both; ``pyramid``
  an integer from 0 to 20.

What a file may not do without the user's consent is refused when the run
starts (``tiledproc.pipeline.run.resolve``): a scheduler address in
``[run]`` needs ``--allow-remote-scheduler`` (or the same ``--scheduler``),
and the ``[cluster]`` keys that become shell code need ``--allow-shell``
(see :mod:`tiledproc.execute.jobqueue`).
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path
from ..errors import ConfigError, TiledprocError
from ..io.codecs import CODECS
from ..io.remote import as_location, is_url
from ..io.safety import refuse_url
from .operations import all_operations
from .registry import Operation

log = logging.getLogger("tiledproc")

__all__ = ["Pipeline", "InputDecl", "StepDecl", "OutputDecl", "load_pipeline", "parse_pipeline", "Ref"]

TOP_LEVEL = ("pipeline", "input", "inputs", "steps", "outputs", "run", "cluster", "storage")
#: [storage] keys that carry secrets: refused in a file (they would end up in repositories)
SECRET_STORAGE_KEY = re.compile(r"secret|token|password|sas|account_key|credential|session", re.I)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
RUN_KEYS = {
    "scheduler": str, "cluster": str, "progress": str, "overwrite": bool, "pyramid": int, "codec": str,
    "zarr_format": int,
}
SCHEDULERS = ("threads", "processes", "synchronous", "sync", "single-threaded", "threading", "multiprocessing")
ADDRESS = re.compile(r"[a-z][a-z0-9+]*://[A-Za-z0-9_.\-\[\]:%]+")
LOCAL_CLUSTER = re.compile(r"local(?::(\d{1,4}))?")
MAX_PYRAMID = 20  # as --pyramid
SYNTH_KEYS = {"kind": str, "shape": list, "dtype": str, "chunks": list, "seed": int, "cell": int}
SYNTH_DTYPES = {"scene": ("float32", "float64", "uint16"), "labels": ("int32",)}
MAX_INT = 2**63 - 1  # every integer of a pipeline file fits in an int64


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
    #: "auto" (the input's own), a number, or None (no nodata: every pixel valid)
    nodata: Any = "auto"


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
    #: the [storage] table: options of the object stores named by URL
    storage: dict = field(default_factory=dict)


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
    except ValueError as e:  # an integer too long for int() (sys.get_int_max_str_digits)
        raise ConfigError(f"{p}: not a usable pipeline file: {e}.") from None
    return parse_pipeline(data, source=str(p), base=base if base is not None else p.parent)


def _check_types(ctx: _Ctx, table: str, data: dict, allowed: dict) -> None:
    for key, value in data.items():
        if key not in allowed:
            ctx.fail(table, key, f"unknown key; expected one of {', '.join(sorted(allowed))}.")
        kinds = allowed[key]
        if kinds is not None and (not isinstance(value, kinds) or (kinds is int and isinstance(value, bool))):
            names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
            ctx.fail(table, key, f"expected {names}, got {value!r}.")


def _check_integers(ctx, data, table: str | None = None) -> None:
    """Refuse integers beyond int64 anywhere in the file, naming the table and key."""

    def bad(value) -> bool:
        if isinstance(value, list):
            return any(bad(v) for v in value if not isinstance(v, dict))
        return isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT - 1 <= value <= MAX_INT

    for key, value in data.items():
        inner = f"{table}.{key}" if table else str(key)
        if isinstance(value, dict):
            _check_integers(ctx, value, inner)
            continue
        if isinstance(value, list):
            for v in value:
                if isinstance(v, dict):
                    _check_integers(ctx, v, inner)
        if bad(value):
            ctx.fail(table, key, f"{_short(value)} is out of range: integers in a pipeline file must fit "
                                 f"in 64 bits (-2**63 to 2**63 - 1).")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + "..." + text[-10:]


def _int_list(ctx, table, key, value, length=None) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        ctx.fail(table, key, f"expected a list of positive integers, got {value!r}.")
    if length is not None and len(value) != length:
        ctx.fail(table, key, f"expected {length} integers (band, y, x), got {value!r}.")
    return tuple(value)


def _parse_storage(ctx, data) -> dict:
    storage = data.get("storage", {})
    if not isinstance(storage, dict):
        ctx.fail("storage", None, "expected a table of storage options such as endpoint and region.")
    for key, value in storage.items():
        if SECRET_STORAGE_KEY.search(key):
            ctx.fail("storage", key, "credentials do not belong in a pipeline file; give them through the "
                                     "environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ...) or a profile "
                                     "(profile = \"name\").")
        if not isinstance(value, (str, bool, int, float)):
            ctx.fail("storage", key, f"expected a string, number or boolean, got {type(value).__name__}.")
    return dict(storage)


def _location(ctx, table: str, raw: str, base: Path, storage: dict, what: str):
    """A path of the file: a URL (with the [storage] options) or a local path relative to ``base``."""
    if is_url(raw):
        try:
            refuse_url(raw, what)
            return as_location(raw, storage or None)
        except TiledprocError as e:
            ctx.fail(table, "path", str(e))
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base / path


def _parse_input(ctx, table: str, name: str, data, base: Path, storage: dict | None = None) -> InputDecl:
    if not isinstance(data, dict):
        ctx.fail(table, None, f"expected a table with a path, got {data!r}.")
    _check_types(ctx, table, data, {"path": str, "chunks": list, "synth": dict, "series": int,
                                    "nodata": (int, float, str)})
    if "path" not in data:
        ctx.fail(table, "path", "missing; give the Zarr store or TIFF to read.")
    if data.get("series", 0) < 0:
        ctx.fail(table, "series", f"expected a TIFF series number >= 0, got {data['series']!r}.")
    path = _location(ctx, table, data["path"], base, storage or {}, "input")
    chunks = _int_list(ctx, table, "chunks", data["chunks"], 3) if "chunks" in data else None
    synth = data.get("synth")
    if synth is not None:
        _check_synth(ctx, f"{table}.synth", synth)
    return InputDecl(name, path, chunks, synth, data.get("series", 0), _parse_nodata(ctx, table, data))


def _parse_nodata(ctx, table: str, data: dict):
    """The ``nodata`` key of an input: a number (``nan`` too), "none" (no nodata) or "auto" (default)."""
    value = data.get("nodata", "auto")
    if isinstance(value, bool):
        ctx.fail(table, "nodata", f"expected a number, nan, \"none\" or \"auto\", got {value!r}.")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "none"):
            return None if text == "none" else "auto"
        try:
            return float(text)
        except ValueError:
            ctx.fail(table, "nodata", f"expected a number, nan, \"none\" or \"auto\", got {value!r}.")
    return value


def _check_synth(ctx, table: str, synth: dict) -> None:
    """Everything synth_scene / synth_labels would refuse, named here before any work."""
    _check_types(ctx, table, synth, SYNTH_KEYS)
    kind = synth.get("kind", "scene")
    if kind not in SYNTH_DTYPES:
        ctx.fail(table, "kind", f"expected 'scene' or 'labels', got {kind!r}.")
    dtypes = SYNTH_DTYPES[kind]
    if "dtype" in synth and synth["dtype"] not in dtypes:
        expected = "int32 (labels are int32)" if kind == "labels" else ", ".join(dtypes[:-1]) + f" or {dtypes[-1]}"
        ctx.fail(table, "dtype", f"expected {expected}, got {synth['dtype']!r}.")
    if "shape" in synth:
        shape = _int_list(ctx, table, "shape", synth["shape"], 3)
        if kind == "labels" and shape[0] != 1:
            ctx.fail(table, "shape", f"labels have one band: expected [1, rows, columns], got {synth['shape']!r}.")
    if "chunks" in synth:
        _int_list(ctx, table, "chunks", synth["chunks"], 3)
    if "cell" in synth:
        if kind != "labels":
            ctx.fail(table, "cell", "only labels have cells; remove it, or set kind = 'labels'.")
        if synth["cell"] < 2:
            ctx.fail(table, "cell", f"expected a cell size of at least 2 pixels, got {synth['cell']!r}.")
    if "seed" in synth and not 0 <= synth["seed"] <= MAX_INT:
        ctx.fail(table, "seed", f"expected an integer from 0 to 2**63 - 1, got {synth['seed']!r}.")


def _check_output_path(ctx, table: str, raw: str, path: Path, base: Path) -> None:
    """An output is replaced on --overwrite: never the pipeline's directory or one containing it."""
    if not raw.strip():
        ctx.fail(table, "path", "empty; give the store to write, such as \"out/result.zarr\".")
    home = Path(base).resolve()
    target = Path(path).resolve()
    if target == home or target in home.parents:
        what = "is" if target == home else "contains"
        ctx.fail(table, "path", f"{raw!r} {what} the pipeline file's directory ({home}), which writing the output "
                                f"would replace; give a new store such as \"out/result.zarr\".")


def _check_run(ctx, run: dict) -> None:
    _check_types(ctx, "run", run, RUN_KEYS)
    if run.get("progress", "auto") not in ("auto", "bar", "log", "off"):
        ctx.fail("run", "progress", f"expected auto, bar, log or off, got {run['progress']!r}.")
    if "codec" in run and run["codec"] not in CODECS:
        ctx.fail("run", "codec", f"expected one of {', '.join(repr(c) for c in CODECS)}, got {run['codec']!r}.")
    if run.get("zarr_format", 3) not in (2, 3):
        ctx.fail("run", "zarr_format", f"expected 2 or 3, got {run['zarr_format']!r}.")
    if not 0 <= run.get("pyramid", 0) <= MAX_PYRAMID:
        ctx.fail("run", "pyramid", f"expected a number of levels from 0 to {MAX_PYRAMID}, got {run['pyramid']!r}.")
    scheduler = run.get("scheduler")
    if scheduler is not None and scheduler not in SCHEDULERS and not ADDRESS.fullmatch(scheduler):
        ctx.fail("run", "scheduler", f"expected threads, processes, synchronous or an address such as "
                                     f"tcp://host:8786, got {scheduler!r}.")
    cluster = run.get("cluster")
    if cluster is not None:
        m = LOCAL_CLUSTER.fullmatch(cluster)
        if not m or (m.group(1) is not None and int(m.group(1)) < 1):
            ctx.fail("run", "cluster", f"expected local or local:N (N >= 1 worker processes), got {cluster!r}; "
                                       f"for SLURM or PBS use a [cluster] section.")
        if scheduler is not None:
            ctx.fail("run", "cluster", "give scheduler or cluster, not both.")


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
    _check_integers(ctx, data)
    meta = data.get("pipeline", {})
    if not isinstance(meta, dict):
        ctx.fail("pipeline", None, "expected a table.")
    _check_types(ctx, "pipeline", meta, {"name": str, "description": str})

    storage = _parse_storage(ctx, data)
    # inputs
    inputs: dict[str, InputDecl] = {}
    if "input" in data:
        inputs["input"] = _parse_input(ctx, "input", "input", data["input"], base, storage)
    extra = data.get("inputs", {})
    if not isinstance(extra, dict):
        ctx.fail("inputs", None, "expected tables [inputs.NAME] with a path each.")
    for name, decl in extra.items():
        if not NAME.match(name) or name in inputs:
            ctx.fail(f"inputs.{name}", None, "input names are identifiers, each used once "
                                             "([input] is the input called 'input').")
        inputs[name] = _parse_input(ctx, f"inputs.{name}", name, decl, base, storage)
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
        unknown = op.unknown_params(given)
        if unknown:
            choices = ", ".join(["op"] + list(op.inputs) + [p.name for p in op.params])
            ctx.fail(table, unknown[0], f"unknown parameter of {opname}; expected one of {choices}.")
        missing = op.missing_params(given)
        if missing:
            ctx.fail(table, missing[0], f"missing; {opname} requires it ({op.param(missing[0]).help}).")
        try:
            params = op.resolve_params(given)
        except TiledprocError as e:
            ctx.fail(table, step_key(given, op.inputs, e), str(e))
        except (ValueError, TypeError, ArithmeticError) as e:  # an operation's own check, not one of ours
            ctx.fail(table, getattr(e, "key", None), f"invalid value: {e}")
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
        path = _location(ctx, table, raw["path"], base, storage, "output")
        if not is_url(raw["path"]):
            _check_output_path(ctx, table, raw["path"], path, base)
        chunks = _int_list(ctx, table, "chunks", raw["chunks"], 3) if "chunks" in raw else None
        outputs[name] = OutputDecl(name, ref, path, raw.get("codec"), chunks)

    _warn_unused_steps(source, steps, outputs)

    run = data.get("run", {})
    if not isinstance(run, dict):
        ctx.fail("run", None, "expected a table.")
    _check_run(ctx, run)
    cluster = data.get("cluster", {})
    if not isinstance(cluster, dict):
        ctx.fail("cluster", None, "expected a table.")
    if cluster:
        from ..execute.jobqueue import check_cluster_config

        try:
            check_cluster_config(cluster)
        except TiledprocError as e:
            ctx.fail("cluster", getattr(e, "key", None), str(e))
    return Pipeline(source, base, inputs, steps, outputs, dict(run), dict(cluster), meta.get("name", "pipeline"),
                    storage)


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


#: the name an operation gives its array argument -> the step key (role) that names it
ARRAY_PARAMS = {"image": "input", "a": "input"}


def step_key(given, roles, error: Exception) -> str | None:
    """The step key an operation's error is about: the parameter the error
    names (``error.key`` from coercion, ``error.param`` from the operation),
    with the array arguments named by their roles (``image`` is ``input``)."""
    key = getattr(error, "key", None)
    if key:
        return key
    param = getattr(error, "param", None)
    if param is None:
        return None
    param = ARRAY_PARAMS.get(param, param)
    return param if param in given or param in roles else None
