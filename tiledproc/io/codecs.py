"""The codecs an output can be written with, chosen explicitly by name.

``lz4`` is the default. On this project's benchmark (16 x 5000 x 5000
float32, noisy bands) it costs almost nothing to encode and decode, so
reading, computing and writing stay overlapped on two cores, while zstd
spends more CPU than the bytes it saves (see docs/benchmarks.md).
"""

from __future__ import annotations

from ..errors import InvalidParameterError

__all__ = ["CODECS", "DEFAULT_CODEC", "compressors_for"]

def _blosc(cname: str, clevel: int):
    def make():
        from zarr.codecs import BloscCodec  # zarr is imported when a store is made, not by the CLI's start

        return BloscCodec(cname=cname, clevel=clevel, shuffle="shuffle")

    return make


def _zstd():
    from zarr.codecs import ZstdCodec

    return ZstdCodec(level=3)


#: name -> a zarr v3 compressor factory (None: stored raw).
CODECS = {
    "lz4": _blosc("lz4", 5),
    "zstd": _blosc("zstd", 3),
    "zstd-1": _blosc("zstd", 1),
    "zstd-plain": _zstd,
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
        from zarr.codecs import BloscCodec

        if not isinstance(codec, BloscCodec):
            raise InvalidParameterError(f"Codec {name!r} has no Zarr v2 form tiledproc writes; use lz4, zstd, "
                                        f"zstd-1 or none with zarr_format 2.", param="codec")
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[codec.shuffle.value]
        return (numcodecs.Blosc(cname=codec.cname.value, clevel=codec.clevel, shuffle=shuffle),)
    return () if codec is None else (codec,)
