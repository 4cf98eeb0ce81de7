"""Llama decoder layer (Hugging Face transformers 4.39 `LlamaDecoderLayer`, the released MLLM's building block).

Keys: self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm (all no bias).
Pre-norm RMSNorm, rotary position embedding in the non-interleaved "rotate_half" layout, grouped-query attention
(num_key_value_heads <= num_attention_heads), causal, optional KV cache.

The KV cache of one layer is a pair (key, value) of [B, kv_heads, T, head_dim]; keys are stored after rotary, as in
HF. Positions are explicit ([B, S] ids), so left-padded batches work the way HF does it (position_ids =
cumsum(attention_mask) - 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..mllm_config import MLLMConfig

KVCache = tuple  # (key, value), each [B, kv_heads, T, head_dim]


class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotary_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [B, S, head_dim] for integer positions [B, S]; each frequency repeated over both halves."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = position_ids.double()[..., None] * inv_freq  # [B, S, head_dim / 2]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, S, head_dim]: [x1 c - x2 s, x2 c + x1 s] with x1, x2 the two halves (non-interleaved)."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return x * cos[:, None] + rotated * sin[:, None]


def attention_bias(attention_mask: torch.Tensor | None, batch: int, past_len: int, seq_len: int) -> torch.Tensor:
    """Additive bias [B, 1, S, past_len + S]: causal over cache slots, and padded keys (mask 0) excluded.

    A large negative number rather than -inf keeps rows that see no valid key (left pads) finite, as HF does.
    """
    total = past_len + seq_len
    allowed = torch.ones(seq_len, total, dtype=torch.bool).tril(past_len)[None].expand(batch, -1, -1)
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, -total:].bool()
    bias = torch.zeros(allowed.shape)
    return bias.masked_fill(~allowed, torch.finfo(bias.dtype).min)[:, None]


class LlamaAttention(nn.Module):
    def __init__(self, cfg: MLLMConfig):
        super().__init__()
        self.num_heads, self.num_kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, bias, past: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        B, S, _ = x.shape
        q = self.q_proj(x).view(B, S, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, S, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, S, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        present = (k, v)
        # GQA: each group of num_heads / num_kv_heads consecutive query heads shares one key/value head.
        group = self.num_heads // self.num_kv_heads
        if group > 1:  # (skipped when it is a copy: its backward is a slow index_add_)
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.head_dim**-0.5 + bias
        out = torch.matmul(scores.float().softmax(dim=-1).to(q.dtype), v)
        return self.o_proj(out.transpose(1, 2).reshape(B, S, -1)), present


class LlamaMLP(nn.Module):
    def __init__(self, cfg: MLLMConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg: MLLMConfig):
        super().__init__()
        self.self_attn = LlamaAttention(cfg)
        self.mlp = LlamaMLP(cfg)
        self.input_layernorm = LlamaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, bias, past: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        h, present = self.self_attn(self.input_layernorm(x), cos, sin, bias, past)
        x = x + h
        return x + self.mlp(self.post_attention_layernorm(x)), present


def run_decoder(
    layers: nn.ModuleList,
    norm: LlamaRMSNorm,
    cfg: MLLMConfig,
    x: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    past: list[KVCache] | None = None,
    bias: torch.Tensor | None = None,
    keep: list | None = None,
) -> tuple[torch.Tensor, list[KVCache]]:
    """Run a stack of decoder layers and the final norm: the body shared by the LLM and the depth head.

    x [B, S, D]; attention_mask [B, past_len + S] (1 = real token; None = all real); position_ids [B, S] (None:
    cumsum(attention_mask) - 1 over the whole mask, else past_len + 0..S-1); past: one KVCache per layer or None.
    bias: an additive attention bias [B, 1, S, past_len + S] that replaces the causal one built from attention_mask
    (training packs several independent answers behind one shared prefix this way). keep: a list that receives
    each layer's output (the residual stream, before the final norm), for training-only read-outs.
    Returns the post-norm hidden states [B, S, D] and the present caches (past extended by the S new positions).
    """
    B, S, _ = x.shape
    past_len = past[0][0].shape[2] if past else 0
    if position_ids is None:
        if attention_mask is not None:
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -S:]
        else:
            position_ids = (past_len + torch.arange(S))[None].expand(B, -1)
    cos, sin = rotary_cos_sin(position_ids, cfg.head_dim, cfg.rope_theta)
    if bias is None:
        bias = attention_bias(attention_mask, B, past_len, S)
    presents = []
    for i, layer in enumerate(layers):
        x, present = layer(x, cos.to(x.dtype), sin.to(x.dtype), bias.to(x.dtype), past[i] if past else None)
        presents.append(present)
        if keep is not None:
            keep.append(x)
    return norm(x), presents
