"""Fixtures for test/mllm-graphs.test.ts: the tiny MLLM's graphs at every precision, inputs and PyTorch outputs.

Layout of out_dir: fp32/, fp16/, int4/ (the graphs of build_mllm_graphs), int4_lm8/ (the 8-bit lm_head alone),
argmax/ (lm_head's argmax alone, logits [B, V] -> argmax [B], at two vocabulary sizes: argmax_256.onnx, a
multiple of its block, and argmax_300.onnx, padded) and tensors.json + .bin (save_tensors).
The llm scenario is a ragged batch of two rows (prefills of different lengths, then S=1 steps together); the depth
scenario is the K positions of one visual token, with the released recompute-all logits as the reference.
References come from the fp32 model and, suffixed `_int4`, from the model with the int4 graphs' dequantised
weights: the int4 graphs should match the latter closely, which checks the 4-bit packing apart from its rounding.
"""
from __future__ import annotations

import copy
import os

import torch
from onnx import TensorProto
from torch import nn

from ..mllm_config import get_mllm_config
from ..modules.llama import LlamaRMSNorm
from ..modules.mllm import UniTokMLLM
from ..tensorio import save_tensors
from .int4 import dequantize_int4, quantize_int4
from .int8 import quantize_int8_rows, reference
from .mllm_graphs import INT4_BLOCK_SIZE, PRECISIONS, argmax_rows, build_mllm_graphs
from .onnx_builder import GraphBuilder

PREFILL = (5, 3)  # prompt lengths of the two llm rows (right-padded to the longer one for the prefill call)
STEPS = 3  # single-token steps after the prefill, both rows at once
CACHE = 12  # capacity of the shared KV buffers (> longest row, so the in-place write leaves untouched slots)


def seeded_mllm(cfg, seed: int = 0) -> UniTokMLLM:
    """A randomly initialised model whose norms and biases are not the identity, so a dropped one shows."""
    torch.manual_seed(seed)
    model = UniTokMLLM(cfg).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.LayerNorm, LlamaRMSNorm)):
                module.weight.copy_(1 + 0.2 * torch.randn_like(module.weight))
        for name, p in model.named_parameters():
            if name.endswith("bias"):  # Linear / LayerNorm biases and the embedder's q_bias, v_bias
                p.copy_(0.2 * torch.randn_like(p))
    return model


@torch.no_grad()
def int4_dequantized(model: UniTokMLLM) -> UniTokMLLM:
    """A copy with the weights the int4 graphs use: Linear layers (but the visual embedder's) through 4-bit
    quantisation and back, embedding tables (the embedder's codebooks too) rounded to fp16."""
    ref = copy.deepcopy(model)
    for name, module in ref.named_modules():
        if isinstance(module, nn.Linear) and not name.startswith("model.multi_embedder"):
            w = module.weight.numpy()
            module.weight.copy_(torch.from_numpy(dequantize_int4(*quantize_int4(w, INT4_BLOCK_SIZE), w.shape[1])))
        elif isinstance(module, nn.Embedding):
            module.weight.copy_(module.weight.half().float())
    return ref


