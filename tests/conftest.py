import contextlib

import dask
import numpy as np
import pytest
from dask.callbacks import Callback


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


class _RaiseOnCompute(Callback):
    def _start(self, dsk):
        raise AssertionError("building the graph computed something")


@contextlib.contextmanager
def raise_if_dask_computes():
    """Fail if anything is computed inside the block (graph building must be lazy)."""
    with _RaiseOnCompute():
        yield


@pytest.fixture(autouse=True)
def _synchronous_default():
    # numeric checks run with the synchronous scheduler for clear tracebacks
    with dask.config.set(scheduler="synchronous"):
        yield
