"""First use of every operation and parameter variant from an empty numba cache.

Each group runs in a fresh child process whose ``NUMBA_CACHE_DIR`` is a new
empty directory, so every compiled kernel it needs is compiled there. Inside
a group the variants run one after another on small numpy inputs; the figure
of a variant is what it costs *after* the variants above it in its group
(the first row of a group: its first use from nothing). Both the wall time
and the process CPU time (``time.process_time``: all threads of the child)
are recorded; on a shared machine the CPU time is the figure to read.

    python scripts/bench.py coldstart
    python scripts/benchcases/coldstart.py [group ...]   # standalone, prints the table
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _img(shape=(1, 256, 256), dtype="float32", seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(100.0, 20.0, size=shape)
    if np.dtype(dtype).kind in "ui":
        x = np.clip(x, 0, np.iinfo(dtype).max)
    return x.astype(dtype)


def _rgb(dtype="float32", h=128, w=128, c=3):
    import numpy as np

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, size=(h, w, c))
    return x.astype(dtype)


def _labels(dtype="int32", h=128, w=128):
    import numpy as np

    rng = np.random.default_rng(2)
    return rng.integers(0, 50, size=(h, w)).astype(dtype)


def _palette(n=16, c=3):
    import numpy as np

    return np.random.default_rng(3).uniform(0, 255, size=(n, c))


def _nan_img():
    x = _img()
    x[0, 10:20, 30:40] = float("nan")
    return x


# group -> [(variant, thunk)]; each thunk runs the operation once (numpy in, numpy out)
def groups():
    import tiledproc as tp

    return {
        "window": [
            ("window_stats 15 reflect f32", lambda: tp.window_stats(_img(), 15)),
            ("size 3", lambda: tp.window_stats(_img(), 3)),
            ("size (5, 31)", lambda: tp.window_stats(_img(), (5, 31))),
            ("size 101", lambda: tp.window_stats(_img(), 101)),
            ("mode constant", lambda: tp.window_stats(_img(), 15, mode="constant")),
            ("mode wrap", lambda: tp.window_stats(_img(), 15, mode="wrap")),
            ("nan_policy omit", lambda: tp.window_stats(_nan_img(), 15, nan_policy="omit")),
            ("float64", lambda: tp.window_stats(_img(dtype="float64"), 15)),
            ("uint16", lambda: tp.window_stats(_img(dtype="uint16"), 15)),
            ("int32", lambda: tp.window_stats(_img(dtype="int32"), 15)),
            ("window_mean", lambda: tp.window_mean(_img(), 15)),
            ("window_variance", lambda: tp.window_variance(_img(), 15)),
            ("window_std", lambda: tp.window_std(_img(), 15)),
            ("window_std omit f64", lambda: tp.window_std(_nan_img().astype("float64"), 7, nan_policy="omit")),
            ("window wider than image", lambda: tp.window_stats(_img((1, 20, 20)), 61)),
        ],
        "gabor": [
            ("gabor isotropic f32", lambda: tp.gabor(_img(), 0.1)),
            ("gabor anisotropic (fft)", lambda: tp.gabor(_img(), 0.1, theta=0.6, sigma_x=3, sigma_y=5)),
            ("mode constant", lambda: tp.gabor(_img(), 0.1, mode="constant")),
            ("float64", lambda: tp.gabor(_img(dtype="float64"), 0.1)),
            ("uint8", lambda: tp.gabor(_img(dtype="uint8"), 0.1)),
            ("gabor_magnitude", lambda: tp.gabor_magnitude(_img(), 0.2)),
            ("gabor_bank", lambda: tp.gabor_bank(_img(), [0.1, 0.2], [0, 0.8])),
            ("gabor_texture", lambda: tp.gabor_texture(_img(), 0.1)),
        ],
        "derivatives": [
            ("gradient f32", lambda: tp.gradient(_img())),
            ("float64", lambda: tp.gradient(_img(dtype="float64"))),
            ("uint8", lambda: tp.gradient(_img(dtype="uint8"))),
            ("spacing (2, 0.5)", lambda: tp.gradient(_img(), (2.0, 0.5))),
            ("gradient_magnitude", lambda: tp.gradient_magnitude(_img())),
            ("hessian", lambda: tp.finite_difference_hessian(_img())),
            ("hessian compact", lambda: tp.finite_difference_hessian(_img(), method="compact")),
            ("hessian compact constant", lambda: tp.finite_difference_hessian(_img(), method="compact",
                                                                             mode="constant")),
            ("gradient_and_hessian", lambda: tp.gradient_and_hessian(_img())),
        ],
        "labels": [
            ("label_means f32 int32", lambda: tp.label_means(_rgb(), _labels())),
            ("uint8 image", lambda: tp.label_means(_rgb("uint8"), _labels())),
            ("float64 image", lambda: tp.label_means(_rgb("float64"), _labels())),
            ("uint16 labels", lambda: tp.label_means(_rgb(), _labels("uint16"))),
            ("int64 labels", lambda: tp.label_means(_rgb(), _labels("int64"))),
            ("recolor_by_label", lambda: tp.recolor_by_label(_rgb(), _labels())),
            ("recolor background", lambda: tp.recolor_by_label(_rgb(), _labels(), background=0)),
        ],
        "palette": [
            ("palette_indices f32 16", lambda: tp.palette_indices(_rgb(), _palette())),
            ("uint8 image", lambda: tp.palette_indices(_rgb("uint8"), _palette())),
            ("float64 image", lambda: tp.palette_indices(_rgb("float64"), _palette())),
            ("256 colours", lambda: tp.palette_indices(_rgb(), _palette(256))),
            ("4096 colours", lambda: tp.palette_indices(_rgb(), _palette(4096))),
            ("1 channel", lambda: tp.palette_indices(_rgb(c=1), _palette(16, 1))),
            ("8 channels", lambda: tp.palette_indices(_rgb(c=8), _palette(16, 8))),
            ("apply_palette", lambda: tp.apply_palette(_rgb(), _palette())),
            ("median_cut 16", lambda: tp.median_cut_palette(_rgb(), 16)),
            ("median_cut refine 2", lambda: tp.median_cut_palette(_rgb(), 16, refine=2)),
            ("median_cut uint8 256 refine 1", lambda: tp.median_cut_palette(_rgb("uint8"), 256, refine=1)),
        ],
    }


def run_group(name: str) -> list[dict]:
    """In this process (whose NUMBA_CACHE_DIR the caller made empty): every variant of a group."""
    t0, c0 = time.perf_counter(), time.process_time()
    import tiledproc  # noqa: F401  (the import is timed apart)

    rows = [{"variant": "import tiledproc", "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}]
    for variant, thunk in groups()[name]:
        t, c = time.perf_counter(), time.process_time()
        thunk()
        rows.append({"variant": variant, "wall": time.perf_counter() - t, "cpu": time.process_time() - c})
    return rows


def child_group(name: str) -> list[dict]:
    """Run a group in a fresh process with a new, empty numba cache directory."""
    with tempfile.TemporaryDirectory(prefix="tiledproc-coldstart-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", name],
                           capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"coldstart group {name} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def print_group(name: str, rows: list[dict]) -> None:
    print(f"\n## coldstart: {name} (fresh process, empty NUMBA_CACHE_DIR; each row after those above it)")
    for r in rows:
        print(f"  {r['variant']:<34} wall {r['wall']:6.2f} s   cpu {r['cpu']:6.2f} s")
    total_cpu = sum(r["cpu"] for r in rows[1:])
    print(f"  {'all variants':<34} wall {sum(r['wall'] for r in rows[1:]):6.2f} s   cpu {total_cpu:6.2f} s")


def _measure(name):
    def m(data):
        t = time.perf_counter()
        rows = child_group(name)
        return {"seconds": time.perf_counter() - t, "rows": rows}
    return m


GROUPS = ("window", "gabor", "derivatives", "labels", "palette")
MEASUREMENTS = {g: _measure(g) for g in GROUPS}


def case(data, measure):
    """First use of every operation and variant, each group in a fresh process with an empty numba cache."""
    out = []
    for g in GROUPS:
        r = measure("coldstart", g, {})
        if "error" in r:
            print(f"\n## coldstart: {g} ERROR {r['error']}")
            continue
        print_group(g, r["rows"])
        out.append(r)
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        print(json.dumps(run_group(sys.argv[2])))
    else:
        for g in sys.argv[1:] or GROUPS:
            print_group(g, child_group(g))
