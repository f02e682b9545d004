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

On an object store
------------------
Objects have no append and no rename, so the record there is a prefix of
immutable *segments*, ``0/.tiledproc-done/<seq:08d>``, each holding lines
as above. Only the driver writes them: it keeps the entries of finished
chunks in memory and PUTs them as the next segment every
:data:`SEGMENT_CHUNKS` chunks or :data:`SEGMENT_SECONDS` seconds, and at the
end (and before a failure is raised). A segment is created with
``mode="create"`` (``If-None-Match: *``), so two writers can never both
write segment *n*: the second is refused, which the writer lock already
rules out. Reading the record lists the prefix and concatenates the
segments in key order; the last entry of a chunk wins, as locally. A crash
(SIGKILL) loses at most the entries not yet flushed; their chunks were
written (one whole-object PUT each, so never torn) but are computed again
on ``--resume``, which is what a torn last line costs locally, only more
of it. One object per chunk would lose nothing, but costs one more PUT per
chunk (about 240 per second on the local test server, and doubled request
costs on S3); the bound of redoing at most one segment was chosen instead.
The check of a recorded chunk GETs it once and compares its size and
CRC-32, as locally.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import OutputLockedError
from .chunkio import ChunkLayout, chunk_checksum, decode_payload, read_payload
from .remote import ObjectPath, remote_error

__all__ = ["DONE_LOG", "read_record", "check_chunks", "format_entry", "verify_output", "SegmentWriter",
           "SEGMENT_CHUNKS", "SEGMENT_SECONDS", "chunk_name"]

DONE_LOG = ".tiledproc-done"
#: an object-store record segment is written after this many chunks ...
SEGMENT_CHUNKS = 256
#: ... or this many seconds, whichever comes first
SEGMENT_SECONDS = 5.0


def chunk_name(layout: ChunkLayout, index, store) -> str:
    """The chunk's file or object relative to the store ``store`` (for messages)."""
    if layout.remote is not None:
        full = layout.object(index).key
        base = store.key if isinstance(store, ObjectPath) else ""
        return full[len(base):].lstrip("/") if base and full.startswith(base + "/") else full
    return os.path.relpath(layout.file(index), store)


def _segments(array_dir: ObjectPath) -> list[str]:
    return sorted(m["path"] for m in array_dir.list(DONE_LOG))


class SegmentWriter:
    """The completion record of an output in an object store: immutable segments (module docstring)."""

    def __init__(self, array_dir: ObjectPath, *, chunks: int = SEGMENT_CHUNKS, seconds: float = SEGMENT_SECONDS):
        self.dir = array_dir / DONE_LOG
        self.chunks = chunks
        self.seconds = seconds
        existing = _segments(array_dir)
        last = existing[-1].rsplit("/", 1)[-1] if existing else None
        self.seq = int(last) + 1 if last is not None and last.isdigit() else len(existing)
        self.buffer: list[bytes] = []
        self.since = time.monotonic()

    def add(self, entry: bytes) -> None:
        self.buffer.append(entry)
        if len(self.buffer) >= self.chunks or time.monotonic() - self.since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        import obstore.exceptions as oe

        self.since = time.monotonic()
        if not self.buffer:
            return
        obj = self.dir / f"{self.seq:08d}"
        try:
            obj.write_bytes(b"".join(self.buffer), mode="create")
        except (oe.AlreadyExistsError, oe.PreconditionError):
            raise OutputLockedError(
                f"Segment {str(obj)!r} of the completion record was written by another run; only one run may "
                f"write an output at a time. Check what else writes there, then run again with --resume."
            ) from None
        except Exception as e:
            raise remote_error(e, f"recording finished chunks in {str(obj)!r}", obj.options) from None
        self.seq += 1
        self.buffer.clear()


def format_entry(index: tuple[int, ...], size: int, crc: int) -> bytes:
    return (" ".join(map(str, (*index, size, crc))) + "\n").encode()


def read_record(array_dir, grid: tuple[int, ...]) -> dict[tuple[int, ...], tuple[int, int]]:
    """The chunks the record lists, ``index -> (stored bytes, crc32)``; the last entry wins."""
    done: dict[tuple[int, ...], tuple[int, int]] = {}
    if isinstance(array_dir, ObjectPath):
        # segments are whole objects; each ends with a newline
        text = "".join(ObjectPath(array_dir.scheme, array_dir.bucket, key, array_dir.options).read_text()
                       for key in _segments(array_dir))
    else:
        try:
            text = (Path(array_dir) / DONE_LOG).read_text()
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
    if layout.remote is not None:
        payload = read_payload(layout, index)
        if payload is None:
            return None if size == 0 else "missing"
        if size == 0:
            return "present, but recorded as all fill value"
        if len(payload) != size:
            return f"{len(payload)} bytes where {size} were written"
        if chunk_checksum(payload) != crc:
            return "its bytes differ from those written (checksum)"
        if decode:
            decode_payload(layout, index, payload)
        return None
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


def verify_output(path, *, decode: bool = True, storage_options: dict | None = None) -> dict:
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
    from .read import array_path, locate
    from .levels import store_levels

    p, z, attrs = locate(path, storage_options)
    prov = attrs.get("tiledproc")
    rel = array_path(p, z)
    array_dir = p / rel if rel else p
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
        if name == (rel or "0"):
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
        "bad": {chunk_name(layout, i, p): why for i, why in sorted(bad.items())},
        "unrecorded": n - len(record),
        "complete": bool(prov.get("complete")),
        "levels": levels,
    }
