"""The command starts without the heavy libraries (issue 14: `--help`, `info`, `ops` and usage
errors answer in well under half a second; `scripts/bench.py startup` measures the time).

What is asserted is which modules a start imports, in a fresh interpreter: dask, numba and
distributed cost about a second together, and zarr (0.15 s) only where a store is read.
The time itself is measured in the benchmark, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("dask", "numba", "distributed", "zarr", "scipy", "tifffile", "xarray")

PROBE = """
import json, sys
from tiledproc.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def start(*args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ("--help",),
    ("--version",),
    ("ops",),
    ("window-stats", "--help"),
    ("gabor-bank", "--help"),
    ("quantize", "--help"),
    ("run", "--help"),
    ("export", "--help"),
    ("window-stats",),  # a usage error: no input
    ("window-stats", "x.zarr", "--size", "two"),  # a bad value
    ("no-such-command",),
])
def test_help_ops_and_usage_errors_import_no_heavy_library(args):
    r = start(*args)
    assert r["loaded"] == [], f"tiledproc {' '.join(args)} imported {r['loaded']}"
    assert r["code"] in (0, 2)


@pytest.mark.slow
def test_info_imports_zarr_but_not_dask_or_numba(tmp_path):
    import zarr

    zarr.create_array(str(tmp_path / "a.zarr"), shape=(1, 8, 8), chunks=(1, 4, 4), dtype="f4")
    r = start("info", str(tmp_path / "a.zarr"))
    assert r["code"] == 0
    assert r["loaded"] == ["zarr"]


def test_import_tiledproc_is_lazy_and_complete():
    """``import tiledproc`` loads no dask; every public name still resolves, to the same object."""
    probe = ("import sys, tiledproc as tp; before = 'dask' in sys.modules; "
             "names = [getattr(tp, n) for n in tp.__all__]; "
             "import tiledproc.ops.gabor, tiledproc.ops; "
             "print(before, tp.ops.gabor is tp.gabor, callable(tp.ops.gabor), set(tp.__all__) <= set(dir(tp)))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "True", "True", "True"]


def test_unknown_attribute_is_an_attribute_error():
    import tiledproc
    import tiledproc.ops

    with pytest.raises(AttributeError, match="no_such_thing"):
        tiledproc.no_such_thing  # noqa: B018
    with pytest.raises(AttributeError):
        tiledproc.ops.no_such_thing  # noqa: B018


def test_export_compressions_are_the_commands_choices():
    """`tiledproc export --compress` names its choices without importing the writer."""
    import click

    from tiledproc.cli import cli
    from tiledproc.jobs.export import COMPRESSIONS

    opt = next(p for p in cli.commands["export"].params if p.name == "compression")
    assert isinstance(opt.type, click.Choice) and sorted(opt.type.choices) == sorted(COMPRESSIONS)
