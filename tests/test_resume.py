"""Resume after a real crash: SIGKILL a `tiledproc run` mid-write, resume, compare bit for bit."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import tiledproc as tp
from tiledproc.io import read_attrs
from tiledproc.io.chunkio import FAULTS_ENV
from tiledproc.io.record import DONE_LOG
from tiledproc.io.read import LEVEL0
from tiledproc.io.remote import ObjectPath

pytestmark = pytest.mark.slow


def files(store) -> dict:
    """Every stored chunk of level 0, by its path in the store: its digest."""
    out = {}
    if isinstance(store, ObjectPath):
        for m in (store / LEVEL0).list("c"):
            obj = ObjectPath(store.scheme, store.bucket, m["path"])
            out[m["path"][len(store.key) + 1:]] = hashlib.sha256(obj.read_bytes()).hexdigest()
        return out
    for f in sorted((store / LEVEL0 / "c").rglob("*")):
        if f.is_file():
            out[str(f.relative_to(store))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def records(store) -> int:
    """Lines in the completion record (on an object store: in all its segments)."""
    if isinstance(store, ObjectPath):
        return sum(ObjectPath(store.scheme, store.bucket, m["path"]).read_text().count("\n")
                   for m in (store / LEVEL0).list(DONE_LOG))
    log = store / LEVEL0 / DONE_LOG
    return log.read_text().count("\n") if log.exists() else 0


def child(args, delay):
    """The real command line in a child process; its chunk writes are slowed down
    through the documented fault seam so that a kill lands in the middle of the run."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop(FAULTS_ENV, None)
    if delay:
        env[FAULTS_ENV] = f"write-delay={delay}"
    return subprocess.Popen([sys.executable, "-m", "tiledproc", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def test_sigkill_then_resume_is_bit_identical(tmp_path, store_root, rng):
    """Locally, on the S3 server and on Azurite (store_root): there the record's segments are flushed every
    few seconds, so the chunk writes are slowed more for the kill to land after some."""
    x = rng.normal(size=(2, 256, 256)).astype("float32")
    tp.save_raster(x, str(store_root / "scene.zarr"), chunks=(1, 32, 32))
    remote = isinstance(store_root, ObjectPath)
    prefix = f"{store_root}/" if remote else ""
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(textwrap.dedent(f"""
            [input]
            path = "{prefix}scene.zarr"
            [steps.stats]
            op = "window_stats"
            size = 9
            [outputs.mean]
            from = "stats.mean"
            path = "{prefix}{name}/mean.zarr"
            [outputs.variance]
            from = "stats.variance"
            path = "{prefix}{name}/var.zarr"
            [run]
            progress = "log"
            scheduler = "threads"
        """))
    total = 2 * 8 * 8  # chunks per output

    # an uninterrupted run
    ref = child(["run", tmp_path / "b.toml"], 0)
    out, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err

    # the same run, killed once a few chunks are recorded
    root = store_root if remote else tmp_path
    proc = child(["run", tmp_path / "a.toml"], 0.15 if remote else 0.02)
    deadline = time.monotonic() + 240
    while records(root / "a" / "mean.zarr") < 10:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05 if remote else 0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {n: records(root / "a" / f"{n}.zarr") for n in ("mean", "var")}
    assert 10 <= done["mean"] < total and done["var"] < total
    assert read_attrs(root / "a" / "mean.zarr")["tiledproc"]["complete"] is False

    # without --resume the interrupted outputs are protected
    r = child(["run", tmp_path / "a.toml"], 0)
    _, err = r.communicate(timeout=120)
    assert r.returncode == 2 and "already exists" in err and "--resume" in err

    # resume redoes only what was not recorded
    r = child(["run", tmp_path / "a.toml", "--resume"], 0)
    out, err = r.communicate(timeout=300)
    assert r.returncode == 0, err
    # the check of the recorded chunks says what it does while it does it
    assert f"checking {done['mean']} chunks of {root / 'a' / 'mean.zarr'} against its record" in err, err
    redone = 2 * total - done["mean"] - done["var"]
    assert f"{redone} chunks written, {done['mean'] + done['var']} chunks already done" in out
    for n in ("mean", "var"):
        a, b = root / "a" / f"{n}.zarr", root / "b" / f"{n}.zarr"
        assert files(a) == files(b) and len(files(a)) == total
        assert read_attrs(a)["tiledproc"]["complete"] is True
        assert records(a) == total  # the record stays: verify and resume check chunks against it
