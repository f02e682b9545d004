"""Write several outputs in one graph: prepare the stores, run the chunk writes
on the chosen scheduler, record each finished chunk, mark the outputs complete."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError, OutputExistsError
from ..io.zarr_store import OutputSpec, PreparedOutput, check_not_inside, prepare_output, write_tasks
from .execute import SchedulerSpec, build_graph, open_executor, parse_scheduler
from .progress import Progress

__all__ = ["write_outputs", "WriteReport"]

log = logging.getLogger("tiledproc")


@dataclass
class WriteReport:
    outputs: list[PreparedOutput]
    chunks_written: int
    chunks_skipped: int
    seconds: float
    bytes_written: int
    dashboard: str | None = None


def _scan_position(out: PreparedOutput, index) -> tuple:
    """Where a chunk starts, as (band, y, x) pixel offsets: raster-scan order across outputs."""
    return tuple(i * c for i, c in zip(index, out.spec.chunks))


def _check_all(specs: Sequence[OutputSpec], overwrite: bool, resume: bool, inputs) -> None:
    """Every refusal before any store is touched."""
    seen = {}
    for spec in specs:
        key = str(spec.path.resolve())
        if key in seen:
            raise InvalidParameterError(f"Two outputs are written to the same path {str(spec.path)!r}.")
        seen[key] = spec
        check_not_inside(spec.path, inputs)
        if spec.path.exists() and not (overwrite or resume):
            raise OutputExistsError(
                f"Output {str(spec.path)!r} already exists; pass overwrite (--overwrite) to replace it "
                f"or resume (--resume) to finish an interrupted run."
            )
    for spec in specs:  # an output may not be inside another output either
        check_not_inside(spec.path, [s.path for s in specs if s is not spec])


def write_outputs(
    specs: Sequence[OutputSpec],
    *,
    overwrite: bool = False,
    resume: bool = False,
    inputs: Sequence = (),
    scheduler: SchedulerSpec | str | None = None,
    progress: str = "auto",
    label: str = "writing",
    pyramid: int = 0,
) -> WriteReport:
    """Compute and store every output of ``specs`` in one dask graph.

    Chunks shared by several outputs (an input chunk, a common intermediate)
    are computed once. With ``resume``, chunks recorded as finished are not
    computed again; everything else is bit-identical to an uninterrupted run.
    ``pyramid`` adds that many 2x levels to every output once it is written
    (an output counts as complete only after its levels).
    """
    if not isinstance(scheduler, SchedulerSpec):
        scheduler = parse_scheduler(scheduler)
    _check_all(specs, overwrite, resume, inputs)
    prepared = [prepare_output(s, overwrite=overwrite, resume=resume, inputs=inputs) for s in specs]
    writers, tasks = write_tasks(prepared)
    tasks.sort(key=lambda t: _scan_position(prepared[t[1]], t[2]) + (t[1],))
    skipped = sum(len(p.done) for p in prepared)
    chunk_bytes = []
    for _, k, index in tasks:
        a = prepared[k].spec.array
        chunk_bytes.append(int(np.prod([c[i] for c, i in zip(a.chunks, index)])) * a.dtype.itemsize)
    bar = Progress(len(tasks), nbytes=sum(chunk_bytes), label=label, mode=progress)
    start = time.perf_counter()
    written = 0

    def on_done(i: int) -> None:
        nonlocal written
        _, k, index = tasks[i]
        prepared[k].record_done(index)
        written += chunk_bytes[i]
        bar.update(1, chunk_bytes[i])

    dashboard = None
    try:
        if tasks:
            keys = [key for key, _, _ in tasks]
            dsk = build_graph(writers, keys)
            with open_executor(scheduler) as executor:
                dashboard = executor.dashboard
                if dashboard:
                    log.warning("dask dashboard: %s", dashboard)
                executor.run(dsk, keys, on_done)
    finally:
        bar.close()
        for p in prepared:
            p.close()
    if pyramid:
        from .pyramid import add_levels

        for p in prepared:
            if not p.complete:
                add_levels(p.path, pyramid, scheduler=scheduler)
    for p in prepared:
        p.finish()
    return WriteReport(prepared, len(tasks), skipped, time.perf_counter() - start, written, dashboard)
