"""The exceptions and warnings tiledproc raises.

Every class derives from :class:`TiledprocError` *and* from the builtin a
caller would naturally catch (``ValueError``, ``FileNotFoundError``, ...), so
``except ValueError`` keeps working for code that does not know tiledproc.
The command line turns any :class:`TiledprocError` into one line on stderr
and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "TiledprocError",
    "InvalidParameterError",
    "InvalidTypeError",
    "StoreNotFoundError",
    "NotAZarrStoreError",
    "OutputExistsError",
    "OutputInsideInputError",
    "ResumeMismatchError",
    "TiffError",
    "ConfigError",
    "ClusterError",
    "IncompleteInputError",
    "OutputLockedError",
    "UnsafeOutputError",
    "StorageError",
    "CorruptChunkError",
    "ResourceLimitError",
    "UnsupportedStoreError",
    "TiledprocWarning",
]


class TiledprocError(Exception):
    """Root of every error tiledproc raises on purpose.

    ``param`` names the parameter the error is about, as the caller wrote it
    (``"size"``, ``"window_mode"``, ``"image"``), when there is one: the
    pipeline and the commands name the key or option from it, never from the
    message text.
    """

    param: str | None = None

    def __init__(self, *args, param: str | None = None):
        super().__init__(*args)
        if param is not None:
            self.param = param

    def __reduce__(self):  # keep ``param`` (and errno) across processes (distributed workers)
        state = dict(self.__dict__)
        if isinstance(self, OSError) and self.errno is not None:
            state["errno"] = self.errno
        return (_rebuild, (type(self), self.args, state))


class InvalidParameterError(TiledprocError, ValueError):
    """A parameter has a value outside what the operation accepts."""


class InvalidTypeError(TiledprocError, TypeError):
    """A parameter or an array has the wrong type or dtype."""


class StoreNotFoundError(TiledprocError, FileNotFoundError):
    """An input path does not exist."""


class NotAZarrStoreError(TiledprocError, ValueError):
    """A path exists but is not a Zarr array tiledproc can read."""


class OutputExistsError(TiledprocError, FileExistsError):
    """An output exists and neither overwrite nor resume was asked for."""


class OutputInsideInputError(TiledprocError, ValueError):
    """An output path equals, or lies inside, an input store."""


class ResumeMismatchError(TiledprocError, ValueError):
    """Resume was asked for, but the output was made by another computation."""


class TiffError(TiledprocError, ValueError):
    """A TIFF cannot be ingested (unsupported layout, unreadable file)."""


class ConfigError(TiledprocError, ValueError):
    """A pipeline file is invalid: the message names the file, step and key.

    Made by :meth:`at`, it also keeps those parts (``source``, ``table``,
    ``key``, ``detail``), so a caller can name them its own way (the
    one-operation commands say ``--size`` where a pipeline says
    ``[steps.window_stats] key 'size'``).
    """

    source: str | None = None
    table: str | None = None
    key: str | None = None
    detail: str | None = None

    @classmethod
    def at(cls, source: str, table: str | None, key: str | None, detail: str,
           hint: str | None = None) -> "ConfigError":
        where = source
        if table:
            where += f": [{table}]" + (f" key {key!r}" if key else "")
        text = f"{detail.rstrip('.')} ({hint})." if hint else detail
        e = cls(f"{where}: {text}")
        e.source, e.table, e.key, e.detail = source, table, key, detail
        return e


class ClusterError(TiledprocError, RuntimeError):
    """A scheduler or cluster could not be started or reached."""


class IncompleteInputError(TiledprocError, ValueError):
    """An input's provenance says the run that made it was interrupted."""


class OutputLockedError(TiledprocError, RuntimeError):
    """Another run holds the output's writer lock."""


class UnsafeOutputError(TiledprocError, ValueError):
    """An output path that tiledproc must never create, replace or delete:
    a directory it did not write, the working directory or one of its
    ancestors, the home directory, an ancestor of an input."""


class StorageError(TiledprocError, OSError):
    """Reading or writing a store failed in its environment: no space left,
    a read-only file system, permissions. The message names the file."""


class CorruptChunkError(TiledprocError, ValueError):
    """A stored chunk cannot be decoded. The message names the file."""


class ResourceLimitError(TiledprocError, ValueError):
    """A raster, chunk or output too large for this machine or its target,
    refused before any work; the message states the size and the limit."""


class UnsupportedStoreError(TiledprocError, ValueError):
    """A store tiledproc cannot use yet, such as a URL of object storage."""


class TiledprocWarning(UserWarning):
    """Something worth knowing that does not stop the work."""


def _rebuild(cls, args, state):
    e = cls.__new__(cls, *args)
    Exception.__init__(e, *args)
    for key, value in state.items():
        setattr(e, key, value)
    return e
