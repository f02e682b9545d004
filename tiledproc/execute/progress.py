"""Progress of a long run: a bar on a terminal, periodic log lines otherwise.

The same reporter serves every scheduler, because it is fed by the driver
as each write task finishes (a dask callback locally, ``as_completed`` on a
cluster), not by a scheduler-specific plugin.

The ETA is not extrapolated from the first chunks: they may have paid for
compiling the kernels (seconds, on a cold numba cache) or for warming the
input's caches, which would put a 50-minute ETA on a 49-second job. The
rate is measured from the moment the first chunk finished, and the ETA is
shown ("ETA ?" until then) once ``ETA_AFTER`` more chunks have finished
since that moment; the rate shown follows the same rule.
"""

from __future__ import annotations

import logging
import sys
import time

from .._format import format_bytes, format_seconds

__all__ = ["Progress"]

log = logging.getLogger("tiledproc")

#: chunks that must finish after the first before an ETA is shown
ETA_AFTER = 3


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
        # when the first update came and how many chunks it brought (the rate is taken after it)
        self._t_first: float | None = None
        self._n_first = 0
        self._b_first = 0
        self._last = 0.0
        self._closed = False
        if self.mode == "log":
            log.info("%s: %d chunks, %s", self.label, self.total, format_bytes(self.total_bytes))

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left, from the rate since the first chunk finished; None while unknown."""
        if self.total and self.done >= self.total:
            return 0.0
        now = time.monotonic() if now is None else now
        after = self.done - self._n_first
        if self._t_first is None or after < ETA_AFTER or now <= self._t_first:
            return None
        return (self.total - self.done) * (now - self._t_first) / after

    def rate(self, now: float | None = None) -> float | None:
        """Bytes per second since the first chunk finished (over the whole run when it is over)."""
        now = time.monotonic() if now is None else now
        if self.total and self.done >= self.total:
            span = now - self.start
            return self.bytes / span if span > 0 else None
        if self._t_first is None or self.done - self._n_first < ETA_AFTER or now <= self._t_first:
            return None
        return (self.bytes - self._b_first) / (now - self._t_first)

    def _line(self) -> str:
        now = time.monotonic()
        elapsed = now - self.start
        frac = self.done / self.total if self.total else 1.0
        eta, rate = self.eta(now), self.rate(now)
        eta_s = "?" if eta is None else format_seconds(eta)
        rate_s = "" if rate is None else f" at {format_bytes(rate)}/s"
        return (f"{self.done}/{self.total} chunks ({100 * frac:.0f}%), {format_bytes(self.bytes)}"
                f"{rate_s}, elapsed {format_seconds(elapsed)}, ETA {eta_s}")

    def update(self, chunks: int = 1, nbytes: int = 0) -> None:
        self.done += chunks
        self.bytes += nbytes
        now = time.monotonic()
        if self._t_first is None and self.done > 0:
            self._t_first, self._n_first, self._b_first = now, self.done, self.bytes
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
