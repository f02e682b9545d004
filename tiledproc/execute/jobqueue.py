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
    start_timeout = "01:00:00"  # give up when no worker has joined by then (default 1 hour)
    local_directory = "$TMPDIR"
    log_directory = "dask-logs"
    interface = "ib0"
    job_name = "tiledproc-worker"
    # shell code: a pipeline file may use these only with --allow-shell
    job_extra_directives = ["--exclusive"]
    job_script_prologue = ["module load python"]
    python = "/path/to/python"

Workers are started with ``--lifetime`` a few minutes shorter than the
walltime (and staggered), so they hand their work over and leave before the
queue kills them; the cluster adapts between ``jobs`` and ``maximum_jobs``,
so a job that ends is replaced and the run goes on.

Shell code
----------
dask-jobqueue writes the batch script by pasting values into it unquoted,
and the queue then runs it on the cluster under the user's account. So every
key is either checked against a strict pattern or counts as shell code:

- ``job_script_prologue`` (lines the shell runs before the worker),
  ``job_extra_directives`` (``#SBATCH``/``#PBS`` lines: they can redirect
  files or export variables, and a newline in one starts a shell line) and
  ``python`` (the program every job runs) are *shell keys*. A pipeline file
  may use them only with ``--allow-shell`` (``RunOptions.allow_shell``);
  without it the run stops before any work with a
  :class:`~tiledproc.errors.ConfigError` naming the key, and with it the
  lines they add are logged as a warning just before the jobs are submitted.
  Python code calling :func:`make_cluster` directly is trusted (it could run
  anything anyway) and is not asked.
- ``job_name``, ``queue``, ``account``, ``walltime``, ``memory``,
  ``log_directory``, ``local_directory`` and ``interface`` land in the
  script too, so they must match strict patterns (letters, digits and a few
  punctuation marks; ``local_directory`` may also use ``$NAME``/``${NAME}``
  variables and a leading ``~``, which the shell expands but cannot turn
  into commands); ``memory`` must be a size such as ``32GB``. The integer
  keys are bounded.

``tiledproc run FILE --job-script`` prints the batch script exactly as it
would be submitted, unchanged (so that it can be read or saved and submitted
by hand), whether or not ``--allow-shell`` is given: printing runs nothing.
The lines that come from shell keys are not marked inside the script (a
comment appended to a shell or directive line could change its meaning);
instead they are listed, each with its key, in a warning on stderr.

