"""How fast the ``tiledproc`` command answers (issue 14: under 0.5 s for ``--help``,
``info``, ``ops`` and usage errors), beside the bare interpreter.

Each measurement starts the command ``RUNS`` times as a fresh process (the
console script the README installs, so the same path a user takes) and
reports the median wall time of one start. ``python -c pass`` is the floor
that no command can beat; ``import dask.array`` shows what one heavy import
would add. ``info`` reads a small store made once under ``bench-data/``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .common import table

RUNS = 9
EXE = Path(sys.executable).with_name("tiledproc")

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import dask.array'": [sys.executable, "-c", "import dask.array"],
    "tiledproc --help": [str(EXE), "--help"],
    "tiledproc ops": [str(EXE), "ops"],
    "tiledproc window-stats --help": [str(EXE), "window-stats", "--help"],
    "tiledproc window-stats (usage error)": [str(EXE), "window-stats"],
    "tiledproc info STORE": [str(EXE), "info", "{store}"],
}


def _store(data: Path) -> Path:
    path = data / "startup.zarr"
    if not (path / "zarr.json").exists():
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([str(EXE), "synth", str(path), "--shape", "1,512,512", "--chunks", "1,256,256",
                        "--progress", "off"], check=True, capture_output=True)
    return path


def start(data, command):
    store = _store(data)
    argv = [a.format(store=store) for a in COMMANDS[command]]
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(argv, capture_output=True)
        times.append(time.perf_counter() - t)
    return {"seconds": statistics.median(times), "note": f"median of {RUNS}, min {min(times):.3f} s"}


MEASUREMENTS = {name: (lambda data, _n=name: start(data, _n)) for name in COMMANDS}


def case(data, measure):
    """Start-up time of the command, against the bare interpreter."""
    _store(data)
    rows = [measure("startup", name, {}) for name in COMMANDS]
    table(f"startup: median wall time of one start ({RUNS} starts each)", rows,
          [(f"{n} / python -c pass", n, "python -c pass") for n in COMMANDS if n.startswith("tiledproc")])
    return rows
