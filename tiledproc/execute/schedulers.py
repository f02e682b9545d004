"""Run a list of write tasks on the chosen scheduler, reporting each as it ends.

Whatever the scheduler, the driver learns about every finished task in its
own thread (a dask callback on local schedulers, ``as_completed`` on a
cluster) and calls ``on_done(i, result)``: that is where the completion
record and the progress bar are fed, never from a worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import dask
import dask.multiprocessing
from dask.base import collections_to_expr
from dask.callbacks import Callback
from dask.optimization import cull

from ..errors import ClusterError, InvalidParameterError
from ..limits import default_workers
from .local import run_in_order

__all__ = ["SchedulerSpec", "parse_scheduler", "open_executor", "Executor", "build_graph", "default_workers"]

log = logging.getLogger("tiledproc")

LOCAL_KINDS = ("threads", "processes", "synchronous")


@dataclass(frozen=True)
class SchedulerSpec:
    """Where tasks run.

    kind : ``threads`` (default), ``processes``, ``synchronous``,
        ``local-cluster`` (a ``distributed.LocalCluster`` of ``workers``
        processes), ``address`` (an existing cluster at ``address``) or
        ``jobqueue`` (SLURM/PBS through dask-jobqueue, from ``cluster``).
    """

    kind: str = "threads"
    workers: int | None = None
    address: str | None = None
    cluster: dict = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "local-cluster":
            return f"distributed LocalCluster with {self.workers} worker processes"
        if self.kind == "address":
            return f"distributed cluster at {self.address}"
        if self.kind == "jobqueue":
            return f"{self.cluster.get('type', '?').upper()} job queue via dask-jobqueue"
        n = self.workers or default_workers()
        return "synchronous (one thread)" if self.kind == "synchronous" else f"local {self.kind} ({n} worker{'s' if n != 1 else ''})"


def parse_scheduler(scheduler: str | None = None, cluster: str | None = None,
                    cluster_config: dict | None = None, workers: int | None = None) -> SchedulerSpec:
    """Normalise the ``--scheduler`` / ``--cluster`` / ``--threads`` options and a ``[cluster]`` section.

    ``workers`` (``--threads``, ``threads=``) is the number of local threads or
    processes; by default :func:`tiledproc.limits.default_workers`.
    """
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 4096:
            raise InvalidParameterError(
                f"Expected threads (--threads) to be a number of local workers from 1 to 4096, got {workers!r} "
                f"instead.", param="threads",
            )
    if isinstance(scheduler, SchedulerSpec):  # already parsed (a command hands it on)
        return dataclasses.replace(scheduler, workers=workers) if workers is not None else scheduler
    given = [x for x in (scheduler, cluster) if x]
    if len(given) > 1:
        raise InvalidParameterError(
            f"Expected one of --scheduler and --cluster, got both ({scheduler!r}, {cluster!r})."
        )
    if cluster:
        kind, _, n = cluster.partition(":")
        if kind != "local":
            raise InvalidParameterError(
                f"Expected --cluster local:N (N worker processes), got {cluster!r} instead; "
                f"for SLURM or PBS use a [cluster] section in the pipeline file."
            )
        try:
            n_workers = int(n) if n else default_workers()
        except ValueError:
            n_workers = 0
        limit = 4 * max(os.cpu_count() or 1, default_workers())
        if not 1 <= n_workers <= limit:
            raise InvalidParameterError(
                f"Expected --cluster local:N with 1 <= N <= {limit} (4 worker processes per CPU of this machine), "
                f"got {cluster!r} instead."
            )
        return SchedulerSpec("local-cluster", workers=n_workers)
    if scheduler:
        if "://" in scheduler:
            return SchedulerSpec("address", address=scheduler)
        alias = {"sync": "synchronous", "single-threaded": "synchronous", "threading": "threads",
                 "multiprocessing": "processes"}
        kind = alias.get(scheduler, scheduler)
        if kind not in LOCAL_KINDS:
            raise InvalidParameterError(
                f"Expected scheduler (--scheduler) to be threads, processes, synchronous or an address such as "
                f"tcp://host:8786, got {scheduler!r} instead."
            )
        return SchedulerSpec(kind, workers=workers)
    if cluster_config:
        return SchedulerSpec("jobqueue", cluster=dict(cluster_config))
    return SchedulerSpec("threads", workers=workers)


def build_graph(collections: Sequence, keys: Sequence) -> dict:
    """One optimised task graph for ``collections``, culled to what ``keys`` need.

    Optimising the collections together (as ``dask.compute`` does) keeps the
    tasks they share single; culling leaves out the chunks already done.
    """
    expr = collections_to_expr(list(collections), True).optimize()
    dsk, _ = cull(dict(expr.__dask_graph__()), list(keys))
    return dsk


class Executor:
    """Runs a task graph; ``dashboard`` is the dashboard address on a cluster."""

    dashboard: str | None = None

    def run(self, dsk: dict, keys: Sequence, on_done: Callable[[int, object], None]) -> None:  # pragma: no cover
        raise NotImplementedError

    def run_windows(self, windows) -> None:
        """Run ``(dsk, keys, on_done)`` items one after another (each as :meth:`run`);
        ``windows`` is an iterator, so a window's graph is made only when it is run."""
        for dsk, keys, on_done in windows:
            self.run(dsk, keys, on_done)


