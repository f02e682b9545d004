"""Write several outputs in one graph: prepare the stores, run the chunk writes
on the chosen scheduler, record each finished chunk, mark the outputs complete."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError
from ..io.safety import check_output_paths, check_space
from ..io.output import OutputSpec, PreparedOutput, WriteList, prepare_output, write_tasks
from ..io.stamps import input_stamps
from ..execute.progress import Progress
from ..execute.schedulers import SchedulerSpec, build_graph, open_executor, parse_scheduler
from ..graph.window import (grid_windows, merged_graph, reduction_results, window_graph, windowable, windows,
                            with_results)
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


def _reductions_first(executor, hlg, writers):
    """``hlg`` with its whole-raster reductions (a label table, a palette: the few results
    the per-chunk layers take, :func:`tiledproc.graph.window.reduction_results`) computed
    now, on their own, and put in the graph as constants: what is left runs in windows.
    Computed inside the write graph, every chunk the reduction reads could be held until
    its result is known. ``hlg`` unchanged when it cannot be split so."""
    results = reduction_results(hlg)
    if results is None:
        return hlg
    keys = [k for name in results for k in hlg.layers[name]]
    log.info("computing %d whole-raster result(s) (label table, palette ...) before the chunk writes", len(keys))
    dsk = dict(hlg.cull(set(keys)))
    values: dict = {}
    executor.run(dsk, keys, lambda i, value: values.__setitem__(keys[i], value))
    del dsk
    return with_results(hlg, values, results, [w.name for w in writers])


def run_windows(executor, writers: Sequence, todo: WriteList, on_done) -> None:
    """Run the writes of ``todo`` in windows of chunks (:mod:`tiledproc.graph.window`):
    the driver holds the graph and the to-do list of one window at a time. ``on_done(write,
    result)`` gets each finished write ``(key, output, index)``. A graph with a
    whole-raster dependency (a reduction) is run whole."""
    last_first_write.clear()
    last_windows.clear()

    def done_in(entries):
        def done(j, result):
            if not last_first_write:
                last_first_write.append(time.perf_counter())
            on_done(entries[j], result)
        return done

    hlg = merged_graph(writers)
    if not windowable(hlg):
        hlg = _reductions_first(executor, hlg, writers)
    if not windowable(hlg):
        entries = list(todo)
        keys = [key for key, _, _ in entries]
        dsk = build_graph(writers, keys)
        last_windows.append((len(keys), len(dsk)))
        executor.run(dsk, keys, done_in(entries))
        return
    if todo.grid_chunks is not None:
        cut = (todo.at(w) for w in grid_windows([len(c) for c in todo.grid_chunks], band_group=todo.band_group))
    else:  # outputs on different chunk grids: one list, cut by pixel position
        entries = list(todo)
        a = todo.outputs[0].spec.array
        positions = [todo.position(k, index) for _, k, index in entries]
        cut = ([entries[i] for i in w] for w in windows(positions, len(a.chunks[-1]), max(a.chunks[-1])))

    def items():
        n = 0
        for entries in cut:
            if not entries:  # every chunk of the window was done (resume)
                continue
            wkeys = [key for key, _, _ in entries]
            dsk = window_graph(hlg, wkeys, tag=n)
            n += 1
            last_windows.append((len(wkeys), len(dsk)))
            yield dsk, wkeys, done_in(entries)
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
    n_todo = 0
    with open_executor(scheduler) as executor:
        dashboard = executor.dashboard
        if dashboard:
            log.warning("dask dashboard: %s", dashboard)
        try:
            for s in specs:
                prepared.append(prepare_output(s, overwrite=overwrite, resume=resume, inputs=inputs, stamps=stamps))
            writers, todo = write_tasks(prepared)
            n_todo = len(todo)
            bar = Progress(n_todo, nbytes=todo.nbytes, label=label, mode=progress)

            def on_done(entry, result) -> None:
                nonlocal written
                _, k, index = entry
                flat = np.asarray(result).ravel()
                prepared[k].record_done(index, int(flat[0]), int(flat[1]))
                size = todo.chunk_bytes(k, index)
                written += size
                bar.update(1, size)

            try:
                if n_todo:
                    run_windows(executor, writers, todo, on_done)
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
    skipped = sum(p.n_chunks for p in prepared) - n_todo
    repaired = sum(p.repaired for p in prepared)
    return WriteReport(prepared, n_todo, skipped, time.perf_counter() - start, written, dashboard, repaired)
