"""Scale: graphs whose size does not grow with the raster, writes run in bounded windows,
plans and refusals that answer at once (issue 14, items 1-3)."""

import textwrap
import tracemalloc

import dask.array as da
import numpy as np
import pytest
import zarr

import tiledproc as tp
from tiledproc.errors import ConfigError, ResourceLimitError
from tiledproc.graph import window as gw
from tiledproc.graph.overlap import OverlapLayer
from tiledproc.io.output import OutputSpec, prepare_output, write_tasks
from tiledproc.io.read import open_raster
from tiledproc.jobs import write as jw
from tiledproc.pipeline import run_pipeline


def fill_store(path, shape, chunks=(1, 1024, 1024), dtype="float32"):
    """A Zarr raster whose chunks are all fill value: any size, no disk."""
    g = zarr.create_group(str(path), zarr_format=3)
    g.create_array("0", shape=shape, chunks=chunks, dtype=dtype, fill_value=0)
    return path


def window_tasks(outputs, n_positions):
    """(writes, tasks) of the first window of ``outputs``' chunk writes."""
    prepared = [prepare_output(o) for o in outputs]
    try:
        writers, todo = write_tasks(prepared)
        hlg = gw.merged_graph(writers)
        assert gw.windowable(hlg)
        keys = [t[0] for t in todo if t[2][-2] < 3 and t[2][-1] < 3]  # 3 x 3 chunk positions
        return len(keys), len(gw.window_graph(hlg, keys)), hlg
    finally:
        for p in prepared:
            p.release()


@pytest.mark.parametrize("n", [20_000, 400_000])
def test_a_huge_rasters_graph_is_lazy_and_small_per_chunk(tmp_path, n):
    """Building window_stats on a 1 x n^2 fill-value store makes no task; a window of 3 x 3
    chunks takes at most 3 tasks per output chunk, the same count at any raster size."""
    a = open_raster(fill_store(tmp_path / "in.zarr", (1, n, n)))
    tracemalloc.start()
    mean, var = tp.window_stats(a, size=15)
    graph_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert graph_bytes < 2**20  # nothing per chunk: 153k chunks at 400000^2
    layers = [layer for layer in mean.dask.layers.values() if isinstance(layer, OverlapLayer)]
    assert len(layers) == 1 and not layers[0].is_materialized()
    outs = [OutputSpec(tmp_path / f"{k}.zarr", x, fill_value=0.0) for k, x in (("m", mean), ("v", var))]
    writes, tasks, hlg = window_tasks(outs, 9)
    assert writes == 18
    # 9 block tasks, the edge cuts of 4 x 4 chunks in 8 pairs side by side (the ring's reads
    # fused into theirs), 9 core reads, 18 writes fused with the selection of their output,
    # the store reader
    assert tasks == 9 + 8 + 9 + 18 + 1
    assert tasks / writes <= 3
    assert not any(layer.is_materialized() for layer in hlg.layers.values() if len(layer) > gw.SMALL_LAYER)


@pytest.mark.parametrize("op, kwargs, outputs", [
    ("window_mean", {"size": 7}, 1),
    ("gabor", {"frequency": 0.2}, 2),
    ("gradient", {}, 2),
    ("hessian", {}, 3),
])
def test_every_windowed_operation_takes_at_most_3_tasks_per_output_chunk(tmp_path, op, kwargs, outputs):
    a = open_raster(fill_store(tmp_path / "in.zarr", (1, 100_000, 100_000)))
    result = getattr(tp, op)(a, **kwargs)
    result = list(result) if isinstance(result, (tuple, list)) else [result]
    assert len(result) == outputs
    outs = [OutputSpec(tmp_path / f"o{k}.zarr", x, fill_value=0.0) for k, x in enumerate(result)]
    prepared = [prepare_output(o) for o in outs]
    try:
        writers, todo = write_tasks(prepared)
        hlg = gw.merged_graph(writers)
        assert gw.windowable(hlg)
        # a window as write_outputs cuts it
        positions = [jw._scan_position(prepared[k], index) for _, k, index in todo]
        first = gw.windows(positions, len(a.chunks[-1]), 1024)[0]
        keys = [todo[i][0] for i in first]
        tasks = len(gw.window_graph(hlg, keys))
    finally:
        for p in prepared:
            p.release()
    # a strip of 98 rows x 5 columns in 2 windows of equal heights: 49 rows of 5 chunk positions
    assert len(first) == 49 * 5 * outputs <= gw.WINDOW_CHUNKS * outputs
    # per chunk position: a read, half an edge cut (cuts paired side by side) and the block
    # fused with its writes, plus the window's ring of edge cuts (fused with their reads)
    assert tasks / len(keys) <= 3


