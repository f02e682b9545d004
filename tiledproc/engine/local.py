"""Temporary alias while the modules move (tiledproc.execute.local); removed before this change lands."""

from ..execute.local import run_in_order  # noqa: F401
