"""Write several outputs in one graph: prepare the stores, run the chunk writes
on the chosen scheduler, record each finished chunk, mark the outputs complete."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError
from ..io.safety import check_output_paths, check_space
from ..io.output import OutputSpec, PreparedOutput, prepare_output, write_tasks
from ..io.stamps import input_stamps
from ..execute.progress import Progress
from ..execute.schedulers import SchedulerSpec, build_graph, open_executor, parse_scheduler
from ..graph.window import merged_graph, window_graph, windowable, windows
from ..limits import check_chunk_size, check_raster_size

__all__ = ["write_outputs", "check_outputs", "WriteReport"]

log = logging.getLogger("tiledproc")


@dataclass
class WriteReport:
    outputs: list[PreparedOutput]
    chunks_written: int
    chunks_skipped: int
    seconds: float
    bytes_written: int
    dashboard: str | None = None
    #: chunks the completion record listed but that were missing or damaged, computed again
    chunks_repaired: int = 0


def _scan_position(out: PreparedOutput, index) -> tuple:
    """Where a chunk starts, as (band, y, x) pixel offsets: raster-scan order across outputs."""
    return tuple(i * c for i, c in zip(index, out.spec.chunks))


def check_outputs(specs: Sequence[OutputSpec], *, overwrite: bool = False, resume: bool = False,
                  inputs: Sequence = (), space_check: bool = True, workers: int | None = None) -> None:
    """Every refusal before any store is touched: where the outputs go
    (:func:`tiledproc.io.safety.check_output_paths`), their chunk sizes and
    counts (:mod:`tiledproc.limits`) and the free space of their targets."""
    check_output_paths([s.path for s in specs], inputs, overwrite=overwrite, resume=resume)
    for spec in specs:
        check_raster_size(spec.array.shape, spec.chunks, spec.array.dtype.itemsize, f"Output {str(spec.path)!r}")
        check_chunk_size(spec.chunks, f"Output {str(spec.path)!r}", workers)
    if space_check and not resume:
        check_space([(s.path, int(np.prod(s.array.shape)) * s.array.dtype.itemsize) for s in specs],
                    replacing=overwrite)


PROGRESS_MODES = ("auto", "bar", "log", "off")

#: what the last run_windows did, for tests and benchmarks: [(writes, tasks), ...] per window
last_windows: list[tuple[int, int]] = []
#: time.perf_counter() when the last run_windows's first chunk write finished (benchmarks)
last_first_write: list[float] = []


def run_windows(executor, writers: Sequence, tasks: Sequence, reference: Sequence, positions: Sequence,
                on_done) -> None:
    """Run the writes ``tasks`` (``(key, output, index)``) in windows of chunks
    (:mod:`tiledproc.graph.window`): the driver holds the graph of one window at a time.
    A graph with a whole-raster dependency (a reduction) is run whole."""
    last_first_write.clear()
    user_done = on_done

    def on_done(i, result):
        if not last_first_write:
            last_first_write.append(time.perf_counter())
        user_done(i, result)

    keys = [key for key, _, _ in tasks]
    hlg = merged_graph(writers)
    last_windows.clear()
    if not windowable(hlg):
        dsk = build_graph(writers, keys)
        last_windows.append((len(keys), len(dsk)))
        executor.run(dsk, keys, on_done)
        return
    a = reference[0]
    ncols, xchunk = len(a.chunks[-1]), max(a.chunks[-1])

    def items():
        for n, window in enumerate(windows(positions, ncols, xchunk)):
            wkeys = [keys[i] for i in window]
            dsk = window_graph(hlg, wkeys, tag=n)
            last_windows.append((len(wkeys), len(dsk)))
            yield dsk, wkeys, (lambda j, result, window=window: on_done(window[j], result))
            del dsk

    executor.run_windows(items())


def _check_options(progress, pyramid) -> None:
    if progress not in PROGRESS_MODES:
        raise InvalidParameterError(
            f"Expected progress to be one of {', '.join(repr(m) for m in PROGRESS_MODES)}, got {progress!r} instead."
        )
    if isinstance(pyramid, bool) or not isinstance(pyramid, (int, np.integer)) or not 0 <= pyramid <= 20:
        raise InvalidParameterError(f"Expected pyramid to be a number of levels from 0 to 20, got {pyramid!r} instead.")


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
    space_check: bool = True,
) -> WriteReport:
    """Compute and store every output of ``specs`` in one dask graph.

    Chunks shared by several outputs (an input chunk, a common intermediate)
    are computed once. With ``resume``, chunks recorded as finished (and
    found intact) are not computed again; everything else is bit-identical
    to an uninterrupted run. ``pyramid`` adds that many 2x levels to every
    output once it is written (an output counts as complete only after its
    levels).

    Everything that can be refused is refused before any store is made, and
    the scheduler is reached before any store is made: a run that fails
    before its first chunk is written leaves no store behind; one that fails
    later leaves stores that ``resume`` continues.
    """
    if not isinstance(scheduler, SchedulerSpec):
        scheduler = parse_scheduler(scheduler)
    _check_options(progress, pyramid)
    check_outputs(specs, overwrite=overwrite, resume=resume, inputs=inputs, space_check=space_check,
                  workers=scheduler.workers)
    stamps = input_stamps(inputs)
    start = time.perf_counter()
    dashboard = None
    prepared: list[PreparedOutput] = []
    written = 0
    tasks: list = []
    with open_executor(scheduler) as executor:
        dashboard = executor.dashboard
        if dashboard:
            log.warning("dask dashboard: %s", dashboard)
        try:
            for s in specs:
                prepared.append(prepare_output(s, overwrite=overwrite, resume=resume, inputs=inputs, stamps=stamps))
            writers, tasks = write_tasks(prepared)
            # per write, in plain Python (np.prod per chunk cost 7 s at 16 x 100000^2, before the first write)
            positions = [_scan_position(prepared[k], index) for _, k, index in tasks]
            order = sorted(range(len(tasks)), key=lambda i: (positions[i], tasks[i][1]))
            tasks = [tasks[i] for i in order]
            positions = [positions[i] for i in order]
            del order
            grids = [(p.spec.array.chunks, p.spec.array.dtype.itemsize) for p in prepared]
            chunk_bytes = []
            for _, k, index in tasks:
                grid, itemsize = grids[k]
                chunk_bytes.append(math.prod([c[i] for c, i in zip(grid, index)]) * itemsize)
            bar = Progress(len(tasks), nbytes=sum(chunk_bytes), label=label, mode=progress)

            def on_done(i: int, result) -> None:
                nonlocal written
                _, k, index = tasks[i]
                flat = np.asarray(result).ravel()
                prepared[k].record_done(index, int(flat[0]), int(flat[1]))
                written += chunk_bytes[i]
                bar.update(1, chunk_bytes[i])

            try:
                if tasks:
                    run_windows(executor, writers, tasks, [prepared[k].spec.array for _, k, _ in tasks[:1]],
                                positions, on_done)
            finally:
                bar.close()
                for p in prepared:
                    p.close()
            if pyramid:
                from .pyramid import add_levels

                for p in prepared:
                    if not p.complete:
                        add_levels(p.path, pyramid, executor=executor)
            for p in prepared:
                p.finish()
        except BaseException:
            for p in prepared:
                p.release(failed=True)
            raise
        for p in prepared:
            p.release()
    skipped = sum(p.n_chunks for p in prepared) - len(tasks)
    repaired = sum(p.repaired for p in prepared)
    return WriteReport(prepared, len(tasks), skipped, time.perf_counter() - start, written, dashboard, repaired)
