"""Morton (Z-order) curve order of packed integer colours: consecutive colours are close,
so the cache paths solve them in tight runs."""

from __future__ import annotations

import numpy as np


def morton(ukeys: np.ndarray, channels: int, shift: int) -> np.ndarray:
    """Order of packed colours along a Morton (Z-order) curve: close colours stay close."""
    mask = np.uint64((1 << shift) - 1)
    code = np.zeros(ukeys.shape[0], dtype=np.uint64)
    vals = [(ukeys >> np.uint64(shift * (channels - 1 - c))) & mask for c in range(channels)]
    out_bit = 0
    for b in range(shift - 1, -1, -1):  # from the most significant bit of every channel
        for c in range(channels):
            bit = (vals[c] >> np.uint64(b)) & np.uint64(1)
            code |= bit << np.uint64(channels * shift - 1 - out_bit)
            out_bit += 1
    return np.argsort(code, kind="stable")
