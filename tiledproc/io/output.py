"""Writing an output store, resumably: the write/resume protocol.

Writing is done chunk by chunk: one task per stored chunk, so writers never
share a chunk. While an output is being written, the *driver* (never a
worker) appends every finished chunk, with its stored size and CRC-32, to
the completion record ``0/.tiledproc-done`` (:mod:`tiledproc.io.record`);
the output's fingerprint in ``zarr.json`` says which computation the chunks
belong to, and the input stamps (:mod:`tiledproc.io.stamps`) which input
data. Resuming checks the stamps, checks every recorded chunk against the
record and computes only what is missing or damaged. What may be replaced,
and the writer lock, are in :mod:`tiledproc.io.safety`.

An output may be a prefix in an object store (:mod:`tiledproc.io.remote`):
the protocol is the same, with one PUT per chunk for the atomic write, the
completion record as immutable segments (:mod:`tiledproc.io.record`), the
lock as a conditionally created object, and the final ``complete: true``
as one PUT of ``zarr.json``. Nothing of a local path or an unpicklable
store is in the write tasks: each carries its chunk layout, whose object
path pickles as its URL and options.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize

from .._validate import as_image
from .._version import __version__
from ..errors import InvalidParameterError, OutputExistsError, ResumeMismatchError, StorageError
from .chunkio import ChunkLayout, layout_of, remove_temporaries, storage_error, write_chunk
from .codecs import DEFAULT_CODEC, compressors_for
from .layout import create_named_array, group_geo_attrs, level_attrs, ome_attrs, set_omero, write_coordinates
from .metadata import dimension_names, json_safe, ome_multiscales, physical_scale
from .read import LEVEL0
from .record import DONE_LOG, SegmentWriter, check_chunks, chunk_name, format_entry, read_record
from .remote import ObjectPath, as_location, zarr_create_group, zarr_open
from .safety import OutputLock, check_output_paths, clear_output
from .stamps import input_stamps

__all__ = ["OutputSpec", "PreparedOutput", "WriteList", "prepare_output", "write_tasks"]

log = logging.getLogger("tiledproc")


def _parse_chunks(chunks, shape) -> tuple[int, ...]:
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(shape) or any(c < 1 for c in chunks):
        raise InvalidParameterError(
            f"Expected chunks to be {len(shape)} positive integers for shape {tuple(shape)}, "
            f"got {chunks} instead."
        )
    return tuple(min(c, max(s, 1)) for c, s in zip(chunks, shape))


def _default_chunks(a) -> tuple[int, ...]:
    if isinstance(a, da.Array):
        return tuple(max(c) if c else 1 for c in a.chunks)
    # numpy: one band per chunk, up to 1024 x 1024 pixels
    return (1,) * (a.ndim - 2) + tuple(min(1024, max(s, 1)) for s in a.shape[-2:])


@dataclass
class OutputSpec:
    """What to write where.

    ``array`` is ``(band, y, x)`` (a ``(y, x)`` array is stored as one band).
    ``provenance`` is recorded under ``attrs["tiledproc"]``; ``attrs`` are
    merged into the group attributes (georeferencing, nodata, ...).
    """

    path: Path
    array: da.Array
    chunks: tuple[int, ...] | None = None
    codec: str = DEFAULT_CODEC
    provenance: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    fill_value: float | int | None = None
    name: str | None = None
    #: 3 (OME-Zarr 0.5) or 2 (OME-Zarr 0.4 layout, for readers that know only v2: GDAL <= 3.12)
    zarr_format: int = 3
    #: for a URL: endpoint, region, credentials ... (:mod:`tiledproc.io.remote`)
    storage_options: dict | None = field(default=None, repr=False)
    block_bands: int = field(default=1, init=False, repr=False)

    def __post_init__(self):
        self.path = as_location(self.path, self.storage_options)
        a = as_image(self.array, "array")
        if not isinstance(a, da.Array):
            a = np.asarray(a)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise InvalidParameterError(
                f"Expected a raster of shape (y, x) or (band, y, x), got shape {tuple(a.shape)} "
                f"instead; fold the leading axes into bands first."
            )
        if np.dtype(a.dtype).kind not in "biuf":
            raise InvalidParameterError(f"Cannot store dtype {a.dtype}: expected a real numeric dtype.")
        chunks = _parse_chunks(self.chunks, a.shape) if self.chunks is not None else _default_chunks(a)
        if not isinstance(a, da.Array):
            a = da.from_array(a, chunks=chunks, name="numpy-" + tokenize(a))
        #: bands per block of the computation: an output stored one band per chunk from
        #: blocks of several bands is written band-innermost (:class:`WriteList`)
        self.block_bands = max(a.chunks[0]) if a.chunks[0] else 1
        if a.chunks != da.core.normalize_chunks(chunks, a.shape):
            a = a.rechunk(chunks)
        self.array = a
        self.chunks = chunks
        compressors_for(self.codec)  # validate early
        if self.zarr_format not in (2, 3) or isinstance(self.zarr_format, bool):
            raise InvalidParameterError(f"Expected zarr_format to be 2 or 3, got {self.zarr_format!r} instead.",
                                        param="zarr_format")

    @property
    def fingerprint(self) -> str:
        """Identifies the computation: the array's graph name (tiledproc names its
        graphs deterministically from the input store and the parameters), the
        stored layout and the tiledproc version."""
        a = self.array
        return tokenize(a.name, a.shape, str(a.dtype), self.chunks, self.codec, __version__,
                        *(() if self.zarr_format == 3 else (self.zarr_format,)))


@dataclass
class PreparedOutput:
    """An output store ready for its chunk writes, holding its writer lock.

    ``done`` are the chunks already written and checked (resume), ``recorded`` how
    many this run has recorded since (a count, not a set: the driver holds nothing
    per chunk of the raster), ``created``
    says whether this run made the store (a fresh write or a replacement),
    ``repaired`` how many recorded chunks were missing or damaged and are
    computed again.
    """

    spec: OutputSpec
    done: set[tuple[int, ...]]
    complete: bool
    created: bool = False
    repaired: int = 0
    recorded: int = 0
    lock: OutputLock | None = field(default=None, repr=False)
    _mutex: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _fd: int | None = field(default=None, repr=False)
    _segments: SegmentWriter | None = field(default=None, repr=False)

    @property
    def layout(self) -> ChunkLayout:
        layout = layout_of(self.path / LEVEL0)
        if layout is None:  # pragma: no cover - prepare_output only makes supported layouts
            raise AssertionError(f"unsupported output layout at {self.path}")
        return layout

    @property
    def path(self) -> Path:
        return self.spec.path

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.spec.array.chunks)

    @property
    def n_chunks(self) -> int:
        return int(np.prod(self.grid))

    def record_done(self, index: tuple[int, ...], size: int, crc: int) -> None:
        """Append one finished chunk, its stored size and CRC-32, to the completion record
        (driver only)."""
        with self._mutex:
            if isinstance(self.path, ObjectPath):
                if self._segments is None:
                    self._segments = SegmentWriter(self.path / LEVEL0)
                self._segments.add(format_entry(tuple(index), size, crc))
                self.recorded += 1
                return
            try:
                if self._fd is None:
                    self._fd = os.open(self.path / LEVEL0 / DONE_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(self._fd, format_entry(tuple(index), size, crc))
            except OSError as e:
                raise storage_error(e, f"recording a finished chunk of {str(self.path)!r}") from None
            self.recorded += 1

    def finish(self) -> None:
        """Mark the output complete once every chunk is recorded."""
        self.close()
        if len(self.done) + self.recorded < self.n_chunks:
            return
        try:
            set_omero(self.path)
            _set_provenance(self.path, complete=True,
                            finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        except StorageError:
            raise
        except OSError as e:
            raise storage_error(e, f"marking {str(self.path)!r} complete") from None
        # a worker killed mid-write leaves its temporary file behind; every chunk is
        # in place now, so anything temporary is debris
        remove_temporaries(self.path / LEVEL0)
        self.complete = True

    def close(self) -> None:
        with self._mutex:
            if self._segments is not None:
                self._segments.flush()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def release(self, failed: bool = False) -> None:
        """Close the record and give up the lock. After a failure before any chunk was
        recorded, a store this run made is removed: nothing of it is worth resuming,
        and a rerun must not find it in its way."""
        self.close()
        remove = failed and self.created and not self.done and not self.recorded  # a made store starts with nothing done
        try:
            if remove:
                clear_output(self.path)  # all but the lock
        finally:
            if self.lock is not None:
                self.lock.release()
        if remove and not isinstance(self.path, ObjectPath):
            try:
                os.rmdir(self.path)
            except OSError:
                pass


def _set_provenance(path: Path, **items) -> None:
    """Update keys of an output's provenance (``attrs["tiledproc"]``)."""
    group = zarr_open(path, mode="r+", kind="group")
    meta = dict(dict(group.attrs).get("tiledproc", {}))
    meta.update(items)
    group.attrs["tiledproc"] = meta


