"""The codecs an output can be written with, chosen explicitly by name.

``lz4`` is the default. On this project's benchmark (16 x 5000 x 5000
float32, noisy bands) it costs almost nothing to encode and decode, so
reading, computing and writing stay overlapped on two cores, while zstd
spends more CPU than the bytes it saves (see docs/benchmarks.md).
"""

from __future__ import annotations

from zarr.codecs import BloscCodec, ZstdCodec

from ..errors import InvalidParameterError

__all__ = ["CODECS", "DEFAULT_CODEC", "compressors_for"]

#: name -> a zarr v3 compressor factory (None: stored raw).
CODECS = {
    "lz4": lambda: BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
    "zstd": lambda: BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),
    "zstd-1": lambda: BloscCodec(cname="zstd", clevel=1, shuffle="shuffle"),
    "zstd-plain": lambda: ZstdCodec(level=3),
    "none": lambda: None,
}

DEFAULT_CODEC = "lz4"


def compressors_for(name: str, zarr_format: int = 3):
    """The ``compressors=`` argument of ``zarr.create_array`` for codec ``name`` (Zarr v2:
    the numcodecs compressor of the same Blosc configuration)."""
    if name not in CODECS:
        raise InvalidParameterError(
            f"Expected codec to be one of {', '.join(repr(c) for c in CODECS)}, got {name!r} instead."
        )
    codec = CODECS[name]()
    if zarr_format == 2 and codec is not None:
        import numcodecs

        if not isinstance(codec, BloscCodec):
            raise InvalidParameterError(f"Codec {name!r} has no Zarr v2 form tiledproc writes; use lz4, zstd, "
                                        f"zstd-1 or none with zarr_format 2.", param="codec")
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[codec.shuffle.value]
        return (numcodecs.Blosc(cname=codec.cname.value, clevel=codec.clevel, shuffle=shuffle),)
    return () if codec is None else (codec,)
