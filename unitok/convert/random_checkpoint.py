"""Seeded random checkpoints in the released on-disk layout, to test the converter end to end.

`python3 -m unitok make-random-checkpoint --mllm-config tiny|7b --tokenizer-config small|large --out DIR` writes
  DIR/mllm/       config.json (Hugging Face MiniGemini/Llama style), sharded bf16 safetensors +
                  model.safetensors.index.json, Llama-2 tokenizer files
  DIR/unitok_tokenizer.pth   {'args': <released args>, 'trainer': {'unitok': state_dict}}
The MLLM is written tensor by tensor (each tensor drawn from its own seeded stream), so a 7B-shaped checkpoint
needs only one tensor in memory at a time; the tokenizer (820 M params at most) is built whole.

Random values follow unitok.modules.unitok.init_random's rules, which keep activations unit-sized through the
stack: norm scales 1 + 0.1 n, other vectors 0.02 n, matrices n / sqrt(fan_in); buffers (zero_k_bias,
vocab_usage) are zeros, as in a trained model. As in the released model (whose quantiser is frozen during
training), the MLLM's visual-embedder codebooks are copies of the tokenizer's.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zlib

import numpy as np

from ..config import get_tokenizer_config
from ..export.onnx_io import atomic_output_dir
from ..export.tokenizer_onnx import save_released_tokenizer
from ..mllm_config import MLLMConfig, get_mllm_config
from ..modules.unitok import UniTok, init_random
from ..safetensors import write_sharded
from .mllm_checkpoint import mllm_specs
from .progress import Progress
from .tokenizer_files import write_tokenizer_files

TRANSFORMERS_SHARD_BYTES = 5 * 10**9  # save_pretrained's default max_shard_size "5GB" (transformers 4.39)
EMBEDDER_CODEBOOK = "model.multi_embedder.quantizer.codebooks.{}.codebook.weight"
TOKENIZER_CODEBOOK = "quantizer.codebooks.{}.codebook.weight"


def random_tensor(seed: int, name: str, shape: tuple, is_parameter: bool) -> np.ndarray:
    """One tensor's seeded values; depends only on (seed, name, shape), not on the order tensors are made in."""
    if not is_parameter:
        return np.zeros(shape, np.float32)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    n = rng.standard_normal(shape, dtype=np.float32)
    if len(shape) == 1:
        return (1.0 + 0.1 * n) if name.endswith("weight") else 0.02 * n
    return n * np.float32(math.prod(shape[1:]) ** -0.5)


def hf_config(cfg: MLLMConfig) -> dict:
    """config.json as transformers writes it for the released MiniGeminiLlamaForCausalLM. Llama-2-7b-hf's fields
    plus the MiniGemini training flags of issue #20; the released file itself was not seen."""
    return {
        "_name_or_path": f"unitok_mllm_random_{cfg.name}",
        "architectures": ["MiniGeminiLlamaForCausalLM"],
        "model_type": "mini_gemini",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_id,
        "pad_token_id": cfg.pad_token_id,
        "hidden_act": "silu",
        "hidden_size": cfg.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": cfg.intermediate_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_key_value_heads": cfg.num_key_value_heads,
        "pretraining_tp": 1,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_scaling": None,
        "rope_theta": cfg.rope_theta,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.39.2",
        "use_cache": True,
        "vocab_size": cfg.vocab_size,
        "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False,
        "tokenizer_model_max_length": 2048,
        "tokenizer_padding_side": "right",
    }


def check_codebooks_match(mllm: MLLMConfig, tok) -> None:
    if (mllm.num_codebooks, mllm.codebook_size, mllm.code_dim) != (tok.num_codebooks, tok.codebook_size, tok.code_dim):
        raise ValueError(
            f"MLLM config {mllm.name!r} has {mllm.num_codebooks} x {mllm.codebook_size} x {mllm.code_dim}-d codes but "
            f"tokenizer config {tok.name!r} has {tok.num_codebooks} x {tok.codebook_size} x {tok.code_dim}-d")


def write_random_tokenizer(cfg, seed: int, path: str) -> UniTok:
    model = init_random(UniTok(cfg), seed)
    save_released_tokenizer(model, path)
    return model


def write_random_mllm(cfg: MLLMConfig, seed: int, folder: str, codebooks: list[np.ndarray] | None = None,
                      max_shard_bytes: int = TRANSFORMERS_SHARD_BYTES, tokenizer_files: str = "sentencepiece") -> None:
    """Write the MLLM folder; `codebooks` (the tokenizer's raw codebook weights) replace the embedder's."""
    os.makedirs(folder, exist_ok=True)
    specs = mllm_specs(cfg)
    progress = Progress(f"random {cfg.name} MLLM", sum(2 * math.prod(s) for s, _ in specs.values()), len(specs))

    def make(name, _dtype, shape):
        for i, table in enumerate(codebooks or []):
            if name == EMBEDDER_CODEBOOK.format(i):
                return table
        return random_tensor(seed, name, shape, specs[name][1])

    write_sharded(folder, [(k, "BF16", s) for k, (s, _) in specs.items()], make, max_shard_bytes,
                  metadata={"format": "pt"}, progress=lambda name, nbytes: progress.update(nbytes))
    progress.close()
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(hf_config(cfg), f, indent=2)
    write_tokenizer_files(folder, tokenizer_files)


def make_random_checkpoint(out: str, mllm_config: str, tokenizer_config: str, seed: int = 0,
                           max_shard_bytes: int = TRANSFORMERS_SHARD_BYTES, tokenizer_files: str = "sentencepiece") -> None:
    mcfg, tcfg = get_mllm_config(mllm_config), get_tokenizer_config(tokenizer_config)
    check_codebooks_match(mcfg, tcfg)
    with atomic_output_dir(out) as tmp:  # all or nothing, like the converter
        tok = write_random_tokenizer(tcfg, seed, os.path.join(tmp, "unitok_tokenizer.pth"))
        codebooks = [cb.codebook.weight.detach().numpy() for cb in tok.quantizer.codebooks]
        del tok
        write_random_mllm(mcfg, seed + 1, os.path.join(tmp, "mllm"), codebooks, max_shard_bytes, tokenizer_files)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok make-random-checkpoint", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mllm-config", required=True, help="MLLM size preset (tiny, 7b)")
    ap.add_argument("--tokenizer-config", required=True, help="tokenizer size preset (small, large, ...)")
    ap.add_argument("--out", required=True, help="output folder (must not exist, or be empty)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-shard-mb", type=float, default=TRANSFORMERS_SHARD_BYTES / 1e6,
                    help="safetensors shard size limit in MB (default: transformers' 5000)")
    ap.add_argument("--tokenizer-files", choices=("sentencepiece", "json"), default="sentencepiece",
                    help="text tokenizer files to put in the MLLM folder: a tokenizer.model like the released "
                         "folder (default), or tokenizer.json")
    args = ap.parse_args(argv)
    try:
        make_random_checkpoint(args.out, args.mllm_config, args.tokenizer_config, args.seed,
                               int(args.max_shard_mb * 1e6), args.tokenizer_files)
    except (ValueError, KeyError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}/unitok_tokenizer.pth and {args.out}/mllm; convert with:\n"
          f"  python3 -m unitok convert --tokenizer {args.out}/unitok_tokenizer.pth --mllm {args.out}/mllm "
          f"--mllm-config {args.mllm_config} --out BUNDLE --dtype fp32", file=sys.stderr)
    return 0
