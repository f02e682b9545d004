#!/usr/bin/env python
"""tiledproc beside its peers, in one run, on the same data and chunks.

    python scripts/bench.py                 # every case (needs the [bench] or [test] extras)
    python scripts/bench.py window gabor    # some cases
    python scripts/bench.py --list

Each measurement runs in a fresh child process (so its peak RSS is its own)
after ``sync`` (so it does not pay for the previous case's dirty pages).
Data is made once under ``bench-data/`` (16 x 5000 x 5000 float32, chunks
1 x 1024 x 1024, the default codec). Results are printed as a table of times
and ratios and appended as JSON lines to ``bench-data/results.jsonl``.
Disk: about 12 GB under ``bench-data/`` for the main cases (inputs, plus the
outputs of one measurement at a time), 7 GB more for ``layouts``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
DATA = Path(os.environ.get("TILEDPROC_BENCH_DATA", ROOT / "bench-data"))

from benchcases import CASES  # noqa: E402


# Measurements that read what the measurement just before them wrote under out/.
CHECKS = {"accuracy", "recolor_accuracy", "palette_check", "resume_check", "verify"}


def measure(case: str, name: str, args: dict) -> dict:
    """Run one measurement in a child process; returns its JSON record.

    Before every measurement but a check, what earlier ones wrote under
    ``out/`` is deleted (untimed): a full run writes over 60 GB otherwise.
    """
    if name not in CHECKS:
        shutil.rmtree(DATA / "out", ignore_errors=True)
    os.sync()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case, name, json.dumps(args)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"case": case, "name": name, "error": (r.stderr or r.stdout).strip().splitlines()[-1:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def child(case: str, name: str, args: dict) -> None:
    from benchcases import MEASUREMENTS

    func = MEASUREMENTS[case][name]
    start = time.perf_counter()
    extra = func(DATA, **args) or {}
    seconds = extra.pop("seconds", time.perf_counter() - start)
    rss = peak_rss()
    print(json.dumps({"case": case, "name": name, "seconds": seconds, "peak_rss": rss, **args, **extra}))


def peak_rss() -> int:
    """This process's peak resident set size, in bytes.

    VmHWM belongs to the address space made by exec, so it is this child's own;
    getrusage's ru_maxrss is not: Linux carries it over exec from the forked
    parent, so every child would report at least the driver's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", help="cases to run (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], json.loads(a.child[2]))
        return
    if a.list:
        for name, case in CASES.items():
            print(f"{name}: {case.__doc__.strip().splitlines()[0]}")
        return
    DATA.mkdir(exist_ok=True)
    chosen = a.cases or list(CASES)
    header = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.machine(), "cpus": os.cpu_count(),
              "python": platform.python_version()}
    print(f"# tiledproc benchmark {header}")
    with open(DATA / "results.jsonl", "a") as log:
        for name in chosen:
            if name not in CASES:
                sys.exit(f"unknown case {name!r}; --list shows them")
            for record in CASES[name](DATA, measure):
                record.update(header)
                log.write(json.dumps(record) + "\n")
                log.flush()


if __name__ == "__main__":
    main()
