"""A random Q4_0 GGUF of the Llama-2-7B shapes (unitok/mllm_config.py's '7b' preset), for llama.cpp beside the
project in bench/llm7b.ts. A small GGUF v3 writer of its own: the header, the llama metadata and the Llama-2
vocabulary (from models/tiny/tokenizer.json), then every tensor written as it is made, so memory stays at one
tensor (~74 MB).

    /usr/bin/python3 bench/make_gguf.py OUT.gguf [PRESET]   (7b: 3.5 GiB, about a minute; tiny: for a dry run)

Every 2-D weight is Q4_0 (llama.cpp's `--pure`: blocks of 32 weights, an fp16 scale and 16 bytes of 4-bit
values, weight = (q - 8) * scale), the norms float32. Random values: for timing only.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from unitok.mllm_config import MLLM_CONFIGS  # noqa: E402

GGUF_VERSION = 3
ALIGNMENT = 32
F32, Q4_0 = 0, 2  # ggml types
Q4_0_BLOCK, Q4_0_BYTES = 32, 18
MOSTLY_Q4_0 = 2  # general.file_type
# GGUF metadata value types
UINT32, INT32, FLOAT32, STRING, ARRAY = 4, 5, 6, 8, 9
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6


def gguf_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key: str, vtype: int, value) -> bytes:
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == STRING:
        return out + gguf_string(value)
    if vtype == ARRAY:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        if etype == STRING:
            return out + b"".join(gguf_string(s) for s in items)
        return out + np.asarray(items, {INT32: "<i4", FLOAT32: "<f4", UINT32: "<u4"}[etype]).tobytes()
    return out + struct.pack({UINT32: "<I", INT32: "<i", FLOAT32: "<f"}[vtype], value)


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """The Llama-2 pieces by id, SentencePiece-style scores (minus the id) and token types."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "tiny", "tokenizer.json")
    vocab = json.load(open(path))["model"]["vocab"]
    tokens = [""] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    types = [TOKEN_UNKNOWN if i == 0 else TOKEN_CONTROL if i < 3 else
             TOKEN_BYTE if t.startswith("<0x") and len(t) == 6 else TOKEN_NORMAL for i, t in enumerate(tokens)]
    return tokens, [-float(i) for i in range(len(tokens))], types


def tensors(cfg) -> list[tuple[str, list[int], int]]:
    """(name, GGUF dims (innermost first), ggml type) in llama.cpp's naming."""
    D, F, V = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    kvd = cfg.num_key_value_heads * cfg.head_dim
    out = [("token_embd.weight", [D, V], Q4_0)]
    for i in range(cfg.num_hidden_layers):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", [D], F32), (b + "attn_q.weight", [D, D], Q4_0),
                (b + "attn_k.weight", [D, kvd], Q4_0), (b + "attn_v.weight", [D, kvd], Q4_0),
                (b + "attn_output.weight", [D, D], Q4_0), (b + "ffn_norm.weight", [D], F32),
                (b + "ffn_gate.weight", [D, F], Q4_0), (b + "ffn_up.weight", [D, F], Q4_0),
                (b + "ffn_down.weight", [F, D], Q4_0)]
    return out + [("output_norm.weight", [D], F32), ("output.weight", [D, V], Q4_0)]


def nbytes(dims: list[int], ggml_type: int) -> int:
    n = int(np.prod(dims))
    return n * 4 if ggml_type == F32 else n // Q4_0_BLOCK * Q4_0_BYTES


def data(dims: list[int], ggml_type: int, rng: np.random.Generator) -> bytes:
    if ggml_type == F32:
        return np.ones(int(np.prod(dims)), "<f4").tobytes()  # RMSNorm gains
    blocks = np.empty((int(np.prod(dims)) // Q4_0_BLOCK, Q4_0_BYTES), np.uint8)
    # Scales ~ 1/(8 sqrt(fan_in)), so that activations keep their size through the random layers.
    scale = np.float16(1.0 / (8 * np.sqrt(dims[0])))
    blocks[:, :2] = np.frombuffer(scale.tobytes(), np.uint8)
    blocks[:, 2:] = rng.integers(0, 256, (blocks.shape[0], 16), np.uint8)
    return blocks.tobytes()


def write_gguf(path: str, preset: str = "7b", seed: int = 0) -> int:
    cfg = MLLM_CONFIGS[preset]
    tokens, scores, types = vocabulary()
    meta = [
        kv("general.architecture", STRING, "llama"),
        kv("general.name", STRING, f"random llama-2 {preset} shapes (unitok bench)"),
        kv("general.file_type", UINT32, MOSTLY_Q4_0),
        kv("general.alignment", UINT32, ALIGNMENT),
        kv("llama.context_length", UINT32, cfg.max_position_embeddings),
        kv("llama.embedding_length", UINT32, cfg.hidden_size),
        kv("llama.block_count", UINT32, cfg.num_hidden_layers),
        kv("llama.feed_forward_length", UINT32, cfg.intermediate_size),
        kv("llama.rope.dimension_count", UINT32, cfg.head_dim),
        kv("llama.rope.freq_base", FLOAT32, cfg.rope_theta),
        kv("llama.attention.head_count", UINT32, cfg.num_attention_heads),
        kv("llama.attention.head_count_kv", UINT32, cfg.num_key_value_heads),
        kv("llama.attention.layer_norm_rms_epsilon", FLOAT32, cfg.rms_norm_eps),
        kv("tokenizer.ggml.model", STRING, "llama"),
        kv("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        kv("tokenizer.ggml.scores", ARRAY, (FLOAT32, scores)),
        kv("tokenizer.ggml.token_type", ARRAY, (INT32, types)),
        kv("tokenizer.ggml.bos_token_id", UINT32, cfg.bos_token_id),
        kv("tokenizer.ggml.eos_token_id", UINT32, cfg.eos_token_id),
        kv("tokenizer.ggml.unknown_token_id", UINT32, 0),
    ]
    infos, offset, layout = [], 0, tensors(cfg)
    for name, dims, ggml_type in layout:
        infos.append(gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
                     + struct.pack("<IQ", ggml_type, offset))
        offset += -(-nbytes(dims, ggml_type) // ALIGNMENT) * ALIGNMENT
    rng = np.random.default_rng(seed)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", GGUF_VERSION, len(layout), len(meta)))
        f.write(b"".join(meta) + b"".join(infos))
        f.write(b"\0" * (-f.tell() % ALIGNMENT))
        for i, (name, dims, ggml_type) in enumerate(layout):
            f.write(data(dims, ggml_type, rng))
            f.write(b"\0" * (-f.tell() % ALIGNMENT))
            print(f"\rgguf {i + 1}/{len(layout)} tensors, {f.tell() / 2**30:.2f} GiB", end="", flush=True)
        size = f.tell()
    os.replace(tmp, path)
    print(f"\nwrote {path}: {size / 2**30:.2f} GiB")
    return size


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    write_gguf(*sys.argv[1:])
