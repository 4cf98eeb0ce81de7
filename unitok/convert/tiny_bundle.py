"""models/tiny: a seeded random bundle at the released architecture with tiny sizes, committed for tests.

It is built the way a real bundle is: a random checkpoint in the released on-disk layout (sharded bf16
safetensors + index + config.json + tokenizer.model, and unitok_tokenizer.pth) goes through `convert`. The build
is deterministic, so `--check` can tell whether the committed files still match the code.

  python3 -m unitok build-tiny-bundle [--out models/tiny]     rebuild (replaces the folder)
  python3 -m unitok build-tiny-bundle --check                 exit 1 if the committed bundle is stale
"""
from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile

from .convert import convert
from .random_checkpoint import make_random_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "models", "tiny")
SEED = 2502  # arXiv 2502.20321
MLLM_CONFIG, TOKENIZER_CONFIG = "tiny", "small"
# int4 MatMulNBits and fp16 tables keep it under MAX_BYTES; accuracy level 0 (fp32 math on the dequantised
# weights) lets the PyTorch reference reproduce the graphs to ~1e-6, so greedy and seeded loops match exactly.
DTYPE, INT4_ACCURACY_LEVEL = "int4", 0
SHARD_BYTES = 2 * 10**6  # several shards + index, as the released folder has
MAX_BYTES = 10 * 10**6

MODEL_CARD = f"""# UniTok tiny test bundle (random weights)

**Random weights. This model knows nothing; its text and images are noise.** It exists so that the server,
the engine and the converter can be tested end to end in seconds, on any machine, without the 15 GB release.

- Architecture: the released UniTok MLLM (Llama decoder + visual embedder + depth head `ar_head`) and UniTok
  tokenizer, at the sizes of the toolkit presets `{MLLM_CONFIG}` (MLLM: hidden 64, 2 layers, 4 heads / 2 KV heads,
  depth head 3 layers) and `{TOKENIZER_CONFIG}` (tokenizer: 32x32 px, 2x2 visual tokens, 4 codebooks x 64 codes).
- Text tokenizer: the real Llama-2 tokenizer (vocabulary 32000), so prompts tokenize as with the released model.
- Weights: seeded random (seed {SEED}), written in the released checkpoint layout (bf16 safetensors shards,
  `unitok_tokenizer.pth`) and converted with `python3 -m unitok convert --dtype {DTYPE}
  --int4-accuracy-level {INT4_ACCURACY_LEVEL}`, so the bundle exercises the real conversion path.
- Format: docs/bundle.md. Expected outputs of the reference loops: `python3 -m unitok fixtures --only reference_loop`.
- Rebuild (deterministic): `python3 -m unitok build-tiny-bundle`; `--check` verifies the committed copy.
- License: MIT, like the project. No training data was involved.
"""


def make_tiny_checkpoint(folder: str) -> tuple[str, str]:
    """The random released-layout checkpoint the tiny bundle is converted from: (tokenizer .pth, MLLM folder)."""
    make_random_checkpoint(folder, MLLM_CONFIG, TOKENIZER_CONFIG, seed=SEED, max_shard_bytes=SHARD_BYTES)
    return os.path.join(folder, "unitok_tokenizer.pth"), os.path.join(folder, "mllm")


def build_tiny_bundle(out: str) -> None:
    """Write the bundle into `out` (created or replaced)."""
    with tempfile.TemporaryDirectory(prefix="unitok-tiny-") as work:
        tok, mllm = make_tiny_checkpoint(os.path.join(work, "checkpoint"))
        bundle = os.path.join(work, "bundle")
        convert(tok, mllm, bundle, DTYPE, TOKENIZER_CONFIG, MLLM_CONFIG, INT4_ACCURACY_LEVEL)
        with open(os.path.join(bundle, "README.md"), "w") as f:
            f.write(MODEL_CARD)
        size = sum(os.path.getsize(os.path.join(bundle, n)) for n in os.listdir(bundle))
        if size > MAX_BYTES:
            raise RuntimeError(f"tiny bundle is {size} bytes, over the {MAX_BYTES} budget")
        if os.path.exists(out):
            shutil.rmtree(out)
        shutil.copytree(bundle, out)


def stale_files(out: str) -> list[str]:
    """Files of a fresh build that differ from (or are missing in) `out`, plus files `out` has in excess."""
    with tempfile.TemporaryDirectory(prefix="unitok-tiny-check-") as work:
        fresh = os.path.join(work, "tiny")
        build_tiny_bundle(fresh)
        names = sorted(set(os.listdir(fresh)) | set(os.listdir(out) if os.path.isdir(out) else []))
        return [n for n in names if not (os.path.isfile(os.path.join(out, n)) and os.path.isfile(os.path.join(fresh, n))
                                         and filecmp.cmp(os.path.join(out, n), os.path.join(fresh, n), shallow=False))]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok build-tiny-bundle", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="bundle folder (default: models/tiny)")
    ap.add_argument("--check", action="store_true", help="compare a fresh build with --out instead of writing")
    args = ap.parse_args(argv)
    if args.check:
        stale = stale_files(args.out)
        if stale:
            print(f"{args.out} is stale; differing files: {', '.join(stale)}\n"
                  "rebuild with `python3 -m unitok build-tiny-bundle`", file=sys.stderr)
            return 1
        print(f"{args.out} matches a fresh build", file=sys.stderr)
        return 0
    build_tiny_bundle(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
