"""The int8 text head: per-output-channel symmetric 8-bit weights and per-row 8-bit activations, in ONNX ops
onnxruntime's CPU EP runs as one integer GEMM with the weights packed once at load (com.microsoft
MatMulIntegerToFloat, which applies each channel's scale as it writes the GEMM's output).

Why not MatMulNBits for it: the cost of MLAS's int4 kernel grows almost row for row, so a batch-8 step cost the
demo model's 128 x 32000 lm_head 6.4x a batch-1 step; the integer GEMM costs 2.8-4.9x
(docs/step-profile.md). llama.cpp's int4 formats keep the output matrix at 6 or 8 bits for the same reason of
accuracy. Each row's activations get their own scale, so a row's logits never depend on the other rows of the
batch (onnxruntime's DynamicQuantizeMatMul scales the whole batch at once) and are exact integer sums. The row's
scale is applied last, by one Mul: MatMulIntegerToFloat takes only one scale for all of A's rows.

What the graph computes for x [B, K] and W [N, K] (every step a float32 operation, reproduced by `reference`):
    w_scale[n] = max_k |W[n, k]| / 127                 q[n, k] = round(W[n, k] / w_scale[n])  in -127..127
    x_scale[b] = max(max_k |x[b, k]|, 1e-30) / 127      u[b, k] = round_half_even(x[b, k] / x_scale[b]) + 128
    logits[b, n] = (float(sum_k (u[b, k] - 128) * q[n, k]) * w_scale[n]) * x_scale[b]
"""
from __future__ import annotations

import numpy as np

QMAX = 127
A_ZERO_POINT = 128  # activations travel as uint8 (the fast MLAS path is u8 x s8) with this zero point
TINY = np.float32(1e-30)  # floor of a row's max |x|: an all-zero row gets a finite scale and zero logits


def quantize_int8_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W [N, K] float -> (int8 [N, K], scales float32 [N]); an all-zero row gets scale 1 and zero codes."""
    w = np.asarray(w, np.float32)
    scales = (np.abs(w).max(1) / np.float32(QMAX)).astype(np.float32)
    safe = np.where(scales == 0, np.float32(1), scales)[:, None]
    return np.clip(np.rint(w / safe), -QMAX, QMAX).astype(np.int8), np.where(scales == 0, np.float32(1), scales)


def dequantize_int8_rows(q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * scales[:, None]


def reference(x: np.ndarray, q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The graph's logits for x [B, K], float32 op for op (numpy's rint rounds half to even, as ONNX Round)."""
    x = np.asarray(x, np.float32)
    x_scale = np.maximum(np.abs(x).max(1, keepdims=True), TINY) / np.float32(QMAX)
    u = np.rint(x / x_scale).astype(np.int64)  # the uint8 code minus its zero point
    acc = (u @ q.T.astype(np.int64)).astype(np.float32)
    return (acc * scales[None, :]) * x_scale
