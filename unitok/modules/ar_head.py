"""Depth head (released `AR_head`, eval/liquid/model/arhead.py; keys `ar_head.*`).

For each visual token it predicts the num_codebooks codes one after another. Its input sequence is
[h, codebooks[0](c0), ..., codebooks[K-2](c_{K-2})], where h is the LLM's post-norm hidden state at the position
before the visual token; position j's output predicts code j. Three Llama layers with the LLM's own sizes
(positions 0..K-1, causal), an RMSNorm, and one `linear_head` (with bias) shared by all K codes.

Two equivalent ways to run it:
- `logits(prefix)`: the released way, recomputing the whole prefix (k = 1..K positions) for every code;
- `step(embeds, past)`: one new position per call against a KV cache, what the ONNX depth_head graph does.
"""
from __future__ import annotations

import torch
from torch import nn

from ..mllm_config import MLLMConfig
from .llama import KVCache, LlamaDecoderLayer, LlamaRMSNorm, run_decoder


class ARHead(nn.Module):
    def __init__(self, cfg: MLLMConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(LlamaDecoderLayer(cfg) for _ in range(cfg.ar_head_layers))
        self.norm = LlamaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.linear_head = nn.Linear(cfg.hidden_size, cfg.codebook_size)
        # Code i (i < K-1) is embedded by table i before it is fed back; the last code never is.
        self.codebooks = nn.ModuleList(
            nn.Embedding(cfg.codebook_size, cfg.hidden_size) for _ in range(cfg.num_codebooks - 1)
        )

    def forward(self, inputs_embeds: torch.Tensor, past: list[KVCache] | None = None) -> tuple[torch.Tensor, list]:
        """inputs_embeds [B, k, D] at positions past_len..past_len+k-1 -> (post-norm hidden [B, k, D], present)."""
        return run_decoder(self.layers, self.norm, self.cfg, inputs_embeds, past=past)

    def logits(self, prefix: torch.Tensor) -> torch.Tensor:
        """Released recompute-all step: prefix [B, k, D] (no cache) -> logits [B, codebook_size] for code k-1."""
        hidden, _ = self(prefix)
        return self.linear_head(hidden[:, -1])

    def step(self, embeds: torch.Tensor, past: list[KVCache] | None = None) -> tuple[torch.Tensor, list[KVCache]]:
        """KV-cached step: embeds [B, 1, D] at position len(past) -> (logits [B, codebook_size], present)."""
        hidden, present = self(embeds, past)
        return self.linear_head(hidden[:, -1]), present

    def embed_code(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        """codes int64 [B, ...] of codebook `level` (0..K-2) -> embeddings [B, ..., D] to feed back."""
        return self.codebooks[level](codes)

    def stacked_codebooks(self) -> torch.Tensor:
        """All feed-back tables stacked: [(K-1) * codebook_size, D]; row = level * codebook_size + code."""
        return torch.cat([table.weight for table in self.codebooks], dim=0)
