"""Nothing lost, nothing silently wrong: one test per failure of the data-safety issue.

Every data-loss test takes a snapshot of the victim's bytes (and links)
first and asserts it is unchanged afterwards. Faults are injected through
the documented seam ``TILEDPROC_FAULTS`` (tiledproc.io.chunkio), real mounts
(tmpfs, read-only bind mounts) where the machine allows them, and real
second processes for concurrent writers.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

import tiledproc as tp
from tiledproc.cli import cli
from tiledproc.errors import (
    IncompleteInputError,
    OutputInsideInputError,
    OutputLockedError,
    ResumeMismatchError,
    UnsafeOutputError,
)
from tiledproc.io import read_attrs
from tiledproc.io.chunkio import FAULTS_ENV
from tiledproc.io.record import DONE_LOG
from tiledproc.io.safety import LOCK_FILE


# ----------------------------------------------------------------- helpers


def snapshot(root: Path) -> dict:
    """Every file's bytes (as a hash) and every link's target under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def run(args, code=0, env=None):
    """The command line in this process (click's runner); returns the result."""
    r = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    if r.exit_code != code or (r.exception is not None and not isinstance(r.exception, SystemExit)):
        raise AssertionError(f"exit {r.exit_code} != {code}\nstdout: {r.stdout}\nstderr: {r.stderr}\n"
                             f"{r.exception!r}")
    return r


def user_error(args, *fragments, env=None):
    """Exit 2, one line on stderr, no traceback, naming what was wrong."""
    r = run(args, 2, env=env)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert len(lines) == 1 and lines[0].startswith("tiledproc: error: "), r.stderr
    for f in fragments:
        assert f in r.stderr, (f, r.stderr)
    return r