def test_windows_cover_every_write_once_in_strips():
    positions = [(b, y * 10, x * 10) for b in range(2) for y in range(40) for x in range(20) for _ in range(2)]
    wins = gw.windows(positions, 20, 10, limit=64)
    flat = [i for w in wins for i in w]
    assert sorted(flat) == list(range(len(positions)))
    width = gw.strip_width(20) * 10
    assert gw.strip_width(20) == gw.STRIP_CHUNKS == 5
    for w in wins:
        assert len({positions[i] for i in w}) <= 64
        assert len({(positions[i][0], positions[i][2] // width) for i in w}) == 1  # one strip of one band
    # bands of one strip fill windows in turn
    narrow = [(b, y * 10, x * 10) for b in range(5) for y in range(6) for x in range(4)]
    wins = gw.windows(narrow, 4, 10, limit=64)
    assert [len(w) for w in wins] == [64, 56]


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant"])
@pytest.mark.parametrize("chunks", [(1, 16, 16), (1, 5, 7)])  # chunks smaller than the halo too
def test_a_windowed_write_is_exact_and_never_holds_the_whole_graph(tmp_path, mode, chunks, rng, monkeypatch):
    x = (rng.normal(size=(2, 150, 170)) * 10 + 100).astype(np.float32)
    src = tp.save_raster(x, tmp_path / "in.zarr", chunks=chunks)
    a = open_raster(src)
    mean, var = tp.window_stats(a, size=9, mode=mode, cval=3.0)
    ref_mean, ref_var = tp.window_stats(x, size=9, mode=mode, cval=3.0)
    monkeypatch.setattr(gw, "WINDOW_CHUNKS", 24)
    monkeypatch.setattr(gw, "STRIP_CHUNKS", 4)
    outs = [OutputSpec(tmp_path / "m.zarr", mean), OutputSpec(tmp_path / "v.zarr", var)]
    report = jw.write_outputs(outs, progress="off")
    n_chunks = sum(p.n_chunks for p in report.outputs)
    assert report.chunks_written == n_chunks
    assert sum(w for w, _ in jw.last_windows) == n_chunks
    if chunks == (1, 16, 16):
        assert len(jw.last_windows) > 3
        biggest = max(t for _, t in jw.last_windows)
        assert biggest < n_chunks  # no window near the whole raster's graph
    else:
        # chunks (here the last ones, 2 x 6) smaller than the halo are merged by a rechunk, a layer dask materialises
        # whole: such a graph is run whole (one window)
        assert len(jw.last_windows) == 1
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "m.zarr" / "0"))[:], ref_mean)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "v.zarr" / "0"))[:], ref_var)


@pytest.mark.slow
def test_windows_on_a_local_cluster_are_exact(tmp_path, rng, monkeypatch, caplog):
    """On distributed, two windows are in flight at once (the next submitted while the one
    before finishes): exact, and no key is sent to the scheduler with two definitions (the
    edge cuts of border chunks are each window's own)."""
    import logging

    from tiledproc.execute.schedulers import SchedulerSpec

    x = (rng.normal(size=(2, 150, 170)) * 10 + 100).astype(np.float32)
    a = open_raster(tp.save_raster(x, tmp_path / "in.zarr", chunks=(1, 16, 16)))
    mean, var = tp.window_stats(a, size=9, mode="reflect")
    ref_mean, ref_var = tp.window_stats(x, size=9, mode="reflect")
    monkeypatch.setattr(gw, "WINDOW_CHUNKS", 24)
    monkeypatch.setattr(gw, "STRIP_CHUNKS", 4)
    outs = [OutputSpec(tmp_path / "m.zarr", mean), OutputSpec(tmp_path / "v.zarr", var)]
    scheduler_log = logging.getLogger("distributed.scheduler")  # "distributed" does not propagate to the root
    scheduler_log.addHandler(caplog.handler)
    try:
        report = jw.write_outputs(outs, progress="off", scheduler=SchedulerSpec("local-cluster", workers=2))
    finally:
        scheduler_log.removeHandler(caplog.handler)
    assert "different `run_spec`" not in caplog.text
    assert report.chunks_written == sum(p.n_chunks for p in report.outputs) == sum(w for w, _ in jw.last_windows)
    assert len(jw.last_windows) > 3
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "m.zarr" / "0"))[:], ref_mean)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "v.zarr" / "0"))[:], ref_var)


PIPE = """
    [input]
    path = "{path}"
    {synth}

    [steps.stats]
    op = "window_stats"
    size = 15

    [outputs.mean]
    from = "stats.mean"
    path = "out/mean.zarr"
"""


def pipeline(tmp_path, path, synth=""):
    p = tmp_path / "p.toml"
    p.write_text(textwrap.dedent(PIPE.format(path=path, synth=textwrap.dedent(synth))))
    return p


def test_dry_run_of_a_huge_store_answers_in_bounded_memory(tmp_path):
    fill_store(tmp_path / "huge.zarr", (1, 800_000, 800_000))  # 611,524 chunks, 2.6 TB
    lines = []
    tracemalloc.start()
    with pytest.raises(ResourceLimitError, match=r"need up to 2\.6 TB .* free"):
        # larger than any disk here: refused by the space check, after a plan in bounded memory
        run_pipeline(pipeline(tmp_path, "huge.zarr"), dry_run=True, echo=lines.append)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20
    from tiledproc.pipeline.run import RunOptions

    tracemalloc.start()
    run_pipeline(pipeline(tmp_path, "huge.zarr"), RunOptions(space_check=False), dry_run=True, echo=lines.append)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20
    assert "611524 chunks" in "\n".join(lines)


def test_a_synthetic_input_of_petabytes_is_refused_before_any_graph(tmp_path):
    synth = """
    [input.synth]
    kind = "scene"
    shape = [100000, 100000, 100000]
    """
    tracemalloc.start()
    with pytest.raises(ConfigError) as e:
        run_pipeline(pipeline(tmp_path, "s.zarr", synth), dry_run=True, echo=lambda s: None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "(100000, 100000, 100000)" in str(e.value)
    assert peak < 16 * 2**20
    assert not (tmp_path / "s.zarr").exists()


def test_synthetic_input_in_huge_chunks_is_refused_with_its_size(tmp_path):
    synth = """
    [input.synth]
    kind = "scene"
    shape = [100000, 100000, 100000]
    chunks = [1, 65536, 65536]
    """
    with pytest.raises((ConfigError, ResourceLimitError)) as e:
        run_pipeline(pipeline(tmp_path, "s.zarr", synth), dry_run=True, echo=lambda s: None)
    assert "chunks of (1, 65536, 65536) need about" in str(e.value) and " GB of working memory" in str(e.value)
    assert not (tmp_path / "s.zarr").exists()
