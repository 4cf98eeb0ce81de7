"""A ~200M-parameter random int4 bundle for bench/engine.ts, whose steps (~10-20 ms on 2 CPU cores) are closer to a
real model's than the tiny bundle's (~0.5 ms), so that engine overhead can be read against realistic step times.

    /usr/bin/python3 bench/make_bench_bundle.py OUT_DIR        (about 10 s, 170 MiB)
    node --import tsx bench/engine.ts --model OUT_DIR/bundle --tokens 32 --rounds 2

Sizes: the tiny preset's vocabulary and codebooks (tokenizer preset 'small'), with a 1024-wide, 8-layer decoder
(16 heads, 8 KV heads) and a 1024-position context. Random weights, like models/tiny: for timing only.
"""
import dataclasses
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from unitok import mllm_config  # noqa: E402
from unitok.convert import convert, random_checkpoint  # noqa: E402

NAME = "bench200m"


def main(out: str) -> None:
    mllm_config.MLLM_CONFIGS[NAME] = dataclasses.replace(
        mllm_config.MLLM_CONFIGS["tiny"], name=NAME, hidden_size=1024, num_hidden_layers=8, num_attention_heads=16,
        num_key_value_heads=8, head_dim=64, intermediate_size=2816, max_position_embeddings=1024)
    ckpt = os.path.join(out, "ckpt")
    random_checkpoint.make_random_checkpoint(ckpt, NAME, "small", seed=1)
    convert.convert(os.path.join(ckpt, "unitok_tokenizer.pth"), os.path.join(ckpt, "mllm"), os.path.join(out, "bundle"),
                    "int4", "small", NAME)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
