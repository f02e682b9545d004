"""Temporary alias while the modules move (tiledproc.graph.overlap); removed before this change lands."""

from ..graph.overlap import *  # noqa: F401,F403
from ..graph.overlap import HALO_PIECE, apply_overlap, is_dask  # noqa: F401
