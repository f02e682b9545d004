"""Benchmark cases. Each module defines MEASUREMENTS (run in child processes)
and a CASE function that prepares data, measures and prints a table."""

from . import window

CASES = {"window": window.case, "layouts": window.layouts}
MEASUREMENTS = {"window": window.MEASUREMENTS, "layouts": window.MEASUREMENTS}

for _name in ("gabor", "color", "pipeline", "safety", "architecture", "startup", "export", "nodata",
              "remote", "coldstart", "scale"):
    try:
        _mod = __import__(f"benchcases.{_name}", fromlist=["case"])
    except ModuleNotFoundError as e:
        if e.name != f"benchcases.{_name}":
            raise
        continue
    CASES[_name] = _mod.case
    MEASUREMENTS[_name] = _mod.MEASUREMENTS
