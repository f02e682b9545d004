"""Run a pipeline: validate everything, make synthetic inputs if asked, then
compute all outputs in one graph on the chosen scheduler."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..execute.schedulers import SchedulerSpec, parse_scheduler
from .._format import format_bytes, format_seconds
from ..jobs.write import WriteReport, check_outputs, write_outputs
from ..errors import ConfigError
from ..io.safety import check_space
from ..io.output import OutputSpec
from .config import Pipeline, load_pipeline, parse_pipeline
from .graph import Graph, build_graph, input_paths, output_nbytes, synth_array

__all__ = ["run_pipeline", "plan_text", "default_pipeline", "RunOptions", "RunResult"]

log = logging.getLogger("tiledproc")


@dataclass
class RunOptions:
    """Command-line options; None means: take the pipeline's [run] value, else the default."""

    overwrite: bool | None = None
    resume: bool = False
    scheduler: str | None = None
    cluster: str | None = None
    progress: str | None = None
    codec: str | None = None
    pyramid: int | None = None
    #: local threads (or processes); None: the CPUs this process may use
    threads: int | None = None
    #: use inputs whose provenance says incomplete (with a warning)
    allow_incomplete: bool = False
    #: accept [cluster] keys that become shell code in a batch script (see tiledproc.execute.jobqueue)
    allow_shell: bool = False
    #: connect to a scheduler address named by the pipeline file itself
    allow_remote_scheduler: bool = False
    #: refuse outputs larger (uncompressed) than the free space of their target
    space_check: bool = True
    #: 3 (Zarr v3, OME-Zarr 0.5) or 2 (Zarr v2, OME-Zarr 0.4: GDAL <= 3.12 reads only v2)
    zarr_format: int | None = None


@dataclass
class RunResult:
    graph: Graph
    report: WriteReport | None
    seconds: float
    scheduler: SchedulerSpec


def default_pipeline() -> Pipeline:
    """The embedded default: a synthetic scene and its window statistics, in ./tiledproc-demo."""
    text = resources.files("tiledproc.pipeline").joinpath("default.toml").read_text()
    import tomllib

    return parse_pipeline(tomllib.loads(text), source="<embedded default pipeline>", base=Path.cwd())


def resolve(p: Pipeline, opts: RunOptions) -> tuple[SchedulerSpec, dict]:
    """The scheduler and settings of a run: the command line, else the pipeline's [run], else defaults.

    What a pipeline file may not do on its own is refused here, before any
    work: name a scheduler address (``--allow-remote-scheduler``, or the
    same address given as ``--scheduler``), or put shell code into the batch
    scripts of its ``[cluster]`` (``--allow-shell``; see
    :mod:`tiledproc.execute.jobqueue`).
    """
    run = p.run
    scheduler, cluster = opts.scheduler, opts.cluster
    if scheduler is None and cluster is None:
        scheduler, cluster = run.get("scheduler"), run.get("cluster")
        if scheduler and "://" in scheduler and not opts.allow_remote_scheduler:
            raise ConfigError.at(
                p.source, "run", "scheduler",
                f"{scheduler!r} is the address of a dask scheduler; the tasks, and the data they read and "
                f"write, would go to whatever runs there, so a pipeline file may not choose it on its own",
                hint=f"pass --allow-remote-scheduler, or give the address yourself with --scheduler {scheduler}",
            )
    spec = parse_scheduler(scheduler, cluster, cluster_config=p.cluster if not (scheduler or cluster) else None,
                           workers=opts.threads)
    if spec.kind == "jobqueue":
        from ..execute.jobqueue import check_shell_keys

        check_shell_keys(p.cluster, p.source, allow_shell=opts.allow_shell)
    settings = {
        "overwrite": opts.overwrite if opts.overwrite is not None else run.get("overwrite", False),
        "progress": opts.progress or run.get("progress", "auto"),
        "codec": opts.codec or run.get("codec"),
        "pyramid": opts.pyramid if opts.pyramid is not None else run.get("pyramid", 0),
        "zarr_format": opts.zarr_format or run.get("zarr_format", 3),
    }
    return spec, settings


def plan_text(g: Graph, spec: SchedulerSpec) -> str:
    """What ``--dry-run`` prints: inputs, steps with halos, outputs with sizes."""
    title = "pipeline" if g.pipeline.name == "pipeline" else f"pipeline {g.pipeline.name}"
    lines = [f"{title} ({g.pipeline.source})", "inputs:"]
    for name, a in g.inputs.items():
        kind = g.input_kinds[name]
        note = {"zarr": "", "tiff": " (TIFF, read directly)", "synth": " (missing: will be synthesized)"}[kind]
        lines.append(f"  {name}: {g.pipeline.inputs[name].path}{note}")
        lines.append(f"    shape {a.shape}, {a.dtype}, chunks {tuple(max(c) for c in a.chunks)}, "
                     f"{a.npartitions} chunks, {format_bytes(a.nbytes)}")
    lines.append("steps:")
    for step in g.pipeline.steps.values():
        params = ", ".join(f"{k}={v!r}" for k, v in step.params.items())
        srcs = ", ".join(f"{k}={v}" for k, v in step.inputs.items())
        hy, hx = g.halos[step.name]
        lines.append(f"  {step.name}: {step.op.name}({srcs}; {params})")
        lines.append(f"    halo {hy} x {hx} pixels")
        for out in step.op.outputs:
            from .config import Ref

            a = g.arrays[Ref(step.name, out)]
            lines.append(f"    -> {step.name}.{out}: shape {a.shape}, {a.dtype}")
    lines.append("outputs:")
    total = 0
    for spec_ in g.outputs:
        n = output_nbytes(spec_)
        total += n
        lines.append(f"  {spec_.name}: {spec_.path}")
        lines.append(f"    from {spec_.provenance['output']}, shape {spec_.array.shape}, {spec_.array.dtype}, "
                     f"chunks {spec_.chunks}, codec {spec_.codec}, {format_bytes(n)} uncompressed")
    lines.append(f"total output {format_bytes(total)} uncompressed; scheduler: {spec.describe()}")
    return "\n".join(lines)


