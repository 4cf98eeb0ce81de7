"""UniTok: encoder -> quant_proj -> multi-codebook quantiser -> post_quant_proj -> decoder, plus the CLIP side.

Top-level names are the released `ckpt['trainer']['unitok']` keys: encoder, quant_proj, quantizer,
post_quant_proj, decoder, text_encoder, fc_norm, projection, logit_scale.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TokenizerConfig
from .attn_projection import AttnProjection
from .clip_text import TextTransformer
from .quant import VectorQuantizerM
from .vitamin import ViTaminDecoder, ViTaminEncoder


class UniTok(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = ViTaminEncoder(cfg)
        # Full (bidirectional) attention in the released tokenizer; the MLLM's embedder copy is causal.
        self.quant_proj = AttnProjection(cfg.width, cfg.vocab_width, cfg.proj_heads)
        self.quantizer = VectorQuantizerM(cfg.vocab_size, cfg.vocab_width, cfg.num_codebooks)
        self.post_quant_proj = AttnProjection(cfg.vocab_width, cfg.width, cfg.proj_heads)
        self.decoder = ViTaminDecoder(cfg)
        self.text_encoder = TextTransformer(cfg.text_vocab_size, cfg.text_context_length, cfg.text_width,
                                            cfg.text_heads, cfg.text_layers, cfg.embed_dim)
        self.fc_norm = nn.LayerNorm(cfg.width, eps=1e-6)
        self.projection = nn.Linear(cfg.width, cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def img_to_idx(self, img: torch.Tensor) -> torch.Tensor:
        """pixels [B, 3, S, S] in [-1, 1] -> codes int64 [B, K, N]."""
        return self.quantizer.f_to_idx(self.quant_proj(self.encoder(img).float()))

    def idx_to_img(self, codes: torch.Tensor) -> torch.Tensor:
        """codes int64 [B, K, N] -> pixels [B, 3, S, S] clamped to [-1, 1]."""
        return self.decoder(self.post_quant_proj(self.quantizer.idx_to_f(codes))).clamp(-1, 1)

    def encode_image_from_codes(self, codes: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """CLIP image embedding built from the quantised tokens (as UniTok.encode_image does) -> [B, embed_dim]."""
        f = self.post_quant_proj(self.quantizer.idx_to_f(codes))
        emb = self.projection(self.fc_norm(f.mean(dim=1)))
        return F.normalize(emb, dim=-1) if normalize else emb

    def encode_image(self, img: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.encode_image_from_codes(self.img_to_idx(img), normalize)

    def encode_text(self, text: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        emb = self.text_encoder(text)
        return F.normalize(emb, dim=-1) if normalize else emb


def init_random(model: nn.Module, seed: int) -> nn.Module:
    """Seeded random weights with the ranges a trained model has (unit-ish activations, no exploding residuals)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("pos_embed") or name == "logit_scale":
                continue
            if p.dim() == 1:
                is_norm_weight = name.endswith("weight")  # 1-d weights are LayerNorm/RMSNorm scales
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g) if is_norm_weight
                        else 0.02 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(torch.randn(p.shape, generator=g) * fan_in ** -0.5)
    return model
