"""Cold start: the compile status line, an ETA not skewed by the first chunk, and
``tiledproc warmup`` filling a shared numba cache that a second process only loads."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest

from tiledproc.execute.progress import ETA_AFTER, Progress
from tiledproc.kernels import _status

ROOT = Path(__file__).resolve().parents[1]


def test_eta_waits_for_chunks_after_the_first():
    p = Progress(100, nbytes=100_000, mode="off")
    p.update(1, 1000)  # the first chunk: it may have paid a compile
    t0 = p._t_first
    assert t0 is not None and p.eta(t0 + 60.0) is None and p.rate(t0 + 60.0) is None
    for k in range(ETA_AFTER - 1):
        p.update(1, 1000)
        assert p.eta(t0 + 60.0) is None, "an ETA from fewer than ETA_AFTER chunks after the first"
    p.update(1, 1000)
    # 3 chunks in the 3 s after the first: 1 s a chunk, 96 left; the first chunk's time is not used
    assert p.eta(t0 + 3.0) == pytest.approx(96.0)
    assert p.rate(t0 + 3.0) == pytest.approx(1000.0)
    assert "ETA ?" not in p._line()
    p.update(96, 96_000)
    assert p.eta() == 0.0
    assert p._line().endswith("ETA 0:00")


def test_first_line_shows_no_eta_before_the_rate_is_known():
    p = Progress(10, mode="off")
    p.update(1, 10)
    line = p._line()
    assert line.startswith("1/10 chunks (10%)") and line.endswith("ETA ?") and " at " not in line


def _probe(x):
    return x + 1


def test_one_status_line_per_family_when_kernels_compile(caplog):
    # functions of a new kernel family, compiled here (no cache): each compile is counted,
    # the line is logged once
    funcs = []
    for k in range(2):
        def f(x, k=k):
            return x + k
        f.__module__ = "tiledproc.kernels.coldprobe"
        funcs.append(numba.njit(f))
    before = _status.compiled().get("coldprobe", 0)
    with caplog.at_level(logging.INFO, logger="tiledproc"):
        assert funcs[0](1) == 1 and funcs[1](1) == 2
        funcs[0](2.5)  # a second version of the same function
    lines = [r.getMessage() for r in caplog.records if "compiling" in r.getMessage()]
    assert lines == ["compiling the coldprobe kernels (first use; cached for later runs)"]
    assert _status.compiled()["coldprobe"] - before == 3


def test_family_of():
    assert _status.family_of("tiledproc.kernels.palette.scan") == "palette"
    assert _status.family_of("tiledproc.kernels.window") == "window"
    assert _status.family_of("tiledproc.ops.window") is None
    assert _status.family_of("numba.np.arraymath") is None


# Child 2: every operation and parameter variant of the coldstart benchmark, then what numba
# compiled (its compile events, per kernel family) and its dispatchers' own cache statistics.
_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from benchcases.coldstart import groups
from numba.core.dispatcher import Dispatcher
from tiledproc.kernels import _status
ran = 0
for name, variants in groups().items():
    for variant, thunk in variants:
        thunk()
        ran += 1
hits = misses = 0
for mod in [m for k, m in list(sys.modules.items()) if k.startswith("tiledproc.kernels")]:
    for obj in vars(mod).values():
        if isinstance(obj, Dispatcher):
            hits += sum(obj.stats.cache_hits.values())
            misses += sum(obj.stats.cache_misses.values())
print(json.dumps({"ran": ran, "compiled": _status.compiled(), "hits": hits, "misses": misses}))
"""


@pytest.mark.slow
def test_warmup_fills_a_shared_cache_that_a_second_process_only_loads(tmp_path):
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "tiledproc", "warmup"], env=env, capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "warmup done" in r.stdout and " 0 functions compiled" not in r.stdout
    assert any(cache.rglob("*.nbi")), "warmup wrote nothing to NUMBA_CACHE_DIR"
    # a second process with the same cache: every operation and variant, nothing compiled
    r = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT / "scripts")], env=env, capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["ran"] > 40
    assert got["compiled"] == {}, f"compiled after warmup: {got['compiled']}"
    assert got["misses"] == 0 and got["hits"] > 0, got
    assert "compiling the" not in r.stderr
    # and warmup itself, run again, finds everything cached
    r = subprocess.run([sys.executable, "-m", "tiledproc", "warmup"], env=env, capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.rstrip().endswith(": 0 functions compiled"), r.stdout


def test_palette_tree_built_in_python_is_the_compiled_build():
    """Palettes up to PY_BUILD_MAX colours get their k-d tree from numpy (no 2 s compile on first
    use): the same nodes, order and values as the compiled build used above that size."""
    import numpy as np

    from tiledproc.kernels.palette import kdtree

    rng = np.random.default_rng(0)
    cases = [np.zeros((40, 3)), np.array([[0.0, -0.0, 1], [-0.0, 0.0, 1], [1, 1, 1], [-1e300, 1e300, 5],
                                          [1e-300, 0, 0], [2, 2, 2]])]
    for n in (1, 2, 4, 5, 7, 63, 300, 2000):
        for C in (1, 3, 4, 8):
            cases.append(rng.uniform(0, 255, size=(n, C)))
            cases.append(rng.integers(0, 4, size=(n, C)).astype(float))  # ties and repeated colours
    for pal in cases:
        pal = np.ascontiguousarray(pal)
        for got, want in zip(kdtree._build_tree_py(pal, kdtree.LEAF), kdtree._build_tree(pal, kdtree.LEAF)):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


_PALETTE_CHILD = r"""
import json, sys
import numpy as np
from numba.core import event
names = []
class L(event.Listener):
    def on_start(self, ev):
        names.append(ev.data["dispatcher"].py_func.__name__)
    def on_end(self, ev):
        pass
event.register("numba:compile", L())
import tiledproc as tp
rng = np.random.default_rng(1)
def ref(x, pal):
    return np.argmin(((x[..., None, :].astype(np.float64) - pal) ** 2).sum(-1), axis=-1)
x = rng.uniform(0, 255, size=(96, 80, 3)).astype("float32")
pal = rng.uniform(0, 255, size=(16, 3))
ok = bool((tp.palette_indices(x, pal) == ref(x, pal)).all())
first = list(names)
pal = rng.uniform(0, 255, size=(300, 3))  # noisy tiles, more candidates than the cap: per point
ok &= bool((tp.palette_indices(x, pal) == ref(x, pal)).all())
second = names[len(first):]
pal = rng.uniform(0, 255, size=(200, 3))  # many candidates: the box cut in parts
ok &= bool((tp.palette_indices(x, pal) == ref(x, pal)).all())
third = names[len(first) + len(second):]
print(json.dumps({"ok": ok, "first": first, "second": second, "third": third}))
"""


@pytest.mark.slow
def test_palette_first_use_compiles_only_the_common_searches(tmp_path):
    """From an empty cache, a first palette_indices whose tiles need only the sorted scan compiles
    neither the per-point k-d tree search, the box parts, the overflow fallback nor the compiled
    tree build: each is an entry point of its own, compiled when some tile first needs it."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", _PALETTE_CHILD], env=env, capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["ok"]
    rare = {"point_nn", "points_left", "scan_parts", "parts_left", "brute_point", "_brute_marked", "_build_tree"}
    assert "_nearest_tiles" in got["first"] and "scan" in got["first"]
    assert not rare & set(got["first"]), got["first"]
    assert "points_left" in got["second"] and "scan_parts" not in got["second"], got["second"]
    assert "parts_left" in got["third"] and "scan_parts" in got["third"], got["third"]
