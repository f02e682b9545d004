"""The command line, driven through click's CliRunner; every test reads back what it wrote."""

import json
import textwrap

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import tiledproc as tp
from tiledproc.cli import cli
from tiledproc.io import read_attrs
from tiledproc.testing import window_reference


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, args, code=0):
    result = runner.invoke(cli, [str(a) for a in args])
    if result.exit_code != code:
        raise AssertionError(f"exit {result.exit_code} != {code}\nstdout: {result.stdout}\n"
                             f"stderr: {result.stderr}\n{result.exception!r}")
    return result


def assert_user_error(result, *fragments):
    """One clear line on stderr, status 2, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert len(lines) <= 3, result.stderr  # click usage errors add a usage line
    for f in fragments:
        assert f in result.stderr, result.stderr


def test_version_and_help(runner):
    assert tp.__version__ in invoke(runner, ["--version"]).stdout
    out = invoke(runner, ["--help"]).stdout
    for command in ("ingest", "info", "run", "synth", "window-stats", "ops"):
        assert command in out


def test_synth_info_and_window_stats(runner, tmp_path):
    scene = tmp_path / "scene.zarr"
    r = invoke(runner, ["synth", scene, "--shape", "2,300,260", "--chunks", "1,128,128", "--seed", "3",
                        "--progress", "off"])
    assert "wrote scene (2, 300, 260)" in r.stdout
    x = tp.open_raster(scene).compute()
    assert x.shape == (2, 300, 260) and x.dtype == np.float32 and np.isfinite(x).all()
    info = invoke(runner, ["info", scene]).stdout
    assert "shape:      (2, 300, 260)  (c, y, x)" in info and "chunks:     (1, 128, 128)" in info
    assert "blosc lz4" in info and "provenance: synth by tiledproc" in info
    d = json.loads(invoke(runner, ["info", scene, "--json"]).stdout)
    assert d["attrs"]["tiledproc"]["parameters"]["seed"] == 3

    r = invoke(runner, ["-q", "window-stats", scene, "--size", "15", "--mode", "wrap",
                        "--mean", tmp_path / "m.zarr", "--variance", tmp_path / "v.zarr", "--progress", "off"])
    assert "m.zarr" in r.stdout and "done in" in r.stdout
    ref_m, ref_v = window_reference(x, 15, "wrap")
    np.testing.assert_allclose(tp.open_raster(tmp_path / "m.zarr").compute(), ref_m, rtol=1e-6)
    np.testing.assert_allclose(tp.open_raster(tmp_path / "v.zarr").compute(), ref_v, rtol=1e-4, atol=1e-4)
    # the same again is refused without --overwrite, then accepted with it
    again = ["window-stats", scene, "--size", "15", "--mean", tmp_path / "m.zarr"]
    assert_user_error(runner.invoke(cli, [str(a) for a in again]), "m.zarr' already exists", "--overwrite")
    invoke(runner, again + ["--overwrite", "--progress", "off"])
    np.testing.assert_allclose(tp.open_raster(tmp_path / "m.zarr").compute(), window_reference(x, 15)[0],
                               rtol=1e-6)


def test_synth_labels(runner, tmp_path):
    invoke(runner, ["synth", tmp_path / "l.zarr", "--kind", "labels", "--shape", "1,100,120", "--cell", "10",
                    "--progress", "off"])
    lab = tp.open_raster(tmp_path / "l.zarr").compute()
    assert lab.dtype == np.int32 and 60 < len(np.unique(lab)) < 400
    # labels are categorical: pyramid levels pick pixels, they do not average ids
    invoke(runner, ["pyramid", tmp_path / "l.zarr", "--levels", "2"])
    from tiledproc.io.levels import level_array

    np.testing.assert_array_equal(level_array(tmp_path / "l.zarr", "1").compute(), lab[:, ::2, ::2])
    np.testing.assert_array_equal(level_array(tmp_path / "l.zarr", "2").compute(), lab[:, ::4, ::4])


def test_ingest_and_info_show_georeferencing(runner, tmp_path, rng):
    x = rng.integers(0, 1000, size=(40, 50, 3)).astype(np.uint16)
    keys = [1, 1, 0, 1, 3072, 0, 1, 32632]
    tifffile.imwrite(tmp_path / "rgb.tif", x, photometric="rgb", tile=(16, 16),
                     extratags=[(33550, "d", 3, (20.0, 20.0, 0.0), False),
                                (33922, "d", 6, (0, 0, 0, 3e5, 5e6, 0), False),
                                (34735, "H", len(keys), keys, False)])
    r = invoke(runner, ["ingest", tmp_path / "rgb.tif", tmp_path / "rgb.zarr", "--chunks", "1,32,32",
                        "--progress", "off"])
    assert "ingested" in r.stdout
    np.testing.assert_array_equal(tp.open_raster(tmp_path / "rgb.zarr").compute(), np.moveaxis(x, -1, 0))
    info = invoke(runner, ["info", tmp_path / "rgb.zarr"]).stdout
    assert 'proj:code: "EPSG:32632"' in info and "spatial:transform: [20.0, 0.0, 300000.0" in info


def test_run_pipeline_and_dry_run(runner, tmp_path, rng):
    tp.save_raster(rng.normal(size=(1, 30, 40)).astype(np.float32), tmp_path / "in.zarr")
    (tmp_path / "p.toml").write_text(textwrap.dedent("""
        [input]
        path = "in.zarr"
        [steps.s]
        op = "window_std"
        size = [3, 5]
        [outputs.s]
        from = "s"
        path = "s.zarr"
    """))
    plan = invoke(runner, ["run", tmp_path / "p.toml", "--dry-run"]).stdout
    assert "s: window_std(input=input; size=(3, 5)" in plan and "halo 1 x 2 pixels" in plan
    assert not (tmp_path / "s.zarr").exists()
    r = invoke(runner, ["run", tmp_path / "p.toml", "--progress", "log"])
    assert "s.zarr" in r.stdout
    x = tp.open_raster(tmp_path / "in.zarr").compute()
    np.testing.assert_allclose(tp.open_raster(tmp_path / "s.zarr").compute(),
                               np.sqrt(window_reference(x, (3, 5))[1]), rtol=1e-5, atol=1e-6)
    assert read_attrs(tmp_path / "s.zarr")["tiledproc"]["complete"] is True


def test_user_mistakes_give_one_line_and_status_2(runner, tmp_path):
    cases = [
        (["info", tmp_path / "none.zarr"], ["tiledproc: error: Input store", "none.zarr' does not exist"]),
        (["window-stats", tmp_path / "none.zarr", "--size", "3", "--mean", tmp_path / "m.zarr"],
         ["none.zarr' does not exist"]),
        (["run", tmp_path / "none.toml"], ["none.toml' does not exist"]),
        (["synth", tmp_path / "s.zarr", "--shape", "2,3"], ["three positive integers"]),
        (["window-stats", tmp_path / "x.zarr", "--size", "3"], []),
        (["window-stats", tmp_path / "x.zarr", "--mode", "bogus", "--size", "3"], ["bogus"]),
        (["run", "--scheduler", "gpu"], ["Expected scheduler (--scheduler) to be threads, processes"]),
        (["run", "--cluster", "slurm:4"], ["Expected --cluster local:N"]),
        (["ingest", tmp_path / "none.tif", tmp_path / "o.zarr"], ["none.tif' does not exist"]),
    ]
    tp.save_raster(np.zeros((4, 4)), tmp_path / "x.zarr")
    for args, fragments in cases:
        assert_user_error(runner.invoke(cli, [str(a) for a in args]), *fragments)
    r = runner.invoke(cli, ["window-stats", str(tmp_path / "x.zarr"), "--size", "4", "--mean",
                            str(tmp_path / "m.zarr")])
    assert_user_error(r, "window-stats: --size: Expected size to be an odd positive integer")
    # the one-operation commands name their options, not pipeline tables
    r = runner.invoke(cli, ["recolor-by-label", str(tmp_path / "x.zarr"), "--labels", str(tmp_path / "no.zarr"),
                            "--recolored", str(tmp_path / "r.zarr")])
    assert_user_error(r, "recolor-by-label: --labels: Input store", "no.zarr' does not exist.")
    assert "synth" not in r.output


def test_ops_lists_every_operation(runner):
    out = invoke(runner, ["ops"]).stdout
    assert "window_stats(input) -> mean, variance" in out
    assert "nan_policy (str, default 'propagate', one of propagate, omit)" in out


def test_main_entry_point_exit_codes(tmp_path, capsys):
    from tiledproc.cli import main

    with pytest.raises(SystemExit) as e:
        main(["info", str(tmp_path / "nothing.zarr")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tiledproc: error: Input store") and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0


@pytest.mark.parametrize("argv,message", [
    (["window-stats"], "Missing argument 'INPUT'. (see 'tiledproc window-stats --help')"),
    (["window-stats", "in.zarr", "--size", "abc"], "Invalid value for '--size'"),
    (["frobnicate"], "No such command 'frobnicate'. (see 'tiledproc --help')"),
    (["window-mean", "in.zarr", "--bogus"], "No such option '--bogus'"),
    (["recolor-by-label", "in.zarr", "--recolored", "o.zarr"], "Missing option '--labels'"),
])
def test_usage_errors_are_one_line_too(argv, message, capsys):
    from tiledproc.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tiledproc: error: ") and err.count("\n") == 1, err
    assert message in err


def test_no_arguments_prints_the_help(capsys):
    from tiledproc.cli import main

    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 0
    assert "Commands:" in capsys.readouterr().out


@pytest.mark.slow
def test_threads_follow_the_cpus_the_process_may_use(tmp_path):
    """Under an affinity of one CPU (as SLURM and PBS pin jobs) the default is one thread;
    --threads and dask's num_workers config choose explicitly, and the summary says so."""
    import os
    import subprocess
    import sys

    scene = tp.save_raster(np.random.default_rng(0).normal(size=(1, 64, 64)), tmp_path / "s.zarr")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("DASK_NUM_WORKERS", None)

    def summary(*extra, env=env, cpus=None):
        out = tmp_path / f"m{len(os.listdir(tmp_path))}.zarr"
        r = subprocess.run([sys.executable, "-m", "tiledproc", "window-stats", str(scene), "--size", "3",
                            "--mean", str(out), "--progress", "off", *extra], env=env, capture_output=True,
                           text=True, preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert "local threads (1 worker)" in summary(cpus={0})
    assert "local threads (3 workers)" in summary("--threads", "3", cpus={0})
    assert "local threads (2 workers)" in summary(env=dict(env, DASK_NUM_WORKERS="2"), cpus={0})
    with pytest.raises(ValueError, match="threads"):
        tp.save_raster(np.zeros((4, 4)), tmp_path / "x.zarr", threads=0)
