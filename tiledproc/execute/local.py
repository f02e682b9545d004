"""A local threaded executor that works through a raster in scan order.

dask's local scheduler picks the next task depth-first from whatever just
finished, guided by ``dask.order``'s general heuristics. Here the order is
explicit: the write tasks are given in raster-scan order (band, then chunk
row, then chunk column) and every task gets the position of its first use in
a depth-first walk of those targets. Ready tasks run lowest position first
on a thread pool, and results are dropped as soon as their last dependent
has run. A chunk is therefore read one chunk row ahead of the blocks that
need it as a neighbour, and read once.

What it buys, measured (``scripts/bench.py architecture``, ARCHITECTURE.md):
7-12 % less peak memory than dask's threaded scheduler on the same graph at
1 x 20000^2 (397-405 MiB against 433-455 MiB), nothing at 5000^2, and a
time within the noise of a busy two-core machine (dask's scheduler was
faster in some runs, slower in others). It is kept because that bound, and
the explicit order that the planned row-window execution builds on, are
what the executor is for; the figures say it is not a speed-up.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from dask._task_spec import convert_legacy_graph

from ..graph.overlap import HALO_PIECE

__all__ = ["run_in_order"]


def _is_piece(key) -> bool:
    name = key[0] if isinstance(key, tuple) else key
    return isinstance(name, str) and name.startswith(HALO_PIECE)


def _priorities(deps: dict, targets: Sequence) -> dict:
    """Post-order position of every task reachable from ``targets``, taken in order.

    Halo pieces are placed right after the chunk they are cut from, so a
    chunk read for its neighbours' sake is reduced to small copies at once.
    """
    pieces: dict = {}
    for key, ds in deps.items():
        if _is_piece(key):
            for d in ds:
                pieces.setdefault(d, []).append(key)
    prio: dict = {}

    def place(key):
        prio[key] = len(prio)
        for piece in pieces.get(key, ()):
            if piece not in prio and all(d in prio for d in deps[piece]):
                prio[piece] = len(prio)

    for target in targets:
        if target in prio:
            continue
        stack = [(target, iter(sorted(deps[target], key=str)))]
        on_path = {target}
        while stack:
            key, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                if key not in prio:
                    place(key)
                continue
            if child in prio or child in on_path:
                continue
            on_path.add(child)
            stack.append((child, iter(sorted(deps[child], key=str))))
    return prio


def run_in_order(dsk: dict, targets: Sequence, on_done: Callable[[int, object], None], workers: int = 1) -> None:
    """Compute ``targets`` of ``dsk`` in their order on ``workers`` threads.

    ``on_done(i, result)`` is called in this (the driver's) thread as
    ``targets[i]`` finishes, with its result. An exception in a task cancels what has not started and is
    raised here.
    """
    graph = convert_legacy_graph(dsk)
    deps = {k: set(node.dependencies) for k, node in graph.items()}
    prio = _priorities(deps, targets)
    index = {k: i for i, k in enumerate(targets)}
    dependents: dict = {k: 0 for k in prio}
    waiting: dict = {}
    ready: list = []
    for k in prio:
        for d in deps[k]:
            dependents[d] += 1
        if deps[k]:
            waiting[k] = set(deps[k])
        else:
            heapq.heappush(ready, (prio[k], k))
    users: dict = {}
    for k in prio:
        for d in deps[k]:
            users.setdefault(d, []).append(k)
    cache: dict = {}
    running: dict[Future, object] = {}

    def finish(key, value):
        cache[key] = value
        for user in users.get(key, ()):
            w = waiting[user]
            w.discard(key)
            if not w:
                del waiting[user]
                heapq.heappush(ready, (prio[user], user))
        for d in deps[key]:
            dependents[d] -= 1
            if dependents[d] == 0:
                cache.pop(d, None)
        if key in index:
            cache.pop(key, None)  # a write's result is small (its stored size and checksum)
            on_done(index[key], value)

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="tiledproc")
    try:
        while ready or running:
            while ready and len(running) < max(1, workers):
                _, key = heapq.heappop(ready)
                node = graph[key]
                args = {d: cache[d] for d in deps[key]}
                running[pool.submit(node, args)] = key
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                key = running.pop(future)
                finish(key, future.result())  # raises a task's exception in the driver
        if waiting:  # pragma: no cover - a malformed graph
            raise RuntimeError(f"{len(waiting)} tasks never became ready")
    except BaseException:
        for future in running:
            future.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
