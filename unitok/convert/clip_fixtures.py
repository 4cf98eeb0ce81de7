"""Fixtures `clip`: a bundle converted from a released-layout checkpoint whose CLIP text tower has open_clip's
vocabulary (tokenizer preset `small-clip`, MLLM preset `tiny`, random weights), and PyTorch's embeddings for the
server to match.

  bundle/          `python3 -m unitok convert` output (with bpe_simple_vocab_16e6.txt.gz and the "clip" section)
  images/*.png     test images at the model's size (no resize, so the server's pixels are PyTorch's)
  reference.json   texts, their tokenize() rows, text_embeds; images, their codes, image_embeds (L2-normalised,
                   as encode_text / encode_image with normalize=True); logit_scale
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import torch
from PIL import Image

from ..clip_tokenizer import ClipTokenizer
from ..export.tokenizer_fixtures import smooth_image
from ..export.tokenizer_onnx import load_released_tokenizer
from .convert import convert
from .random_checkpoint import make_random_checkpoint

SEED = 1515
TOKENIZER_CONFIG, MLLM_CONFIG = "small-clip", "tiny"
TEXTS = ["a photo of a cat.", "A large RED circle at the top-left, on a white background!", "",
         "emoji 😀 and 中文 characters", "word " * 100, "&amp; &lt;html&gt; entities"]


def write_fixtures(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    ckpt = os.path.join(out_dir, "checkpoint")
    make_random_checkpoint(ckpt, MLLM_CONFIG, TOKENIZER_CONFIG, seed=SEED)
    pth = os.path.join(ckpt, "unitok_tokenizer.pth")
    convert(pth, os.path.join(ckpt, "mllm"), os.path.join(out_dir, "bundle"), "fp32", TOKENIZER_CONFIG, MLLM_CONFIG)
    model, cfg = load_released_tokenizer(pth, TOKENIZER_CONFIG)
    shutil.rmtree(ckpt)

    g = torch.Generator().manual_seed(SEED)
    images = ((smooth_image(cfg.img_size, 3, g) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    names = []
    for i, img in enumerate(images):
        names.append(f"image_{i}.png")
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(os.path.join(out_dir, "images", names[-1]))
    pixels = images.float() / 127.5 - 1
    ids = ClipTokenizer()(TEXTS, cfg.text_context_length)
    with torch.no_grad():
        codes = model.img_to_idx(pixels)
        reference = {
            "texts": TEXTS,
            "ids": [[int(x) for x in row if x] for row in ids],
            "text_embeds": model.encode_text(ids, normalize=True).tolist(),
            "images": names,
            "image_codes": codes.tolist(),
            "image_embeds": model.encode_image(pixels, normalize=True).tolist(),
            "logit_scale": float(model.logit_scale.clamp(0, np.log(100)).exp()),
        }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f)