Starting
--------
:func:`make_cluster` first checks that the submit command (``sbatch`` for
SLURM, ``qsub`` for PBS) is on ``PATH`` and raises a one-line
:class:`~tiledproc.errors.ClusterError` otherwise (this machine is not a
submit host: use ``--cluster local:N`` or ``--scheduler tcp://...``);
``tiledproc run`` makes the same check before any output is created. It then
submits ``jobs`` jobs and waits for the first worker to join, logging every
minute how long it has waited and which jobs are pending. dask-jobqueue
itself would wait forever; the wait is bounded by ``start_timeout``
(default one hour) through ``distributed``'s ``Cluster.wait_for_workers``,
after which the jobs are cancelled and a ClusterError says so. Once the run
has workers, a job that ends is replaced and the run waits for it.
"""

from __future__ import annotations

import logging
import re
import shutil
import time

from ..errors import ClusterError, ConfigError

__all__ = ["check_cluster_config", "cluster_kwargs", "make_cluster", "job_script", "SHELL_KEYS",
           "shell_lines", "check_shell_keys", "check_submit_command"]

log = logging.getLogger("tiledproc")

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
    "start_timeout": str,
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
SUBMIT = {"slurm": "sbatch", "pbs": "qsub"}
MARGIN_MIN = 5  # minutes between a worker's planned exit and the walltime kill
DEFAULT_START_TIMEOUT = "01:00:00"
WAIT_LOG_SECONDS = 60  # how often the wait for the first worker is logged

#: keys whose values become shell code (or queue directives) in the batch script
SHELL_KEYS = {
    "job_script_prologue": "its lines are run by the shell at the start of every worker job",
    "job_extra_directives": "its lines become #SBATCH/#PBS directives of every worker job, which can "
                            "redirect files or export variables (and a newline in one starts a shell line)",
    "python": "it is the program every worker job runs, pasted unquoted into the shell command",
}

#: integer keys: (smallest, largest)
INT_RANGE = {"cores": (1, 4096), "processes": (1, 4096), "jobs": (1, 10000), "maximum_jobs": (1, 10000)}

_WORD = r"[A-Za-z0-9_][A-Za-z0-9_.+\-]*"
_VAR = r"\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\}"
#: keys pasted into the script unquoted: (pattern, what it allows)
PATTERNS = {
    "job_name": (re.compile(rf"{_WORD}"), "at most 64 letters, digits and _ . + - (not starting with . + -)"),
    "queue": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+,@\-]*"), "letters, digits and _ . + , @ -"),
    "account": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@\-]*"), "letters, digits and _ . + @ -"),
    "interface": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*"), "a network interface name such as ib0"),
    "log_directory": (re.compile(r"[A-Za-z0-9_./+,=][A-Za-z0-9_./+,=\-]*"),
                      "a path of letters, digits and _ . / + , = - (no spaces, ~ or $)"),
    "local_directory": (re.compile(rf"~?(?!-)(?:[A-Za-z0-9_./+,=\-]|{_VAR})+"),
                        "a path of letters, digits and _ . / + , = -, with $NAME or ${NAME} variables "
                        "and a leading ~ allowed"),
}
MAX_LENGTH = {"job_name": 64, "interface": 15}
_TIME = re.compile(r"(?:(\d{1,3})-)?(\d{1,4}):([0-5]\d):([0-5]\d)")
_MEMORY = re.compile(r"(\d{1,12}(?:\.\d{1,6})?) ?([KkMmGgTtPp]i?)?[Bb]?")
MEMORY_RANGE = (2**20, 2**60)  # 1 MiB .. 1 EiB per job


def _err(key, message) -> ConfigError:
    e = ConfigError(message)
    e.key = key
    return e


def _seconds(value: str, key: str) -> int:
    """'HH:MM:SS' or 'D-HH:MM:SS' -> seconds."""
    m = _TIME.fullmatch(value)
    if not m:
        raise _err(key, f"expected HH:MM:SS or D-HH:MM:SS, got {value!r}.")
    days, hours, minutes, seconds = m.groups()
    return ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)


def _minutes(walltime: str) -> int:
    """'HH:MM:SS' or 'D-HH:MM:SS' -> whole minutes."""
    return _seconds(walltime, "walltime") // 60


def _memory_bytes(value: str) -> int:
    from dask.utils import parse_bytes

    m = _MEMORY.fullmatch(value)
    n = None
    if m:
        try:
            n = parse_bytes(value)
        except (ValueError, OverflowError):
            n = None
    if n is None or not MEMORY_RANGE[0] <= n <= MEMORY_RANGE[1]:
        raise _err("memory", f"expected a size per job between 1MiB and 1EiB such as '32GB' or '64GiB', "
                             f"got {value!r}.")
    return n


def check_cluster_config(cfg: dict) -> None:
    """Types, bounds and patterns of every key (shell keys are refused elsewhere: see check_shell_keys)."""
    for key, value in cfg.items():
        if key not in KEYS:
            raise _err(key, f"unknown key; expected one of {', '.join(sorted(KEYS))}.")
        kind = KEYS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _err(key, f"expected {kind.__name__}, got {value!r}.")
        if kind is list and not all(isinstance(v, str) for v in value):
            raise _err(key, f"expected a list of strings, got {value!r}.")
        if kind is int:
            lo, hi = INT_RANGE[key]
            if not lo <= value <= hi:
                raise _err(key, f"expected an integer from {lo} to {hi}, got {value!r}.")
        if key in PATTERNS:
            pattern, allowed = PATTERNS[key]
            if not pattern.fullmatch(value) or len(value) > MAX_LENGTH.get(key, 4096):
                raise _err(key, f"{value!r} would be pasted unquoted into the batch script; "
                                f"expected {allowed}.")
    for key in REQUIRED:
        if key not in cfg:
            raise _err(key, f"missing; a job-queue cluster needs {', '.join(REQUIRED)}.")
    if cfg["type"] not in TYPES:
        raise _err("type", f"expected 'slurm' or 'pbs', got {cfg['type']!r}.")
    _memory_bytes(cfg["memory"])
    if "walltime" in cfg and _minutes(cfg["walltime"]) <= 2 * MARGIN_MIN:
        raise _err("walltime", f"expected more than {2 * MARGIN_MIN} minutes, got {cfg['walltime']!r}.")
    if "start_timeout" in cfg and _seconds(cfg["start_timeout"], "start_timeout") < 1:
        raise _err("start_timeout", f"expected at least one second, got {cfg['start_timeout']!r}.")
    if cfg.get("processes", 1) > cfg["cores"]:
        raise _err("processes", f"expected at most cores ({cfg['cores']}) worker processes per job, "
                                f"got {cfg['processes']}.")
    if cfg.get("maximum_jobs", cfg.get("jobs", 1)) < cfg.get("jobs", 1):
        raise _err("maximum_jobs", "expected maximum_jobs >= jobs.")


def shell_lines(cfg: dict) -> dict[str, list[str]]:
    """The shell keys of ``cfg`` and, for each, the lines it puts into the batch script."""
    prefix = "#PBS " if cfg.get("type") == "pbs" else "#SBATCH "
    out = {}
    if cfg.get("job_extra_directives"):
        out["job_extra_directives"] = [prefix + line for d in cfg["job_extra_directives"] for line in d.split("\n")]
    if cfg.get("job_script_prologue"):
        out["job_script_prologue"] = [line for p in cfg["job_script_prologue"] for line in p.split("\n")]
    if "python" in cfg:
        out["python"] = [f"{cfg['python']} -m distributed.cli.dask_worker ..."]
    return out


def check_shell_keys(cfg: dict, source: str, *, allow_shell: bool) -> None:
    """Refuse the shell keys of a pipeline file's ``[cluster]`` unless ``allow_shell``."""
    keys = list(shell_lines(cfg))
    if not keys or allow_shell:
        return
    key, others = keys[0], keys[1:]
    also = f"; so do {', '.join(repr(k) for k in others)}" if others else ""
    raise ConfigError.at(
        source, "cluster", key,
        f"{SHELL_KEYS[key]}, so the pipeline file could run any command under your account{also}",
        hint=f"review the script with `tiledproc run {source} --job-script`, then pass --allow-shell",
    )


def log_shell_lines(cfg: dict, why: str) -> None:
    """One warning per shell key, with the lines it adds to the batch script."""
    for key, lines in shell_lines(cfg).items():
        log.warning("[cluster] %s %s:\n%s", key, why, "\n".join(f"    {line}" for line in lines))


def check_submit_command(cfg: dict) -> str:
    """The path of ``sbatch``/``qsub``; a ClusterError when this machine has none."""
    kind = cfg.get("type", "slurm")
    command = SUBMIT.get(kind, "sbatch")
    path = shutil.which(command)
    if path is None:
        raise ClusterError(
            f"The [cluster] section submits {kind.upper()} jobs with {command}, which is not on PATH: "
            f"this machine is not a {kind.upper()} submit host; run there, or use --cluster local:N "
            f"(worker processes here) or --scheduler tcp://HOST:PORT (a running dask cluster)."
        )
    return path


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


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _wait_for_first_worker(cluster, cfg: dict) -> None:
    limit = _seconds(cfg.get("start_timeout", DEFAULT_START_TIMEOUT), "start_timeout")
    kind = cfg["type"].upper()
    status = "squeue -u $USER" if cfg["type"] == "slurm" else "qstat -u $USER"
    start = time.monotonic()
    while True:
        waited = time.monotonic() - start
        try:
            cluster.wait_for_workers(1, timeout=max(0.1, min(WAIT_LOG_SECONDS, limit - waited)))
            if waited >= WAIT_LOG_SECONDS:
                log.info("the first worker joined after %s", _clock(time.monotonic() - start))
            return
        except TimeoutError:
            pass
        waited = time.monotonic() - start
        jobs = ", ".join(str(j.job_id) for j in getattr(cluster, "workers", {}).values() if j.job_id) or "none yet"
        if waited >= limit:
            raise ClusterError(
                f"No dask worker joined within start_timeout = {cfg.get('start_timeout', DEFAULT_START_TIMEOUT)!r} "
                f"({kind} jobs {jobs}, now cancelled): the jobs may still be queued ({status}) or fail at start "
                f"(see their logs{', in ' + cfg['log_directory'] if 'log_directory' in cfg else ''}); "
                f"raise [cluster] start_timeout to wait longer."
            )
        log.info("waiting for the first dask worker: %s jobs %s submitted, none joined after %s "
                 "(giving up after %s; %s shows the queue)", kind, jobs, _clock(waited), _clock(limit), status)


def make_cluster(cfg: dict):
    """Start the job-queue cluster, keep between ``jobs`` and ``maximum_jobs`` jobs, and
    wait (at most ``start_timeout``) for the first worker."""
    check_cluster_config(cfg)
    check_submit_command(cfg)
    cls = _cluster_class(cfg["type"])
    log_shell_lines(cfg, "adds these lines to every batch script")
    cluster = cls(**cluster_kwargs(cfg))
    try:
        jobs = cfg.get("jobs", 1)
        cluster.adapt(minimum_jobs=jobs, maximum_jobs=cfg.get("maximum_jobs", jobs))
        _wait_for_first_worker(cluster, cfg)
    except BaseException:
        cluster.close()
        raise
    return cluster


def job_script(cfg: dict) -> str:
    """The batch script each worker job would run (starts and stops a local scheduler)."""
    cls = _cluster_class(cfg["type"])
    cluster = cls(**cluster_kwargs(cfg))
    try:
        return cluster.job_script()
    finally:
        cluster.close()
