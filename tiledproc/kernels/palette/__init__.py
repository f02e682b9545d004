"""Exact nearest palette colour of every pixel of one block, and the median cut.

Pure numpy/numba; nothing else from tiledproc. The modules, each one job:

- :mod:`.plan`: numpy's summation order as a plan, and the distances that follow it;
- :mod:`.kdtree`: the palette's k-d tree (candidates of a box, exact search of a point);
- :mod:`.scan`: the sorted scan of a tile's candidates, and the box cut in parts;
- :mod:`.solve`: the nearest colour of a set of points (picks the search);
- :mod:`.nearest`: the block function, :class:`PreparedPalette`, the float tiles;
- :mod:`.lut`: the answer caches of integer images (lookup table, distinct colours);
- :mod:`.morton`: Morton order of packed colours;
- :mod:`.median_cut`: the sample, the median cut, the Lloyd sums.

Names without a leading underscore in those modules are shared inside this
package; the public ones are re-exported here.

The compiled functions keep ``cache=True``. numba caches per file and does not
notice that a function called from another file has changed (numba/numba#1833):
after editing one of these modules, delete ``tiledproc/kernels/palette/__pycache__``
(or set ``NUMBA_CACHE_DIR`` to a fresh directory) before testing or measuring.
No function here may call itself: numba cannot load a recursive function from
its cache (numba/numba#6061).

Exactness
---------
The reference is the float64 argmin of the squared distances::

    d = ((x[..., None, :].astype(float64) - palette.astype(float64)) ** 2).sum(-1)
    np.argmin(d, axis=-1)

``sum(-1)`` adds the ``C`` squared differences in numpy's pairwise order
(``numpy/_core/src/umath/loops_utils.h.src``: left to right below 8 terms,
eight running sums combined as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))`` plus
the leftovers up to 128 terms, halves above). :func:`sum_plan` writes that
order down once per channel count as a list of additions, and every distance
here is computed by that plan, so it is the reference's float64 value bit for
bit; the smallest wins and ties go to the lowest palette index.

Speed
-----
Pixels are taken in spatial tiles (32 x 32: neighbours have similar colours).
For each tile, a k-d tree over the palette gives the colours that can be
nearest to *some* point of the tile's bounding box: a colour whose smallest
possible distance to the box exceeds the largest distance from the box to
some other colour is dropped (with a relative margin of 1e-9, far above
float64 rounding, so rounding can never drop the true argmin or a tied
colour). Below 8 channels, each pixel then scans those candidates by
increasing distance from the box centre and stops at the first one that the
triangle inequality proves too far; with many candidates (noisy pixels, a
dense palette) the box is first cut in 2**C parts at its centre, twice for
parts that still have many, each part keeping its own candidates (C <= 4).
From 8 channels on, the tile's pixels are compared with every candidate in
vectorised loops over the pixels (the sums follow the plan). A tile with more
than ``CAP`` candidates (a large palette) is solved pixel by pixel with an
exact k-d tree search seeded with the previous pixel's colour.

Non-finite pixels get index 0, as in the reference (every distance is NaN
or inf, and argmin returns the first). Pixels with a magnitude of 1e150 or
more, whose squares could overflow, are compared with every colour.

Integer images have few distinct colours: they are solved once each, through a
process-wide answer cache per palette or the block's distinct colours (:mod:`.lut`).

Compiled functions that sit in hot loops are built with ``_nrt=False``: numba's
reference counting costs two atomic operations per array argument per call,
which was half the run time of the first version.
"""

from .lut import LUT_MAX
from .median_cut import cluster_sums, lloyd_update, median_cut, merge_samples, sample_block, sample_threshold
from .nearest import CAP, PARTS_MIN, SCAN_MIN, TILE, PreparedPalette, nearest_block, prepare_palette
from .plan import sum_plan
from .solve import UNIQUE_TILE

__all__ = [
    "sum_plan",
    "PreparedPalette",
    "prepare_palette",
    "nearest_block",
    "median_cut",
    "sample_threshold",
    "sample_block",
    "merge_samples",
    "cluster_sums",
    "lloyd_update",
]
