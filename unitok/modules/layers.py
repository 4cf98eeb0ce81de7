"""Small building blocks shared by the encoder, decoder and projections (timm / UniTok names)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """timm LayerNorm2d: LayerNorm over the channels of an NCHW map (keys: weight, bias)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerNormAct2d(LayerNorm2d):
    """timm get_norm_act_layer('layernorm2d', 'gelu'): LayerNorm2d then exact GELU (same keys as LayerNorm2d)."""

    def __init__(self, num_channels: int, eps: float = 1e-6, apply_act: bool = True):
        super().__init__(num_channels, eps=eps)
        self.apply_act = apply_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return F.gelu(x) if self.apply_act else x


class GeGluMlp(nn.Module):
    """models/vitamin.py GeGluMlp: its own LayerNorm (eps 1e-6), tanh-GELU gate, output width = input width."""

    def __init__(self, in_features: int, hidden_features: int):
        super().__init__()
        self.norm = nn.LayerNorm(in_features, eps=1e-6)
        self.w0 = nn.Linear(in_features, hidden_features)
        self.w1 = nn.Linear(in_features, hidden_features)
        self.w2 = nn.Linear(hidden_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.w2(F.gelu(self.w0(x), approximate="tanh") * self.w1(x))


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """Scaled dot-product attention on [B, H, N, D], written out so torch 1.13 exports it to plain ONNX ops."""
    scores = torch.matmul(q, k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    if causal:
        n, m = scores.shape[-2], scores.shape[-1]
        mask = torch.ones(n, m, dtype=torch.bool, device=q.device).tril(m - n)
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.matmul(scores.softmax(dim=-1), v)
