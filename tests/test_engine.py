"""Graph building and execution: halo exchange, boundary maps, the scan-order executor."""

import dask.array as da
import numpy as np
import pytest

from tiledproc.execute.local import _priorities, run_in_order
from tiledproc.graph.overlap import halo_exchange, plan_axis
from tiledproc.kernels._boundary import axis_map, contiguous_run, mode_index


@pytest.mark.parametrize("periodic", [False, True])
def test_halo_exchange_equals_dask_overlap(periodic, rng):
    x = rng.normal(size=(2, 24, 31))
    a = da.from_array(x, chunks=(1, 6, 8))  # every chunk at least the depth, as plan_axis ensures
    ours = halo_exchange(a, 3, 4, periodic)
    ref = da.overlap.overlap(a, depth={0: 0, 1: 3, 2: 4},
                             boundary={0: "none", 1: "periodic" if periodic else "none",
                                       2: "periodic" if periodic else "none"})
    assert ours.chunks == ref.chunks
    np.testing.assert_array_equal(ours.compute(), ref.compute())


def test_plan_axis_merges_small_chunks_and_drops_needless_halos():
    assert plan_axis((1024, 1024, 3), 7) == ((1024, 1027), 7)
    assert plan_axis((1, 1, 1, 1, 1), 2) == ((2, 3), 2)
    assert plan_axis((5,), 30) == ((5,), 0)       # one chunk: the maps do the rest
    assert plan_axis((3, 3), 10) == ((6,), 0)     # a window larger than the image
    assert plan_axis((4, 4), 0) == ((4, 4), 0)


def test_boundary_maps_follow_scipy_for_any_extension():
    q = np.arange(-4, 8)  # one image length on each side of a 4-pixel line
    assert mode_index(q, 4, "reflect").tolist() == [3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0]
    assert mode_index(q, 4, "mirror").tolist() == [2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]
    assert mode_index(q, 4, "wrap").tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]
    assert mode_index(q, 4, "nearest").tolist() == [0] * 5 + [1, 2] + [3] * 5
    assert mode_index(q, 4, "constant").tolist() == [-1] * 4 + [0, 1, 2, 3] + [-1] * 4
    assert mode_index(np.array([-3, 5]), 1, "mirror").tolist() == [0, 0]
    assert mode_index(np.array([-9, 17]), 4, "reflect").tolist() == [0, 1]  # repeated reflection
    # a block with its halo maps to itself; beyond the image the mode applies
    assert axis_map(7, 10, 3, 3, 4, 16, 100, "reflect").tolist() == list(range(16))
    assert axis_map(0, 4, 2, 2, 0, 4, 4, "reflect").tolist() == [1, 0, 0, 1, 2, 3, 3, 2]
    assert contiguous_run(np.array([1, 0, 0, 1, 2, 3, 3, 2])) == (2, 6, -2)


def test_scan_order_and_pieces_right_after_their_chunk():
    deps = {"r1": set(), "r2": set(), ("halo-piece-x", 1): {"r2"}, "b1": {"r1", ("halo-piece-x", 1)},
            "b2": {"r2"}, "w1": {"b1"}, "w2": {"b2"}}
    prio = _priorities(deps, ["w1", "w2"])
    assert prio["w1"] < prio["b2"]  # the first target is finished first
    assert prio[("halo-piece-x", 1)] == prio["r2"] + 1


def test_run_in_order_reports_and_raises():
    done = []
    dsk = {"a": 1, "b": (lambda x: x + 1, "a"), "c": (lambda x: x * 2, "b"), "d": (lambda x: x - 1, "b")}
    run_in_order(dsk, ["c", "d"], lambda i, result: done.append((i, result)), workers=2)
    assert sorted(done) == [(0, 4), (1, 1)]  # each target with its result

    def boom(x):
        raise ZeroDivisionError("task failed")

    with pytest.raises(ZeroDivisionError, match="task failed"):
        run_in_order({"a": 1, "b": (boom, "a"), "c": (lambda x: x, "b")}, ["c"], lambda i, r: done.append(i),
                     workers=2)


def test_collapsed_axes_give_one_partial_per_block(rng):
    """A kernel over whole blocks along a collapsed axis: one row (column) per block."""
    from tiledproc.graph.overlap import apply_overlap

    def sums(block, ymap, xmap):  # column sums over the block's rows, x window of 3
        cols = block[..., ymap, :].sum(axis=-2, keepdims=True)[..., xmap]
        return (cols[..., :-2] + cols[..., 1:-1] + cols[..., 2:])[None]

    x = rng.normal(size=(2, 9, 11))
    ref = np.asarray(x).sum(axis=-2, keepdims=True)
    ref = np.pad(ref, [(0, 0), (0, 0), (1, 1)], mode="symmetric")
    ref = ref[..., :-2] + ref[..., 1:-1] + ref[..., 2:]
    (out,) = apply_overlap(sums, x, radius=(0, 1), mode="reflect", n_outputs=1, dtype=float, name="t",
                           collapse=(True, False))
    np.testing.assert_allclose(out, ref)
    a = da.from_array(x, chunks=(1, 4, 3))
    (out,) = apply_overlap(sums, a, radius=(0, 1), mode="reflect", n_outputs=1, dtype=float, name="t",
                           collapse=(True, False))
    assert out.chunks == ((1, 1), (1, 1, 1), (3, 3, 3, 2))
    np.testing.assert_allclose(out.compute().sum(axis=-2, keepdims=True), ref)
    with pytest.raises(ValueError, match="no halo"):
        apply_overlap(sums, a, radius=(1, 1), mode="reflect", n_outputs=1, dtype=float, name="t",
                      collapse=(True, False))
