"""Execution beyond local threads: processes, a distributed LocalCluster (also
with a worker killed mid-run), job-queue scripts; progress; previews and levels."""

import hashlib
import logging
import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tiledproc as tp
from tiledproc.cli import cli
from tiledproc.io import read_attrs
from tiledproc.io.zarr_store import DONE_LOG, LEVEL0
from tiledproc.pipeline import load_pipeline, run_pipeline
from tiledproc.pipeline.run import RunOptions

pytestmark = pytest.mark.slow

PIPELINE = """
    [input]
    path = "scene.zarr"
    [steps.stats]
    op = "window_stats"
    size = 7
    [steps.grad]
    op = "gradient"
    [outputs.mean]
    from = "stats.mean"
    path = "{out}/mean.zarr"
    [outputs.variance]
    from = "stats.variance"
    path = "{out}/var.zarr"
    [outputs.d_x]
    from = "grad.d_x"
    path = "{out}/d_x.zarr"
"""


def digest(store: Path) -> dict:
    return {str(f.relative_to(store)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted((store / LEVEL0 / "c").rglob("*")) if f.is_file()}


@pytest.fixture
def scene(tmp_path):
    from tiledproc.synth import synth_scene

    tp.save_raster(synth_scene((2, 200, 260), chunks=(1, 64, 64)), tmp_path / "scene.zarr", chunks=(1, 64, 64))
    return tmp_path


def pipeline(tmp_path, out):
    p = tmp_path / f"{out}.toml"
    p.write_text(textwrap.dedent(PIPELINE.format(out=out)))
    return p


def same_outputs(a: Path, b: Path):
    for name in ("mean", "var", "d_x"):
        assert digest(a / f"{name}.zarr") == digest(b / f"{name}.zarr"), name


def test_processes_and_local_cluster_match_threads(scene, caplog):
    run_pipeline(pipeline(scene, "threads"), RunOptions(progress="off"))
    run_pipeline(pipeline(scene, "procs"), RunOptions(progress="off", scheduler="processes"))
    with caplog.at_level(logging.WARNING, logger="tiledproc"):
        result = run_pipeline(pipeline(scene, "cluster"), RunOptions(progress="off", cluster="local:2"))
    assert result.report.dashboard and result.report.dashboard.startswith("http")
    assert "dashboard" in caplog.text
    same_outputs(scene / "threads", scene / "procs")
    same_outputs(scene / "threads", scene / "cluster")


def test_a_killed_worker_does_not_fail_the_run(scene):
    from distributed import Client, LocalCluster

    run_pipeline(pipeline(scene, "ref"), RunOptions(progress="off"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:

        def slow_down():  # in each worker: make every chunk write take a while
            import time as _t

            import tiledproc.io.zarr_store as zs

            original = zs.write_chunk

            def slow(layout, index, block):
                _t.sleep(0.05)
                return original(layout, index, block)

            zs.write_chunk = slow

        client.run(slow_down)
        errors = []

        def run():
            try:
                run_pipeline(pipeline(scene, "killed"), RunOptions(progress="off", scheduler=cluster.scheduler_address))
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        t = threading.Thread(target=run)
        t.start()
        log = scene / "killed" / "mean.zarr" / LEVEL0 / DONE_LOG
        deadline = time.monotonic() + 120
        while not (log.exists() and log.read_text().count("\n") >= 3):
            assert t.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        pids = list(client.run(os.getpid).values())
        os.kill(pids[0], signal.SIGKILL)
        t.join(timeout=300)
        assert not t.is_alive() and not errors, errors
    same_outputs(scene / "ref", scene / "killed")
    assert read_attrs(scene / "killed" / "mean.zarr")["tiledproc"]["complete"] is True


@pytest.mark.parametrize("kind,marks", [
    ("slurm", ["#SBATCH -p normal", "#SBATCH -A proj42", "#SBATCH -t 02:00:00", "#SBATCH --mem=", "--exclusive"]),
    ("pbs", ["#PBS -q normal", "#PBS -A proj42", "#PBS -l walltime=02:00:00", "--exclusive"]),
])
def test_job_script_from_the_cluster_section(scene, kind, marks):
    p = pipeline(scene, "hpc")
    p.write_text(p.read_text() + textwrap.dedent(f"""
        [cluster]
        type = "{kind}"
        cores = 8
        memory = "32GB"
        processes = 2
        walltime = "02:00:00"
        queue = "normal"
        account = "proj42"
        jobs = 3
        job_extra_directives = ["--exclusive"]
        job_script_prologue = ["module load python"]
    """))
    result = CliRunner().invoke(cli, ["run", str(p), "--job-script"])
    assert result.exit_code == 0, result.stderr
    script = result.stdout
    for m in marks:
        assert m in script, script
    # workers leave before the walltime kill, staggered
    assert "--lifetime 115m" in script and "--lifetime-stagger" in script
    assert "module load python" in script and "--nworkers 2" in script
    plan = CliRunner().invoke(cli, ["run", str(p), "--dry-run"])
    assert plan.exit_code == 0 and f"{kind.upper()} job queue via dask-jobqueue" in plan.stdout


@pytest.mark.parametrize("change,message", [
    ('type = "slurm"', "[cluster] key 'type': expected 'slurm' or 'pbs'"),
    ('walltime = "02:00:00"', "[cluster] key 'walltime': expected HH:MM:SS"),
    ('cores = 8', "[cluster] key 'cores': missing"),
    ('queue = "normal"', "[cluster] key 'partition': unknown key"),
])
def test_cluster_section_is_validated(scene, change, message):
    text = textwrap.dedent("""
        [cluster]
        type = "slurm"
        cores = 8
        memory = "32GB"
        walltime = "02:00:00"
        queue = "normal"
    """)
    bad = {"type": 'type = "sge"', "walltime": 'walltime = "2h"', "cores": "", "queue": 'partition = "x"'}
    key = change.split()[0]
    p = pipeline(scene, "bad")
    p.write_text(p.read_text() + text.replace(change, bad[key]))
    with pytest.raises(tp.errors.ConfigError) as e:
        load_pipeline(p)
    assert message in str(e.value)


def test_progress_logs_lines_when_not_a_terminal(scene):
    runner = CliRunner()
    r = runner.invoke(cli, ["run", str(pipeline(scene, "logged")), "--progress", "log"])
    assert r.exit_code == 0, r.stderr
    assert "tiledproc: scene" not in r.stdout  # log lines go to stderr
    lines = [line for line in r.stderr.splitlines() if "chunks" in line]
    assert lines and "(100%)" in lines[-1] and lines[-1].endswith("ETA 0:00")


def test_progress_bar_on_a_terminal():
    import io

    from tiledproc.engine.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    s = Tty()
    bar = Progress(4, nbytes=4000, label="demo", stream=s)
    for _ in range(4):
        bar.update(1, 1000)
    bar.close()
    text = s.getvalue()
    assert bar.mode == "bar" and "\r" in text and "demo [" in text and "4/4 chunks (100%)" in text


def test_pyramid_levels_and_preview(tmp_path):
    from PIL import Image

    yy, xx = np.mgrid[0:300, 0:400].astype(np.float32)
    bands = np.stack([xx, yy, np.full_like(xx, 7.0), 400 - xx])  # ramps in x, y and a constant band
    out = tp.save_raster(bands, tmp_path / "r.zarr", chunks=(1, 64, 64), pyramid=3)
    attrs = read_attrs(out)
    datasets = attrs["ome"]["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == ["0", "1", "2", "3"]
    assert datasets[2]["coordinateTransformations"][0]["scale"] == [1.0, 4.0, 4.0]
    level2 = tp.io.zarr_store.level_array(out, "2").compute()
    assert level2.shape == (4, 75, 100)
    np.testing.assert_allclose(level2[0, 0, :3], [1.5, 5.5, 9.5])  # 4 x 4 means of the x ramp

    r = CliRunner().invoke(cli, ["preview", str(out), str(tmp_path / "rgb.png"), "--rgb", "1,2,4", "--size", "100"])
    assert r.exit_code == 0, r.stderr
    assert "from level 2" in r.stdout
    img = np.asarray(Image.open(tmp_path / "rgb.png"))
    assert img.shape == (75, 100, 3)
    r = CliRunner().invoke(cli, ["preview", str(out), str(tmp_path / "small.png"), "--band", "2", "--size", "60"])
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(tmp_path / "small.png")).shape == (38, 50)  # level 2 (75 x 100), every 2nd pixel
    red, green, blue = img[..., 0].astype(int), img[..., 1].astype(int), img[..., 2].astype(int)
    assert (np.diff(red, axis=1) >= 0).all() and red[:, 0].max() == 0 and red[:, -1].min() == 255
    assert (np.diff(green, axis=0) >= 0).all() and (np.diff(blue, axis=1) <= 0).all()
    r = CliRunner().invoke(cli, ["preview", str(out), str(tmp_path / "grey.png"), "--band", "3"])
    assert r.exit_code == 0 and np.asarray(Image.open(tmp_path / "grey.png")).ndim == 2


def test_preview_never_reads_a_large_raster_at_full_resolution(tmp_path, monkeypatch):
    from tiledproc.io import chunkio

    out = tp.save_raster(np.random.default_rng(0).normal(size=(1, 512, 512)), tmp_path / "big.zarr",
                         chunks=(1, 64, 64))
    r = CliRunner().invoke(cli, ["preview", str(out), str(tmp_path / "p.png"), "--size", "128"])
    assert r.exit_code == 2 and "no pyramid level near 128" in r.stderr and "tiledproc pyramid" in r.stderr
    assert CliRunner().invoke(cli, ["pyramid", str(out), "--levels", "2"]).exit_code == 0
    reads = []
    original = chunkio._read_chunk
    monkeypatch.setattr(chunkio, "_read_chunk", lambda layout, i: reads.append(layout.root) or original(layout, i))
    r = CliRunner().invoke(cli, ["preview", str(out), str(tmp_path / "p.png"), "--size", "128"])
    assert r.exit_code == 0, r.stderr
    assert reads and all(root.endswith("/2") for root in reads)


def test_pipeline_pyramid_option_and_resume_keep_levels(scene):
    p = pipeline(scene, "pyr")
    run_pipeline(p, RunOptions(progress="off", pyramid=2))
    assert tp.io.zarr_store.store_levels(scene / "pyr" / "mean.zarr") == ["0", "1", "2"]
    r = run_pipeline(p, RunOptions(progress="off", pyramid=2, resume=True))
    assert r.report.chunks_written == 0
