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
    "TiledprocWarning",
]


class TiledprocError(Exception):
    """Root of every error tiledproc raises on purpose."""


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


class TiledprocWarning(UserWarning):
    """Something worth knowing that does not stop the work."""
