"""Zarr in and out.

A tiledproc raster store is an OME-Zarr 0.5 image: a Zarr v3 group whose
``zarr.json`` carries the ``ome`` multiscales, the provenance (``tiledproc``)
and the georeferencing, and whose array ``0`` holds the full-resolution
``(band, y, x)`` data (optional pyramid levels ``1``, ``2``, ... follow).
Plain Zarr arrays (v2 or v3) are read as well.

Writing is done chunk by chunk: one task per stored chunk, so writers never
share a chunk. While an output is being written, the *driver* (never a
worker) appends every finished chunk, with its stored size and CRC-32, to
the completion record ``0/.tiledproc-done`` (:mod:`tiledproc.io.record`);
the output's fingerprint in ``zarr.json`` says which computation the chunks
belong to, and the input stamps (:mod:`tiledproc.io.stamps`) which input
data. Resuming checks the stamps, checks every recorded chunk against the
record and computes only what is missing or damaged. What may be replaced,
and the writer lock, are in :mod:`tiledproc.io.safety`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize

from .._validate import as_image
from .._version import __version__
from ..errors import (
    IncompleteInputError,
    InvalidParameterError,
    NotAZarrStoreError,
    OutputExistsError,
    OutputInsideInputError,
    ResumeMismatchError,
    StorageError,
    StoreNotFoundError,
    TiledprocWarning,
)
from .chunkio import ChunkLayout, ChunkReader, layout_of, remove_temporaries, storage_error, write_chunk
from .codecs import DEFAULT_CODEC, compressors_for
from .metadata import dimension_names, json_safe, ome_multiscales
from .record import DONE_LOG, check_chunks, format_entry, read_record
from .safety import OutputLock, clear_output, is_tiledproc_output, real_path
from .stamps import content_stamp

__all__ = [
    "open_raster",
    "read_attrs",
    "raster_info",
    "OutputSpec",
    "PreparedOutput",
    "prepare_output",
    "write_tasks",
    "check_not_inside",
    "check_complete",
    "input_stamps",
]

LEVEL0 = "0"
log = logging.getLogger("tiledproc")


# --------------------------------------------------------------------- reading


def _check_metadata(p: Path) -> None:
    """A clear error for metadata that exists but cannot be read or parsed."""
    for name in ("zarr.json", ".zarray", ".zgroup", ".zattrs"):
        f = p / name
        try:
            text = f.read_bytes()
        except FileNotFoundError:
            continue
        except IsADirectoryError:
            raise NotAZarrStoreError(f"{str(f)!r} is a directory; a Zarr store's metadata is a file.") from None
        except OSError as e:
            raise storage_error(e, f"reading {str(f)!r}") from None
        try:
            json.loads(text)
        except ValueError as e:
            raise NotAZarrStoreError(
                f"{str(f)!r} is damaged: not valid JSON ({e}); restore it, or make the store again."
            ) from None


def _locate(path) -> tuple[Path, zarr.Array, dict]:
    """(store path, level-0 zarr array, root attributes) of a raster store."""
    p = Path(path).expanduser()
    if not p.exists():
        raise StoreNotFoundError(f"Input store {str(p)!r} does not exist.")
    if p.is_file():
        hint = " Convert it first: tiledproc ingest SRC DST." if p.suffix.lower() in (".tif", ".tiff") else ""
        raise NotAZarrStoreError(f"{str(p)!r} is a file, not a Zarr store.{hint}")
    if not os.access(p, os.R_OK | os.X_OK):
        raise StorageError(f"Cannot read {str(p)!r}: permission denied; check its permissions.")
    _check_metadata(p)
    try:
        node = zarr.open(str(p), mode="r")
    except PermissionError as e:
        raise storage_error(e, f"opening {str(p)!r}") from None
    except (FileNotFoundError, zarr.errors.BaseZarrError, KeyError, ValueError, TypeError) as e:
        if any((p / n).exists() for n in ("zarr.json", ".zarray", ".zgroup")):
            detail = " ".join(str(e).split()) or type(e).__name__
            raise NotAZarrStoreError(f"{str(p)!r} has Zarr metadata that zarr cannot read: {detail}") from e
        raise NotAZarrStoreError(
            f"{str(p)!r} is not a Zarr store (no zarr.json or .zarray/.zgroup inside)."
        ) from e
    if isinstance(node, zarr.Array):
        return p, node, dict(node.attrs)
    attrs = dict(node.attrs)
    level0 = _multiscale_level0(attrs)
    if level0 is None:
        arrays = sorted(node.array_keys())
        if len(arrays) != 1:
            raise NotAZarrStoreError(
                f"{str(p)!r} is a Zarr group without OME multiscales and with "
                f"{len(arrays)} arrays ({', '.join(arrays) or 'none'}); name the array, "
                f"e.g. {str(p / (arrays[0] if arrays else 'ARRAY'))!r}."
            )
        level0 = arrays[0]
    arr = node[level0]
    if not isinstance(arr, zarr.Array):
        raise NotAZarrStoreError(f"{str(p / level0)!r} is not a Zarr array.")
    return p, arr, attrs


def _multiscale_level0(attrs: dict) -> str | None:
    """The full-resolution dataset of OME-Zarr 0.5 (``ome.multiscales``) or 0.4 (``multiscales``)."""
    for holder in (attrs.get("ome"), attrs):
        try:
            return str(holder["multiscales"][0]["datasets"][0]["path"])
        except (KeyError, IndexError, TypeError):
            continue
    return None


def read_attrs(path) -> dict:
    """The root attributes of a raster store (group attributes, or the array's)."""
    return _locate(path)[2]


def _metadata_stamp(p: Path) -> str:
    """Changes when the store is rewritten: content and mtime of its metadata."""
    parts = []
    for name in ("zarr.json", ".zarray", ".zattrs", ".zgroup", f"{LEVEL0}/zarr.json"):
        f = p / name
        if f.exists():
            parts.append(f"{name}:{f.stat().st_mtime_ns}:{hashlib.sha256(f.read_bytes()).hexdigest()}")
    return ";".join(parts)


def check_complete(path, attrs: dict, *, allow_incomplete: bool = False) -> None:
    """Refuse an input whose provenance says its run was interrupted (or warn, if allowed)."""
    prov = attrs.get("tiledproc")
    if not isinstance(prov, dict) or prov.get("complete") is not False:
        return
    what = f"the tiledproc {prov.get('operation', 'run')} that made it"
    if allow_incomplete:
        warnings.warn(
            f"Input {str(path)!r} is incomplete ({what} was interrupted); its missing chunks read as "
            f"fill value (NaN or 0).", TiledprocWarning, stacklevel=3,
        )
        return
    raise IncompleteInputError(
        f"Input {str(path)!r} is incomplete: {what} was interrupted, so some of its chunks are missing. "
        f"Finish it by running that command again with --resume, or pass --allow-incomplete "
        f"(allow_incomplete=True) to use it as it is."
    )


def input_stamps(inputs) -> dict[str, str]:
    """The content stamp of every input path that exists (see :mod:`tiledproc.io.stamps`)."""
    out = {}
    for inp in inputs:
        if inp is None:
            continue
        p = Path(inp).expanduser()
        if not p.exists():
            continue
        array_dir = None
        if p.is_dir():
            try:
                q, z, _ = _locate(p)
                array_dir = q / z.path if z.path else q
            except Exception:  # not a store we read: stamp the whole directory
                array_dir = None
        out[str(inp)] = content_stamp(p, array_dir)
    return out


def open_raster(path, *, chunks=None, allow_incomplete: bool = False) -> da.Array:
    """Open a Zarr raster lazily as a ``(band, y, x)`` dask array.

    Parameters
    ----------
    path : str or Path
        A tiledproc/OME-Zarr image (its level 0 is read) or a plain Zarr array.
    chunks : tuple, optional
        Dask chunks; by default the stored chunks (shards for sharded arrays).
    allow_incomplete : bool
        Read an output whose run was interrupted (its provenance says
        incomplete; missing chunks read as fill value). Refused by default,
        since its results would be silently partial; allowed, it warns.

    Returns
    -------
    raster : (band, y, x) dask array
        A 2-D store reads as one band.

    Raises
    ------
    StoreNotFoundError
        The path does not exist.
    NotAZarrStoreError
        The path exists but is not a Zarr array or image.
    IncompleteInputError
        The store is an interrupted tiledproc output (see ``allow_incomplete``).
    """
    p, z, attrs = _locate(path)
    check_complete(p, attrs, allow_incomplete=allow_incomplete)
    lead = [n for n in z.shape[:-2] if n != 1]
    if z.ndim < 2 or len(lead) > 1:
        raise NotAZarrStoreError(
            f"{str(p)!r} holds an array of shape {z.shape}; tiledproc reads (y, x) or (band, y, x) rasters "
            f"(other axes of length 1, as OME-Zarr's t and z often are, are dropped)."
        )
    stored = getattr(z, "shards", None) or z.chunks
    chunks = stored if chunks is None else chunks
    name = "raster-" + tokenize(str(p.resolve()), z.path, z.shape, str(z.dtype), chunks, _metadata_stamp(p))
    layout = layout_of(p / z.path) if z.path else layout_of(p)
    if layout is not None:
        reader = ChunkReader(layout)
        a = da.from_array(reader, chunks=chunks, name=name, lock=False, asarray=False,
                          meta=np.empty((0,) * z.ndim, dtype=reader.dtype))
    else:
        a = da.from_zarr(z, chunks=chunks, name=name)
    if a.ndim != 3:  # (y, x) -> one band; OME-Zarr (t, c, z, y, x) with t = z = 1 -> (c, y, x)
        a = a.reshape((lead[0] if lead else 1,) + a.shape[-2:])
    return a


def _dir_size(p: Path) -> int:
    total = 0
    for root, _, files in os.walk(p):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def raster_info(path) -> dict:
    """Shape, dtype, chunks, codec, size on disk and attributes of a store."""
    p, z, attrs = _locate(path)
    meta = z.metadata.to_dict()
    codecs = meta.get("codecs") or [c for c in (meta.get("compressor"),) if c]
    levels = []
    ome = attrs.get("ome", {}).get("multiscales") if isinstance(attrs.get("ome"), dict) else None
    if ome:
        levels = [d["path"] for d in ome[0].get("datasets", [])]
    nbytes = int(np.prod(z.shape)) * z.dtype.itemsize
    disk = _dir_size(p)
    return {
        "path": str(p),
        "array": z.path or "",
        "shape": list(z.shape),
        "dtype": str(z.dtype),
        "chunks": list(z.chunks),
        "shards": list(z.shards) if getattr(z, "shards", None) else None,
        "zarr_format": z.metadata.zarr_format,
        "codecs": json_safe(codecs),
        "fill_value": json_safe(np.asarray(z.fill_value).item() if z.fill_value is not None else None),
        "dimension_names": list(getattr(z.metadata, "dimension_names", None) or []),
        "levels": levels,
        "nbytes": nbytes,
        "bytes_on_disk": disk,
        "ratio": (nbytes / disk) if disk else None,
        "attrs": attrs,
    }


# --------------------------------------------------------------------- levels


def store_levels(path) -> list[str]:
    """The multiscale levels a raster store lists (``["0"]`` without OME metadata)."""
    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
        return [d["path"] for d in attrs["ome"]["multiscales"][0]["datasets"]]
    except (KeyError, IndexError, TypeError, FileNotFoundError, zarr.errors.GroupNotFoundError):
        return [LEVEL0]


def level_array(path, level: str) -> da.Array:
    """One level of a raster store as a dask array chunked as stored."""
    p = Path(path) / level
    layout = layout_of(p)
    if layout is not None:
        reader = ChunkReader(layout)
        return da.from_array(reader, chunks=layout.chunks, lock=False, asarray=False,
                             name="level-" + tokenize(str(p.resolve()), _metadata_stamp(Path(path))),
                             meta=np.empty((0,) * len(layout.shape), dtype=reader.dtype))
    return da.from_zarr(zarr.open_array(str(p), mode="r"))


def create_level(path, name: str, shape) -> ChunkLayout:
    """Create (or replace) array ``name`` with level 0's dtype, chunks, codec and fill value."""
    path = Path(path)
    base = zarr.open_array(str(path / LEVEL0), mode="r")
    group = zarr.open_group(str(path), mode="r+")
    chunks = tuple(min(c, max(n, 1)) for c, n in zip(base.chunks, shape))
    group.create_array(name, shape=tuple(shape), dtype=base.dtype, chunks=chunks,
                       compressors=base.compressors, fill_value=base.fill_value,
                       dimension_names=base.metadata.dimension_names, overwrite=True)
    return layout_of(path / name)


def set_levels(path, names: Sequence[str]) -> None:
    """List ``names`` as the OME-Zarr multiscale levels (level k at scale 2**k); drop others."""
    path = Path(path)
    group = zarr.open_group(str(path), mode="r+")
    for old in store_levels(path):
        if old not in names and old in group:
            del group[old]
    attrs = dict(group.attrs)
    name = attrs.get("ome", {}).get("multiscales", [{}])[0].get("name", path.stem)
    ndim = zarr.open_array(str(path / LEVEL0), mode="r").ndim
    group.attrs["ome"] = ome_multiscales(name, ndim, len(names))


# --------------------------------------------------------------------- writing


def check_not_inside(output, inputs: Iterable) -> None:
    """Refuse an output that is an input, lies inside one, or contains one,
    comparing real paths (symlinks resolved); see :mod:`tiledproc.io.safety`."""
    out = real_path(output)
    for inp in inputs:
        if inp is None:
            continue
        src = real_path(inp)
        if out == src or src in out.parents:
            raise OutputInsideInputError(
                f"Output {str(output)!r} is the input store {str(inp)!r} or lies inside it; "
                f"choose an output path outside the input."
            )
        if out in src.parents:
            raise OutputInsideInputError(
                f"Output {str(output)!r} contains the input store {str(inp)!r}; "
                f"writing it would destroy the input. Choose another output path."
            )


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

    def __post_init__(self):
        self.path = Path(self.path).expanduser()
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
        if a.chunks != da.core.normalize_chunks(chunks, a.shape):
            a = a.rechunk(chunks)
        self.array = a
        self.chunks = chunks
        compressors_for(self.codec)  # validate early

    @property
    def fingerprint(self) -> str:
        """Identifies the computation: the array's graph name (tiledproc names its
        graphs deterministically from the input store and the parameters), the
        stored layout and the tiledproc version."""
        a = self.array
        return tokenize(a.name, a.shape, str(a.dtype), self.chunks, self.codec, __version__)


@dataclass
class PreparedOutput:
    """An output store ready for its chunk writes, holding its writer lock.

    ``done`` are the chunks already written and checked (resume), ``created``
    says whether this run made the store (a fresh write or a replacement),
    ``repaired`` how many recorded chunks were missing or damaged and are
    computed again.
    """

    spec: OutputSpec
    done: set[tuple[int, ...]]
    complete: bool
    created: bool = False
    repaired: int = 0
    lock: OutputLock | None = field(default=None, repr=False)
    _mutex: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _fd: int | None = field(default=None, repr=False)
    _recorded: int = field(default=0, repr=False)

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
            try:
                if self._fd is None:
                    self._fd = os.open(self.path / LEVEL0 / DONE_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(self._fd, format_entry(tuple(index), size, crc))
            except OSError as e:
                raise storage_error(e, f"recording a finished chunk of {str(self.path)!r}") from None
            self.done.add(tuple(index))
            self._recorded += 1

    def _set_provenance(self, **items) -> None:
        group = zarr.open_group(str(self.path), mode="r+")
        meta = dict(dict(group.attrs).get("tiledproc", {}))
        meta.update(items)
        group.attrs["tiledproc"] = meta

    def finish(self) -> None:
        """Mark the output complete once every chunk is recorded."""
        self.close()
        if len(self.done) < self.n_chunks:
            return
        try:
            self._set_provenance(complete=True,
                                 finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        except OSError as e:
            raise storage_error(e, f"marking {str(self.path)!r} complete") from None
        # a worker killed mid-write leaves its temporary file behind; every chunk is
        # in place now, so anything temporary is debris
        remove_temporaries(self.path / LEVEL0)
        self.complete = True

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def release(self, failed: bool = False) -> None:
        """Close the record and give up the lock. After a failure before any chunk was
        recorded, a store this run made is removed: nothing of it is worth resuming,
        and a rerun must not find it in its way."""
        self.close()
        try:
            if failed and self.created and self._recorded == 0 and not self.done:
                clear_output(self.path)
                if self.lock is not None:
                    self.lock.release()
                try:
                    os.rmdir(self.path)
                except OSError:
                    pass
        finally:
            if self.lock is not None:
                self.lock.release()


def _fill_value(spec: OutputSpec):
    if spec.fill_value is not None:
        return spec.fill_value
    return float("nan") if np.dtype(spec.array.dtype).kind == "f" else 0


def _resume(spec: OutputSpec, fingerprint: str, stamps: dict) -> tuple[set, bool, int]:
    """Check an existing output for resuming: (good chunks, complete, chunks to redo)."""
    path = spec.path
    try:
        group = zarr.open_group(str(path), mode="r")
        meta = dict(group.attrs).get("tiledproc", {})
        zarr.open_array(str(path / LEVEL0), mode="r")
    except Exception as e:
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
    good, bad = check_chunks(layout, record)
    if bad:
        shown = ", ".join(f"{os.path.relpath(layout.file(i), path)} ({why})" for i, why in sorted(bad.items())[:3])
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
    from .safety import check_output_paths

    check_output_paths([spec.path], inputs, overwrite=overwrite, resume=resume)
    path = spec.path
    fingerprint = spec.fingerprint
    stamps = input_stamps(inputs) if stamps is None else stamps
    exists = path.exists()
    try:
        if not exists:
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
        if not exists:
            try:
                os.rmdir(path)
            except OSError:
                pass
        raise
    try:
        if exists and resume and (path / "zarr.json").exists():
            done, complete, repaired = _resume(spec, fingerprint, stamps)
            if repaired and not complete:
                PreparedOutput(spec, done, complete)._set_provenance(complete=False)
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
    attrs = json_safe(dict(spec.attrs))
    attrs["ome"] = ome_multiscales(spec.name or path.stem, 3, 1)
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
        group = zarr.create_group(str(path), zarr_format=3, attributes=attrs, overwrite=False)
        group.create_array(
            LEVEL0,
            shape=a.shape,
            dtype=a.dtype,
            chunks=spec.chunks,
            compressors=compressors_for(spec.codec),
            fill_value=_fill_value(spec),
            dimension_names=dimension_names(3),
        )
    except OSError as e:
        raise storage_error(e, f"creating output {str(path)!r}") from None


def _write_block(block: np.ndarray, *, layout: ChunkLayout, block_id=None) -> np.ndarray:
    size, crc = write_chunk(layout, tuple(block_id), block)
    return np.array([size, crc], dtype=np.int64).reshape((1,) * (block.ndim - 1) + (2,))


def write_tasks(outputs: Sequence[PreparedOutput]) -> tuple[list, list[tuple[int, tuple[int, ...]]]]:
    """The chunk writes still to do, as dask collections plus what each key is.

    Returns ``(writers, todo)``: one dask array per output whose block
    ``index`` writes chunk ``index`` of that output and holds the stored
    size and CRC-32 of the chunk (for the completion record), and
    ``[(key, output index, chunk index), ...]`` for the chunks not yet
    recorded as done. The engine builds one graph from all writers, so
    tasks they share (reading an input chunk, a common intermediate) run once.
    """
    writers = []
    todo = []
    for k, out in enumerate(outputs):
        a = out.spec.array
        w = da.map_blocks(
            functools.partial(_write_block, layout=out.layout),
            a, dtype=np.int64, chunks=tuple((1,) * len(c) for c in a.chunks[:-1]) + ((2,) * len(a.chunks[-1]),),
            name=f"write-{k}-{out.spec.fingerprint}",
            meta=np.empty((0,) * a.ndim, dtype=np.int64),
        )
        writers.append(w)
        for index in np.ndindex(*out.grid):
            if index not in out.done:
                todo.append(((w.name,) + index, k, index))
    return writers, todo
