"""One status line while kernels compile, and a count of what numba compiled.

numba fires a ``numba:compile`` event only when it really compiles a function
(after looking in memory and in its on-disk cache, ``NUMBA_CACHE_DIR``), so a
listener on that event knows, at no cost per call, that a kernel is about to
be compiled: it logs one INFO line per kernel family on the ``tiledproc``
logger, e.g. "compiling the window kernels (first use; cached for later
runs)", and counts the compiles per family (:func:`compiled`, used by
``tiledproc warmup`` and the tests). Every kernel module imports this one, so
the listener is installed as soon as a kernel can run.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from numba.core import event

__all__ = ["compiled", "family_of", "FAMILIES"]

log = logging.getLogger("tiledproc")

#: kernel module (the first part after tiledproc.kernels.) -> the name users read
FAMILIES = {"window": "window", "gabor": "Gabor", "derivatives": "derivative", "labels": "label",
            "palette": "palette"}

_lock = threading.Lock()
_announced: set[str] = set()
_compiles: Counter = Counter()


def family_of(module: str) -> str | None:
    """``tiledproc.kernels.palette.scan`` -> ``palette``; None outside the kernels."""
    parts = module.split(".")
    if len(parts) < 3 or parts[0] != "tiledproc" or parts[1] != "kernels":
        return None
    return parts[2].lstrip("_") or None


def compiled() -> dict[str, int]:
    """Functions numba compiled so far in this process (not loaded from its cache), per family."""
    with _lock:
        return dict(_compiles)


class _CompileListener(event.Listener):
    def on_start(self, ev):
        try:
            disp = ev.data["dispatcher"]
            fam = family_of(getattr(disp.py_func, "__module__", "") or "")
        except Exception:  # pragma: no cover - never let a status line break a compile
            return
        if fam is None:
            return
        with _lock:
            _compiles[fam] += 1
            first = fam not in _announced
            _announced.add(fam)
        if first:
            log.info("compiling the %s kernels (first use; cached for later runs)", FAMILIES.get(fam, fam))

    def on_end(self, ev):
        pass


_installed = False


def _install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    event.register("numba:compile", _CompileListener())


_install()
