"""Temporary alias while the modules move (tiledproc.jobs.write); removed before this change lands."""

from ..jobs.write import write_outputs, WriteReport  # noqa: F401
