"""Fixtures 'reference_loop': what the reference generation loops produce, for the TypeScript engine to match.

Layout of out_dir:
  tiny/     the committed models/tiny bundle: tensors.json + .bin (prompts, first logits, token and code sequences)
  fp32/     the same random checkpoint freshly converted to fp32: bundle/ (the graphs) and the same tensors
  sampler/  the sampling procedure alone: mulberry32 outputs and sampled tokens for fixed logits

models/tiny is rebuilt from its seed here (make_tiny_checkpoint) and the PyTorch model is given the weights the
int4 graphs compute with, so the sequences are the bundle's; `build-tiny-bundle --check` keeps the committed
copy in step. Each run also records its margin (how far the closest decision was from flipping): the generator
refuses to write sequences that float rounding between PyTorch and ONNX Runtime could change.
"""
from __future__ import annotations

import copy
import os
import tempfile

import numpy as np
import torch

from ..config import get_tokenizer_config
from ..export.mllm_fixtures import int4_dequantized
from ..export.int8 import dequantize_int8_rows, quantize_int8_rows
from ..export.mllm_graphs import PRECISIONS
from ..modules.mllm import UniTokMLLM
from ..modules.quant import NormalizedEmbedding
from ..reference_loop import GAP_UNITS_PER_NAT, Mulberry32, generate_image, generate_text, sample, weights
from ..tensorio import save_tensors
from ..text_tokenizer import LlamaTokenizer
from .bundle_config import TEXT_TO_IMAGE, vqa_prompt
from .convert import convert
from .mllm_checkpoint import load_mllm_torch
from .tiny_bundle import DTYPE, MLLM_CONFIG, TOKENIZER_CONFIG, make_tiny_checkpoint

QUESTION = "What is in this image?"
T2I_PROMPT = "a red cube on a wooden table"
MAX_NEW_TOKENS = 12
TEXT_RUNS = {
    "greedy": dict(temperature=0.0),
    "seeded": dict(temperature=0.8, top_k=40, top_p=0.95, seed=3),
    # With "seeded", two rows that draw in one batch (the sampler thread takes one). Not top-k 0: on random weights
    # the 32000 near-equal intervals leave some draw within 1e-5 of flipping (_check_margin).
    "topk": dict(temperature=1.0, top_k=20, seed=5),
}
IMAGE_RUNS = {
    "greedy": dict(cfg_scale=7.0, temperature=0.0),
    "seeded": dict(cfg_scale=7.0, temperature=1.0, top_k=0, top_p=1.0, seed=42),  # the released defaults
    "filtered": dict(cfg_scale=3.0, temperature=0.9, top_k=16, top_p=0.9, seed=7),
    "no_cfg": dict(cfg_scale=1.0, temperature=1.0, seed=11),
}
# ORT and PyTorch logits differ by ~1e-6 here; decisions closer than this to flipping are not safe to pin.
MIN_GREEDY_GAP = 1e-3  # logit units
MIN_SAMPLE_MARGIN = 1e-5  # fraction of the probability mass


class _Prenormalized(NormalizedEmbedding):
    """A codebook whose stored rows are already the normalised ones the graph gathers."""

    def get_norm_weight(self) -> torch.Tensor:
        return self.weight


@torch.no_grad()
def bundle_equivalent(model: UniTokMLLM, dtype: str, lm_head_bits: int = 4) -> UniTokMLLM:
    """A copy computing with the weights the bundle's graphs hold at `dtype` (fp32: the model itself; int4:
    dequantised 4-bit Linear weights, the 8-bit lm_head's with lm_head_bits 8, and tables rounded to their storage
    type). For int4 this matches the graphs to float rounding only with MatMulNBits accuracy_level 0, which the
    tiny bundle uses (and without the 8-bit lm_head, whose activations are rounded to 8 bits too)."""
    prec = PRECISIONS[dtype]
    if prec.io != np.float32:
        raise ValueError(f"{dtype} graphs compute in {np.dtype(prec.io).name}; no float32 model reproduces them")
    ref = int4_dequantized(model) if prec.int4 else copy.deepcopy(model)
    if prec.int4 and lm_head_bits == 8:
        w = dequantize_int8_rows(*quantize_int8_rows(model.lm_head.weight.numpy()))
        ref.lm_head.weight.copy_(torch.from_numpy(w))

    def stored(w: torch.Tensor) -> torch.Tensor:
        return w.numpy().astype(prec.table).astype(np.float32)

    ref.model.embed_tokens.weight.copy_(torch.from_numpy(stored(ref.model.embed_tokens.weight)))
    for table in ref.ar_head.codebooks:
        table.weight.copy_(torch.from_numpy(stored(table.weight)))
    for vq in ref.model.multi_embedder.quantizer.codebooks:
        normalized = stored(vq.codebook.get_norm_weight())
        vq.codebook.__class__ = _Prenormalized
        vq.codebook.weight.copy_(torch.from_numpy(normalized))
    return ref


def _check_margin(what: str, margin: float, greedy: bool) -> None:
    floor = MIN_GREEDY_GAP if greedy else MIN_SAMPLE_MARGIN
    if margin < floor:
        raise RuntimeError(f"reference_loop fixture {what}: a decision is {margin:.2e} from flipping (< {floor}); "
                           "ONNX Runtime could legitimately differ. Change the prompt or seed in loop_fixtures.py")


