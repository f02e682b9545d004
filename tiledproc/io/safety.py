"""What tiledproc may create, replace and delete, and one writer per output.

The rules (README, "Data safety"):

* **Resolve before comparing.** Every path is compared by its real path
  (:func:`os.path.realpath`: symlinks resolved, ``..`` folded), so a link
  to an input, a link inside an input or a ``sub/up -> ..`` link is seen
  for what it is.
* **Never these.** An empty path, the working directory or any of its
  ancestors, the home directory or any of its ancestors, the file-system
  root, an input or an ancestor of an input, a path inside an input, and a
  path that is, contains or lies inside another output of the same run are
  refused, with or without ``overwrite``.
* **Overwrite only what tiledproc made.** ``overwrite`` replaces a path
  only when it is a real directory (not a link) whose ``zarr.json`` carries
  tiledproc's provenance (``attributes.tiledproc.fingerprint``), or a
  directory holding nothing but tiledproc's own lock. Anything else, a
  directory of files, a Zarr store of someone else's, a file, a link, is
  refused with what to do instead.
* **Deletion never follows links.** Replacing an output removes its entries
  one by one; a link inside it is unlinked, never followed.
* **One writer per output.** :class:`OutputLock` is a file
  ``.tiledproc-lock`` in the output, created atomically (``O_CREAT |
  O_EXCL``) with the owner's host, pid and process start time. A second
  writer is refused with the owner's name. A lock whose process is gone (same
  host, no such pid or another process under that pid) is stale: a run with
  ``resume`` or ``overwrite`` takes it over, atomically (the stale file is
  renamed away first, so two runs cannot both take it). A lock of another
  host cannot be checked and is never taken over; the message says how to
  remove it once that run is known to be dead.
* **Checked before anything is created.** The parent of an output must be
  a directory (not a file) and writable; the outputs, uncompressed, must fit
  in the free space of their file system (``space_check``).

On object stores (:class:`~tiledproc.io.remote.ObjectPath`) the same rules
hold with prefixes for paths: an output may not be the root of a bucket, an
input or inside or around one (same scheme, bucket and key prefix, compared
by whole path segments); it exists when any object lies under its prefix;
only a prefix whose ``zarr.json`` carries tiledproc's provenance, or that
holds nothing but the lock, is replaced (by deleting its objects, lock
kept); ``https://`` is read-only. The lock is the object
``.tiledproc-lock``, created with a conditional PUT (``If-None-Match: *``,
obstore's ``mode="create"``): exactly one writer gets it. A stale one (same
host, dead process) is taken over with a PUT conditional on the ETag that
was read (``If-Match``), so of two runs taking it over only one succeeds;
it is released only while its ETag is still the one this run wrote. There
is no free-space check for object stores.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import (
    InvalidParameterError,
    OutputExistsError,
    OutputInsideInputError,
    OutputLockedError,
    ResourceLimitError,
    ResumeMismatchError,
    StorageError,
    UnsafeOutputError,
    UnsupportedStoreError,
)
from .chunkio import storage_error
from .remote import WRITABLE_SCHEMES, ObjectPath, as_location, is_url, remote_error

__all__ = [
    "LOCK_FILE",
    "refuse_url",
    "real_path",
    "is_tiledproc_output",
    "check_output_paths",
    "check_space",
    "tree_size",
    "clear_output",
    "OutputLock",
]

LOCK_FILE = ".tiledproc-lock"

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def refuse_url(path, what: str = "path") -> None:
    """A URL tiledproc cannot use is refused before anything is created: an unknown scheme,
    and for an output a read-only one (``https://``). Local paths pass."""
    if not is_url(path):
        return
    loc = as_location(path)  # an unknown scheme is refused here
    if what == "preview":
        raise UnsupportedStoreError(
            f"The preview {str(loc)!r} is a URL; a preview is a PNG written to a local file. Give a local path."
        )
    if what in ("output", "preview") and not loc.writable:
        raise UnsupportedStoreError(
            f"The {what} {str(loc)!r} is read-only ({loc.scheme}://); write to a local path or to "
            f"{', '.join(s + '://' for s in WRITABLE_SCHEMES)}."
        )


def real_path(p) -> Path:
    """``p`` with ``~`` expanded, made absolute, every symlink resolved (also for a
    path that does not exist yet: its existing part is resolved)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(p))))


def _provenance(path) -> dict | None:
    """tiledproc's provenance from the ``zarr.json`` of a directory, or None."""
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError, StorageError):
        return None
    attrs = meta.get("attributes") if isinstance(meta, dict) else None
    prov = attrs.get("tiledproc") if isinstance(attrs, dict) else None
    return prov if isinstance(prov, dict) else None


