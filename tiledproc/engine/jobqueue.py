"""SLURM and PBS clusters through dask-jobqueue, from a pipeline's ``[cluster]`` table.

::

    [cluster]
    type = "slurm"              # or "pbs"
    cores = 8                   # per job
    memory = "32GB"             # per job
    processes = 2               # worker processes per job (default 1)
    walltime = "02:00:00"
    queue = "normal"            # optional
    account = "myproject"       # optional
    jobs = 4                    # jobs kept running (default 1)
    maximum_jobs = 8            # adapt up to this many (default: jobs)
    job_extra_directives = ["--exclusive"]
    job_script_prologue = ["module load python"]
    local_directory = "$TMPDIR"
    log_directory = "dask-logs"
    interface = "ib0"

Workers are started with ``--lifetime`` a few minutes shorter than the
walltime (and staggered), so they hand their work over and leave before the
queue kills them; the cluster adapts between ``jobs`` and ``maximum_jobs``,
so a job that ends is replaced and the run goes on.
"""

from __future__ import annotations

import re

from ..errors import ClusterError, ConfigError

__all__ = ["check_cluster_config", "cluster_kwargs", "make_cluster", "job_script"]

KEYS = {
    "type": str,
    "cores": int,
    "memory": str,
    "processes": int,
    "walltime": str,
    "queue": str,
    "account": str,
    "jobs": int,
    "maximum_jobs": int,
    "job_extra_directives": list,
    "job_script_prologue": list,
    "local_directory": str,
    "log_directory": str,
    "interface": str,
    "python": str,
    "job_name": str,
}
REQUIRED = ("type", "cores", "memory")
TYPES = ("slurm", "pbs")
MARGIN_MIN = 5  # minutes between a worker's planned exit and the walltime kill


def _err(key, message) -> ConfigError:
    e = ConfigError(message)
    e.key = key
    return e


def _minutes(walltime: str) -> int:
    """'HH:MM:SS' or 'D-HH:MM:SS' -> whole minutes."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{2}):(\d{2})", walltime.strip())
    if not m:
        raise _err("walltime", f"expected HH:MM:SS or D-HH:MM:SS, got {walltime!r}.")
    days, hours, minutes, _ = m.groups()
    return int(days or 0) * 1440 + int(hours) * 60 + int(minutes)


def check_cluster_config(cfg: dict) -> None:
    for key, value in cfg.items():
        if key not in KEYS:
            raise _err(key, f"unknown key; expected one of {', '.join(sorted(KEYS))}.")
        kind = KEYS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _err(key, f"expected {kind.__name__}, got {value!r}.")
        if kind is list and not all(isinstance(v, str) for v in value):
            raise _err(key, f"expected a list of strings, got {value!r}.")
        if kind is int and value < 1:
            raise _err(key, f"expected a positive integer, got {value!r}.")
    for key in REQUIRED:
        if key not in cfg:
            raise _err(key, f"missing; a job-queue cluster needs {', '.join(REQUIRED)}.")
    if cfg["type"] not in TYPES:
        raise _err("type", f"expected 'slurm' or 'pbs', got {cfg['type']!r}.")
    if "walltime" in cfg and _minutes(cfg["walltime"]) <= 2 * MARGIN_MIN:
        raise _err("walltime", f"expected more than {2 * MARGIN_MIN} minutes, got {cfg['walltime']!r}.")
    if cfg.get("maximum_jobs", cfg.get("jobs", 1)) < cfg.get("jobs", 1):
        raise _err("maximum_jobs", "expected maximum_jobs >= jobs.")


def cluster_kwargs(cfg: dict) -> dict:
    """Keyword arguments of the dask-jobqueue cluster class."""
    check_cluster_config(cfg)
    walltime = cfg.get("walltime", "01:00:00")
    total = _minutes(walltime)
    lifetime = total - MARGIN_MIN
    stagger = max(1, min(4, lifetime // 10))
    kw = {
        "cores": cfg["cores"],
        "memory": cfg["memory"],
        "processes": cfg.get("processes", 1),
        "walltime": walltime,
        "worker_extra_args": ["--lifetime", f"{lifetime}m", "--lifetime-stagger", f"{stagger}m"],
        "job_extra_directives": list(cfg.get("job_extra_directives", [])),
        "job_script_prologue": list(cfg.get("job_script_prologue", [])),
        "job_name": cfg.get("job_name", "tiledproc-worker"),
        "scheduler_options": {"dashboard_address": ":0"},
    }
    for key in ("queue", "account", "local_directory", "log_directory", "interface", "python"):
        if key in cfg:
            kw[key] = cfg[key]
    return kw


def _cluster_class(kind: str):
    try:
        import dask_jobqueue
    except ImportError as e:
        raise ClusterError(
            "A [cluster] section needs dask-jobqueue: pip install 'tiledproc[hpc]'."
        ) from e
    return {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]


def make_cluster(cfg: dict):
    """Start the job-queue cluster and keep between ``jobs`` and ``maximum_jobs`` jobs."""
    cls = _cluster_class(cfg["type"])
    cluster = cls(**cluster_kwargs(cfg))
    jobs = cfg.get("jobs", 1)
    cluster.adapt(minimum_jobs=jobs, maximum_jobs=cfg.get("maximum_jobs", jobs))
    return cluster


def job_script(cfg: dict) -> str:
    """The batch script each worker job would run (starts and stops a local scheduler)."""
    cls = _cluster_class(cfg["type"])
    cluster = cls(**cluster_kwargs(cfg))
    try:
        return cluster.job_script()
    finally:
        cluster.close()