def child(args, faults=None, cwd=None):
    """The real command line in a child process (a real second writer, a real kill)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop(FAULTS_ENV, None)
    if faults:
        env[FAULTS_ENV] = faults
    return subprocess.Popen([sys.executable, "-m", "tiledproc", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def records(store: Path) -> int:
    log = store / "0" / DONE_LOG
    return log.read_text().count("\n") if log.exists() else 0


def chunk_files(store: Path) -> dict:
    return {str(f.relative_to(store)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted((store / "0" / "c").rglob("*")) if f.is_file()}


@pytest.fixture
def scene(tmp_path, rng):
    x = rng.normal(size=(2, 96, 96)).astype("float32")
    path = tp.save_raster(x, tmp_path / "in.zarr", chunks=(1, 32, 32))
    return path



def stats_pipeline(path: Path, input_table: str, outputs: dict, *, size: int = 3, extra: str = "") -> Path:
    """A pipeline file: ``input_table`` (TOML of [input]), one window_stats step ``s``,
    ``outputs`` as name -> (from, path)."""
    parts = [textwrap.dedent(input_table).strip(), f'[steps.s]\nop = "window_stats"\nsize = {size}']
    parts += [f'[outputs.{name}]\nfrom = "{ref}"\npath = "{out}"' for name, (ref, out) in outputs.items()]
    path.write_text("\n".join(parts) + "\n" + textwrap.dedent(extra))
    return path


def mount_or_skip(*args):
    """Mount something for a test (tmpfs, a read-only bind); skip, saying why, where not permitted."""
    r = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount here ({r.stderr.strip() or 'mount failed'}); the fault-seam test covers it")


# -------------------------------------------- 1. overwrite only what tiledproc made


def test_overwrite_refuses_the_working_directory(tmp_path, scene, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("precious")
    before = snapshot(tmp_path)
    for path in (".", "", "./", str(tmp_path)):
        user_error(["window-stats", scene, "--size", "3", "--mean", path, "--overwrite"])
    user_error(["window-stats", scene, "--size", "3", "--mean", "..", "--overwrite"])
    user_error(["window-stats", scene, "--size", "3", "--mean", "/", "--overwrite"])
    assert snapshot(tmp_path) == before


def test_overwrite_refuses_a_directory_it_did_not_write(tmp_path, scene):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.tex").write_text("chapter 1")
    (docs / "sub").mkdir()
    (docs / "sub" / "fig.png").write_bytes(b"\x89PNG...")
    foreign = tmp_path / "foreign.zarr"  # a Zarr store of someone else's
    zarr.create_array(str(foreign), shape=(4, 4), dtype="f4")[:] = 1.0
    a_file = tmp_path / "table.csv"
    a_file.write_text("1,2,3")
    before = snapshot(tmp_path)
    user_error(["window-stats", scene, "--size", "3", "--mean", docs, "--overwrite"],
               "a directory that tiledproc did not write", "choose another output path")
    user_error(["window-stats", scene, "--size", "3", "--mean", foreign, "--overwrite"],
               "a Zarr store that tiledproc did not write")
    user_error(["window-stats", scene, "--size", "3", "--mean", a_file, "--overwrite"], "it is a file")
    # the same through Python
    m, _ = tp.window_stats(tp.open_raster(scene), 3)
    with pytest.raises(UnsafeOutputError, match="tiledproc did not write"):
        tp.save_raster(m, docs, overwrite=True)
    assert snapshot(tmp_path) == before


def test_overwrite_refuses_home_and_ancestors_of_inputs(tmp_path, scene, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export X=1")
    before = snapshot(tmp_path)
    user_error(["window-stats", scene, "--size", "3", "--mean", home, "--overwrite"], "home directory",
               env={"HOME": str(home)})
    m, _ = tp.window_stats(tp.open_raster(scene), 3)
    # an ancestor of an input contains it
    with pytest.raises(OutputInsideInputError, match="contains the input"):
        tp.save_raster(m, tmp_path, overwrite=True, inputs=[scene])
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(UnsafeOutputError, match="home directory"):
        tp.save_raster(m, "~", overwrite=True)
    with pytest.raises(UnsafeOutputError, match="ancestor of the home directory"):
        tp.save_raster(m, tmp_path, overwrite=True)
    assert snapshot(tmp_path) == before


def test_pipeline_output_path_empty_is_refused_and_nothing_deleted(tmp_path, scene):
    pipe = stats_pipeline(tmp_path / "p.toml", f'[input]\npath = "{scene}"', {"mean": ("s.mean", "")},
                          extra="[run]\noverwrite = true\n")
    (tmp_path / "neighbour.txt").write_text("keep me")
    before = snapshot(tmp_path)
    user_error(["run", pipe, "--dry-run"], "[outputs.mean]", "'path'")
    user_error(["run", pipe], "[outputs.mean]", "'path'")
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_its_own_output_and_never_follows_links_out(tmp_path, scene):
    out = tmp_path / "m.zarr"
    run(["window-stats", scene, "--size", "3", "--mean", out, "--progress", "off"])
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.bin").write_bytes(os.urandom(64))
    os.symlink(victim, out / "link-to-victim")
    os.symlink(victim / "data.bin", out / "0" / "link-to-file")
    before = snapshot(victim)
    run(["window-stats", scene, "--size", "5", "--mean", out, "--overwrite", "--progress", "off"])
    assert snapshot(victim) == before
    assert not (out / "link-to-victim").exists() and read_attrs(out)["tiledproc"]["parameters"]["size"] == 5
    # an output that is itself a link is refused: tiledproc does not write through links
    os.symlink(out, tmp_path / "alias.zarr")
    store_before = snapshot(out)
    user_error(["window-stats", scene, "--size", "3", "--mean", tmp_path / "alias.zarr", "--overwrite"],
               "symbolic link")
    assert snapshot(out) == store_before


# ------------------------------------------------- 2. resolve links before comparing


@pytest.mark.parametrize("case", ["output-through-link", "input-through-link", "up-link"])
def test_symlinks_do_not_defeat_the_output_inside_input_check(tmp_path, scene, case, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink("in.zarr", tmp_path / "lnk")
    (tmp_path / "sub").mkdir()
    os.symlink("..", tmp_path / "sub" / "up")
    before = snapshot(scene)
    if case == "output-through-link":
        args = ["window-stats", "in.zarr", "--size", "3", "--mean", "lnk/0", "--overwrite"]
    elif case == "input-through-link":
        args = ["window-stats", "lnk", "--size", "3", "--mean", "in.zarr/0", "--overwrite"]
    else:
        args = ["window-stats", "in.zarr", "--size", "3", "--mean", "sub/up/in.zarr", "--overwrite"]
    user_error(args, "input")
    assert snapshot(scene) == before
    np.testing.assert_array_equal(np.isnan(tp.open_raster(scene).compute()), False)


def test_two_outputs_on_one_path_through_a_link(tmp_path, scene):
    (tmp_path / "out").mkdir()
    os.symlink("out", tmp_path / "alias")
    pipe = stats_pipeline(tmp_path / "p.toml", f'[input]\npath = "{scene}"',
                          {"mean": ("s.mean", "out/x.zarr"), "variance": ("s.variance", "alias/x.zarr")})
    user_error(["run", pipe], "same path")
    assert list((tmp_path / "out").iterdir()) == []


# ------------------------------------------------------ 3. incomplete inputs refused


def interrupted(scene, out, after=3):
    """An output whose run failed (a full disk) after ``after`` chunks."""
    r = child(["window-stats", scene, "--size", "3", "--mean", out, "--progress", "off"],
              faults=f"enospc-after={after}")
    _, err = r.communicate(timeout=300)
    assert r.returncode == 2 and "No space left on device" in err and "Traceback" not in err, err
    assert read_attrs(out)["tiledproc"]["complete"] is False
    return out


@pytest.mark.slow
def test_incomplete_inputs_are_refused(tmp_path, scene):
    part = interrupted(scene, tmp_path / "part.zarr")
    user_error(["window-stats", part, "--size", "3", "--mean", tmp_path / "next.zarr"],
               "is incomplete", "--resume", "--allow-incomplete")
    assert not (tmp_path / "next.zarr").exists()
    with pytest.raises(IncompleteInputError, match="allow_incomplete=True"):
        tp.open_raster(part)
    # asked for explicitly: used, with a warning
    with pytest.warns(tp.errors.TiledprocWarning, match="incomplete"):
        tp.open_raster(part, allow_incomplete=True)
    r = child(["window-stats", part, "--size", "3", "--mean", tmp_path / "next.zarr", "--allow-incomplete",
               "--progress", "off"])
    _, err = r.communicate(timeout=300)
    assert r.returncode == 0 and "is incomplete" in err and "Warning" not in err, err
    # finished with --resume, it is an input like any other
    run(["window-stats", scene, "--size", "3", "--mean", part, "--resume", "--progress", "off"])
    run(["window-stats", part, "--size", "3", "--mean", tmp_path / "next2.zarr", "--progress", "off"])


@pytest.mark.slow
def test_pipeline_whose_synthetic_input_was_interrupted(tmp_path):
    for name in ("a", "b"):
        stats_pipeline(tmp_path / f"{name}.toml", f"""
            [input]
            path = "{name}/scene.zarr"
            [input.synth]
            shape = [2, 200, 200]
            chunks = [1, 64, 64]
        """, {"mean": ("s.mean", f"{name}/mean.zarr")}, size=5, extra='[run]\nprogress = "off"\n')
    ref = child(["run", tmp_path / "b.toml"])
    assert ref.wait(timeout=300) == 0, ref.communicate()
    r = child(["run", tmp_path / "a.toml"], faults="enospc-after=10")
    _, err = r.communicate(timeout=300)
    assert r.returncode == 2 and "No space left" in err
    assert read_attrs(tmp_path / "a" / "scene.zarr")["tiledproc"]["complete"] is False
    user_error(["run", tmp_path / "a.toml"], "synthetic input", "incomplete", "--resume")
    user_error(["run", tmp_path / "a.toml", "--dry-run"], "incomplete")
    assert not (tmp_path / "a" / "mean.zarr").exists()
    run(["run", tmp_path / "a.toml", "--resume"])
    for name in ("scene", "mean"):
        assert chunk_files(tmp_path / "a" / f"{name}.zarr") == chunk_files(tmp_path / "b" / f"{name}.zarr")
    np.testing.assert_array_equal(np.isnan(tp.open_raster(tmp_path / "a" / "mean.zarr").compute()), False)


# ------------------------------------------------------------ 4. resume verifies


@pytest.mark.parametrize("complete", [False, True], ids=["interrupted", "complete"])
@pytest.mark.parametrize("damage", ["delete", "truncate", "same-size-garbage"])
def test_resume_recomputes_missing_and_damaged_chunks(tmp_path, scene, complete, damage):
    ref = tmp_path / "ref.zarr"
    run(["window-stats", scene, "--size", "3", "--mean", ref, "--progress", "off"])
    out = tmp_path / "out.zarr"
    if complete:
        run(["window-stats", scene, "--size", "3", "--mean", out, "--progress", "off"])
    else:
        interrupted(scene, out, after=6)
    entries = [line.split() for line in (out / "0" / DONE_LOG).read_text().splitlines()]
    victims = [e for e in entries if int(e[3]) > 0][:2]
    for e in victims:
        f = out / "0" / "c" / e[0] / e[1] / e[2]
        if damage == "delete":
            f.unlink()
        elif damage == "truncate":
            f.write_bytes(f.read_bytes()[:10])
        else:
            f.write_bytes(os.urandom(f.stat().st_size))
    r = run(["verify", out], 1)
    assert f"{len(victims)} missing or damaged" in r.stdout
    r = run(["window-stats", scene, "--size", "3", "--mean", out, "--resume", "--progress", "off"])
    assert f"{len(victims)} recorded chunks were missing or damaged and were computed again" in r.stdout
    assert chunk_files(out) == chunk_files(ref)
    assert read_attrs(out)["tiledproc"]["complete"] is True
    assert "18 of 18 chunks intact" in run(["verify", out]).stdout


def test_verify_reports_an_incomplete_output_and_refuses_a_foreign_store(tmp_path, scene):
    part = interrupted(scene, tmp_path / "part.zarr")
    r = run(["verify", part], 1)
    assert "never finished" in r.stdout and "--resume" in r.stderr
    report = json.loads(run(["verify", part, "--json"], 1).stdout)
    assert report["unrecorded"] == 18 - report["recorded"] and report["ok"] is False
    foreign = tmp_path / "foreign.zarr"
    zarr.create_array(str(foreign), shape=(4, 4), dtype="f4")
    user_error(["verify", foreign], "not an output written by tiledproc")


# ------------------------------------- 5. an input rewritten between kill and resume


def test_resume_refuses_an_input_changed_since_the_run_began(tmp_path, scene):
    out = interrupted(scene, tmp_path / "out.zarr")
    before = snapshot(out)
    z = zarr.open_array(str(scene / "0"), mode="r+")
    z[0, :8, :8] = 1234.5  # rewrite a few pixels of the input
    user_error(["window-stats", scene, "--size", "3", "--mean", out, "--resume"],
               "has changed since the run that made it began", "--overwrite")
    assert snapshot(out) == before
    with pytest.raises(ResumeMismatchError, match="has changed"):
        m, _ = tp.window_stats(tp.open_raster(scene), 3)
        tp.save_raster(m, out, resume=True, inputs=[scene])
    # starting again is allowed and gives the new data's result
    run(["window-stats", scene, "--size", "3", "--mean", out, "--overwrite", "--progress", "off"])
    assert read_attrs(out)["tiledproc"]["complete"] is True


# ------------------------------------------------------------ 6. one writer per output


@pytest.mark.slow
def test_a_second_writer_is_refused_while_the_first_runs(tmp_path, scene):
    ref = tmp_path / "ref.zarr"
    run(["window-stats", scene, "--size", "3", "--mean", ref, "--progress", "off"])
    out = tmp_path / "out.zarr"
    first = child(["window-stats", scene, "--size", "3", "--mean", out, "--progress", "off", "--threads", "1"],
                  faults="write-delay=1.0")  # 18 chunks on 1 thread: about 18 s, while 3 refused writers start
    deadline = time.monotonic() + 120
    while not (out / LOCK_FILE).exists() or records(out) < 1:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    holder = json.loads((out / LOCK_FILE).read_text())
    assert holder["pid"] == first.pid and holder["host"] == socket.gethostname()
    for flags in (["--overwrite"], ["--resume"], []):
        second = child(["window-stats", scene, "--size", "5", "--mean", out, "--progress", "off", *flags])
        _, err = second.communicate(timeout=300)
        assert first.poll() is None, "the first writer ended too early for this test"
        assert second.returncode == 2 and "Traceback" not in err, err
        assert (f"being written by pid {first.pid}" in err) or ("already exists" in err and not flags), err
    out_, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert chunk_files(out) == chunk_files(ref) and not (out / LOCK_FILE).exists()


def test_a_stale_lock_is_taken_over_by_resume(tmp_path, scene):
    out = interrupted(scene, tmp_path / "out.zarr")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    (out / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "since": "then"}))
    user_error(["window-stats", scene, "--size", "3", "--mean", out], "already exists")
    run(["window-stats", scene, "--size", "3", "--mean", out, "--resume", "--progress", "off"])
    assert not (out / LOCK_FILE).exists() and read_attrs(out)["tiledproc"]["complete"] is True
    # a lock of another host is never taken over: the message says how to clear it
    (out / LOCK_FILE).write_text(json.dumps({"host": "elsewhere", "pid": 1, "since": "then"}))
    with pytest.raises(OutputLockedError, match="pid 1 on elsewhere.*delete"):
        m, _ = tp.window_stats(tp.open_raster(scene), 3)
        tp.save_raster(m, out, overwrite=True)


def test_sigkill_leaves_a_stale_lock_that_resume_takes_over(tmp_path, scene):
    out = tmp_path / "out.zarr"
    proc = child(["window-stats", scene, "--size", "3", "--mean", out, "--progress", "off"],
                 faults="write-delay=0.1")
    deadline = time.monotonic() + 120
    while records(out) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / LOCK_FILE).exists()
    run(["window-stats", scene, "--size", "3", "--mean", out, "--resume", "--progress", "off"])
    ref = tmp_path / "ref.zarr"
    run(["window-stats", scene, "--size", "3", "--mean", ref, "--progress", "off"])
    assert chunk_files(out) == chunk_files(ref)


# ------------------------------------------------ 7. resources checked before work


def test_huge_synthetic_shapes_are_refused_at_once(tmp_path):
    t = time.monotonic()
    user_error(["synth", tmp_path / "s.zarr", "--shape", "100000,100000,100000"], "chunks", "Use larger chunks")
    user_error(["synth", tmp_path / "s.zarr", "--shape", "1000000000,1000000000,1000000000",
                "--chunks", "1000,100000,100000"], "2**50")
    user_error(["synth", tmp_path / "s.zarr", "--shape", "1,200000,200000", "--chunks", "1,200000,200000"],
               "working memory", "smaller chunks")
    pipe = stats_pipeline(tmp_path / "p.toml", """
        [input]
        path = "scene.zarr"
        [input.synth]
        shape = [100000, 100000, 100000]
    """, {"mean": ("s.mean", "m.zarr")})
    user_error(["run", pipe, "--dry-run"], "chunks")
    user_error(["run", pipe], "chunks")
    assert time.monotonic() - t < 60
    assert sorted(os.listdir(tmp_path)) == ["p.toml"]


def test_a_window_larger_than_a_billion_pixels_runs_on_a_small_input(tmp_path, scene):
    """--size 1000000001 on a small input grew to 24 GB and was killed; it is a well-defined window
    (scipy answers it): now it runs, with halo and scratch bounded by the image."""
    out = tmp_path / "m.zarr"
    run(["window-stats", scene, "--size", "1000000001", "--mode", "wrap", "--mean", out, "--progress", "off"])
    x = tp.open_raster(scene).compute().astype(np.float64)
    # along each axis a wrap window of 1000000001 over 96 pixels is 10416666 whole periods plus a
    # centred window of 65; the box mean is separable, so apply that along x, then along y
    k, n, size = 10416666, 96, 1000000001
    along_x = (k * n * x.mean(axis=2, keepdims=True) + 65 * tp.window_mean(x, (1, 65), mode="wrap")) / size
    expected = (k * n * along_x.mean(axis=1, keepdims=True)
                + 65 * tp.window_mean(along_x, (65, 1), mode="wrap")) / size
    np.testing.assert_allclose(tp.open_raster(out).compute(), expected, rtol=1e-5, atol=1e-6)


def test_outputs_larger_than_the_free_space_are_refused(tmp_path, scene):
    free = shutil.disk_usage(tmp_path).free
    side = int((2 * free / 4) ** 0.5) + 1  # one float32 band of twice the free space
    user_error(["synth", tmp_path / "big.zarr", "--shape", f"1,{side},{side}", "--chunks", "1,4096,4096"],
               "free", "--no-space-check")
    pipe = stats_pipeline(tmp_path / "p.toml", f"""
        [input]
        path = "big.zarr"
        [input.synth]
        shape = [1, {side}, {side}]
        chunks = [1, 4096, 4096]
    """, {"mean": ("s.mean", "m.zarr")})
    user_error(["run", pipe, "--dry-run"], "free")
    assert sorted(os.listdir(tmp_path)) == ["in.zarr", "p.toml"]


def test_a_real_small_disk(tmp_path, scene):
    disk = tmp_path / "disk"
    disk.mkdir()
    mount_or_skip("-t", "tmpfs", "-o", "size=150k", "tmpfs", disk)
    try:
        # refused before anything is made: 72 kB of output fits, then 2 x 72 kB does not
        big = tp.save_raster(np.zeros((1, 200, 200), "f4") + 1, tmp_path / "big.zarr", chunks=(1, 50, 50))
        user_error(["window-stats", big, "--size", "3", "--mean", disk / "m.zarr", "--variance",
                    disk / "v.zarr"], "free")
        assert os.listdir(disk) == []
        # allowed past the check, the disk fills: one line, and --resume continues once there is space
        rand = tp.save_raster(np.random.default_rng(1).normal(size=(1, 400, 400)).astype("f4"),
                              tmp_path / "rand.zarr", chunks=(1, 50, 50))
        user_error(["window-stats", rand, "--size", "3", "--mean", disk / "m.zarr", "--no-space-check",
                    "--progress", "off"], "No space left on device", "--resume")
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# ------------------------------------------------ 8. one line and exit 2, not a traceback


def test_output_under_a_file(tmp_path, scene):
    (tmp_path / "file").write_text("x")
    user_error(["window-stats", scene, "--size", "3", "--mean", tmp_path / "file" / "m.zarr"], "is a file")
    assert (tmp_path / "file").read_text() == "x"


def test_preview_targets(tmp_path, scene):
    user_error(["preview", scene, tmp_path / "missing" / "p.png", "--size", "64"], "does not exist")
    other = tp.save_raster(np.zeros((1, 8, 8), "f4"), tmp_path / "other.zarr")
    before = snapshot(other)
    user_error(["preview", scene, other, "--size", "64"], "is a directory")
    user_error(["preview", scene, scene / "p.png", "--size", "64"], "inside the store")
    (tmp_path / "notes.txt").write_text("keep")
    user_error(["preview", scene, tmp_path / "notes.txt", "--size", "64"], "not a PNG")
    assert snapshot(other) == before and (tmp_path / "notes.txt").read_text() == "keep"
    run(["preview", scene, tmp_path / "p.png", "--size", "128"])
    run(["preview", scene, tmp_path / "p.png", "--size", "128"])  # a PNG may be replaced


def test_unknown_chunk_sizes(tmp_path):
    import dask.array as da

    x = da.ones((1, 10, 10), chunks=5)
    y = x[:, x[0, :, 0] > 0]
    with pytest.raises(ValueError, match="unknown \\(NaN\\) chunk sizes.*compute_chunk_sizes"):
        tp.save_raster(y, tmp_path / "y.zarr")
    with pytest.raises(ValueError, match="unknown \\(NaN\\) chunk sizes"):
        tp.window_mean(y, 3)
    assert not (tmp_path / "y.zarr").exists()


def test_corrupt_input_chunk_is_named(tmp_path, scene):
    f = scene / "0" / "c" / "1" / "1" / "2"
    f.write_bytes(os.urandom(200))
    r = user_error(["window-stats", scene, "--size", "3", "--mean", tmp_path / "m.zarr", "--progress", "off"],
                   "damaged and cannot be decoded", str(f))
    assert "blosc" in r.stderr or "decompress" in r.stderr


def test_corrupt_metadata_is_named(tmp_path, scene):
    (scene / "zarr.json").write_text("{not json")
    user_error(["window-stats", scene, "--size", "3", "--mean", tmp_path / "m.zarr"], "zarr.json", "not valid JSON")
    user_error(["info", scene], "zarr.json", "damaged")


def test_read_only_output_file_system(tmp_path, scene):
    ro = tmp_path / "ro"
    ro.mkdir()
    mount_or_skip("--bind", ro, ro)
    try:
        r = subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {r.stderr.strip()}")
        user_error(["window-stats", scene, "--size", "3", "--mean", ro / "m.zarr"], "read-only")
        user_error(["synth", ro / "s.zarr", "--shape", "1,10,10"], "read-only")
        user_error(["preview", scene, ro / "p.png", "--size", "64"], "not writable")
    finally:
        subprocess.run(["umount", str(ro)], check=False)


@pytest.mark.slow
def test_full_disk_through_the_fault_seam(tmp_path, scene):
    # the first write fails: nothing is left behind, a rerun is not blocked
    r = child(["window-stats", scene, "--size", "3", "--mean", tmp_path / "m.zarr", "--progress", "off"],
              faults="enospc-after=0")
    _, err = r.communicate(timeout=300)
    assert r.returncode == 2 and err.count("\n") == 1 and "No space left on device" in err, err
    assert not (tmp_path / "m.zarr").exists()
    # a later write fails: the store is kept and --resume finishes it
    interrupted(scene, tmp_path / "m.zarr", after=5)
    done = records(tmp_path / "m.zarr")
    assert 1 <= done <= 5  # a write that ended as the run failed may be unrecorded: it is redone
    r = run(["window-stats", scene, "--size", "3", "--mean", tmp_path / "m.zarr", "--resume", "--progress", "off"])
    assert f"{18 - done} chunks written, {done} chunks already done" in r.stdout


def test_third_party_warnings_go_through_logging(tmp_path):
    import tifffile

    src = tmp_path / "odd.tif"
    # a TIFF whose GDAL_NODATA tag is not a number: tifffile logs a complaint on its own logger, which
    # used to reach stderr as it is; now it is a debug line that -v shows
    tifffile.imwrite(src, np.zeros((16, 16), "u2"), extratags=[(42113, "s", 0, "not-a-number", True)])
    r = child(["ingest", src, tmp_path / "o.zarr", "--progress", "off"])
    out, err = r.communicate(timeout=300)
    assert r.returncode == 0 and err == "", err  # tifffile's complaint is a detail
    r = child(["-v", "ingest", src, tmp_path / "o2.zarr", "--progress", "off"])
    out, err = r.communicate(timeout=300)
    assert r.returncode == 0 and "tifffile: " in err and "GDAL_NODATA" in err and "Traceback" not in err, err


# ------------------------------------ 9. failures after start leave nothing in the way


@pytest.mark.slow
def test_unreachable_scheduler_leaves_no_store(tmp_path, scene):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    user_error(["window-stats", scene, "--size", "3", "--mean", tmp_path / "m.zarr", "--scheduler",
                f"tcp://127.0.0.1:{port}"], "Cannot reach the dask scheduler")
    assert not (tmp_path / "m.zarr").exists()
    run(["window-stats", scene, "--size", "3", "--mean", tmp_path / "m.zarr", "--progress", "off"])


def test_bad_options_are_refused_before_a_store_exists(tmp_path, scene):
    m, _ = tp.window_stats(tp.open_raster(scene), 3)
    with pytest.raises(ValueError, match="progress"):
        tp.save_raster(m, tmp_path / "a.zarr", progress="loud")
    with pytest.raises(ValueError, match="pyramid"):
        tp.save_raster(m, tmp_path / "a.zarr", pyramid=-1)
    assert not (tmp_path / "a.zarr").exists()


def test_pyramid_only_on_own_complete_outputs(tmp_path, scene):
    foreign = tmp_path / "foreign.zarr"
    g = zarr.create_group(str(foreign))
    g.create_array("0", shape=(1, 64, 64), dtype="f4")
    before = snapshot(foreign)
    user_error(["pyramid", foreign, "--levels", "2"], "not written by tiledproc")
    assert snapshot(foreign) == before
    part = interrupted(scene, tmp_path / "part.zarr")
    user_error(["pyramid", part, "--levels", "2"], "incomplete")


# ------------------------------------------------- a URL is never a local path
# (object storage itself is tested against a real S3 server in test_remote.py)


@pytest.mark.parametrize("args, fragment", [
    (["synth", "ftp://bucket/scene.zarr", "--shape", "1,10,10"], "not ftp://"),
    (["window-stats", "{scene}", "--size", "3", "--mean", "https://example.org/m.zarr"], "read-only"),
    (["window-stats", "sftp://host/in.zarr", "--size", "3", "--mean", "m.zarr"], "not sftp://"),
    (["info", "file:///tmp/x.zarr"], "not file://"),
    (["ingest", "ftp://example.org/a.tif", "a.zarr"], "not ftp://"),
    (["ingest", "{tiff}", "https://example.org/a.zarr"], "read-only"),
    (["preview", "{scene}", "s3://bucket/p.png"], "local file"),
    (["verify", "webdav://container/x.zarr"], "not webdav://"),
    (["pyramid", "hdfs://x/x.zarr"], "not hdfs://"),
], ids=["synth", "op-output-https", "op-input", "info", "ingest", "ingest-https-output", "preview", "verify",
        "pyramid"])
def test_urls_tiledproc_cannot_use_are_refused_never_made_into_local_directories(tmp_path, scene, monkeypatch,
                                                                                  args, fragment):
    import tifffile

    monkeypatch.chdir(tmp_path)
    tiff = tmp_path / "a.tif"
    tifffile.imwrite(tiff, np.zeros((4, 4), dtype=np.uint8))
    before = sorted(os.listdir(tmp_path))
    user_error([a.format(scene=scene, tiff=tiff) for a in args], fragment)
    assert sorted(os.listdir(tmp_path)) == before  # no 'ftp:' or 'https:' directory appeared


def test_urls_tiledproc_cannot_use_are_refused_in_python(tmp_path, monkeypatch):
    from tiledproc.errors import UnsupportedStoreError

    monkeypatch.chdir(tmp_path)
    for call, match in ((lambda: tp.save_raster(np.zeros((4, 4)), "ftp://bucket/x.zarr"), "not ftp://"),
                        (lambda: tp.save_raster(np.zeros((4, 4)), "https://example.org/x.zarr"), "read-only"),
                        (lambda: tp.open_raster("file:///x.zarr"), "not file://"),
                        (lambda: tp.save_raster(np.zeros((4, 4)), tmp_path / "ok.zarr", inputs=["sftp://x/y.zarr"]),
                         "not sftp://")):
        with pytest.raises(UnsupportedStoreError, match=match):
            call()
    assert os.listdir(tmp_path) == [] and not Path("ftp:").exists() and not Path("https:").exists()