def is_tiledproc_output(path) -> bool:
    """Whether ``path`` is a store tiledproc wrote (a real directory with its provenance),
    or a directory holding only tiledproc's lock (a run killed as it started)."""
    if is_url(path):
        p = as_location(path)
        prov = _provenance(p)
        if prov is not None and "fingerprint" in prov:
            return True
        return [m["path"] for m in p.list()] == [(p / LOCK_FILE).key]
    p = Path(os.path.expanduser(os.fspath(path)))
    if p.is_symlink() or not p.is_dir():
        return False
    prov = _provenance(p)
    if prov is not None and "fingerprint" in prov:
        return True
    try:
        return set(os.listdir(p)) == {LOCK_FILE}
    except OSError:
        return False


def _describe(p) -> str:
    if isinstance(p, ObjectPath):
        if (p / "zarr.json").is_file() or (p / ".zarray").is_file() or (p / ".zgroup").is_file():
            return "a Zarr store that tiledproc did not write"
        return "an object" if p.is_file() else "a prefix of objects that tiledproc did not write"
    if p.is_symlink():
        return "a symbolic link"
    if p.is_dir():
        if (p / "zarr.json").exists() or (p / ".zarray").exists() or (p / ".zgroup").exists():
            return "a Zarr store that tiledproc did not write"
        return "a directory that tiledproc did not write"
    return "a file"


def _forbidden(out: Path) -> str | None:
    """Why ``out`` (a real path) may never be an output, or None."""
    if out == Path(out.anchor):
        return "it is the root of the file system"
    cwd = real_path(os.getcwd())
    if out == cwd:
        return "it is the working directory"
    if out in cwd.parents:
        return "it is an ancestor of the working directory"
    home = real_path(Path.home())
    if out == home:
        return "it is the home directory"
    if out in home.parents:
        return "it is an ancestor of the home directory"
    return None


