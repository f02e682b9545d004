"""Object storage against real servers on 127.0.0.1: moto's S3 server, Azurite (an Azure Blob
server) and a Range-honouring HTTP server, all started by the fixtures in conftest.py. Nothing inside
tiledproc is mocked.

Tests taking ``store_root`` run three times: on a local directory, on a bucket of the S3 server and on
a container of Azurite (Microsoft's Azure Blob emulator)."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

import tiledproc as tp
from tiledproc.errors import (
    ConfigError,
    OutputExistsError,
    OutputLockedError,
    ResumeMismatchError,
    StorageError,
    UnsafeOutputError,
    UnsupportedStoreError,
)
from tiledproc.io import read_attrs
from tiledproc.io.chunkio import FAULTS_ENV
from tiledproc.io.read import LEVEL0
from tiledproc.io.record import verify_output
from tiledproc.io.remote import ObjectPath, bytes_read, remote_error
from tiledproc.io.safety import LOCK_FILE, OutputLock

from .conftest import AZ_ACCOUNT, AZ_KEY, S3_KEY_ID, S3_SECRET


def objects(root) -> dict:
    """Every stored file/object under ``root`` (a store), relative name -> sha256."""
    if isinstance(root, ObjectPath):
        return {m["path"][len(root.key) + 1:]: hashlib.sha256(
            ObjectPath(root.scheme, root.bucket, m["path"]).read_bytes()).hexdigest() for m in root.list()}
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*")) if f.is_file()}


def chunk_digests(store) -> dict:
    return {k: v for k, v in objects(store).items() if k.startswith(f"{LEVEL0}/c/")}


def cli(args, env=None, code=0):
    r = subprocess.run([sys.executable, "-m", "tiledproc", *map(str, args)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **(env or {})), timeout=300)
    assert r.returncode == code, (r.stdout, r.stderr)
    return r


# ------------------------------------------------------------------ the same rules on both stores


@pytest.mark.parametrize("codec", ["lz4", "zstd", "none"])
def test_round_trip_and_zarr_compatibility(store_root, tmp_path, rng, codec):
    x = (rng.normal(size=(3, 45, 70)) * 50).astype("float32")
    x[1, :16, :32] = np.nan  # one chunk all fill value: not stored
    out = tp.save_raster(da.from_array(x, chunks=(2, 16, 32)), str(store_root / "r.zarr"), codec=codec)
    assert str(out) == str(store_root / "r.zarr")
    a = tp.open_raster(str(out))
    assert a.shape == x.shape and a.chunks[0] == (2, 1)
    np.testing.assert_array_equal(a.compute(), x)
    np.testing.assert_array_equal(a[1, 10:40, 5:69].compute(), x[1, 10:40, 5:69])
    if isinstance(store_root, ObjectPath):
        # the objects as stored, copied to a directory, opened by zarr there (no tiledproc reader)
        copy = tmp_path / "copy.zarr"
        stored = store_root / "r.zarr"
        for rel in objects(stored):
            f = copy / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes((stored / rel).read_bytes())
        z = zarr.open_array(str(copy / "0"), mode="r")
        # nothing was written above the store (zarr's create would put a zarr.json in every parent)
        keys = [m["path"] for m in ObjectPath(store_root.scheme, store_root.bucket, "").list()]
        assert keys and all(k.startswith(f"{store_root.key}/r.zarr/") for k in keys), keys
    else:
        z = zarr.open_array(str(out / "0"), mode="r")
    assert z.chunks == (2, 16, 32)
    np.testing.assert_array_equal(z[...], x)
    report = verify_output(str(out))
    assert report["good"] == report["chunks"] == 3 * 2 * 3 and not report["bad"] and report["complete"]


def test_resume_and_replace_refuse_what_tiledproc_did_not_write(store_root, rng):
    x = rng.normal(size=(1, 8, 8))
    out = str(tp.save_raster(x, str(store_root / "o.zarr")))
    m = tp.window_stats(da.from_array(x, chunks=4), 3)
    with pytest.raises(ResumeMismatchError, match="different computation"):
        tp.save_raster(m[0], out, resume=True)
    foreign = store_root / "foreign.zarr"
    if isinstance(foreign, ObjectPath):
        zarr.create_array(foreign.zarr_store(read_only=False), name=foreign.key, shape=(4,), dtype="i4")
    else:
        zarr.create_array(str(foreign), shape=(4,), dtype="i4")
    before = objects(foreign)
    with pytest.raises(UnsafeOutputError, match="did not write"):
        tp.save_raster(x, str(foreign), overwrite=True)
    with pytest.raises(ResumeMismatchError, match="not an output written by tiledproc"):
        tp.save_raster(x, str(foreign), resume=True)
    assert objects(foreign) == before


def test_bucket_root_and_other_buckets(s3_bucket, rng):
    x = rng.normal(size=(1, 8, 8))
    with pytest.raises(UnsafeOutputError, match="root of the bucket"):
        tp.save_raster(x, f"s3://{s3_bucket}")
    src = str(tp.save_raster(x, f"s3://{s3_bucket}/in.zarr"))
    # the same key in another scheme is another store
    tp.save_raster(tp.open_raster(src), "memory://other/in.zarr", inputs=[src])
    with pytest.raises(StorageError, match="bucket exists"):
        tp.save_raster(x, "s3://no-such-bucket-tp/x.zarr")


def test_verify_finds_and_resume_repairs_damaged_chunks(store_root, rng):
    x = da.from_array(rng.normal(size=(2, 40, 40)), chunks=(1, 20, 20))
    m, _ = tp.window_stats(x, 5)
    out = str(store_root / "m.zarr")
    tp.save_raster(m, out)
    good = chunk_digests(store_root / "m.zarr")
    for damaged in ("0/c/0/1/0", "0/c/1/1/1"):
        target = store_root / "m.zarr" / damaged
        if isinstance(target, ObjectPath):
            target.write_bytes(b"garbage")
        else:
            target.write_bytes(b"garbage")
    gone = store_root / "m.zarr" / "0/c/0/0/0"
    gone.unlink() if isinstance(gone, ObjectPath) else os.remove(gone)
    report = verify_output(out)
    assert report["good"] == 5 and sorted(report["bad"]) == ["0/c/0/0/0", "0/c/0/1/0", "0/c/1/1/1"]
    tp.save_raster(m, out, resume=True)
    assert chunk_digests(store_root / "m.zarr") == good
    assert not verify_output(out)["bad"]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_one_writer_per_output(store_root, rng):
    out = store_root / "locked.zarr"
    if not isinstance(out, ObjectPath):
        out.mkdir()
    with OutputLock(str(out)):
        with pytest.raises(OutputLockedError, match="is being written by pid"):
            OutputLock(str(out), takeover=True).acquire()
        with pytest.raises(OutputLockedError, match="is being written"):
            tp.save_raster(np.zeros((4, 4)), str(out), overwrite=True)
    # a lock left by a dead process of this host: refused without resume/overwrite, taken over with them
    stale = json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "start": None, "since": "then"}).encode()
    lock = out / LOCK_FILE
    lock.write_bytes(stale)
    with pytest.raises(OutputLockedError, match="--resume to finish it"):
        OutputLock(str(out)).acquire()
    held = OutputLock(str(out), takeover=True).acquire()
    assert json.loads(lock.read_bytes())["pid"] == os.getpid()
    held.release()
    assert not (lock.is_file() if isinstance(lock, ObjectPath) else lock.exists())
    # a lock of another host is never taken over
    lock.write_bytes(json.dumps({"host": "elsewhere", "pid": 1, "since": "then"}).encode())
    with pytest.raises(OutputLockedError, match="if that run is dead, delete"):
        OutputLock(str(out), takeover=True).acquire()


def test_only_one_of_two_takeovers_wins(s3_bucket):
    out = f"s3://{s3_bucket}/race.zarr"
    lock = ObjectPath.parse(out) / LOCK_FILE
    for _ in range(5):
        lock.write_bytes(json.dumps({"host": socket.gethostname(), "pid": _dead_pid()}).encode())
        results = []
        barrier = threading.Barrier(2)

        def take():
            barrier.wait()
            try:
                results.append(OutputLock(out, takeover=True).acquire())
            except OutputLockedError as e:
                results.append(e)

        threads = [threading.Thread(target=take) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [r for r in results if isinstance(r, OutputLock)]
        assert len(winners) == 1, results
        winners[0].release()


def test_info_pyramid_and_preview_of_a_store_on_s3(s3_bucket, tmp_path):
    root = f"s3://{s3_bucket}"
    cli(["synth", f"{root}/scene.zarr", "--shape", "3,64,80", "--chunks", "1,32,32"])
    info = json.loads(cli(["info", f"{root}/scene.zarr", "--json"]).stdout)
    assert info["shape"] == [3, 64, 80] and info["bytes_on_disk"] > 0
    cli(["pyramid", f"{root}/scene.zarr", "--levels", "2"])
    assert read_attrs(f"{root}/scene.zarr")["ome"]["multiscales"][0]["datasets"][-1]["path"] == "2/0"  # level 2: group 2
    r = cli(["preview", f"{root}/scene.zarr", tmp_path / "q.png"])
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "from level" in r.stdout
    assert verify_output(f"{root}/scene.zarr")["levels"] == {"1/0": "ok", "2/0": "ok"}


# ------------------------------------------------------------------ credentials


@pytest.fixture(params=["s3", "az"])
def keyed_bucket(request):
    """A bucket of the S3 server or a container of Azurite, reached with a key from the environment:
    ``(scheme, bucket, endpoint variable, storage options holding the key, the secrets)``."""
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        opts = {"endpoint": os.environ["AWS_ENDPOINT_URL"], "access_key_id": S3_KEY_ID,
                "secret_access_key": S3_SECRET, "region": "us-east-1"}
        return "s3", bucket, "AWS_ENDPOINT_URL", opts, (S3_SECRET, S3_KEY_ID)
    bucket = request.getfixturevalue("az_bucket")
    # Azurite's key is public: what is checked is that AZURE_STORAGE_ACCOUNT_KEY's value never shows
    opts = {"endpoint": os.environ["AZURE_STORAGE_ENDPOINT"], "account_name": AZ_ACCOUNT, "account_key": AZ_KEY}
    return "az", bucket, "AZURE_STORAGE_ENDPOINT", opts, (os.environ["AZURE_STORAGE_ACCOUNT_KEY"],)


def test_credentials_are_never_in_outputs_logs_or_errors(keyed_bucket, tmp_path):
    scheme, bucket, endpoint_var, opts, secrets = keyed_bucket
    root = f"{scheme}://{bucket}"
    outs = [cli(["synth", f"{root}/scene.zarr", "--shape", "2,64,64", "--chunks", "1,32,32"]),
            cli(["window-stats", f"{root}/scene.zarr", "--size", "3", "--mean", f"{root}/m.zarr",
                 "--progress", "log"]),
            cli(["info", f"{root}/m.zarr"]),
            cli(["verify", f"{root}/m.zarr"]),
            cli(["window-stats", f"{root}/scene.zarr", "--size", "3", "--mean", f"{root}/m.zarr"], code=2),
            cli(["info", f"{scheme}://no-such-bucket-tp/x.zarr"], code=2),
            cli(["info", f"{root}/m.zarr"], env={endpoint_var: "http://127.0.0.1:9/x"}, code=2)]
    # storage options given in Python, secret included, travel nowhere but to the server
    tp.save_raster(np.ones((1, 8, 8)), f"{root}/py.zarr", storage_options=opts)
    with pytest.raises(OutputExistsError) as e1:
        tp.save_raster(np.ones((1, 8, 8)), f"{root}/py.zarr", storage_options=opts)
    with pytest.raises(StorageError) as e2:
        tp.open_raster(f"{root}/py.zarr", storage_options=dict(opts, endpoint="http://127.0.0.1:9/x"))
    texts = [o.stdout + o.stderr for o in outs] + [str(e1.value), str(e2.value)]
    # every object written (metadata, provenance, record, chunks), as bytes read as text
    texts += [ObjectPath(scheme, bucket, m["path"]).read_bytes().decode("latin-1")
              for m in ObjectPath(scheme, bucket, "").list()]
    for secret in secrets:
        for t in texts:
            assert secret not in t
    assert "tiledproc: error:" in outs[-1].stderr and len(outs[-1].stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("var", ["AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_ACCESS_KEY", "AZURE_STORAGE_MASTER_KEY",
                                 "AWS_SECRET_ACCESS_KEY"])
def test_remote_errors_blank_the_secret_of_every_key_variable(var, monkeypatch):
    value = "tpsecret" + os.urandom(8).hex()
    monkeypatch.setenv(var, value)
    err = remote_error(RuntimeError(f"server said: bad signature for key {value}"), "reading 'az://c/x'")
    assert value not in str(err) and "***" in str(err)


def test_pipeline_storage_table(s3_bucket, s3_env, tmp_path, monkeypatch):
    tp.save_raster(np.arange(64.0).reshape(1, 8, 8), f"s3://{s3_bucket}/in.zarr")
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the endpoint now comes from the file only
    p = tmp_path / "p.toml"
    p.write_text(textwrap.dedent(f"""
        [storage]
        endpoint = "{s3_env['AWS_ENDPOINT_URL']}"
        region = "us-east-1"
        [input]
        path = "s3://{s3_bucket}/in.zarr"
        [steps.s]
        op = "window_stats"
        size = 3
        [outputs.mean]
        from = "s.mean"
        path = "s3://{s3_bucket}/out/mean.zarr"
    """))
    cli(["run", p])
    got = tp.open_raster(f"s3://{s3_bucket}/out/mean.zarr",
                         storage_options={"endpoint": s3_env["AWS_ENDPOINT_URL"]}).compute()
    from scipy import ndimage

    np.testing.assert_allclose(got[0], ndimage.uniform_filter(np.arange(64.0).reshape(8, 8), 3, mode="reflect"))
    p.write_text(p.read_text().replace('region = "us-east-1"', 'secret_access_key = "x"'))
    r = cli(["run", p], code=2)
    assert "[storage] secret_access_key" in r.stderr or "secret_access_key" in r.stderr
    assert "credentials do not belong in a pipeline file" in r.stderr
    from tiledproc.pipeline import load_pipeline

    with pytest.raises(ConfigError, match="credentials"):
        load_pipeline(p)


# ------------------------------------------------------------------ https (read-only) and Range reads


def test_zarr_over_http_is_read_only(range_server, tmp_path, rng):
    base, root, _ = range_server
    x = rng.normal(size=(2, 30, 40)).astype("float32")
    tp.save_raster(x, root / "web.zarr", chunks=(1, 16, 16))
    url = f"{base}/web.zarr"
    np.testing.assert_array_equal(tp.open_raster(url).compute(), x)
    assert read_attrs(url)["tiledproc"]["complete"] is True
    with pytest.raises(UnsupportedStoreError, match="read-only"):
        tp.save_raster(x, f"{base}/copy.zarr")
    # an input over http is stamped and read by a run writing elsewhere
    out = tp.save_raster(tp.window_stats(tp.open_raster(url), 3)[0], tmp_path / "m.zarr", inputs=[url])
    assert url in read_attrs(out)["tiledproc"]["input_stamps"]


def test_remote_tiff_ingest_reads_only_what_it_needs(range_server, tmp_path, rng):
    base, root, server = range_server
    img = rng.integers(0, 60000, size=(1024, 1024), dtype=np.uint16)
    tif = root / "cog.tif"
    tifffile.imwrite(tif, img, tile=(256, 256), compression="zlib",
                     extratags=[(33550, "d", 3, (10.0, 10.0, 0.0)), (33922, "d", 6, (0, 0, 0, 500000.0, 4e6, 0)),
                                (34735, "H", 12, (1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32633))])
    size = tif.stat().st_size
    url = f"{base}/cog.tif"
    # one 256 x 256 region: its tile and the header, not the file
    from tiledproc.io.tiff import read_tiff

    before_served, before_read = server.sent, bytes_read(url)
    a = read_tiff(url, chunks=(1, 256, 256))
    np.testing.assert_array_equal(a[0, 256:512, 512:768].compute(), img[256:512, 512:768])
    served, counted = server.sent - before_served, bytes_read(url) - before_read
    assert served == counted
    assert counted < size / 4, (counted, size)
    # the whole ingest: the file once, one tile more (one pixel is decoded before any output is made,
    # so an undecodable file is refused first) and a header per region read; never a download first
    with tifffile.TiffFile(tif) as t:
        tile = max(t.pages[0].databytecounts)
    before = bytes_read(url)
    r = cli(["ingest", url, tmp_path / "cog.zarr", "--chunks", "1,512,512"])
    np.testing.assert_array_equal(tp.open_raster(tmp_path / "cog.zarr").compute()[0], img)
    assert "with range requests" in r.stdout
    got = int(r.stdout.rsplit("(", 1)[1].split(" of ")[0])
    print(f"ingest of {size} bytes read {got} bytes")
    assert size <= got <= size + tile + 6 * 4096, (got, size, tile)
    assert bytes_read(url) == before  # the ingest ran in its own process
    assert read_attrs(tmp_path / "cog.zarr").get("spatial:transform")


def test_tiff_in_s3_ingested_to_s3(s3_bucket, tmp_path, rng):
    img = rng.integers(0, 255, size=(3, 300, 200), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", img, tile=(64, 64), photometric="minisblack", planarconfig="separate")
    (ObjectPath("s3", s3_bucket, "src/a.tif")).write_bytes((tmp_path / "a.tif").read_bytes())
    out = tp.ingest_tiff(f"s3://{s3_bucket}/src/a.tif", f"s3://{s3_bucket}/a.zarr", chunks=(1, 128, 128))
    np.testing.assert_array_equal(tp.open_raster(str(out)).compute(), img)


# ------------------------------------------------------------------ clusters with no shared disk


@pytest.mark.slow
def test_local_cluster_on_s3_with_a_killed_worker_and_a_resumed_run(s3_bucket, tmp_path, monkeypatch):
    from distributed import Client, LocalCluster

    from tiledproc.synth import synth_scene

    root = f"s3://{s3_bucket}"
    tp.save_raster(synth_scene((2, 256, 256), chunks=(1, 32, 32)), f"{root}/scene.zarr", chunks=(1, 32, 32))
    ref = tp.save_raster(tp.window_stats(tp.open_raster(f"{root}/scene.zarr"), 7)[0], f"{root}/ref.zarr",
                         inputs=[f"{root}/scene.zarr"])
    monkeypatch.chdir(tmp_path)  # the workers' directory: nothing may be written there
    # every worker (and one restarted after the kill) inherits the fault seam: chunk writes take a while
    monkeypatch.setenv(FAULTS_ENV, "write-delay=0.1")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      local_directory=str(tmp_path / "dask")) as cluster, Client(cluster) as client:
        errors = []

        def run():
            try:
                tp.save_raster(tp.window_stats(tp.open_raster(f"{root}/scene.zarr"), 7)[0], f"{root}/killed.zarr",
                               inputs=[f"{root}/scene.zarr"], scheduler=cluster.scheduler_address)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        t = threading.Thread(target=run)
        t.start()
        store = ObjectPath("s3", s3_bucket, "killed.zarr")
        deadline = time.monotonic() + 120
        while len([m for m in (store / LEVEL0).list("c")]) < 3 if (store / LEVEL0).is_dir() else True:
            assert t.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)
        pids = list(client.run(os.getpid).values())
        os.kill(pids[0], signal.SIGKILL)
        t.join(timeout=300)
        assert not t.is_alive() and not errors, errors

        # a driver killed mid-run on the cluster, then resumed there
        script = tmp_path / "drive.py"
        script.write_text(textwrap.dedent(f"""
            import sys, tiledproc as tp
            a = tp.window_stats(tp.open_raster("{root}/scene.zarr"), 7)[0]
            tp.save_raster(a, "{root}/resumed.zarr", inputs=["{root}/scene.zarr"], scheduler=sys.argv[1],
                           resume=len(sys.argv) > 2)
        """))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        proc = subprocess.Popen([sys.executable, script, cluster.scheduler_address], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        resumed = ObjectPath("s3", s3_bucket, "resumed.zarr")
        deadline = time.monotonic() + 120
        while not (resumed / LEVEL0).list(".tiledproc-done"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert read_attrs(str(resumed))["tiledproc"]["complete"] is False
        r = subprocess.run([sys.executable, script, cluster.scheduler_address, "resume"], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    for out in ("killed.zarr", "resumed.zarr"):
        store = ObjectPath("s3", s3_bucket, out)
        assert chunk_digests(store) == chunk_digests(ObjectPath("s3", s3_bucket, "ref.zarr")), out
        assert read_attrs(str(store))["tiledproc"]["complete"] is True
    assert not (tmp_path / "s3:").exists()
    assert str(ref).startswith("s3://")


# ------------------------------------------------------------------ workers follow the CPUs they may use


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs os.sched_setaffinity (Linux)")
def test_a_run_pinned_to_one_cpu_uses_one_thread(tmp_path):
    code = textwrap.dedent(f"""
        import os, threading, numpy as np
        os.sched_setaffinity(0, {{sorted(os.sched_getaffinity(0))[0]}})
        import dask.array as da
        import tiledproc as tp
        from tiledproc.limits import default_workers
        seen = set()
        def note(b):
            if b.size:  # not dask's call on an empty array to learn the output's type
                seen.add(threading.get_ident())
            return b
        a = da.ones((1, 256, 256), chunks=(1, 32, 32)).map_blocks(note, dtype=float)  # no call to infer it
        tp.save_raster(a, {str(tmp_path / "one.zarr")!r})
        print(default_workers(), len(seen))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("DASK_NUM_WORKERS", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1"], r.stdout
    # and the command's summary says what it used
    cpu = sorted(os.sched_getaffinity(0))[0]
    cli(["synth", tmp_path / "s.zarr", "--shape", "1,64,64"])
    r = subprocess.run([sys.executable, "-m", "tiledproc", "window-stats", str(tmp_path / "s.zarr"), "--size", "3",
                        "--mean", str(tmp_path / "m.zarr")], capture_output=True, text=True, env=env, timeout=300,
                       preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    assert r.returncode == 0, r.stderr
    assert "(1 worker)" in r.stdout + r.stderr, r.stdout + r.stderr


def test_the_write_graph_carries_no_local_path_store_or_secret(s3_bucket, tmp_path, monkeypatch):
    import cloudpickle

    from tiledproc.execute.schedulers import build_graph
    from tiledproc.io.output import OutputSpec, prepare_output, write_tasks

    monkeypatch.chdir(tmp_path)
    root = f"s3://{s3_bucket}"
    tp.save_raster(np.ones((1, 64, 64), dtype="float32"), f"{root}/in.zarr", chunks=(1, 32, 32))
    m, _ = tp.window_stats(tp.open_raster(f"{root}/in.zarr"), 5)
    out = prepare_output(OutputSpec(f"{root}/m.zarr", m), inputs=[f"{root}/in.zarr"])
    try:
        writers, todo = write_tasks([out])
        dsk = build_graph(writers, [k for k, _, _ in todo])
        blob = cloudpickle.dumps(dict(dsk))
    finally:
        out.release(failed=True)
    for bad in (str(tmp_path).encode(), os.getcwd().encode(), S3_SECRET.encode(), S3_KEY_ID.encode()):
        assert bad not in blob
    assert f"{s3_bucket}".encode() in blob  # the URL travels, rebuilt into a store on the worker


def test_memory_store_for_tests(rng):
    """memory:// is one in-process store per name (threads only: it cannot reach another process)."""
    x = rng.normal(size=(2, 40, 50)).astype("float32")
    url = f"memory://t-{os.getpid()}-{rng.integers(1 << 30)}/x.zarr"
    tp.save_raster(x, url, chunks=(1, 16, 16))
    np.testing.assert_array_equal(tp.open_raster(url).compute(), x)
    with pytest.raises(OutputExistsError):
        tp.save_raster(x, url)
    tp.save_raster(x, url, chunks=(1, 16, 16), resume=True)
    assert verify_output(url)["good"] == 2 * 3 * 4
