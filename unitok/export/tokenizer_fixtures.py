"""Parity fixtures for the tokenizer graphs: PyTorch (released math) outputs that ONNX Runtime must reproduce.

The graphs are produced the way a user produces them from real weights: a random `small` model is saved in the
released unitok_tokenizer.pth layout, loaded back through load_released_tokenizer and exported.
"""
from __future__ import annotations

import os

import torch

from ..config import get_tokenizer_config
from ..modules.unitok import UniTok, init_random
from ..tensorio import save_tensors
from .tokenizer_onnx import export_tokenizer_graphs, load_released_tokenizer, save_released_tokenizer

SEED = 1234


def smooth_image(size: int, batch: int, g: torch.Generator) -> torch.Tensor:
    """Low-frequency colour fields: closer to real images than white noise, so codes are not all near-ties."""
    coarse = torch.rand(batch, 3, 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def code_margins(model: UniTok, pixels: torch.Tensor) -> torch.Tensor:
    """Cosine gap between the best and second-best code per (codebook, token): how robust argmax parity is."""
    with torch.no_grad():
        f = model.quant_proj(model.encoder(pixels))
        gaps = []
        for cb, chunk in zip(model.quantizer.codebooks, f.chunk(model.cfg.num_codebooks, dim=-1)):
            sims = torch.nn.functional.normalize(chunk, dim=-1) @ cb.codebook.get_norm_weight().t()
            top = sims.topk(2, dim=-1).values
            gaps.append(top[..., 0] - top[..., 1])
        return torch.stack(gaps, dim=1)


def write_fixtures(out_dir: str, config: str = "small") -> None:
    cfg = get_tokenizer_config(config)
    os.makedirs(out_dir, exist_ok=True)
    ckpt = os.path.join(out_dir, "unitok_tokenizer.pth")
    save_released_tokenizer(init_random(UniTok(cfg), SEED), ckpt)
    model, _ = load_released_tokenizer(ckpt, config)
    export_tokenizer_graphs(model, _mkdir(out_dir, "graphs"), source="fixture", log=lambda s: None)

    g = torch.Generator().manual_seed(SEED)
    pixels = torch.cat([torch.rand(4, 3, cfg.img_size, cfg.img_size, generator=g) * 2 - 1,
                        smooth_image(cfg.img_size, 4, g)])
    random_codes = torch.randint(0, cfg.codebook_size, (2, cfg.num_codebooks, cfg.num_tokens), generator=g)
    text_ids = torch.randint(1, cfg.text_vocab_size - 2, (2, cfg.text_context_length), generator=g)
    text_ids[0, 5], text_ids[0, 6:] = cfg.text_vocab_size - 1, 0  # EOT (highest id) then padding, as CLIP pads
    text_ids[1, -1] = cfg.text_vocab_size - 1
    with torch.no_grad():
        codes = model.img_to_idx(pixels)
        tensors = {
            "pixels": pixels, "codes": codes, "decoded": model.idx_to_img(codes),
            "random_codes": random_codes, "random_decoded": model.idx_to_img(random_codes),
            "image_embeds": model.encode_image_from_codes(codes), "text_ids": text_ids,
            "text_embeds": model.encode_text(text_ids), "code_margins": code_margins(model, pixels),
        }
    save_tensors(_mkdir(out_dir, "tensors"), tensors, meta={"config": cfg.to_dict(), "seed": SEED})


def _mkdir(*parts: str) -> str:
    path = os.path.join(*parts)
    os.makedirs(path, exist_ok=True)
    return path
