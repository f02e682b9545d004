"""The palette operations' defaults and limits, importable without dask or numba.

The pipeline catalogue (and so the ``tiledproc`` command's ``--help``) shows
``SAMPLE_SIZE`` as a default; this module lets it do so without loading the
operations themselves.
"""

__all__ = ["SAMPLE_SIZE", "MAX_COLORS", "MAX_SAMPLE_SIZE", "MAX_REFINE"]

#: pixels sampled for the cut by default (every pixel of smaller images)
SAMPLE_SIZE = 1 << 20
#: the most colours of a palette (given or cut): its tables (colours, k-d tree) and the
#: scratch of every task that maps pixels to it take about (32 C + 84) bytes per colour,
#: 180 MiB for RGB at this limit
MAX_COLORS = 1 << 20
#: the largest sample: it is cut in one task, (8 C + 8) bytes per pixel, twice while it
#: is put in pixel order (0.5 GiB for RGB at this limit, 16 x the default)
MAX_SAMPLE_SIZE = 1 << 24
#: the most Lloyd iterations: each reads the whole image once more and adds a task per
#: chunk to the graph; the palette settles in a few tens
MAX_REFINE = 100
