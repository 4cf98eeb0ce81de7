"""TokenEmbedder: turns one visual token (num_codebooks codes) into one LLM input embedding.

Released code: eval/liquid/model/liquid.py (`model.multi_embedder.*`). The MLLM carries its own copy of the tokenizer's
codebooks and a *causal* copy of its post_quant_proj (initialised from UniTok, then trained), followed by a LLaVA-style
MLP projector. Keys: quantizer.codebooks.N.{codebook.weight, vocab_usage}, attn_projection.*, mm_projector.{0,1,3}.
"""
from __future__ import annotations

import torch
from torch import nn

from ..mllm_config import MLLMConfig
from .attn_projection import AttnProjection
from .quant import VectorQuantizerM


class TokenEmbedder(nn.Module):
    def __init__(self, cfg: MLLMConfig):
        super().__init__()
        self.num_codebooks = cfg.num_codebooks
        self.quantizer = VectorQuantizerM(cfg.num_visual_codes, cfg.vocab_width, cfg.num_codebooks)
        self.attn_projection = AttnProjection(
            cfg.vocab_width, cfg.embedder_width, cfg.embedder_heads, mlp_ratio=cfg.embedder_mlp_ratio, causal=True
        )
        self.mm_projector = nn.Sequential(
            nn.LayerNorm(cfg.embedder_width, eps=cfg.projector_ln_eps),
            nn.Linear(cfg.embedder_width, cfg.hidden_size),
            nn.GELU(),  # exact (erf) GELU
            nn.Linear(cfg.hidden_size, cfg.hidden_size),
        )

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """codes int64 [B, K, N] -> inputs_embeds [B, N, hidden]. Token t attends to tokens <= t only."""
        f = self.quantizer.idx_to_f(codes)  # [B, N, vocab_width], L2-normalised per code
        return self.mm_projector(self.attn_projection(f))
