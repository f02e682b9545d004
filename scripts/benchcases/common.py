"""Shared by the benchmark cases: data, I/O for peers, tables."""

from __future__ import annotations

from pathlib import Path

SCENE_SHAPE = (16, 5000, 5000)
CHUNKS = (1, 1024, 1024)


def ensure_scene(data: Path, name: str = "scene", shape=SCENE_SHAPE, dtype="float32", chunks=CHUNKS,
                 codec: str = "lz4") -> Path:
    """The synthetic scene every tool reads (made once, with tiledproc synth)."""
    from tiledproc.jobs.write import write_outputs
    from tiledproc.io.output import OutputSpec
    from tiledproc.synth import synth_scene

    path = data / f"{name}.zarr"
    if not (path / "zarr.json").exists():
        print(f"making {path} {shape} {dtype} ...", flush=True)
        write_outputs([OutputSpec(path, synth_scene(shape, dtype=dtype, chunks=chunks), chunks=chunks,
                                  codec=codec, provenance={"operation": "synth"})], overwrite=True, progress="off")
    return path


def outputs(data: Path, *names: str) -> list[Path]:
    import shutil

    out = []
    for n in names:
        p = data / "out" / f"{n}.zarr"
        shutil.rmtree(p, ignore_errors=True)
        out.append(p)
    return out


def write(arrays, paths, codec: str = "lz4") -> None:
    """Write dask arrays Zarr-to-Zarr with tiledproc's writer (same codec and chunks for every tool)."""
    from tiledproc.jobs.write import write_outputs
    from tiledproc.io.output import OutputSpec

    write_outputs([OutputSpec(p, a, codec=codec) for a, p in zip(arrays, paths)], overwrite=True,
                  progress="off")


def fmt_bytes(n) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def table(title: str, rows: list[dict], ratios: list[tuple[str, str, str]] = ()) -> None:
    """Print rows (name, seconds, peak RSS) and named ratios between them."""
    print(f"\n## {title}")
    by = {r["name"]: r for r in rows}
    for r in rows:
        if "error" in r:
            print(f"  {r['name']:<28} ERROR {r['error']}")
            continue
        extra = "  ".join(f"{k}={v}" for k, v in r.items() if k in ("note", "max_abs_err", "max_rel_err", "mbps"))
        print(f"  {r['name']:<28} {r['seconds']:8.2f} s   peak RSS {fmt_bytes(r['peak_rss']):>10}  {extra}")
    for label, a, b in ratios:
        if a in by and b in by and "seconds" in by[a] and "seconds" in by[b]:
            print(f"  {label:<40} {by[a]['seconds'] / by[b]['seconds']:6.2f}x")