def loop_tensors(model: UniTokMLLM, tok: LlamaTokenizer, num_tokens: int, codes: torch.Tensor) -> tuple[dict, dict]:
    """Every run of TEXT_RUNS and IMAGE_RUNS on one model: (tensors, meta)."""
    vqa_ids = tok.tokenizer_image_token(vqa_prompt(QUESTION))
    cond = tok.encode(T2I_PROMPT + TEXT_TO_IMAGE["suffix"]) + [model.cfg.boi_token_id]
    uncond = tok.encode(TEXT_TO_IMAGE["unconditional"]) + [model.cfg.boi_token_id]
    tensors = {"vqa.input_ids": np.array(vqa_ids, np.int64), "vqa.codes": codes,
               "t2i.cond_ids": np.array(cond, np.int64), "t2i.uncond_ids": np.array(uncond, np.int64)}
    meta = {"question": QUESTION, "prompt": T2I_PROMPT, "max_new_tokens": MAX_NEW_TOKENS, "visual_tokens": num_tokens,
            "text_runs": TEXT_RUNS, "image_runs": IMAGE_RUNS, "finish_reason": {}, "margins": {}}
    for name, params in TEXT_RUNS.items():
        r = generate_text(model, vqa_ids, [codes[0]], MAX_NEW_TOKENS, **params)
        _check_margin(f"vqa.{name}", r.margin, params["temperature"] <= 0)
        tensors[f"vqa.{name}.tokens"] = np.array(r.tokens, np.int64)
        tensors["vqa.first_logits"] = r.first_logits
        meta["finish_reason"][name], meta["margins"][f"vqa.{name}"] = r.finish_reason, r.margin
    for name, params in IMAGE_RUNS.items():
        r = generate_image(model, cond, uncond, num_tokens, **params)
        _check_margin(f"t2i.{name}", r.margin, params["temperature"] <= 0)
        tensors[f"t2i.{name}.codes"] = r.codes
        meta["margins"][f"t2i.{name}"] = r.margin
        if params["cfg_scale"] > 1:
            tensors["t2i.first_logits"] = r.first_logits  # [cond, uncond] rows of token 0, code 0
    return tensors, meta


def sampler_tensors() -> tuple[dict, dict]:
    """The sampling procedure on its own: RNG streams and tokens drawn from fixed logits with each filter."""
    seeds = [0, 1, 42, 2**31, 2**32 - 1]
    streams = []
    for seed in seeds:
        rng = Mulberry32(seed)
        streams.append([rng.next_uint32() for _ in range(6)])
    g = np.random.default_rng(5)
    logits = (3 * g.standard_normal((2, 64))).astype(np.float32)
    logits[1, 10] = logits[1, 20] = logits[1].max() + 1  # a tie for the maximum: the lower index wins
    cases = [dict(temperature=0.0), dict(temperature=1.0), dict(temperature=0.7, top_k=5),
             dict(temperature=1.3, top_p=0.5), dict(temperature=1.0, top_k=1), dict(temperature=2.0, top_k=10, top_p=0.8)]
    draws = np.zeros((2, len(cases), 8), np.int64)
    for row in range(2):
        for c, params in enumerate(cases):
            rng = Mulberry32(100 + c)
            draws[row, c] = [sample(logits[row], rng=rng, **params) for _ in range(8)]
    # The integer weights (bit for bit) of gaps (units + 0.5) / GAP_UNITS_PER_NAT nats around the tables' and the
    # octaves' boundaries, for S = 24 (the cap), 37 and 46.
    units = np.concatenate([np.arange(0, 70000, 97), [255, 256, 65535, 65536, 65537, 25 * 65536 - 1, 25 * 65536,
                                                      38 * 65536 - 1, 38 * 65536]])
    weight_table = np.stack([weights((units + 0.5) / GAP_UNITS_PER_NAT, S) for S in (24, 37, 46)])
    meta = {"seeds": seeds, "cases": cases, "case_seeds": [100 + c for c in range(len(cases))], "weight_exponents": [24, 37, 46]}
    return {"rng.uint32": np.array(streams, np.int64), "logits": logits, "draws": draws, "weights.units": units.astype(np.int64),
            "weights.values": weight_table}, meta


def write_fixtures(out_dir: str) -> None:
    tok = LlamaTokenizer.load()
    with tempfile.TemporaryDirectory(prefix="unitok-loop-fixtures-") as work:
        tok_path, mllm = make_tiny_checkpoint(os.path.join(work, "checkpoint"))
        convert(tok_path, mllm, os.path.join(out_dir, "fp32", "bundle"), "fp32", TOKENIZER_CONFIG, MLLM_CONFIG)
        model = load_mllm_torch(mllm, MLLM_CONFIG)
    num_tokens = get_tokenizer_config(TOKENIZER_CONFIG).num_tokens
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, model.cfg.codebook_size, (1, model.cfg.num_codebooks, num_tokens), generator=g)
    for variant, m, bundle in (("tiny", bundle_equivalent(model, DTYPE), "models/tiny"),
                               ("fp32", model, "fp32/bundle")):
        tensors, meta = loop_tensors(m, tok, num_tokens, codes)
        save_tensors(os.path.join(out_dir, variant), tensors, {**meta, "bundle": bundle})
    save_tensors(os.path.join(out_dir, "sampler"), *sampler_tensors())
