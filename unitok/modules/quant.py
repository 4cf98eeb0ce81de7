"""Multi-codebook vector quantiser (models/quant.py: VectorQuantizerM / VectorQuantizer / NormalizedEmbedding).

The latent is split into `num_codebooks` chunks; each chunk and each codebook row is L2-normalised and the code
is the row of highest cosine similarity. Codes are int64 [B, K, N], codebook-major. Only inference is modelled
here; the training losses live in the training code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NormalizedEmbedding(nn.Embedding):
    def get_norm_weight(self) -> torch.Tensor:
        return F.normalize(self.weight, dim=1)


class VectorQuantizer(nn.Module):
    def __init__(self, vocab_size: int, vocab_width: int):
        super().__init__()
        self.codebook = NormalizedEmbedding(vocab_size, vocab_width)
        self.register_buffer("vocab_usage", torch.zeros(vocab_size))  # training statistics, kept for the keys

    def f_to_idx(self, f: torch.Tensor) -> torch.Tensor:
        f = F.normalize(f, dim=-1)
        return torch.argmax(f @ self.codebook.get_norm_weight().t(), dim=-1)


class VectorQuantizerM(nn.Module):
    def __init__(self, vocab_size: int, vocab_width: int, num_codebooks: int):
        super().__init__()
        self.num_codebooks = num_codebooks
        self.codebooks = nn.ModuleList(
            VectorQuantizer(vocab_size // num_codebooks, vocab_width // num_codebooks) for _ in range(num_codebooks)
        )

    def f_to_idx(self, features: torch.Tensor) -> torch.Tensor:
        """[B, N, vocab_width] -> codes int64 [B, K, N]."""
        chunks = features.chunk(self.num_codebooks, dim=-1)
        return torch.stack([cb.f_to_idx(c) for cb, c in zip(self.codebooks, chunks)], dim=1)

    def idx_to_f(self, indices: torch.Tensor) -> torch.Tensor:
        """codes [B, K, N] (or [B, K, h, w]) -> normalised features [B, N, vocab_width]."""
        return torch.cat(
            [F.embedding(indices[:, i].flatten(1), cb.codebook.get_norm_weight()) for i, cb in enumerate(self.codebooks)],
            dim=-1,
        )

    def normalized_table(self) -> torch.Tensor:
        """All codebooks stacked and pre-normalised: [K * codebook_size, code_dim]; row = i * size + code."""
        return torch.cat([cb.codebook.get_norm_weight() for cb in self.codebooks], dim=0)
