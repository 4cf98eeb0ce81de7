"""Convert the released checkpoints into one runtime bundle folder (format: docs/bundle.md).

  python3 -m unitok convert --tokenizer unitok_tokenizer.pth --mllm <HF folder> --out BUNDLE
                            --dtype fp32|fp16|int4 [--tokenizer-config NAME] [--mllm-config NAME]

Everything is validated before anything is written: the tokenizer checkpoint and the MLLM shards against the
module trees (every missing, unexpected or mis-shaped key is listed), the code layouts of the two against each
other, and the text tokenizer files. The bundle is then written into a temp folder beside --out and renamed
at the end; any error, Ctrl-C or SIGTERM removes it. MLLM weights are streamed from the shards one tensor at a
time into the graphs' external data, so the 7B conversion needs a few GB of RAM, not the model's size.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time

import numpy as np

from ..export.mllm_graphs import INT4_BLOCK_SIZE, INT4_BLOCK_SIZES, LM_HEAD_BITS, PRECISIONS, build_mllm_graphs
from ..export.onnx_io import atomic_output_dir
from ..export.tokenizer_onnx import GRAPH_FILES, CheckpointMismatchError, export_tokenizer_graphs, load_released_tokenizer
from ..safetensors import SafetensorsCheckpoint, SafetensorsError
from .bundle_config import bundle_config
from .mllm_checkpoint import StreamedWeights, check_mllm_checkpoint, read_mllm_config, visual_hint
from .progress import Progress, human_bytes
from .tokenizer_files import TokenizerFilesError, choose_tokenizer_files

CODEBOOK_KEY = "model.multi_embedder.quantizer.codebooks.{}.codebook.weight"


class ConversionError(ValueError):
    pass


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def validate(tokenizer_path: str, mllm_dir: str, tokenizer_config: str | None, mllm_config: str):
    """Everything that can be checked before writing; raises ConversionError listing all problems found."""
    problems, notes, hint = [], [], ""
    tok_model = tok_cfg = cfg = ckpt = None
    try:
        tok_model, tok_cfg = load_released_tokenizer(tokenizer_path, tokenizer_config)
    except CheckpointMismatchError as e:
        problems += [f"tokenizer {p}" for p in e.problems]
    except (ValueError, KeyError, FileNotFoundError) as e:
        problems.append(f"tokenizer: {e}")
    try:
        cfg = read_mllm_config(mllm_dir, mllm_config)
        ckpt = SafetensorsCheckpoint(mllm_dir)
        mllm_problems, notes = check_mllm_checkpoint(ckpt, cfg)
        problems += [f"mllm {p}" for p in mllm_problems]
        hint = visual_hint(mllm_problems, mllm_config)
    except (ValueError, KeyError, FileNotFoundError, SafetensorsError) as e:
        problems.append(f"mllm: {e}")
    if tok_cfg and cfg:
        ours = (cfg.num_codebooks, cfg.codebook_size, cfg.code_dim)
        theirs = (tok_cfg.num_codebooks, tok_cfg.codebook_size, tok_cfg.code_dim)
        if ours != theirs:
            problems.append(f"code layout: MLLM {ours} vs tokenizer {theirs} (codebooks, entries, dims)")
    tokenizer_files = None
    if cfg:
        try:
            tokenizer_files = choose_tokenizer_files(mllm_dir, cfg.vocab_size, log=_log)
        except (TokenizerFilesError, OSError, KeyError, ValueError) as e:
            problems.append(f"text tokenizer: {e}")
    if problems:
        raise ConversionError(f"{len(problems)} problem(s); nothing was written:\n  " + "\n  ".join(problems) + hint)
    for note in notes:
        _log(f"note: {note}")
    _compare_codebooks(tok_model, ckpt, cfg)
    return tok_model, tok_cfg, cfg, ckpt, tokenizer_files


def _compare_codebooks(tok_model, ckpt, cfg) -> None:
    """The released MLLM keeps a frozen copy of the tokenizer's codebooks: a difference means the two files do
    not belong together (or the MLLM was trained on another tokenizer), so say so, without failing."""
    worst = 0.0
    for i, cb in enumerate(tok_model.quantizer.codebooks):
        mine = cb.codebook.weight.detach().numpy()
        worst = max(worst, float(np.abs(ckpt[CODEBOOK_KEY.format(i)] - mine).max()))
    if worst > 1e-2:  # bf16 storage rounds to ~3 significant digits
        _log(f"warning: the MLLM's embedder codebooks differ from the tokenizer's (max |diff| {worst:.3g}); "
             "images encoded by this tokenizer may not be what the MLLM was trained on")


def convert(tokenizer_path: str, mllm_dir: str, out: str, dtype: str, tokenizer_config: str | None = None,
            mllm_config: str = "7b", int4_accuracy_level: int = 4, clip_words: dict | None = None,
            int4_block_size: int = INT4_BLOCK_SIZE, lm_head_bits: int = 4) -> dict:
    """Validate, then write the bundle; returns its config.json contents. `clip_words`: a closed word vocabulary
    for the CLIP text tower (export/clip_files.py); without it a 49,408-id text tower gets the CLIP BPE file."""
    if dtype not in PRECISIONS:
        raise ConversionError(f"unknown --dtype {dtype!r}; expected one of {', '.join(PRECISIONS)}")
    if int4_block_size not in INT4_BLOCK_SIZES:
        raise ConversionError(f"--int4-block-size {int4_block_size} is not one of "
                              f"{', '.join(map(str, INT4_BLOCK_SIZES))}")
    if lm_head_bits == 8 and dtype != "int4":
        raise ConversionError(f"--lm-head-bits 8 applies to --dtype int4; {dtype} keeps lm_head in {dtype}")
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ConversionError(f"output folder {out} exists and is not empty; choose another or remove it")
    t0 = time.time()
    _log(f"validating {tokenizer_path} and {mllm_dir} ...")
    tok_model, tok_cfg, cfg, ckpt, (tok_json, tok_config) = validate(tokenizer_path, mllm_dir, tokenizer_config,
                                                                     mllm_config)
    weights = StreamedWeights(ckpt, cfg)
    with atomic_output_dir(out) as tmp:
        _log(f"tokenizer graphs ({tok_cfg.name}, fp32):")
        export_tokenizer_graphs(tok_model, tmp, source=os.path.basename(tokenizer_path), log=_log,
                                clip_words=clip_words)
        del tok_model
        gc.collect()  # the tokenizer (3 GB for the released one) must not stay beside the MLLM tensors

        _log(f"MLLM graphs ({cfg.name}, {dtype}), streaming {human_bytes(weights.stored_bytes())} of weights:")
        bar = Progress("mllm", weights.stored_bytes(), len(weights))
        manifest = build_mllm_graphs(weights, cfg, dtype, tmp, int4_accuracy_level=int4_accuracy_level,
                                     int4_block_size=int4_block_size, lm_head_bits=lm_head_bits,
                                     progress=lambda graph, key: bar.update(ckpt.nbytes(key) if key in ckpt else 0,
                                                                            note=graph))
        bar.close()

        _copy_json(tok_json, os.path.join(tmp, "tokenizer.json"))
        shutil.copyfile(tok_config, os.path.join(tmp, "tokenizer_config.json"))
        origin = "the MLLM folder" if os.path.dirname(os.path.abspath(tok_json)) == os.path.abspath(mllm_dir) \
            else "the project's assets/llama2 (vocabulary checked against the folder's files)"
        graphs = {**manifest["graphs"], **{f"unitok_{k}": v for k, v in GRAPH_FILES.items()}}
        source = {"tokenizer": os.path.basename(tokenizer_path), "mllm": os.path.basename(os.path.abspath(mllm_dir)),
                  "tokenizer_config": tok_cfg.name, "mllm_config": mllm_config}
        config = bundle_config(cfg, tok_cfg, dtype, graphs, source, f"Llama-2 tokenizer from {origin}")
        config["mllm_graphs"] = "mllm_graphs.json"
        config["files"] = {f: os.path.getsize(os.path.join(tmp, f)) for f in sorted(os.listdir(tmp))}
        _write_json(os.path.join(tmp, "config.json"), config)
    total = sum(config["files"].values())
    _log(f"wrote {out}: {len(config['files']) + 1} files, {human_bytes(total)}, in {time.time() - t0:.0f}s")
    return config


def _copy_json(src: str, dst: str) -> None:
    """Re-serialised without indentation: the same content in 1.2 MB rather than 1.8 MB for Llama-2's."""
    with open(src, encoding="utf-8") as f:
        obj = json.load(f)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))


