"""Execution: run a task graph on a scheduler and report each finished task to the driver.

:mod:`.schedulers` (local threads, processes, distributed clusters),
:mod:`.local` (the scan-order local executor), :mod:`.jobqueue` (SLURM and
PBS through dask-jobqueue) and :mod:`.progress`. Nothing here knows about
storage.
"""
