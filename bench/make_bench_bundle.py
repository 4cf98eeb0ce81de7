"""Random int4 bundles for the benchmarks (timing only; random weights, like models/tiny).

    /usr/bin/python3 bench/make_bench_bundle.py OUT_DIR                 # bench200m: about 10 s, 170 MiB
    /usr/bin/python3 bench/make_bench_bundle.py --preset 7b OUT_DIR     # the released sizes: about 30 min, 4.5 GiB
    python3 bench/make_bench_bundle.py --preset 7b --dtypes int4,fp16 OUT_DIR   # OUT_DIR/bundle-int4, bundle-fp16

With --dtypes, one checkpoint serves every dtype, each bundle going to OUT_DIR/bundle-DTYPE (bench/gpu.sh); without
it the one int4 bundle goes to OUT_DIR/bundle. Preset 'tiny' (models/tiny's sizes) is for dry runs.

bench200m, for bench/engine.ts: the tiny preset's vocabulary and codebooks (tokenizer preset 'small'), with a
1024-wide, 8-layer decoder (16 heads, 8 KV heads) and a 1024-position context, whose steps (~10-20 ms on 2 CPU
cores) are closer to a real model's than the tiny bundle's (~0.5 ms).

7b, for bench/llm7b.ts: the released shapes (MLLM preset '7b': Llama-2-7B, the 3-layer depth head, 8 x 4096
codebooks; tokenizer preset 'large'). The random checkpoint (14 GiB of bf16) is written tensor by tensor and the
converter streams it tensor by tensor into the int4 graphs' external data, so memory holds one tensor at a time
(never the 27 GB of fp32 weights); the checkpoint is deleted once converted.

    node --import tsx bench/engine.ts --model OUT_DIR/bundle --tokens 32 --rounds 2
"""
import argparse
import dataclasses
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from unitok import mllm_config  # noqa: E402
from unitok.convert import convert, random_checkpoint  # noqa: E402

PRESETS = {"bench200m": "small", "7b": "large", "tiny": "small"}  # MLLM preset -> tokenizer preset


def main(out: str, preset: str, dtypes: list[str] | None = None, block_size: int = 32) -> None:
    if preset == "bench200m":
        mllm_config.MLLM_CONFIGS[preset] = dataclasses.replace(
            mllm_config.MLLM_CONFIGS["tiny"], name=preset, hidden_size=1024, num_hidden_layers=8,
            num_attention_heads=16, num_key_value_heads=8, head_dim=64, intermediate_size=2816,
            max_position_embeddings=1024)
    tokenizer = PRESETS[preset]
    ckpt = os.path.join(out, "ckpt")
    if not os.path.exists(os.path.join(ckpt, "mllm", "model.safetensors.index.json")):
        random_checkpoint.make_random_checkpoint(ckpt, preset, tokenizer, seed=1)
    for dtype in dtypes or ["int4"]:
        bundle = os.path.join(out, f"bundle-{dtype}" if dtypes else "bundle")
        convert.convert(os.path.join(ckpt, "unitok_tokenizer.pth"), os.path.join(ckpt, "mllm"), bundle, dtype,
                        tokenizer, preset, int4_block_size=block_size)
    if preset != "bench200m":
        shutil.rmtree(ckpt)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="bench200m")
    ap.add_argument("--dtypes", help="comma-separated bundle dtypes (int4, fp16, fp32), each to OUT_DIR/bundle-DTYPE")
    ap.add_argument("--int4-block-size", type=int, default=32,
                    help="the converter's --int4-block-size (128 for CPU decoding: bench/matmul-nbits.ts)")
    args = ap.parse_args()
    main(args.out, args.preset, args.dtypes.split(",") if args.dtypes else None, args.int4_block_size)