def _write_json(path: str, obj: dict) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok convert", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="unitok_tokenizer.pth (released layout)")
    ap.add_argument("--mllm", required=True, help="MLLM folder: config.json, safetensors shards (+ index), tokenizer files")
    ap.add_argument("--out", required=True, help="bundle folder to create (must not exist, or be empty)")
    ap.add_argument("--dtype", required=True, choices=sorted(PRECISIONS), help="precision of the MLLM graphs")
    ap.add_argument("--tokenizer-config", help="tokenizer size preset (default: from the checkpoint's args)")
    ap.add_argument("--mllm-config", default="7b",
                    help="preset for the visual sizes the released code hard-codes (default 7b; tiny for tests)")
    ap.add_argument("--int4-accuracy-level", type=int, default=4, choices=(0, 1, 2, 3, 4),
                    help="MatMulNBits accuracy_level for --dtype int4: 4 = int8 activations (fast on CPU), "
                         "0 = exact fp32 math")
    ap.add_argument("--int4-block-size", type=int, default=INT4_BLOCK_SIZE, choices=INT4_BLOCK_SIZES,
                    help="weights per int4 scale for --dtype int4 (default 32, the WebGPU fast path; 128 decodes "
                         "faster on CPU: docs/step-profile.md)")
    ap.add_argument("--lm-head-bits", type=int, default=4, choices=LM_HEAD_BITS,
                    help="lm_head of --dtype int4: 4 (MatMulNBits, as every Linear) or 8 (int8 weights and activations "
                         "through MatMulInteger: batches better on the CPU EP; other EPs may lack it)")
    args = ap.parse_args(argv)
    try:
        convert(args.tokenizer, args.mllm, args.out, args.dtype, args.tokenizer_config, args.mllm_config,
                args.int4_accuracy_level, int4_block_size=args.int4_block_size, lm_head_bits=args.lm_head_bits)
    except (ConversionError, FileExistsError) as e:
        _log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        _log("interrupted; nothing was written")
        return 130
    return 0
