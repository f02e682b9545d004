"""What the data-safety checks cost: the resume check, verify and the input stamps, beside the write they guard."""

from __future__ import annotations

import time

from .common import ensure_scene, table


def _specs(data):
    import tiledproc as tp
    from tiledproc.io.output import OutputSpec

    mean, var = tp.window_stats(tp.open_raster(data / "scene.zarr"), 15)
    out = data / "out"
    return [OutputSpec(out / "safety-mean.zarr", mean), OutputSpec(out / "safety-var.zarr", var)]


def write(data):
    """window_stats 15 x 15 of the scene, mean and variance, with every safety check on."""
    from tiledproc.jobs.write import write_outputs

    t = time.perf_counter()
    write_outputs(_specs(data), overwrite=True, inputs=[data / "scene.zarr"], progress="off")
    return {"seconds": time.perf_counter() - t}


def resume_check(data):
    """--resume on the two complete outputs: the input stamps, then every chunk's size and CRC-32."""
    from tiledproc.jobs.write import write_outputs

    t = time.perf_counter()
    r = write_outputs(_specs(data), resume=True, inputs=[data / "scene.zarr"], progress="off")
    assert r.chunks_written == 0 and r.chunks_repaired == 0
    return {"seconds": time.perf_counter() - t, "note": f"{r.chunks_skipped} chunks checked"}


def verify(data):
    """tiledproc verify of one output: size, CRC-32 and a full decode of every chunk."""
    from tiledproc.io.record import verify_output

    t = time.perf_counter()
    r = verify_output(data / "out" / "safety-mean.zarr")
    assert not r["bad"] and r["complete"]
    return {"seconds": time.perf_counter() - t, "note": f"{r['chunks']} chunks"}


def stamps(data):
    """The content stamp of the input (one stat per stored chunk)."""
    from tiledproc.io.stamps import input_stamps

    t = time.perf_counter()
    input_stamps([data / "scene.zarr"])
    return {"seconds": time.perf_counter() - t}


MEASUREMENTS = {"write": write, "resume_check": resume_check, "verify": verify, "stamps": stamps}
CHECKS = {"resume_check", "verify"}  # they read what "write" just wrote


def case(data, measure):
    """The cost of the safety checks beside the write they protect (16 x 5000 x 5000 float32, two outputs)."""
    ensure_scene(data)
    rows = [measure("safety", name, {}) for name in ("write", "resume_check", "verify", "stamps")]
    table("safety: checks of 2 window_stats outputs (800 chunks, 3.2 GB uncompressed)", rows, [
        ("resume check / write", "resume_check", "write"),
        ("verify (one output) / write", "verify", "write"),
        ("input stamps / write", "stamps", "write"),
    ])
    return rows