def _check_parent(given, out: Path) -> None:
    """The first existing ancestor of ``out`` must be a writable directory."""
    parent = out.parent
    while not parent.exists():
        if parent.is_symlink():  # a dangling link on the way
            raise UnsafeOutputError(
                f"Cannot create output {str(given)!r}: {str(parent)!r} is a broken symbolic link."
            )
        parent = parent.parent
    if not parent.is_dir():
        raise StorageError(
            f"Cannot create output {str(given)!r}: {str(parent)!r} is a file, not a directory; "
            f"choose an output path under a directory."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        try:
            readonly = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
        except OSError:
            readonly = False
        why = "is on a read-only file system" if readonly else "is not writable by you"
        raise StorageError(f"Cannot create output {str(given)!r}: {str(parent)!r} {why}; write the output elsewhere.")


def _check_remote_output(given, out: ObjectPath, inputs, seen, overwrite: bool, resume: bool) -> None:
    if not out.writable:
        raise UnsupportedStoreError(
            f"Cannot write output {str(out)!r}: {out.scheme}:// is read-only; write to a local path or to "
            f"{', '.join(s + '://' for s in WRITABLE_SCHEMES)}."
        )
    if not out.key:
        raise UnsafeOutputError(
            f"Refusing to write output {str(out)!r}: it is the root of the bucket. Give the path of a new store, "
            f"e.g. {str(out / 'out.zarr')!r}."
        )
    for inp, src in inputs:
        if not isinstance(src, ObjectPath):
            continue
        if out == src or out.is_relative_to(src):
            raise OutputInsideInputError(
                f"Output {str(out)!r} is the input {str(inp)!r} or lies inside it; choose an output path outside "
                f"the input."
            )
        if src.is_relative_to(out):
            raise OutputInsideInputError(
                f"Output {str(out)!r} contains the input {str(inp)!r}; writing it would destroy the input. "
                f"Choose another output path."
            )
    for other, prev in seen.items():
        if not isinstance(other, ObjectPath):
            continue
        if out == other:
            raise InvalidParameterError(f"Two outputs are written to the same path {str(out)!r}.")
        if other.is_relative_to(out) or out.is_relative_to(other):
            raise InvalidParameterError(
                f"Output {str(out)!r} and output {str(prev)!r} lie one inside the other; give each output its own "
                f"path."
            )
    seen[out] = out
    if out.is_file():
        raise UnsafeOutputError(
            f"Refusing to write output {str(out)!r}: an object of that name exists (it is not a Zarr store "
            f"tiledproc wrote). Choose another output path."
        )
    if not out.is_dir():
        return
    if not (overwrite or resume):
        prov = _provenance(out)
        state = " and is incomplete (its run was interrupted)" if prov is not None and prov.get(
            "complete") is False else ""
        raise OutputExistsError(
            f"Output {str(out)!r} already exists{state}; pass overwrite (--overwrite) to replace it "
            f"or resume (--resume) to finish an interrupted run."
        )
    if not is_tiledproc_output(out):
        if resume and not overwrite:
            raise ResumeMismatchError(
                f"Cannot resume into {str(out)!r}: it is not an output written by tiledproc (it is "
                f"{_describe(out)}). Choose another output path."
            )
        raise UnsafeOutputError(
            f"Refusing to replace {str(out)!r}: it is {_describe(out)} (no tiledproc provenance in a zarr.json). "
            f"tiledproc replaces only stores it wrote itself; choose another output path, or remove it yourself "
            f"if it is really unwanted."
        )


def check_output_paths(outputs: Sequence, inputs: Iterable = (), *, overwrite: bool = False,
                       resume: bool = False) -> None:
    """Every refusal about where the outputs go, before anything is created.

    ``outputs`` and ``inputs`` are paths or URLs (inputs may be ``None``, skipped).
    """
    inputs = [i for i in inputs if i is not None]
    real_inputs = [(i, as_location(i) if is_url(i) else real_path(i)) for i in inputs]
    seen: dict = {}
    for given in outputs:
        if is_url(given):
            _check_remote_output(given, as_location(given), real_inputs, seen, overwrite, resume)
            continue
        if os.fspath(given).strip() == "":
            raise UnsafeOutputError("An output path is empty; give the path of the store to write.")
        out = real_path(given)
        why = _forbidden(out)
        if why:
            raise UnsafeOutputError(
                f"Refusing to write output {str(given)!r} ({str(out)!r}): {why}. "
                f"Give the path of a new store, e.g. {str(Path(given) / 'out.zarr')!r}."
            )
        for inp, src in real_inputs:
            if isinstance(src, ObjectPath):
                continue
            if out == src or src in out.parents:
                raise OutputInsideInputError(
                    f"Output {str(given)!r} is the input {str(inp)!r} or lies inside it"
                    f"{' (after resolving links: ' + str(out) + ')' if str(out) != os.path.abspath(given) else ''}; "
                    f"choose an output path outside the input."
                )
            if out in src.parents:
                raise OutputInsideInputError(
                    f"Output {str(given)!r} contains the input {str(inp)!r}; writing it would destroy the "
                    f"input. Choose another output path."
                )
        for other, prev in seen.items():
            if isinstance(other, ObjectPath):
                continue
            if out == other:
                raise InvalidParameterError(f"Two outputs are written to the same path {str(given)!r}.")
            if other in out.parents or out in other.parents:
                raise InvalidParameterError(
                    f"Output {str(given)!r} and output {str(prev)!r} lie one inside the other; "
                    f"give each output its own path."
                )
        seen[out] = given
        p = Path(os.path.expanduser(os.fspath(given)))
        if p.exists() or p.is_symlink():
            if p.is_symlink():
                raise UnsafeOutputError(
                    f"Output {str(given)!r} is a symbolic link (to {os.readlink(p)!r}); tiledproc does not write "
                    f"through or replace links. Give the real path, or remove the link."
                )
            if not (overwrite or resume):
                state = ""
                prov = _provenance(p) if p.is_dir() else None
                if prov is not None and prov.get("complete") is False:
                    state = " and is incomplete (its run was interrupted)"
                raise OutputExistsError(
                    f"Output {str(given)!r} already exists{state}; pass overwrite (--overwrite) to replace it "
                    f"or resume (--resume) to finish an interrupted run."
                )
            if not is_tiledproc_output(p) and resume and not overwrite:
                raise ResumeMismatchError(
                    f"Cannot resume into {str(given)!r}: it is not an output written by tiledproc (it is "
                    f"{_describe(p)}). Choose another output path."
                )
            if not is_tiledproc_output(p):
                raise UnsafeOutputError(
                    f"Refusing to replace {str(given)!r}: it is "
                    f"{_describe(p)} (no tiledproc provenance in a zarr.json). tiledproc replaces only stores it "
                    f"wrote itself; choose another output path, or remove it yourself if it is really unwanted."
                )
        else:
            _check_parent(given, out)


def tree_size(p) -> int:
    """The bytes of the files under ``p`` (links counted as links, never followed)."""
    if isinstance(p, ObjectPath):
        if p.scheme in ("http", "https"):
            return 0  # a web server cannot be listed
        return sum(int(m["size"]) for m in p.list())
    total = 0
    for root, _, files in os.walk(p):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def check_space(sizes: Sequence[tuple[object, int]], *, replacing: bool = False) -> None:
    """Refuse outputs whose uncompressed sizes exceed the free space of their file system.

    ``sizes`` holds ``(path, bytes)``; outputs on one file system are added
    up. With ``replacing``, the space of the existing stores counts as free.
    """
    need: dict[int, list] = {}
    for given, nbytes in sizes:
        if is_url(given):  # object stores have no free space to check
            continue
        out = real_path(given)
        anchor = out
        while not anchor.exists():
            anchor = anchor.parent
        try:
            dev = os.stat(anchor).st_dev
            free = shutil.disk_usage(anchor).free
        except OSError:
            continue
        entry = need.setdefault(dev, [0, free, anchor, []])
        entry[0] += nbytes
        entry[3].append(str(given))
        if replacing and out.exists() and out.is_dir():
            entry[1] += tree_size(out)
    for nbytes, free, anchor, names in need.values():
        if nbytes > free:
            from .._format import format_bytes

            raise ResourceLimitError(
                f"The output{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)} need up to "
                f"{format_bytes(nbytes)} (uncompressed) but {str(anchor)!r} has {format_bytes(free)} free; write "
                f"them elsewhere, free space, or pass --no-space-check (space_check=False) if the data compresses "
                f"well."
            )


def clear_output(path) -> None:
    """Empty a tiledproc output directory for a fresh write, keeping its lock.

    Entries are removed one by one and never followed: a link inside the
    store is unlinked, the tree it points to is left alone. Under an object-store
    prefix every object but the lock is deleted.
    """
    if is_url(path):
        as_location(path).delete_tree(keep=(LOCK_FILE,))
        return
    p = Path(path)
    try:
        for entry in os.scandir(p):
            if entry.name == LOCK_FILE:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    except OSError as e:
        raise storage_error(e, f"replacing output {str(p)!r}") from None


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
        return text.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start is not None:
        now = _start_time(pid)
        if now is not None and now != start:
            return False  # the pid now belongs to another process
    return True


class OutputLock:
    """The writer lock of one output: ``with OutputLock(path, takeover=...):``.

    ``takeover`` (resume or overwrite) lets a stale lock be replaced; a live
    one is always refused.
    """

    def __init__(self, path, *, takeover: bool = False):
        self.path = as_location(path) if is_url(path) else Path(path)
        self.remote = isinstance(self.path, ObjectPath)
        self.file = self.path / LOCK_FILE
        self.takeover = takeover
        self.held = False
        self.etag: str | None = None  # of the lock object this run wrote (object stores)

    def _record(self) -> bytes:
        pid = os.getpid()
        return json.dumps({
            "host": socket.gethostname(), "pid": pid, "start": _start_time(pid),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }).encode()

    def _create(self) -> bool:
        if self.remote:
            import obstore.exceptions as oe

            try:
                self.etag = self.file.write_bytes(self._record(), mode="create").get("e_tag")
            except (oe.AlreadyExistsError, oe.PreconditionError, FileExistsError):
                return False
            except Exception as e:
                raise remote_error(e, f"creating the lock {str(self.file)!r}", self.file.options) from None
            return True
        try:
            fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError as e:
            raise storage_error(e, f"creating the lock {str(self.file)!r}") from None
        try:
            os.write(fd, self._record())
        finally:
            os.close(fd)
        return True

    def _read_object(self) -> tuple[dict, str | None]:
        """The lock object's content and its ETag, from one GET (so a takeover is conditional
        on exactly the content that was judged stale)."""
        import obstore
        import obstore.exceptions as oe

        try:
            got = obstore.get(self.file.store, self.file.key)
            etag = got.meta.get("e_tag")
            data = json.loads(bytes(got.bytes()) or b"{}")
        except (oe.NotFoundError, FileNotFoundError):
            return {}, None
        except ValueError:
            return {}, None
        except Exception as e:
            raise remote_error(e, f"reading the lock {str(self.file)!r}", self.file.options) from None
        return (data if isinstance(data, dict) else {}), etag

    def holder(self) -> dict:
        if self.remote:
            info, self._seen = self._read_object()
            return info
        try:
            data = json.loads(self.file.read_text() or "{}")
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "OutputLock":
        for _ in range(3):
            if self._create():
                self.held = True
                return self
            info = self.holder()
            host, pid = info.get("host"), info.get("pid")
            same_host = host == socket.gethostname()
            stale = same_host and isinstance(pid, int) and not _alive(pid, info.get("start"))
            if not info:  # written but not yet filled in, or unreadable: give its writer a moment
                time.sleep(0.05)
                info = self.holder()
                if not info:
                    stale = self.takeover
            who = f"pid {pid} on {host}" if pid else "another run"
            since = f" since {info['since']}" if info.get("since") else ""
            if not stale:
                hint = ("wait for it to finish" if same_host or not host else
                        f"if that run is dead, delete {str(self.file)!r} and run again with --resume")
                raise OutputLockedError(
                    f"Output {str(self.path)!r} is being written by {who}{since}; {hint}."
                )
            if not self.takeover:
                raise OutputLockedError(
                    f"Output {str(self.path)!r} holds the lock of a run that is gone ({who}{since}); run the same "
                    f"command with --resume to finish it, or --overwrite to start it again."
                )
            if self.remote:
                if self._take_over_object():
                    self.held = True
                    return self
                continue
            aside = self.file.with_name(f"{LOCK_FILE}.stale-{os.getpid()}")
            try:
                os.rename(self.file, aside)  # only one run can move the stale lock away
            except FileNotFoundError:
                continue
            except OSError as e:
                raise storage_error(e, f"taking over the lock {str(self.file)!r}") from None
            try:
                os.remove(aside)
            except OSError:
                pass
        raise OutputLockedError(f"Output {str(self.path)!r}: another run keeps taking its lock; try again.")

    def _take_over_object(self) -> bool:
        """Replace a stale lock object with ours, conditional on the ETag read: one winner."""
        import obstore.exceptions as oe

        seen = getattr(self, "_seen", None)
        if seen is None:
            return False
        try:
            self.etag = self.file.write_bytes(self._record(), mode={"e_tag": seen}).get("e_tag")
        except (oe.PreconditionError, oe.NotFoundError, FileNotFoundError):
            return False
        except Exception as e:
            raise remote_error(e, f"taking over the lock {str(self.file)!r}", self.file.options) from None
        return True

    def release(self) -> None:
        if self.held and self.remote:
            self.held = False
            meta = self.file.head()
            if meta is not None and (self.etag is None or meta.get("e_tag") == self.etag):
                self.file.unlink(missing_ok=True)
            return
        if self.held:
            self.held = False
            try:
                os.remove(self.file)
            except FileNotFoundError:
                pass
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise storage_error(e, f"removing the lock {str(self.file)!r}") from None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
