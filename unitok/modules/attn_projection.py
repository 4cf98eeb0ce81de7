"""AttnProjection: the attention-based factorisation between the ViT width and the code width.

Released code: models/vqvae.py (PlainAttention, AttnProjection) for the tokenizer, where attention is full;
eval/liquid/model/quant.py (CausalAttention) for the MLLM's visual embedder, identical but causal.
Compression (in > out) averages the heads; expansion (in < out) concatenates them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GeGluMlp, attention


class PlainAttention(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, num_heads: int, causal: bool = False):
        super().__init__()
        inner = max(in_dim, out_dim)
        self.in_dim, self.out_dim, self.num_heads, self.causal = in_dim, out_dim, num_heads, causal
        self.head_dim = inner // num_heads
        self.qkv = nn.Linear(in_dim, inner * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(inner))
        self.v_bias = nn.Parameter(torch.zeros(inner))
        self.register_buffer("zero_k_bias", torch.zeros(inner))  # persistent: it is in the released state dict
        self.proj = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        qkv = F.linear(x, self.qkv.weight, torch.cat((self.q_bias, self.zero_k_bias, self.v_bias)))
        q, k, v = qkv.reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = attention(q, k, v, causal=self.causal)  # [B, H, N, head_dim]
        if self.in_dim > self.out_dim:
            x = x.mean(dim=1)
            if self.head_dim != self.out_dim:  # released: adaptive_avg_pool1d(x, out_dim)
                if self.head_dim % self.out_dim:
                    raise ValueError("head_dim must be a multiple of out_dim for the pooled compression")
                x = x.reshape(B, N, self.out_dim, self.head_dim // self.out_dim).mean(-1)
        else:
            x = x.transpose(1, 2).reshape(B, N, self.num_heads * self.head_dim)
        return self.proj(x)


class AttnProjection(nn.Module):
    """x = proj(norm3(x)) + attn(norm1(x)); x = x + mlp(norm2(x)). LayerNorm eps 1e-5, GeGLU hidden 2*out."""

    def __init__(self, in_dim: int, out_dim: int, num_heads: int, mlp_ratio: int = 2, causal: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(in_dim)
        self.attn = PlainAttention(in_dim, out_dim, num_heads, causal=causal)
        self.proj = nn.Linear(in_dim, out_dim)
        self.norm3 = nn.LayerNorm(in_dim)
        self.norm2 = nn.LayerNorm(out_dim)
        self.mlp = GeGluMlp(out_dim, mlp_ratio * out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.norm3(x)) + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))
