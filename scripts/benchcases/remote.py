"""window_stats on object storage: 4 x 5000 x 5000 float32, a local S3 server -> the same server.

tiledproc (its direct chunk path over obstore: one GET / one PUT per chunk,
issued by the task itself) beside zarr-python's own array API on the same
server and the same store layer (``da.from_zarr`` on a zarr array over
zarr's ``ObjectStore``, the same window_stats graph, ``da.to_zarr`` into
zarr arrays with the same codec and chunks), in the same run. The server is
moto's ``ThreadedMotoServer`` on 127.0.0.1, started by the case in the
parent process; every measurement is a child process, as everywhere in
``scripts/bench.py``. ``TILEDPROC_BENCH_S3_ENDPOINT`` points it at another
S3 server already running instead (with ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` for it), e.g. s3rver from npm:

    python scripts/bench.py remote
    npx s3rver --directory /tmp/s3rver --port 4599 --address 127.0.0.1 --silent &
    TILEDPROC_BENCH_S3_ENDPOINT=http://127.0.0.1:4599 AWS_ACCESS_KEY_ID=S3RVER \
        AWS_SECRET_ACCESS_KEY=S3RVER python scripts/bench.py remote
"""

from __future__ import annotations

import os

from .common import table

SHAPE = (4, 5000, 5000)
CHUNKS = (1, 1024, 1024)
SIZE = 15
BUCKET = "tiledproc-bench"


def _urls():
    root = f"s3://{BUCKET}"
    return f"{root}/scene.zarr", f"{root}/out"


def _clear(prefix: str) -> None:
    from tiledproc.io.remote import ObjectPath

    ObjectPath.parse(prefix).delete_tree()


def tiledproc_s3(data):
    """tiledproc: open_raster over S3, window_stats, write_outputs to S3."""
    import tiledproc as tp
    from tiledproc.io.output import OutputSpec
    from tiledproc.jobs.write import write_outputs

    src, out = _urls()
    out = f"{out}/tiledproc"
    _clear(out)
    m, v = tp.window_stats(tp.open_raster(src), SIZE, mode="reflect")
    write_outputs([OutputSpec(f"{out}/mean.zarr", m), OutputSpec(f"{out}/var.zarr", v)], progress="off")


def zarr_s3(data):
    """zarr-python's array API on the same server: da.from_zarr, window_stats, da.to_zarr."""
    import dask
    import dask.array as da
    import zarr

    import tiledproc as tp
    from tiledproc.io.codecs import compressors_for
    from tiledproc.io.remote import ObjectPath

    src, out = _urls()
    out = f"{out}/zarr"
    _clear(out)
    s = ObjectPath.parse(src)
    z = zarr.open_array(store=s.zarr_store(), path=f"{s.key}/0", mode="r")
    a = da.from_zarr(z)
    m, v = tp.window_stats(a, SIZE, mode="reflect")
    o = ObjectPath.parse(out)
    targets = [zarr.create_array(o.zarr_store(read_only=False), name=f"{o.key}/{n}.zarr", shape=a.shape,
                                 dtype=m.dtype, chunks=z.chunks, compressors=compressors_for("lz4"))
               for n in ("mean", "var")]
    dask.compute(da.to_zarr(m, targets[0], compute=False), da.to_zarr(v, targets[1], compute=False))


def io_floor_s3(data):
    """Read the input once and write two outputs of its shape (tiledproc's path): the I/O floor."""
    import tiledproc as tp
    from tiledproc.io.output import OutputSpec
    from tiledproc.jobs.write import write_outputs

    src, out = _urls()
    out = f"{out}/floor"
    _clear(out)
    a = tp.open_raster(src)
    write_outputs([OutputSpec(f"{out}/c1.zarr", a), OutputSpec(f"{out}/c2.zarr", a)], progress="off")


def check_same(data):
    """The two tools' means are equal (the same graph on the same input: only the I/O differs)."""
    import numpy as np
    import zarr

    import tiledproc as tp
    from tiledproc.io.remote import ObjectPath

    _, out = _urls()
    o = ObjectPath.parse(out)
    theirs = zarr.open_array(store=o.zarr_store(), path=f"{o.key}/zarr/mean.zarr", mode="r")[0, :1024, :1024]
    ours = tp.open_raster(f"{out}/tiledproc/mean.zarr")[0, :1024, :1024].compute()
    return {"seconds": 0.0, "note": f"first tile of the mean equal: {bool(np.array_equal(ours, theirs))}"}


def make_scene(data):
    import tiledproc as tp
    from tiledproc.synth import synth_scene

    src, _ = _urls()
    tp.save_raster(synth_scene(SHAPE, chunks=CHUNKS), src, chunks=CHUNKS, overwrite=True)
    return {"seconds": 0.0}


MEASUREMENTS = {"make_scene": make_scene, "io_floor_s3": io_floor_s3, "tiledproc_s3": tiledproc_s3,
                "zarr_s3": zarr_s3, "check_same": check_same}


def case(data, measure):
    """window_stats 4 x 5000 x 5000 float32, local S3 server -> same server: tiledproc vs zarr's array API."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    given = os.environ.get("TILEDPROC_BENCH_S3_ENDPOINT")  # another S3 server, already running
    if given:
        server, endpoint, label = None, given, f"S3 server at {given}"
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
        os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
    else:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint, label = f"http://{host}:{port}", "moto S3"
        os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret",
                          AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            s3.create_bucket(Bucket=BUCKET)
        measure("remote", "make_scene", {})
        rows = []
        for rep in range(2):  # interleaved, twice: the machine is shared
            for name in ("io_floor_s3", "tiledproc_s3", "zarr_s3"):
                r = measure("remote", name, {})
                r["name"] = f"{name} #{rep + 1}"
                rows.append(r)
        rows.append(measure("remote", "check_same", {}))
        table(f"window_stats 4 x 5000 x 5000 float32, {label} -> the same (mean + variance)", rows, [
            ("zarr array API / tiledproc (speed-up) #1", "zarr_s3 #1", "tiledproc_s3 #1"),
            ("zarr array API / tiledproc (speed-up) #2", "zarr_s3 #2", "tiledproc_s3 #2"),
            ("tiledproc / I/O floor #1", "tiledproc_s3 #1", "io_floor_s3 #1"),
        ])
        return rows
    finally:
        if server is not None:
            server.stop()
