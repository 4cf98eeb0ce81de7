"""UniTokMLLM: the released unified MLLM (`MiniGeminiLlamaForCausalLM`, eval/liquid/model/language_model/).

Module tree = state-dict keys:
    model.embed_tokens            text token embeddings [vocab, D]
    model.layers.N.*              Llama-2 decoder layers (modules/llama.py)
    model.norm                    final RMSNorm
    model.multi_embedder.*        visual embedder (modules/token_embedder.py)
    lm_head                       text logits, no bias, untied
    ar_head.*                     depth head predicting the codes of a visual token (modules/ar_head.py)

What a generation loop calls:
    embed_text(ids [B,S])              -> [B,S,D]
    embed_visual(codes [B,K,N])        -> [B,N,D]   (N=1 per generated token, as the shipped withcache path does)
    forward(inputs_embeds, attention_mask, position_ids, past) -> LLMOutput(logits, hidden, present)
    ar_head.logits(prefix [B,k,D])     -> [B,codebook_size]       released recompute-all depth step
    ar_head.step(embeds [B,1,D], past) -> ([B,codebook_size], present)   KV-cached depth step
    embed_code(level, codes [B,...])   -> [B,...,D]   (feed code `level` back into the depth head)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..mllm_config import MLLMConfig
from .ar_head import ARHead
from .llama import KVCache, LlamaDecoderLayer, LlamaRMSNorm, run_decoder
from .token_embedder import TokenEmbedder


@dataclass
class LLMOutput:
    logits: torch.Tensor  # [B, S, vocab]
    hidden: torch.Tensor  # [B, S, D], after the final RMSNorm: what lm_head and the depth head read
    present: list  # one (key, value) per layer, [B, kv_heads, past_len + S, head_dim]


class LlamaModel(nn.Module):
    """Released `MiniGeminiLlamaModel`: HF LlamaModel plus the visual embedder (keys `model.*`)."""

    def __init__(self, cfg: MLLMConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(LlamaDecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = LlamaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.multi_embedder = TokenEmbedder(cfg)


class UniTokMLLM(nn.Module):
    def __init__(self, cfg: MLLMConfig):
        super().__init__()
        self.cfg = cfg
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.ar_head = ARHead(cfg)

    def embed_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token ids int64 [B, S] -> inputs_embeds [B, S, D]."""
        return self.model.embed_tokens(input_ids)

    def embed_visual(self, codes: torch.Tensor) -> torch.Tensor:
        """Visual codes int64 [B, K, N] -> inputs_embeds [B, N, D] (causal over the N tokens)."""
        return self.model.multi_embedder(codes)

    def embed_code(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        """Code of codebook `level` (0..K-2) -> depth-head input embedding [..., D]."""
        return self.ar_head.embed_code(level, codes)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past: list[KVCache] | None = None,
    ) -> LLMOutput:
        """Language model over inputs_embeds [B, S, D].

        attention_mask [B, past_len + S]: 1 for real tokens, 0 for (left) padding; None means no padding.
        position_ids [B, S]: default cumsum(attention_mask) - 1, i.e. HF's left-padding convention.
        past: the `present` of the previous call (None for the first). All logits are returned; a loop reads [:, -1].
        """
        hidden, present = run_decoder(
            self.model.layers, self.model.norm, self.cfg, inputs_embeds, attention_mask, position_ids, past
        )
        return LLMOutput(self.lm_head(hidden), hidden, present)

