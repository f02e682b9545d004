"""Progress of a long run: a bar on a terminal, periodic log lines otherwise.

The same reporter serves every scheduler, because it is fed by the driver
as each write task finishes (a dask callback locally, ``as_completed`` on a
cluster), not by a scheduler-specific plugin.
"""

from __future__ import annotations

import logging
import sys
import time

from .._format import format_bytes, format_seconds

__all__ = ["Progress"]

log = logging.getLogger("tiledproc")


class Progress:
    """Counts finished chunks and written bytes.

    ``mode``: ``"bar"`` redraws one line on ``stream``; ``"log"`` emits an
    INFO record on the ``tiledproc`` logger every ``interval`` seconds (and
    at the end); ``"off"`` is silent; ``"auto"`` picks ``bar`` when
    ``stream`` is a terminal and ``log`` otherwise.
    """

    def __init__(self, total: int, *, nbytes: int = 0, label: str = "writing", mode: str = "auto",
                 stream=None, interval: float = 10.0, width: int = 30):
        self.total = int(total)
        self.total_bytes = int(nbytes)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", lambda: False)
            mode = "bar" if isatty() else "log"
        if mode not in ("bar", "log", "off"):
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode = mode
        self.interval = interval
        self.width = width
        self.done = 0
        self.bytes = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._closed = False
        if self.mode == "log":
            log.info("%s: %d chunks, %s", self.label, self.total, format_bytes(self.total_bytes))

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        frac = self.done / self.total if self.total else 1.0
        rate = self.bytes / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        eta_s = format_seconds(eta) if frac > 0 else "?"
        return (f"{self.done}/{self.total} chunks ({100 * frac:.0f}%), {format_bytes(self.bytes)} "
                f"at {format_bytes(rate)}/s, elapsed {format_seconds(elapsed)}, ETA {eta_s}")

    def update(self, chunks: int = 1, nbytes: int = 0) -> None:
        self.done += chunks
        self.bytes += nbytes
        now = time.monotonic()
        if self.mode == "bar":
            if now - self._last >= 0.1 or self.done >= self.total:
                self._last = now
                frac = self.done / self.total if self.total else 1.0
                filled = int(self.width * frac)
                bar = "#" * filled + "-" * (self.width - filled)
                self.stream.write(f"\r{self.label} [{bar}] {self._line()}\x1b[K")
                self.stream.flush()
        elif self.mode == "log":
            if now - self._last >= self.interval:
                self._last = now
                self._logged = self.done
                log.info("%s: %s", self.label, self._line())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()
        elif self.mode == "log" and getattr(self, "_logged", None) != self.done:
            log.info("%s: %s", self.label, self._line())  # the last count, unless just logged
