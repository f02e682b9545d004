"""Temporary alias while the modules move (tiledproc.execute.schedulers); removed before this change lands."""

from ..execute.schedulers import SchedulerSpec, build_graph, open_executor, parse_scheduler  # noqa: F401