def _synth_specs(g: Graph) -> list[tuple[str, OutputSpec]]:
    """The synthetic inputs to write (missing, or interrupted and to be resumed)."""
    out = []
    for name, kind in g.input_kinds.items():
        if kind not in ("synth", "synth-partial"):
            continue
        decl = g.pipeline.inputs[name]
        out.append((name, OutputSpec(decl.path, synth_array(decl), chunks=None,
                                     provenance={"operation": "synth", "parameters": decl.synth,
                                                 "categorical": decl.synth.get("kind") == "labels"})))
    return out


def _make_inputs(g: Graph, settings: dict, spec: SchedulerSpec) -> bool:
    """Write the synthetic inputs that are missing, or finish those whose synthesis was
    interrupted. Returns whether any was made."""
    made = False
    for name, out in _synth_specs(g):
        partial = g.input_kinds[name] == "synth-partial"
        what = "input" if name == "input" else f"input {name!r}"
        log.info("%s the synthetic %s at %s", "finishing" if partial else "making", what, out.path)
        write_outputs([out], scheduler=spec, progress=settings["progress"], label=f"synth {name}",
                      resume=partial, space_check=settings["space_check"])
        made = True
    return made


def run_pipeline(pipeline: Pipeline | str | Path, opts: RunOptions | None = None, *,
                 dry_run: bool = False, echo=print) -> RunResult:
    """Validate, then run (or with ``dry_run`` only describe) a pipeline."""
    opts = opts or RunOptions()
    p = pipeline if isinstance(pipeline, Pipeline) else load_pipeline(pipeline)
    spec, settings = resolve(p, opts)
    settings["space_check"] = opts.space_check
    g = build_graph(p, codec=settings["codec"], zarr_format=settings["zarr_format"], resume=opts.resume,
                    allow_incomplete=opts.allow_incomplete)  # validates every step and parameter
    inputs = input_paths(p)
    synth = _synth_specs(g)
    check_outputs(g.outputs, overwrite=settings["overwrite"], resume=opts.resume, inputs=inputs,
                  space_check=False, workers=spec.workers)
    if settings["space_check"] and not opts.resume:  # the outputs and the synthetic inputs still to make
        check_space([(o.path, o.array.nbytes) for o in g.outputs] +
                    [(o.path, o.array.nbytes) for name, o in synth if g.input_kinds[name] == "synth"],
                    replacing=bool(settings["overwrite"]))
    if dry_run:
        echo(plan_text(g, spec))
        return RunResult(g, None, 0.0, spec)
    if spec.kind == "jobqueue":  # off a submit host: refuse before any store is made
        from ..execute.jobqueue import check_submit_command

        check_submit_command(spec.cluster)
    start = time.perf_counter()
    if _make_inputs(g, settings, spec):
        g = build_graph(p, codec=settings["codec"], zarr_format=settings["zarr_format"], resume=opts.resume,
                        allow_incomplete=opts.allow_incomplete)  # now reading the stored inputs
    report = write_outputs(
        g.outputs, overwrite=settings["overwrite"], resume=opts.resume, inputs=inputs,
        scheduler=spec, progress=settings["progress"], label=p.name, pyramid=settings["pyramid"],
        space_check=settings["space_check"],
    )
    seconds = time.perf_counter() - start
    return RunResult(g, report, seconds, spec)


def summary_text(result: RunResult) -> str:
    r = result.report
    lines = []
    for out in result.graph.outputs:
        lines.append(f"{out.name}: {out.path}  {out.array.shape} {out.array.dtype}")
    if r is not None:
        total = sum(output_nbytes(o) for o in result.graph.outputs)
        done = r.chunks_written + r.chunks_skipped
        share = r.chunks_written / done if done else 0.0  # a resumed run reads and writes only the rest
        read = share * sum(a.nbytes for a in result.graph.inputs.values())
        written = r.bytes_written if r.bytes_written else share * total
        rate = (read + written) / result.seconds if result.seconds > 0 else 0.0
        resumed = f", {r.chunks_skipped} chunks already done" if r.chunks_skipped else ""
        if r.chunks_repaired:
            resumed += f" ({r.chunks_repaired} recorded chunks were missing or damaged and were computed again)"
        lines.append(f"done in {format_seconds(result.seconds)} ({result.seconds:.2f} s): "
                     f"{r.chunks_written} chunks written{resumed}, read {format_bytes(read)}, "
                     f"wrote {format_bytes(written)} uncompressed, {format_bytes(rate)}/s; "
                     f"{result.scheduler.describe()}")
    return "\n".join(lines)
