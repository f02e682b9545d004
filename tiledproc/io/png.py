"""A minimal PNG writer (8-bit grey or RGB, with or without alpha), standard library only."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["write_png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


#: channels of the last axis -> PNG colour type: grey, grey + alpha, RGB, RGBA
_COLOUR_TYPES = {2: 4, 3: 2, 4: 6}


def write_png(path, image: np.ndarray) -> Path:
    """Write ``image`` ((H, W) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB or (H, W, 4) RGBA, uint8)
    as a PNG file."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim == 2:
        color, channels = 0, 1
    elif image.ndim == 3 and image.shape[2] in _COLOUR_TYPES:
        color, channels = _COLOUR_TYPES[image.shape[2]], image.shape[2]
    else:
        raise ValueError(f"expected (H, W) or (H, W, 2|3|4), got {image.shape}")
    h, w = image.shape[:2]
    rows = image.reshape(h, w * channels)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0 per row
    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) \
        + _chunk(b"IEND", b"")
    path = Path(path)
    path.write_bytes(data)
    return path
