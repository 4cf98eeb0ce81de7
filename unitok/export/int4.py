"""Block-wise symmetric 4-bit weight quantisation in the layout of ORT's com.microsoft MatMulNBits (bits=4).

W is [N, K] (the torch Linear.weight layout). Each row is cut into blocks of `block_size` along K (the last block
zero-padded); a block stores round(w / scale) + 8 in 0..15 with scale = max|w| / 7. Two codes share a byte, the
earlier element in the low nibble. With no zero_points input MatMulNBits assumes zero point 8, i.e. symmetric.
"""
from __future__ import annotations

import numpy as np

BITS = 4
ZERO_POINT = 1 << (BITS - 1)  # MatMulNBits' default when the zero_points input is absent
QMAX = ZERO_POINT - 1


def _blocks(w: np.ndarray, block_size: int) -> np.ndarray:
    n, k = w.shape
    kb = -(-k // block_size)
    padded = np.zeros((n, kb * block_size), np.float32)
    padded[:, :k] = w
    return padded.reshape(n, kb, block_size)


def quantize_int4(w: np.ndarray, block_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """W [N, K] float -> (packed uint8 [N, ceil(K/bs), bs/2], scales float32 [N, ceil(K/bs)])."""
    blocks = _blocks(np.asarray(w, np.float32), block_size)
    scales = np.abs(blocks).max(-1) / QMAX
    safe = np.where(scales == 0, 1.0, scales)[..., None]  # all-zero block: codes are all the zero point
    q = (np.clip(np.rint(blocks / safe), -ZERO_POINT, QMAX) + ZERO_POINT).astype(np.uint8)
    packed = q[..., 0::2] | (q[..., 1::2] << 4)
    return packed, scales.astype(np.float32)


def dequantize_int4(packed: np.ndarray, scales: np.ndarray, k: int) -> np.ndarray:
    """Inverse of quantize_int4 (what MatMulNBits multiplies by): -> float32 [N, K]."""
    n, kb, half = packed.shape
    q = np.empty((n, kb, half * 2), np.float32)
    q[..., 0::2] = packed & 0x0F
    q[..., 1::2] = packed >> 4
    return ((q - ZERO_POINT) * scales[..., None]).reshape(n, -1)[:, :k]