class _LocalExecutor(Executor):
    def __init__(self, kind: str, workers: int | None):
        self.kind = kind
        self.workers = workers

    def run(self, dsk, keys, on_done):
        if self.kind != "processes":
            # our own scan-order scheduler: see tiledproc.execute.local
            workers = 1 if self.kind == "synchronous" else (self.workers or default_workers())
            run_in_order(dsk, list(keys), on_done, workers)
            return
        index = {k: i for i, k in enumerate(keys)}

        def posttask(key, result, dsk, state, worker_id):
            i = index.get(key)
            if i is not None:
                on_done(i, result)

        with Callback(posttask=posttask):
            dask.multiprocessing.get(dsk, list(keys), num_workers=self.workers or default_workers())


class _DistributedExecutor(Executor):
    def __init__(self, client):
        self.client = client
        self.dashboard = getattr(client, "dashboard_link", None)

    def run(self, dsk, keys, on_done):
        from distributed import as_completed

        futures = self.client.get(dsk, list(keys), sync=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            # this client's loop, not the default client's (another client may be the default)
            for future in as_completed(futures, loop=self.client.loop):
                result = future.result()  # re-raises a task's exception here, in the driver
                on_done(index[future.key], result)
                future.release()
        except BaseException:
            self.client.cancel(futures)
            raise

    def run_windows(self, windows) -> None:
        """Two windows in flight: the next window's graph goes to the scheduler as soon as
        the one before it is submitted, so workers do not idle at each window's tail; the
        driver holds two windows' graphs and futures. A key two windows share (the edge cut
        of a chunk on their border) is computed once by the scheduler and is the same value
        whichever window's task computes it."""
        from distributed import as_completed

        ac = as_completed(loop=self.client.loop)  # this client's loop, not the default client's
        owner: dict = {}
        left: list = []  # futures still running, per window in flight
        it = iter(windows)

        def submit() -> bool:
            item = next(it, None)
            if item is None:
                return False
            dsk, keys, on_done = item
            futures = self.client.get(dsk, list(keys), sync=False)
            slot = len(left)
            left.append(len(futures))
            for i, f in enumerate(futures):
                owner[f] = (on_done, i, slot)
                ac.add(f)
            return True

        more = submit() and submit()
        try:
            for future in ac:
                on_done, i, slot = owner.pop(future)
                result = future.result()  # re-raises a task's exception here, in the driver
                on_done(i, result)
                future.release()
                left[slot] -= 1
                if not left[slot] and more:
                    more = submit()
        except BaseException:
            self.client.cancel(list(owner))
            raise


def _jobqueue_cluster(config: dict):
    from .jobqueue import make_cluster

    return make_cluster(config)


@contextlib.contextmanager
def open_executor(spec: SchedulerSpec) -> Iterator[Executor]:
    """Start (and afterwards stop) what ``spec`` asks for."""
    if spec.kind in LOCAL_KINDS:
        yield _LocalExecutor(spec.kind, spec.workers)
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - distributed is a core dependency
        raise ClusterError("dask.distributed is not installed: pip install 'dask[distributed]'.") from e
    cluster = None
    try:
        if spec.kind == "local-cluster":
            cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            client = Client(cluster)
        elif spec.kind == "address":
            try:
                client = Client(spec.address, timeout="10s")
            except (OSError, TimeoutError) as e:
                raise ClusterError(
                    f"Cannot reach the dask scheduler at {spec.address}: {e}. "
                    f"Check the address and that the scheduler is running."
                ) from e
        else:
            cluster = _jobqueue_cluster(spec.cluster)
            client = Client(cluster)
    except ClusterError:
        raise
    except Exception as e:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"Could not start the {spec.describe()}: {e}") from e
    try:
        yield _DistributedExecutor(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
