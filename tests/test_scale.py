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
    tp.window_stats(a[:, :64, :64], size=15)  # the modules it loads on first use are not the graph
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
    ("finite_difference_hessian", {}, 3),
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
        first = todo.at(next(gw.grid_windows([len(c) for c in todo.grid_chunks])))
        keys = [key for key, _, _ in first]
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


@pytest.mark.parametrize("grid, limit", [((2, 40, 20), 64), ((5, 6, 4), 64), ((3, 17, 11), 24), ((1, 98, 98), 256),
                                         ((2, 3, 13), 7), ((1, 1, 1), 256)])
def test_grid_windows_cut_a_whole_grid_as_windows_does(grid, limit):
    """The lazy cut of a whole chunk grid is the cut windows() makes of its every position."""
    nb, ny, nx = grid
    positions = [(b, y * 10, x * 10) for b in range(nb) for y in range(ny) for x in range(nx)]
    expected = [[positions[i] for i in w] for w in gw.windows(positions, nx, 10, limit=limit)]
    got = [[(b, y * 10, x * 10) for b, y, x in w] for w in gw.grid_windows(grid, limit=limit)]
    assert got == expected


@pytest.mark.parametrize("grid, limit", [((3, 17, 11), 24), ((3, 6, 4), 64), ((6, 3, 13), 7), ((4, 9, 9), 256)])
def test_grid_windows_keep_the_bands_of_a_block_together(grid, limit):
    """With band_group 3, the chunks of a 3-band block (one chunk per band) are in one
    window, one after another; every chunk once; at most ``limit`` chunks per window."""
    wins = list(gw.grid_windows(grid, limit=limit, band_group=3))
    flat = [i for w in wins for i in w]
    assert sorted(flat) == sorted(np.ndindex(*grid))
    for w in wins:
        assert len(w) <= max(limit, 3 * gw.STRIP_CHUNKS)  # at least one row of a strip
        for b, y, x in w:
            group = [(b0, y, x) for b0 in range(b - b % 3, min(b - b % 3 + 3, grid[0]))]
            assert all(c in w for c in group)  # the whole block in this window
        starts = [j for j, (b, _, _) in enumerate(w) if b % 3 == 0]
        for j in starts:  # a block's chunks one after another (the last group may hold fewer bands)
            b, y, x = w[j]
            n = min(3, grid[0] - b)
            assert w[j:j + n] == [(b + d, y, x) for d in range(n)]


def test_an_output_stored_per_band_from_multi_band_blocks_is_written_block_by_block(tmp_path, rng):
    x = rng.normal(size=(3, 100, 90)).astype(np.float32)
    lab = rng.integers(0, 9, size=(100, 90)).astype(np.int32)
    xs = tp.save_raster(x, tmp_path / "x.zarr", chunks=(3, 32, 32))
    r = tp.recolor_by_label(open_raster(xs), lab, channel_axis=0)
    assert r.chunks[0] == (3,)
    out = prepare_output(OutputSpec(tmp_path / "r.zarr", r, chunks=(1, 32, 32)))
    try:
        _, todo = write_tasks([out])
        assert todo.band_group == 3
        first = todo.at(next(gw.grid_windows([len(c) for c in todo.grid_chunks], band_group=todo.band_group)))
        assert [index for _, _, index in first[:6]] == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 0, 1), (1, 0, 1), (2, 0, 1)]
    finally:
        out.release()


def test_the_to_do_list_is_made_a_window_at_a_time(tmp_path):
    """At 16 x 400000^2 (2.4 million chunks per output) the writes still to do are counted,
    sized and cut into their first window without a list of the raster's chunks."""
    a = open_raster(fill_store(tmp_path / "in.zarr", (16, 400_000, 400_000)))
    mean, var = tp.window_stats(a, size=15)
    outs = [OutputSpec(tmp_path / f"{k}.zarr", x, fill_value=0.0) for k, x in (("m", mean), ("v", var))]
    prepared = [prepare_output(o) for o in outs]
    try:
        tracemalloc.start()
        _, todo = write_tasks(prepared)
        n, nbytes = len(todo), todo.nbytes
        first = todo.at(next(gw.grid_windows([len(c) for c in todo.grid_chunks])))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        for p in prepared:
            p.release()
    chunks = 16 * 391 * 391
    assert n == 2 * chunks and nbytes == 2 * 16 * 400_000**2 * 4
    assert len(first) == 2 * 5 * 49  # one strip of 5 columns, 391 rows in 8 windows of equal heights
    assert peak < 2**20  # a list of the raster's writes alone is ~700 MiB


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