@torch.no_grad()
def _references(model: UniTokMLLM, x: dict, suffix: str = "") -> dict:
    """The PyTorch outputs every graph test compares with, for the inputs `x`."""
    cfg, K = model.cfg, model.cfg.num_codebooks
    out = {
        "embed.inputs_embeds": model.embed_text(x["embed.input_ids"]),
        "visual.inputs_embeds": model.embed_visual(x["visual.codes"]),
        "visual.inputs_embeds_n1": model.embed_visual(x["visual.codes"][:, :, :1]),
        "code.embeds": model.ar_head.stacked_codebooks()[x["code.code_ids"]],
        # The released recompute-all depth steps for prefixes of length 1..K: [K, B, codebook_size].
        "depth.logits": torch.stack([model.ar_head.logits(x["depth.embeds"][:, :k]) for k in range(1, K + 1)]),
    }
    # llm: each row alone through the full-sequence forward, read where the prefill and each step read out.
    logits, hidden = [], []
    keys = torch.zeros(cfg.num_hidden_layers, 2, cfg.num_key_value_heads, CACHE, cfg.head_dim)
    values = torch.zeros_like(keys)
    for b, prefill in enumerate(PREFILL):
        n = prefill + STEPS
        row = model(x["llm.embeds"][b : b + 1, :n])
        read = [prefill - 1 + s for s in range(STEPS + 1)]
        logits.append(row.logits[0, read])
        hidden.append(row.hidden[0, read])
        for layer, (k, v) in enumerate(row.present):
            keys[layer, b, :, :n], values[layer, b, :, :n] = k[0], v[0]
    out["llm.logits"] = torch.stack(logits, 1)  # [STEPS + 1, 2, V]: prefill readout, then each step
    out["llm.hidden"] = torch.stack(hidden, 1)
    out["llm.present_key"] = keys  # [layers, 2, kv_heads, CACHE, head_dim], zero beyond each row
    out["llm.present_value"] = values
    return {k + suffix: v for k, v in out.items()}


@torch.no_grad()
def write_fixtures(out_dir: str) -> None:
    cfg = get_mllm_config("tiny")
    model = seeded_mllm(cfg)
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    for dtype in PRECISIONS:
        build_mllm_graphs(weights, cfg, dtype, os.path.join(out_dir, dtype))
    build_mllm_graphs(weights, cfg, "int4", os.path.join(out_dir, "int4_lm8"), graphs=("lm_head",), lm_head_bits=8)
    for vocab in (256, 300):
        g = GraphBuilder(f"argmax_{vocab}", os.path.join(out_dir, "argmax"))
        argmax_rows(g, g.input("logits", TensorProto.FLOAT, ["batch_size", vocab]), vocab, "argmax")
        g.output("argmax", "argmax", TensorProto.INT64, ["batch_size"])
        g.save()

    g = torch.Generator().manual_seed(1)
    x = {
        "embed.input_ids": torch.randint(0, cfg.vocab_size, (2, 5), generator=g),
        "visual.codes": torch.randint(0, cfg.codebook_size, (2, cfg.num_codebooks, 6), generator=g),
        "code.code_ids": torch.randint(0, (cfg.num_codebooks - 1) * cfg.codebook_size, (2, 3), generator=g),
        "llm.embeds": torch.zeros(2, max(PREFILL) + STEPS, cfg.hidden_size),  # row b valid for PREFILL[b] + STEPS
    }
    for b, prefill in enumerate(PREFILL):
        x["llm.embeds"][b, : prefill + STEPS] = torch.randn(prefill + STEPS, cfg.hidden_size, generator=g)
    # Depth head: [LLM hidden, code 0 embedding, ..., code K-2 embedding] for the sampled codes of one token.
    h = torch.randn(2, 1, cfg.hidden_size, generator=g)
    codes = torch.randint(0, cfg.codebook_size, (2, cfg.num_codebooks), generator=g)
    x["depth.code_ids"] = codes[:, :-1] + torch.arange(cfg.num_codebooks - 1) * cfg.codebook_size
    fed_back = [model.embed_code(i, codes[:, i : i + 1]) for i in range(cfg.num_codebooks - 1)]
    x["depth.embeds"] = torch.cat([h, *fed_back], 1)

    tensors = {**x, **_references(model, x), **_references(int4_dequantized(model), x, "_int4")}
    # The 8-bit lm_head on the fp32 model's hidden states, by the arithmetic export/int8.py spells out.
    hidden = tensors["llm.hidden"].numpy()
    q8 = reference(hidden.reshape(-1, cfg.hidden_size), *quantize_int8_rows(weights["lm_head.weight"]))
    tensors["lm8.logits"] = torch.from_numpy(q8.reshape(*hidden.shape[:-1], -1))
    meta = {"config": cfg.to_dict(), "prefill": list(PREFILL), "steps": STEPS, "cache": CACHE,
            "precisions": list(PRECISIONS)}
    save_tensors(out_dir, {k: v.numpy() for k, v in tensors.items()}, meta)