def _fill_value(spec: OutputSpec):
    if spec.fill_value is not None:
        return spec.fill_value
    if spec.zarr_format == 2:
        # v2 readers (xarray, GDAL) take the fill value for the nodata: the declared one, or none
        from .read import decode_nodata

        v = decode_nodata(dict(spec.attrs).get("nodata"))
        kind = np.dtype(spec.array.dtype).kind
        if kind == "f":
            return float("nan") if v is None else float(v)
        return int(v) if v is not None and np.isfinite(v) and float(v).is_integer() else None
    return float("nan") if np.dtype(spec.array.dtype).kind == "f" else 0


def _resume(spec: OutputSpec, fingerprint: str, stamps: dict) -> tuple[set, bool, int]:
    """Check an existing output for resuming: (good chunks, complete, chunks to redo)."""
    path = spec.path
    try:
        group = zarr_open(path, mode="r", kind="group")
        meta = dict(group.attrs).get("tiledproc", {})
        zarr_open(path / LEVEL0, mode="r", kind="array")
    except StorageError:
        raise
    except (zarr.errors.BaseZarrError, OSError, KeyError, ValueError, TypeError) as e:
        raise ResumeMismatchError(
            f"Cannot resume into {str(path)!r}: it is not an output written by tiledproc. "
            f"Use overwrite to replace it."
        ) from e
    if meta.get("fingerprint") != fingerprint:
        raise ResumeMismatchError(
            f"Cannot resume into {str(path)!r}: it was made by a different computation "
            f"(operation {meta.get('operation')!r}, fingerprint {meta.get('fingerprint')!r}, "
            f"this run {fingerprint!r}). Use overwrite to start it again."
        )
    recorded = meta.get("input_stamps") or {}
    for inp, stamp in recorded.items():
        now = stamps.get(inp)
        if now != stamp:
            change = "is gone" if now is None else "has changed"
            raise ResumeMismatchError(
                f"Cannot resume into {str(path)!r}: its input {inp!r} {change} since the run that made it began, "
                f"so resumed chunks would mix old and new data. Start again with overwrite (--overwrite)."
            )
    grid = tuple(len(c) for c in spec.array.chunks)
    layout = layout_of(path / LEVEL0)
    if layout is None:
        raise ResumeMismatchError(f"Cannot resume into {str(path)!r}: its array {LEVEL0!r} is not one tiledproc writes.")
    record = read_record(path / LEVEL0, grid)
    log.info("checking %d chunks of %s against its record", len(record), path)
    good, bad = check_chunks(layout, record)
    if bad:
        shown = ", ".join(f"{chunk_name(layout, i, path)} ({why})" for i, why in sorted(bad.items())[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        log.warning("%s: %d recorded chunk(s) are missing or damaged and are computed again: %s%s",
                    path, len(bad), shown, more)
    n = int(np.prod(grid))
    complete = bool(meta.get("complete")) and len(good) == n
    return good, complete, len(bad)


def prepare_output(
    spec: OutputSpec,
    *,
    overwrite: bool = False,
    resume: bool = False,
    inputs: Sequence = (),
    stamps: dict | None = None,
) -> PreparedOutput:
    """Create (or reopen for resume) the store of one output, holding its writer lock.

    ``stamps`` are the inputs' content stamps (:func:`input_stamps`), taken
    once by the caller; a fresh output records them, a resumed one must
    match them.

    Raises
    ------
    OutputExistsError
        The output exists and neither ``overwrite`` nor ``resume`` is set.
    UnsafeOutputError
        The path is one tiledproc never writes or replaces (see :mod:`tiledproc.io.safety`).
    OutputLockedError
        Another run is writing the output.
    ResumeMismatchError
        ``resume`` is set but the existing output belongs to another computation,
        or an input changed since it was begun.
    OutputInsideInputError
        The output would be, or be inside, or contain an input store.
    """
    check_output_paths([spec.path], inputs, overwrite=overwrite, resume=resume)
    path = spec.path
    fingerprint = spec.fingerprint
    stamps = input_stamps(inputs) if stamps is None else stamps
    remote = isinstance(path, ObjectPath)
    exists = path.exists()
    try:
        if not exists and not remote:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
    except FileExistsError:
        raise OutputExistsError(
            f"Output {str(path)!r} appeared while this run was starting (another run?); run again."
        ) from None
    except OSError as e:
        raise storage_error(e, f"creating output {str(path)!r}") from None
    lock = OutputLock(path, takeover=overwrite or resume)
    try:
        lock.acquire()
    except BaseException:
        if not exists and not remote:
            try:
                os.rmdir(path)
            except OSError:
                pass
        raise
    try:
        if exists and resume and (path / "zarr.json").exists():
            done, complete, repaired = _resume(spec, fingerprint, stamps)
            if repaired and not complete:
                _set_provenance(path, complete=False)
            remove_temporaries(path / LEVEL0)
            return PreparedOutput(spec, done, complete, created=False, repaired=repaired, lock=lock)
        if exists:
            clear_output(path)
        _create_store(spec, fingerprint, stamps)
        return PreparedOutput(spec, set(), False, created=True, lock=lock)
    except BaseException:
        failed = PreparedOutput(spec, set(), False, created=not exists or overwrite, lock=lock)
        failed.release(failed=True)
        raise


def _create_store(spec: OutputSpec, fingerprint: str, stamps: dict) -> None:
    path = spec.path
    a = spec.array
    attrs = group_geo_attrs(json_safe(dict(spec.attrs)), a.shape)
    spacing, unit = physical_scale(attrs)
    attrs.update(ome_attrs(ome_multiscales(spec.name or path.stem, 3, 1, spacing, unit,
                                           label=bool(spec.provenance.get("categorical"))), spec.zarr_format))
    provenance = {
        "version": __version__,
        **json_safe(spec.provenance),
        "fingerprint": fingerprint,
        "input_stamps": stamps,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "codec": spec.codec,
        "complete": False,
    }
    attrs["tiledproc"] = provenance
    try:
        zarr_create_group(path, zarr_format=spec.zarr_format, attributes=attrs, overwrite=False)
        create_named_array(
            path, LEVEL0, dimension_names(3), zarr_format=spec.zarr_format,
            shape=a.shape,
            dtype=a.dtype,
            chunks=spec.chunks,
            compressors=compressors_for(spec.codec, spec.zarr_format),
            fill_value=_fill_value(spec),
            attributes=level_attrs(attrs, a.dtype, spec.zarr_format),
        )
        write_coordinates(path, attrs, a.shape, zarr_format=spec.zarr_format)
    except StorageError:
        raise
    except OSError as e:
        raise storage_error(e, f"creating output {str(path)!r}") from None
    except Exception as e:
        if isinstance(path, ObjectPath):
            from .remote import remote_error

            raise remote_error(e, f"creating output {str(path)!r}", path.options) from None
        raise


def _write_block(block: np.ndarray, *, layout: ChunkLayout, block_id=None) -> np.ndarray:
    size, crc = write_chunk(layout, tuple(block_id), block)
    return np.array([size, crc], dtype=np.int64).reshape((1,) * (block.ndim - 1) + (2,))


class WriteList:
    """The chunk writes still to do, ``(key, output index, chunk index)``, made only as
    they are asked for: the driver never holds a list of the raster's chunks.

    ``len()`` and :attr:`nbytes` are arithmetic. When every output has the same chunk
    grid (:attr:`grid_chunks`, the usual case: the outputs of one operation), :meth:`at`
    gives the writes at a few chunk positions, outputs in order, and the windows of
    :func:`tiledproc.graph.window.grid_windows` are made from it one at a time.
    Otherwise iterating gives every write in raster-scan order of pixel offsets
    (``(band, y, x)`` of each chunk's start, then output), as one list.
    """

    def __init__(self, outputs: Sequence[PreparedOutput], writers: Sequence):
        self.outputs = list(outputs)
        self.names = [w.name for w in writers]
        first = self.outputs[0].spec.array.chunks if self.outputs else None
        same = all(o.spec.array.chunks == first for o in self.outputs)
        #: the chunks (dask's tuple of tuples) every output shares, or None
        self.grid_chunks = first if same else None
        #: chunk bands written together, innermost: the bands of one block of the computation
        #: (a 3-band block stored one band per chunk), so that the block is made once and
        #: not held from one band's pass to the next
        self.band_group = max([self._group(o) for o in self.outputs] or [1])

    @staticmethod
    def _group(o: PreparedOutput) -> int:
        c = o.spec.chunks[0]
        return max(1, o.spec.block_bands // c) if o.spec.block_bands % c == 0 else 1

    def __len__(self) -> int:
        return sum(o.n_chunks - len(o.done) for o in self.outputs)

    def chunk_bytes(self, k: int, index: tuple[int, ...]) -> int:
        a = self.outputs[k].spec.array
        n = a.dtype.itemsize
        for c, i in zip(a.chunks, index):
            n *= c[i]
        return n

    @property
    def nbytes(self) -> int:
        """Bytes of the chunks still to write, uncompressed."""
        total = 0
        for k, o in enumerate(self.outputs):
            a = o.spec.array
            total += int(np.prod(a.shape, dtype=np.int64)) * a.dtype.itemsize
            total -= sum(self.chunk_bytes(k, i) for i in o.done)
        return total

    def position(self, k: int, index: tuple[int, ...]) -> tuple[int, ...]:
        """Where the block a chunk comes from starts, as (band, y, x) offsets: the band
        is that of the block of the computation (its chunks' bands share one position)."""
        spec = self.outputs[k].spec
        pos = tuple(i * c for i, c in zip(index, spec.chunks))
        return (pos[0] // max(1, spec.block_bands),) + pos[1:]

    def at(self, indices) -> list[tuple]:
        """The writes still to do at chunk ``indices`` (shared grid only), outputs in order."""
        out = []
        for index in indices:
            for k, o in enumerate(self.outputs):
                if index not in o.done:
                    out.append(((self.names[k],) + tuple(index), k, tuple(index)))
        return out

    def __iter__(self):
        if self.grid_chunks is not None:
            for index in np.ndindex(*(len(c) for c in self.grid_chunks)):
                yield from self.at([index])
            return
        todo = [((self.names[k],) + index, k, index) for k, o in enumerate(self.outputs)
                for index in np.ndindex(*o.grid) if index not in o.done]
        todo.sort(key=lambda t: (self.position(t[1], t[2]), t[2][0], t[1]))
        yield from todo


def write_tasks(outputs: Sequence[PreparedOutput]) -> tuple[list, WriteList]:
    """The chunk writes still to do, as dask collections plus what each key is.

    Returns ``(writers, todo)``: one dask array per output whose block
    ``index`` writes chunk ``index`` of that output and holds the stored
    size and CRC-32 of the chunk (for the completion record), and the
    :class:`WriteList` of the chunks not yet recorded as done. The job builds
    one graph from all writers, so tasks they share (reading an input chunk,
    a common intermediate) run once.
    """
    writers = []
    for k, out in enumerate(outputs):
        a = out.spec.array
        w = da.map_blocks(
            functools.partial(_write_block, layout=out.layout),
            a, dtype=np.int64, chunks=tuple((1,) * len(c) for c in a.chunks[:-1]) + ((2,) * len(a.chunks[-1]),),
            name=f"write-{k}-{out.spec.fingerprint}",
            meta=np.empty((0,) * a.ndim, dtype=np.int64),
        )
        writers.append(w)
    return writers, WriteList(outputs, writers)
