"""A validated pipeline -> one lazy dask graph with an output spec per output."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np

from ..limits import check_raster_size
from ..errors import ConfigError, IncompleteInputError, StoreNotFoundError, TiledprocError
from ..io.codecs import DEFAULT_CODEC
from ..io.metadata import carry_over, json_safe
from ..io.tiff import is_tiff, read_tiff, tiff_attrs
from ..io.layout import input_attrs
from ..io.output import OutputSpec
from ..io.read import check_complete, decode_nodata, open_raster, read_attrs
from ..ops._nodata import WithNodata, output_nodata, parse_nodata
from ..synth import synth_labels, synth_scene
from .config import InputDecl, Pipeline, Ref, step_key

__all__ = ["Graph", "build_graph", "synth_array"]

TIFF_READ_CHUNKS = (1, 1024, 1024)


@dataclass
class Graph:
    pipeline: Pipeline
    inputs: dict[str, da.Array]
    input_attrs: dict[str, dict]
    input_kinds: dict[str, str]  # zarr | tiff | synth (to be made) | synth-partial (to be finished)
    arrays: dict[Ref, da.Array]
    outputs: list[OutputSpec]
    halos: dict[str, tuple[int, int]] = field(default_factory=dict)


CATEGORICAL_OUTPUTS = {("quantize", "indices")}


def synth_array(decl: InputDecl) -> da.Array:
    s = dict(decl.synth)
    kind = s.pop("kind", "scene")
    if kind == "labels":
        return synth_labels(tuple(s.get("shape", (1, 2048, 2048))), cell=s.get("cell", 24),
                            chunks=tuple(s.get("chunks", (1, 1024, 1024))), seed=s.get("seed", 0))
    return synth_scene(tuple(s.get("shape", (4, 2048, 2048))), dtype=s.get("dtype", "float32"),
                       chunks=tuple(s.get("chunks", (1, 1024, 1024))), seed=s.get("seed", 0))


def _open_input(p: Pipeline, decl: InputDecl, *, resume: bool = False, allow_incomplete: bool = False):
    table = "input" if decl.name == "input" else f"inputs.{decl.name}"
    try:
        if decl.path.exists():
            if decl.path.is_file() and is_tiff(decl.path):
                a = read_tiff(decl.path, chunks=decl.chunks or TIFF_READ_CHUNKS, series=decl.series)
                return a, tiff_attrs(decl.path, decl.series), "tiff"
            attrs = {**read_attrs(decl.path), **input_attrs(decl.path)}
            if decl.synth is not None:
                try:
                    check_complete(decl.path, attrs)
                except IncompleteInputError:
                    if not resume:
                        raise IncompleteInputError(
                            f"The synthetic input {str(decl.path)!r} is incomplete: its synthesis was interrupted. "
                            f"Run the same command again with --resume to finish it (and the outputs)."
                        ) from None
                    a = synth_array(decl)  # finished by the run, then read as stored
                    return (a.rechunk(decl.chunks) if decl.chunks is not None else a), {}, "synth-partial"
            a = open_raster(decl.path, chunks=decl.chunks, allow_incomplete=allow_incomplete)
            check_raster_size(a.shape, [max(c) for c in a.chunks], a.dtype.itemsize, f"Input {str(decl.path)!r}")
            return a, attrs, "zarr"
        if decl.synth is not None:
            a = synth_array(decl)
            if decl.chunks is not None:
                a = a.rechunk(decl.chunks)
            return a, {}, "synth"
        raise StoreNotFoundError(f"Input store {str(decl.path)!r} does not exist.")
    except StoreNotFoundError as e:
        raise ConfigError.at(p.source, table, "path", str(e),
                             hint=f"add an [{table}.synth] table to make a synthetic one there") from None
    except TiledprocError as e:
        raise ConfigError.at(p.source, table, "path", str(e)) from None


def input_nodata(p: Pipeline, decl: InputDecl, attrs: dict, a: da.Array):
    """The nodata of an input: its ``nodata`` key, else its store's (or TIFF's); None if none."""
    table = "input" if decl.name == "input" else f"inputs.{decl.name}"
    strict = not (isinstance(decl.nodata, str) and decl.nodata == "auto")
    value = decode_nodata(attrs.get("nodata")) if not strict else decl.nodata
    try:
        return parse_nodata(value, a.dtype, strict=strict)
    except TiledprocError as e:
        raise ConfigError.at(p.source, table, "nodata", str(e)) from None


def _history(p: Pipeline, ref: Ref) -> tuple[list[dict], list[str]]:
    """The chain of steps that makes ``ref``, first step first, and the inputs it reads."""
    steps: list[dict] = []
    roots: list[str] = []

    def walk(r: Ref):
        if r.output is None:
            if r.source not in roots:
                roots.append(r.source)
            return
        step = p.steps[r.source]
        for sub in step.inputs.values():
            walk(sub)
        entry = {"step": step.name, "op": step.op.name, "parameters": step.params,
                 "inputs": {k: str(v) for k, v in step.inputs.items()}}
        if entry not in steps:
            steps.append(entry)

    walk(ref)
    return steps, roots


def build_graph(p: Pipeline, *, codec: str | None = None, zarr_format: int = 3, resume: bool = False,
                allow_incomplete: bool = False) -> Graph:
    """Open the inputs, build every step lazily, describe every output.

    Nothing is computed. An input that is an interrupted output is refused
    unless ``allow_incomplete``; an interrupted synthetic input is finished
    first with ``resume``. Errors an operation raises for its parameters
    (an even window size, a palette of the wrong width) become ConfigErrors
    naming the step and the key.
    """
    inputs, attrs, kinds = {}, {}, {}
    for name, decl in p.inputs.items():
        inputs[name], attrs[name], kinds[name] = _open_input(p, decl, resume=resume,
                                                             allow_incomplete=allow_incomplete)
    arrays: dict[Ref, da.Array] = {Ref(name): a for name, a in inputs.items()}
    # nodata of every array: the input's (its key, else its store's), then what each output uses
    nodata = {Ref(name): input_nodata(p, p.inputs[name], attrs[name], inputs[name]) for name in inputs}
    halos = {}
    for step in p.steps.values():
        table = f"steps.{step.name}"
        args = {role: arrays[ref] if role != "input" or nodata.get(ref) is None
                else WithNodata(arrays[ref], nodata[ref]) for role, ref in step.inputs.items()}
        try:
            out = step.op.build(args, step.params)
        except TiledprocError as e:
            raise ConfigError.at(p.source, table, step_key(step.raw, step.op.inputs, e), str(e)) from None
        applied = "input" in step.inputs and nodata.get(step.inputs["input"]) is not None
        for name, a in out.items():
            arrays[Ref(step.name, name)] = a
            nodata[Ref(step.name, name)] = output_nodata(a.dtype) if applied else None
        halos[step.name] = step.op.halo(step.params)
    default_codec = codec or p.run.get("codec") or DEFAULT_CODEC
    specs = []
    for decl in p.outputs.values():
        a = arrays[decl.ref]
        history, roots = _history(p, decl.ref)
        root = roots[0]
        root_chunks = inputs[root].chunks
        cy, cx = max(root_chunks[-2]), max(root_chunks[-1])
        chunks = decl.chunks or ((1,) if a.ndim == 3 else ()) + (cy, cx)
        if a.ndim == 2:
            a = a[None]
            chunks = chunks if len(chunks) == 3 else (1,) + tuple(chunks)
        last = history[-1]
        provenance = {
            "operation": last["op"],
            "parameters": last["parameters"],
            "output": str(decl.ref),
            "input": {r: str(p.inputs[r].path) for r in roots} if len(roots) > 1 else str(p.inputs[root].path),
            "pipeline": p.source,
            "steps": history,
        }
        out_attrs = carry_over(attrs[root])
        if (last["op"], str(decl.ref).rsplit(".", 1)[-1]) in CATEGORICAL_OUTPUTS:
            provenance["categorical"] = True  # pyramid levels subsample instead of averaging
            out_attrs["band_names"] = [str(decl.ref).rsplit(".", 1)[-1]] * a.shape[0]  # not the input's bands
        out_attrs.pop("nodata", None)  # the input's; the output declares the one it really uses
        if nodata.get(decl.ref) is not None:
            out_attrs["nodata"] = json_safe(nodata[decl.ref])
        specs.append(OutputSpec(decl.path, a, chunks=chunks, codec=decl.codec or default_codec,
                                provenance=provenance, attrs=out_attrs, name=decl.name, zarr_format=zarr_format))
    return Graph(p, inputs, attrs, kinds, arrays, specs, halos)


def output_nbytes(spec: OutputSpec) -> int:
    return int(np.prod(spec.array.shape)) * spec.array.dtype.itemsize


def input_paths(p: Pipeline) -> list[Path]:
    return [d.path for d in p.inputs.values()]