@pytest.mark.parametrize("chunks", [(3, 64, 64), (3, 40, 90)])
def test_recolor_runs_in_windows_after_its_table(tmp_path, rng, monkeypatch, chunks):
    """The label table is computed first, on its own (one pass), then put in the graph as a
    constant: the per-pixel map runs in windows, and is exactly recolor_by_label's."""
    x = rng.normal(size=(3, 300, 260)).astype(np.float32)
    lab = rng.integers(-5, 40, size=(1, 300, 260)).astype(np.int32)
    xs = tp.save_raster(x, tmp_path / "x.zarr", chunks=chunks)
    ls = tp.save_raster(lab, tmp_path / "l.zarr", chunks=(1,) + chunks[1:])
    r = tp.recolor_by_label(open_raster(xs), open_raster(ls)[0], channel_axis=0, background=3)
    hlg = gw.merged_graph([r])
    assert not gw.windowable(hlg) and gw.reduction_results(hlg) is not None
    monkeypatch.setattr(gw, "WINDOW_CHUNKS", 6)
    monkeypatch.setattr(gw, "STRIP_CHUNKS", 2)
    report = jw.write_outputs([OutputSpec(tmp_path / "r.zarr", r)], progress="off")
    n = report.outputs[0].n_chunks
    assert sum(w for w, _ in jw.last_windows) == n and len(jw.last_windows) > 3
    assert max(t for _, t in jw.last_windows) < n  # no window holds the table's reduction
    ref = tp.recolor_by_label(x, lab[0], channel_axis=0, background=3)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "r.zarr" / "0"))[:], ref)


@pytest.mark.parametrize("refine", [0, 2])
def test_quantize_runs_in_windows_after_its_palette(tmp_path, rng, monkeypatch, caplog, refine):
    """The median-cut palette (and its Lloyd passes) is computed once, before the writes;
    the writes run in windows and equal those of a run in one window."""
    import logging

    x = rng.uniform(0, 255, size=(3, 300, 260)).astype(np.float32)
    src = tp.save_raster(x, tmp_path / "x.zarr", chunks=(3, 64, 64))

    def run(name):
        p = tmp_path / f"{name}.toml"
        p.write_text(textwrap.dedent(f"""
            [input]
            path = "{src}"
            [steps.q]
            op = "quantize"
            n_colors = 8
            refine = {refine}
            [outputs.indices]
            from = "q.indices"
            path = "{tmp_path / name}-i.zarr"
            [outputs.quantized]
            from = "q.quantized"
            path = "{tmp_path / name}-q.zarr"
        """))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tiledproc"):
            run_pipeline(p, echo=lambda s: None)
        assert caplog.text.count("median cut done") == 1
        return [zarr.open_array(f"{tmp_path / name}-{k}.zarr/0")[:] for k in "iq"], list(jw.last_windows)

    whole, w1 = run("one")
    assert len(w1) == 1
    monkeypatch.setattr(gw, "WINDOW_CHUNKS", 6)
    monkeypatch.setattr(gw, "STRIP_CHUNKS", 2)
    windowed, w2 = run("many")
    assert len(w2) > 3 and sum(w for w, _ in w2) == 25 + 75  # indices 1 x 5 x 5 chunks, quantized 3 x 5 x 5
    for a, b in zip(whole, windowed):
        np.testing.assert_array_equal(a, b)


def test_a_whole_raster_rechunk_is_not_split():
    """A per-chunk layer that takes a large layer which is not local (a rechunk merging
    chunks) cannot be split into a reduction and windows: the graph runs whole."""
    a = da.ones((1, 200, 200), chunks=(1, 10, 10)).rechunk((1, 30, 30)) + 1
    hlg = gw.merged_graph([a])
    assert not gw.windowable(hlg) and gw.reduction_results(hlg) is None


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
