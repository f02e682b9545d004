"""The completion record of an output, and checking chunks against it.

While an output is written, the *driver* (never a worker) appends one line
per finished chunk to ``0/.tiledproc-done``::

    band_index y_index x_index stored_bytes crc32

``stored_bytes`` is 0 for a chunk that is all fill value and therefore not
stored (zarr's ``write_empty_chunks=False``). A crash can cut the last line
short; such a line is ignored, so its chunk is computed again. The record
stays in the store once the output is complete: it is what ``--resume`` and
``tiledproc verify`` check the chunks against.

A recorded chunk counts as done only when its file is there with the
recorded size and CRC-32 (a chunk recorded as fill must have no file).
Matching bytes are the bytes that were written and decoded when they were
written, so they decode now. The check reads the stored (compressed) bytes
once, on a thread pool: its cost is measured in ``docs/benchmarks.md``.
``tiledproc verify`` additionally decodes every chunk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .chunkio import ChunkLayout, chunk_checksum, decode_payload, read_payload

__all__ = ["DONE_LOG", "read_record", "check_chunks", "format_entry", "verify_output"]

DONE_LOG = ".tiledproc-done"


def format_entry(index: tuple[int, ...], size: int, crc: int) -> bytes:
    return (" ".join(map(str, (*index, size, crc))) + "\n").encode()


def read_record(array_dir, grid: tuple[int, ...]) -> dict[tuple[int, ...], tuple[int, int]]:
    """The chunks the record lists, ``index -> (stored bytes, crc32)``; the last entry wins."""
    log = Path(array_dir) / DONE_LOG
    done: dict[tuple[int, ...], tuple[int, int]] = {}
    try:
        text = log.read_text()
    except FileNotFoundError:
        return done
    n = len(grid)
    # every entry ends with a newline; the last piece is empty or a line cut short
    for line in text.split("\n")[:-1]:
        try:
            values = [int(v) for v in line.split()]
        except ValueError:
            continue
        if len(values) != n + 2:
            continue
        index = tuple(values[:n])
        if all(0 <= i < g for i, g in zip(index, grid)) and values[n] >= 0:
            done[index] = (values[n], values[n + 1])
    return done


def _check_one(layout: ChunkLayout, index, size: int, crc: int, decode: bool) -> str | None:
    """Why chunk ``index`` does not match its record, or None when it does."""
    path = layout.file(index)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None if size == 0 else "missing"
    if size == 0:
        return "present, but recorded as all fill value"
    if st.st_size != size:
        return f"{st.st_size} bytes where {size} were written"
    payload = read_payload(layout, index)
    if payload is None:
        return "missing"
    if chunk_checksum(payload) != crc:
        return "its bytes differ from those written (checksum)"
    if decode:
        decode_payload(layout, index, payload)
    return None


def check_chunks(layout: ChunkLayout, record: dict, *, decode: bool = False,
                 workers: int | None = None) -> tuple[set, dict]:
    """Check every recorded chunk: ``(good indices, {bad index: reason})``."""
    items: Iterable = list(record.items())
    good: set = set()
    bad: dict = {}
    if not items:
        return good, bad
    n = workers or min(8, (os.cpu_count() or 1) * 2)

    def one(item):
        index, (size, crc) = item
        try:
            return index, _check_one(layout, index, size, crc, decode)
        except Exception as e:  # a chunk that does not decode, an unreadable file
            return index, str(e)

    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="tiledproc-verify") as pool:
        for index, reason in pool.map(one, items, chunksize=16):
            if reason is None:
                good.add(index)
            else:
                bad[index] = reason
    return good, bad


def verify_output(path, *, decode: bool = True) -> dict:
    """Check a tiledproc output against its completion record.

    Returns a report: ``chunks`` (in the grid), ``recorded``, ``good``,
    ``bad`` (``{file: reason}``), ``unrecorded`` (chunks not in the
    record: an interrupted run), ``complete`` (what the provenance says)
    and ``levels`` (pyramid levels whose every stored chunk decodes, or
    ``{level: reason}`` where one does not). Every recorded chunk is checked
    for its size and CRC-32, and with ``decode`` also decoded.
    """
    import numpy as np

    from ..errors import NotAZarrStoreError
    from .chunkio import layout_of
    from .read import locate
    from .levels import store_levels

    p, z, attrs = locate(path)
    prov = attrs.get("tiledproc")
    array_dir = p / z.path if z.path else p
    layout = layout_of(array_dir)
    if not isinstance(prov, dict) or "fingerprint" not in prov or layout is None:
        raise NotAZarrStoreError(
            f"{str(path)!r} is not an output written by tiledproc (no provenance or completion record to check "
            f"against)."
        )
    grid = layout.grid
    record = read_record(array_dir, grid)
    good, bad = check_chunks(layout, record, decode=decode)
    n = int(np.prod(grid))
    levels: dict = {}
    for name in store_levels(p):
        if name == (z.path or "0"):
            continue
        lay = layout_of(p / name)
        if lay is None:
            levels[name] = "not a layout tiledproc writes"
            continue
        problem = None
        for index in np.ndindex(*lay.grid):
            try:
                payload = read_payload(lay, index)
                if payload is not None and decode:
                    decode_payload(lay, index, payload)
            except Exception as e:
                problem = str(e)
                break
        levels[name] = problem or "ok"
    return {
        "path": str(p),
        "chunks": n,
        "recorded": len(record),
        "good": len(good),
        "bad": {os.path.relpath(layout.file(i), p): why for i, why in sorted(bad.items())},
        "unrecorded": n - len(record),
        "complete": bool(prov.get("complete")),
        "levels": levels,
    }
