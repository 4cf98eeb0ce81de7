"""ONNX graphs of the UniTok MLLM for onnxruntime, built op by op as onnxruntime-genai builds Llama.

Six graphs (IO contract: docs/graphs.md):
    embed_tokens   input_ids [B,S]               -> inputs_embeds [B,S,D]
    visual_embed   codes [B,K,N]                 -> inputs_embeds [B,N,D]   (model.multi_embedder)
    llm            inputs_embeds + KV cache      -> hidden [B,D] at logits_index, new KV   (model.layers, norm)
    lm_head        hidden [B,D]                  -> logits [B,V]
    depth_head     one depth position + KV cache -> logits [B,codebook_size]   (ar_head layers, norm, linear_head)
    code_embed     code_ids [B,S]                -> embeds [B,S,D]          (ar_head.codebooks, stacked)

The decoder stacks use ORT's fused ops where they fit: packed QKV; in `llm`, com.microsoft RotaryEmbedding and
attention as MatMul/Softmax/MatMul over the KV cache as an input (the graph outputs only the new positions' keys
and values, which the caller writes into its cache); in `depth_head` (a cache of K positions), GroupQueryAttention
with rotary inside and present outputs aliased to the cache; SimplifiedLayerNormalization for the first norm and
SkipSimplifiedLayerNormalization for every residual add + norm after it, MatMulNBits for int4.

`weights` is any mapping with keys() and [key] -> float32 ndarray, read lazily: each tensor is loaded, converted,
appended to its graph's external data file and dropped, so converting the 7B checkpoint holds a few tensors at a time.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, numpy_helper

from ..convert.mllm_checkpoint import mllm_specs
from ..mllm_config import MLLMConfig
from .int4 import quantize_int4
from .int8 import A_ZERO_POINT, QMAX, TINY, quantize_int8_rows
from .onnx_builder import MS, GraphBuilder, onnx_type

GRAPHS = ("embed_tokens", "visual_embed", "llm", "lm_head", "depth_head", "code_embed")
INT4_BLOCK_SIZE = 32  # the default: the WebGPU fast path and genai's default
# MatMulNBits takes any power of two from 16; on CPU a larger block reads fewer scales per weight and runs
# MLAS's int8 kernel closer to the memory bandwidth (bench/matmul-nbits.ts: docs/step-profile.md).
INT4_BLOCK_SIZES = (16, 32, 64, 128, 256)
# lm_head of an int4 bundle: 4-bit MatMulNBits like every other Linear, or 8-bit weights through
# MatMulIntegerToFloat (export/int8.py), which batches far better on CPU (docs/step-profile.md). Other EPs may
# lack it.
LM_HEAD_BITS = (4, 8)
ARGMAX_BLOCK = 128  # lm_head's argmax: the vocabulary in blocks of this many (argmax_rows)
B, S = "batch_size", "sequence_length"


@dataclass(frozen=True)
class Precision:
    name: str
    io: type  # activations, embeddings, hidden states, KV caches, norm weights, unquantised weights
    table: type  # storage of embedding tables; gathered rows are cast to `io`
    int4: bool  # Linear layers of the two decoder stacks and their heads as 4-bit MatMulNBits


PRECISIONS = {
    "fp32": Precision("fp32", np.float32, np.float32, False),
    # For GPU/WebGPU EPs. On the CPU EP ORT wraps MatMul & co. in Casts to fp32 (correct, not fast).
    "fp16": Precision("fp16", np.float16, np.float16, False),
    # For the CPU EP: fp32 activations and KV; tables in fp16 halve the two biggest unquantised tensors.
    "int4": Precision("int4", np.float32, np.float16, True),
}


class _Emitter:
    """Emits the layer-level pieces of the MLLM graphs into one GraphBuilder, at one precision."""

    def __init__(self, *, name: str, out_dir: str, weights, cfg: MLLMConfig, prec: Precision, shapes, progress,
                 accuracy_level: int, block_size: int, lm_head_bits: int, layout_only: bool = False):
        self.g = GraphBuilder(name, out_dir, layout_only=layout_only)
        self.weights, self.cfg, self.prec, self.shapes = weights, cfg, prec, shapes
        self.progress, self.accuracy_level, self.block_size = progress, accuracy_level, block_size
        self.lm_head_bits = lm_head_bits
        self.io = onnx_type(prec.io)

    # -- checkpoint tensors ------------------------------------------------------------------------------------
    def load(self, key: str) -> np.ndarray:
        """One checkpoint tensor as float32, its shape checked against the module tree of the config."""
        if key not in self.shapes:
            raise KeyError(f"{key!r} is not a key of the UniTok MLLM layout")
        arr = np.asarray(self.weights[key], dtype=np.float32)
        if arr.shape != self.shapes[key]:
            raise ValueError(f"{key}: checkpoint has {arr.shape}, config {self.cfg.name!r} expects {self.shapes[key]}")
        if self.progress:
            self.progress(self.g.name, key)
        return arr

    def vector(self, key: str) -> str:
        """A norm weight or bias, stored in the io dtype."""
        return self.g.weight(key, self.load(key).astype(self.prec.io))

    # -- layers ------------------------------------------------------------------------------------------------
    def linear(self, x: str, name: str, w: np.ndarray, bias: np.ndarray | None = None, quantize=None) -> str:
        """x [..., K] @ w[N, K]^T + bias: MatMul on the transposed weight, or MatMulNBits (int4, bias fused)."""
        n, k = w.shape
        if quantize is None:
            quantize = self.prec.int4
        if quantize:
            if self.g.layout_only:  # only the shapes count (GraphBuilder writes nothing): skip the arithmetic
                kb = -(-k // self.block_size)
                packed, scales = np.zeros((n, kb, self.block_size // 2), np.uint8), np.zeros((n, kb), np.float32)
            else:
                packed, scales = quantize_int4(w, self.block_size)
            scales = scales.astype(self.prec.io)
            inputs = [x, self.g.weight(f"{name}.weight_q4", packed), self.g.weight(f"{name}.scales", scales)]
            if bias is not None:
                inputs += ["", "", self.g.weight(f"{name}.bias", bias.astype(self.prec.io))]
            return self.g.op("MatMulNBits", inputs, name=f"/{name}/MatMulNBits", domain=MS, K=k, N=n, bits=4,
                             block_size=self.block_size, accuracy_level=self.accuracy_level)
        y = self.g.op("MatMul", [x, self.g.weight(f"{name}.weight", np.ascontiguousarray(w.T, self.prec.io))],
                      name=f"/{name}/MatMul")
        if bias is None:
            return y
        return self.g.op("Add", [y, self.g.weight(f"{name}.bias", bias.astype(self.prec.io))], name=f"/{name}/Add")

    def linear_module(self, x: str, name: str, bias: bool = False, quantize=None) -> str:
        """A checkpoint nn.Linear called `name` (keys name.weight, name.bias)."""
        b = self.load(f"{name}.bias") if bias else None
        return self.linear(x, name, self.load(f"{name}.weight"), b, quantize)

    def linear_int8(self, x: str, name: str, w: np.ndarray) -> str:
        """x [B, K] @ w[N, K]^T with 8-bit weights and per-row 8-bit activations (export/int8.py spells out the
        arithmetic): quantise each row, one MatMulIntegerToFloat (the integer GEMM, each channel's scale applied
        as it writes its output), then the row's scale. Before, a MatMulInteger, a Cast and two Muls each made a
        pass over the [B, V] result: at batch 8 on the demo model they cost as much as the GEMM."""
        q, w_scale = quantize_int8_rows(w)
        p = f"/{name}"
        row_max = self.g.op("ReduceMax", [self.g.op("Abs", [x], name=f"{p}/Abs")], name=f"{p}/ReduceMax",
                            axes=[-1], keepdims=1)
        row_max = self.g.op("Max", [row_max, self.g.constant(f"{name}.tiny", np.array(TINY, np.float32))],
                            name=f"{p}/Max")
        x_scale = self.g.op("Div", [row_max, self.g.constant(f"{name}.qmax", np.array(QMAX, np.float32))],
                            name=f"{p}/RowScale")
        codes = self.g.op("Round", [self.g.op("Div", [x, x_scale], name=f"{p}/Div")], name=f"{p}/Round")
        zero = np.array(A_ZERO_POINT, np.float32)
        codes = self.g.op("Add", [codes, self.g.constant(f"{name}.zero_point_f", zero)], name=f"{p}/Add")
        codes = self.g.op("Cast", [codes], name=f"{p}/Cast", to=TensorProto.UINT8)
        # a_scale 1: the product a_scale * b_scale[n] the kernel forms is b_scale[n] itself, so each output is
        # float(acc) * w_scale[n] in one rounding.
        y = self.g.op("MatMulIntegerToFloat",
                      [codes, self.g.weight(f"{name}.weight_q8", np.ascontiguousarray(q.T)),
                       self.g.constant(f"{name}.a_scale", np.array(1, np.float32)),
                       self.g.weight(f"{name}.scales", w_scale),
                       self.g.constant(f"{name}.zero_point", zero.astype(np.uint8))],
                      name=f"{p}/MatMulIntegerToFloat", domain=MS)
        return self.g.op("Mul", [y, x_scale], name=f"{p}/MulRowScale")

    def layer_norm(self, x: str, name: str, eps: float) -> str:
        return self.g.op("LayerNormalization", [x, self.vector(f"{name}.weight"), self.vector(f"{name}.bias")],
                         name=f"/{name}/LayerNormalization", axis=-1, epsilon=eps)

    def rms_norm(self, x: str, name: str) -> str:
        return self.g.op("SimplifiedLayerNormalization", [x, self.vector(f"{name}.weight")],
                         name=f"/{name}/SimplifiedLayerNormalization", axis=-1, epsilon=self.cfg.rms_norm_eps)

    def skip_rms_norm(self, x: str, residual: str, name: str, keep_sum: bool = True):
        """norm(x + residual); with keep_sum also returns x + residual, the next residual stream."""
        node = f"/{name}/SkipSimplifiedLayerNormalization"
        outputs = [f"{node}/output_0", "", "", f"{node}/output_3"] if keep_sum else 1
        out = self.g.op("SkipSimplifiedLayerNormalization", [x, residual, self.vector(f"{name}.weight")], name=node,
                        outputs=outputs, domain=MS, epsilon=self.cfg.rms_norm_eps)
        return (out[0], out[3]) if keep_sum else out

    def embedding(self, name: str, ids: str, parts) -> str:
        """Gather rows of a table written from `parts` (stacked along rows), then cast to the io dtype."""
        table = self.g.weight_stacked(name, (p.astype(self.prec.table) for p in parts))
        y = self.g.op("Gather", [table, ids], name=f"/{name}/Gather")
        if self.prec.table != self.prec.io:
            y = self.g.op("Cast", [y], name=f"/{name}/Cast", to=self.io)
        return y

    def logits_output(self, x: str, shape: list) -> None:
        """Logits leave every graph as float32: samplers read Float32Array and fp16 would round the softmax input.
        The producing node's output is renamed rather than copied through an Identity, which ORT keeps when its
        output is a graph output (a pass over [B, V] per step)."""
        if self.prec.io != np.float32:
            x = self.g.op("Cast", [x], name="/logits/Cast", to=TensorProto.FLOAT)
        self.g.output(x, "logits", TensorProto.FLOAT, shape, rename=True)

    # -- Llama decoder stack -----------------------------------------------------------------------------------
    def rotary_caches(self, rows: int) -> tuple[str, str]:
        """cos/sin [rows, head_dim/2] for RotaryEmbedding and GQA do_rotary (non-interleaved, as modules/llama.py)."""
        hd = self.cfg.head_dim
        inv_freq = 1.0 / (self.cfg.rope_theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
        angles = np.outer(np.arange(rows, dtype=np.float64), inv_freq)
        return (self.g.weight("cos_cache", np.cos(angles).astype(self.prec.io)),
                self.g.weight("sin_cache", np.sin(angles).astype(self.prec.io)))

    def attention_context(self, x: str, past_lengths: str, cache: str) -> "_AttentionContext":
        """What every layer's attention shares, computed once: rotary positions and the additive mask.

        Row b's cache input holds past_lengths[b] valid positions (the rest of its P slots are masked out); its S
        new positions sit at past_lengths[b] .. past_lengths[b] + S - 1 and see each other causally. Scores are
        laid out [B, Hkv, G * S, P + S] (query rows: G heads of a KV group by S positions; columns: the cache,
        then the new positions), and so is the mask, [B, 1, G * S, P + S].
        """
        g, G = self.g, self.cfg.num_attention_heads // self.cfg.num_key_value_heads
        c = "/attn_context"
        i64 = lambda name, v: g.constant(f"{c}/{name}", np.array(v, np.int64))  # noqa: E731
        zero, one = i64("zero", 0), i64("one", 1)
        s_1 = g.op("Shape", [x], name=f"{c}/ShapeS", start=1, end=2)  # [S]
        p_1 = g.op("Shape", [cache], name=f"{c}/ShapeP", start=2, end=3)  # [P]
        scalar = lambda v, n: g.op("Squeeze", [v, i64(f"{n}_axes", [0])], name=f"{c}/Squeeze{n}")  # noqa: E731
        new_pos = g.op("Range", [zero, scalar(s_1, "S"), one], name=f"{c}/RangeS")  # [S]
        cache_pos = g.op("Range", [zero, scalar(p_1, "P"), one], name=f"{c}/RangeP")  # [P]
        past = g.op("Unsqueeze", [g.op("Cast", [past_lengths], name=f"{c}/Cast", to=TensorProto.INT64),
                                  i64("axes_1", [1])], name=f"{c}/UnsqueezePast")  # [B, 1]
        positions = g.op("Add", [past, new_pos], name=f"{c}/Positions")  # [B, S]
        zeros = g.constant(f"{c}/zero_f", np.array(0, self.prec.io))
        masked = g.constant(f"{c}/masked", np.array(np.finfo(self.prec.io).min, self.prec.io))
        valid = g.op("Less", [cache_pos, past], name=f"{c}/CacheValid")  # [B, P]
        cache_mask = g.op("Unsqueeze", [g.op("Where", [valid, zeros, masked], name=f"{c}/CacheWhere"),
                                        i64("axes_12", [1, 2])], name=f"{c}/CacheMask")  # [B, 1, 1, P]
        col = g.op("Unsqueeze", [new_pos, i64("axes_c", [1])], name=f"{c}/UnsqueezeS")  # [S, 1]
        causal = g.op("GreaterOrEqual", [col, new_pos], name=f"{c}/Causal")  # query i sees new key j <= i
        new_mask = g.op("Where", [causal, zeros, masked], name=f"{c}/NewWhere")  # [S, S]
        if G > 1:
            new_mask = g.op("Tile", [new_mask, i64("tile", [G, 1])], name=f"{c}/NewTile")  # [G * S, S]
        # Both parts broadcast to [B, 1, G * S, *] by adding zeros of the missing axes, then side by side.
        gs = g.op("Mul", [s_1, i64("groups", [G])], name=f"{c}/GS")
        rows = g.op("ConstantOfShape", [g.op("Concat", [gs, i64("one_1", [1])], name=f"{c}/RowsShape", axis=0)],
                    name=f"{c}/Rows", value=helper_zero(self.prec.io))  # [G * S, 1]
        batch = g.op("Shape", [past_lengths], name=f"{c}/ShapeB")
        lead = g.op("ConstantOfShape", [g.op("Concat", [batch, i64("ones_3", [1, 1, 1])], name=f"{c}/LeadShape",
                                             axis=0)], name=f"{c}/Lead", value=helper_zero(self.prec.io))  # [B,1,1,1]
        mask = g.op("Concat", [g.op("Add", [cache_mask, rows], name=f"{c}/CacheRows"),
                               g.op("Add", [new_mask, lead], name=f"{c}/NewLead")], name=f"{c}/Mask", axis=-1)
        split = g.op("Concat", [p_1, s_1], name=f"{c}/Split", axis=0)  # softmax columns: [P, S]
        return _AttentionContext(positions, mask, split)

    def self_attention(self, x, p, layer, ctx: "_AttentionContext", rotary, cache_len):
        """Packed QKV -> rotary -> attention over the cache input and the new positions -> o_proj.

        The cache is an input only; the graph returns just the new positions' keys (after rotary) and values, which
        the caller writes into its cache: onnxruntime-node copies every fetched output back into JavaScript, so a
        present output the size of the cache cost a copy of the whole cache per run (docs/step-profile.md). Heads go
        to BNSH once, right after the projection; with G query heads per KV head, q [B, H, S, hd] is read as
        [B, Hkv, G * S, hd], so each KV head is read once, by one GEMM (on the CPU, ORT fuses the Transpose of the
        keys into that GEMM: the cache is read as it is stored). Few nodes: on a small model each costs more than its arithmetic.
        Returns the output and the names of the new key/value outputs.
        """
        cfg, g = self.cfg, self.g
        H, Hkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        G, a = H // Hkv, f"/{p}/attn"
        shape = lambda name, dims: g.constant(f"{a}/{name}", np.array(dims, np.int64))  # noqa: E731
        w = np.concatenate([self.load(f"{p}.{n}_proj.weight") for n in "qkv"])  # packed [q | k | v]
        qkv = self.linear(x, f"{p}.qkv_proj", w)
        del w
        qkv = g.op("Reshape", [qkv, shape("heads", [0, 0, H + 2 * Hkv, hd])], name=f"{a}/ReshapeHeads")
        qkv = g.op("Transpose", [qkv], name=f"{a}/TransposeHeads", perm=[0, 2, 1, 3])  # [B, H + 2Hkv, S, hd]
        new = [f"new_key_values.{layer}.key", f"new_key_values.{layer}.value"]
        qk = g.op("Split", [qkv, shape("split_v", [H + Hkv, Hkv])], name=f"{a}/SplitV", outputs=[f"{a}/qk", new[1]],
                  axis=1)[0]
        qk = g.op("RotaryEmbedding", [qk, ctx.positions, *rotary], name=f"{a}/Rotary", domain=MS, interleaved=0)
        q = g.op("Split", [qk, shape("split_k", [H, Hkv])], name=f"{a}/SplitK", outputs=[f"{a}/q", new[0]], axis=1)[0]
        if G > 1:
            q = g.op("Reshape", [q, shape("q_rows", [0, Hkv, -1, hd])], name=f"{a}/ReshapeQRows")  # [B,Hkv,G*S,hd]
        past = [self.g.input(f"past_key_values.{layer}.{kv}", self.io, [B, Hkv, cache_len, hd]) for kv in ("key", "value")]
        # q·Kᵀ as Transpose + MatMul: ORT's CPU EP fuses them into FusedMatMul (transB: the cache read as it is
        # stored, no copy), and EPs without FusedMatMul (WebGPU) run the two standard ops.
        q = g.op("Mul", [q, g.constant(f"{a}/scale", np.array(hd ** -0.5, self.prec.io))], name=f"{a}/Scale")
        scores = [g.op("MatMul", [q, g.op("Transpose", [keys], name=f"{a}/Transpose{n}", perm=[0, 1, 3, 2])],
                       name=f"{a}/Scores{n}") for keys, n in ((past[0], "Cache"), (new[0], "New"))]
        scores = g.op("Add", [g.op("Concat", scores, name=f"{a}/Concat", axis=-1), ctx.mask], name=f"{a}/Mask")
        probs = g.op("Softmax", [scores], name=f"{a}/Softmax", axis=-1)
        p_cache, p_new = g.op("Split", [probs, ctx.split], name=f"{a}/SplitProbs", outputs=2, axis=-1)
        o = g.op("Add", [g.op("MatMul", [p_cache, past[1]], name=f"{a}/ValuesCache"),
                         g.op("MatMul", [p_new, new[1]], name=f"{a}/ValuesNew")], name=f"{a}/AddValues")
        if G > 1:
            o = g.op("Reshape", [o, shape("o_heads", [0, H, -1, hd])], name=f"{a}/ReshapeOHeads")  # [B, H, S, hd]
        o = g.op("Transpose", [o], name=f"{a}/TransposeO", perm=[0, 2, 1, 3])  # [B, S, H, hd]
        o = g.op("Reshape", [o, shape("o_flat", [0, 0, -1])], name=f"{a}/ReshapeOFlat")  # [B, S, H*hd]
        return self.linear_module(o, f"{p}.o_proj"), new

    def gqa_attention(self, x, p, layer, seqlens_k, total, rotary, cache_len):
        """Packed QKV -> GroupQueryAttention (rotary, causal, KV cache in and present out) -> o_proj, for the depth
        head: its cache is K positions, so returning present (aliased to the cache, which GQA then updates in place)
        costs little, and one fused node beats the dozen of self_attention on a graph run K times per visual token.
        Returns the output and the present names."""
        cfg = self.cfg
        w = np.concatenate([self.load(f"{p}.{n}_proj.weight") for n in "qkv"])  # GQA's packed layout [q | k | v]
        qkv = self.linear(x, f"{p}.qkv_proj", w)
        del w
        past_shape = [B, cfg.num_key_value_heads, cache_len, cfg.head_dim]
        past = [self.g.input(f"past_key_values.{layer}.{kv}", self.io, past_shape) for kv in ("key", "value")]
        present = [f"present.{layer}.key", f"present.{layer}.value"]
        attn, *_ = self.g.op("GroupQueryAttention", [qkv, "", "", *past, seqlens_k, total, *rotary],
                             name=f"/{p}/GroupQueryAttention", outputs=[f"/{p}/GroupQueryAttention/output_0", *present],
                             domain=MS, num_heads=cfg.num_attention_heads, kv_num_heads=cfg.num_key_value_heads,
                             do_rotary=1, rotary_interleaved=0)
        return self.linear_module(attn, f"{p}.o_proj"), present

    def mlp(self, x: str, p: str) -> str:
        gate = self.linear_module(x, f"{p}.gate_proj")
        silu = self.g.op("Mul", [gate, self.g.op("Sigmoid", [gate], name=f"/{p}/act/Sigmoid")], name=f"/{p}/act/Mul")
        up = self.linear_module(x, f"{p}.up_proj")
        return self.linear_module(self.g.op("Mul", [silu, up], name=f"/{p}/Mul"), f"{p}.down_proj")

    def decoder(self, prefix: str, num_layers: int, x: str, rotary_rows: int, attend) -> tuple[str, list]:
        """Llama layers `prefix`layers.* and `prefix`norm over x [B,S,D] -> (post-norm hidden [B,S,D], KV outputs).

        attend(normed, module_prefix, layer, rotary) -> (attention output, names of the layer's KV outputs)."""
        rotary = self.rotary_caches(rotary_rows)
        residual, kv_outputs = x, []
        normed = self.rms_norm(x, f"{prefix}layers.0.input_layernorm")
        for i in range(num_layers):
            p = f"{prefix}layers.{i}"
            if i > 0:  # the previous layer's MLP output joins the residual stream here
                normed, residual = self.skip_rms_norm(mlp_out, residual, f"{p}.input_layernorm")
            attn, names = attend(normed, f"{p}.self_attn", i, rotary)
            kv_outputs += names
            normed, residual = self.skip_rms_norm(attn, residual, f"{p}.post_attention_layernorm")
            mlp_out = self.mlp(normed, f"{p}.mlp")
        return self.skip_rms_norm(mlp_out, residual, f"{prefix}norm", keep_sum=False), kv_outputs

    def kv_outputs(self, names: list, positions) -> None:
        """The decoder's KV outputs, [B, Hkv, positions, hd]."""
        shape = [B, self.cfg.num_key_value_heads, positions, self.cfg.head_dim]
        for name in names:
            self.g.output(name, name, self.io, shape)


@dataclass(frozen=True)
class _AttentionContext:
    positions: str  # int64 [B, S]: rotary position of each new position
    mask: str  # [B, 1, G * S, P + S]: 0 where a query may look (valid cache slots, causal new ones), very negative else
    split: str  # int64 [2]: [P, S], the softmax's columns from the cache and from the new positions


def helper_zero(dtype):
    """ConstantOfShape's `value`: a one-element zero tensor of `dtype`."""
    return numpy_helper.from_array(np.zeros(1, dtype))


# -- the six graphs ----------------------------------------------------------------------------------------------

def _embed_tokens(e: _Emitter) -> None:
    ids = e.g.input("input_ids", TensorProto.INT64, [B, S])
    y = e.embedding("model.embed_tokens.weight", ids, [e.load("model.embed_tokens.weight")])
    e.g.output(y, "inputs_embeds", e.io, [B, S, e.cfg.hidden_size])


def _code_embed(e: _Emitter) -> None:
    cfg = e.cfg
    ids = e.g.input("code_ids", TensorProto.INT64, [B, S])  # level * codebook_size + code
    tables = (e.load(f"ar_head.codebooks.{i}.weight") for i in range(cfg.num_codebooks - 1))
    e.g.output(e.embedding("ar_head.codebooks", ids, tables), "embeds", e.io, [B, S, cfg.hidden_size])


def _attn_projection(e: _Emitter, x: str, p: str) -> str:
    """Causal AttnProjection(vocab_width -> width): proj(norm3(x)) + attn(norm1(x)), then + mlp(norm2(x)).

    The attention is GroupQueryAttention without cache or rotary (kv heads = heads, causal), which takes the
    released packed qkv layout as is and returns the heads concatenated, as the expansion case does.
    """
    cfg = e.cfg
    bias = np.concatenate([e.load(f"{p}.attn.{b}") for b in ("q_bias", "zero_k_bias", "v_bias")])
    qkv = e.linear(e.layer_norm(x, f"{p}.norm1", 1e-5), f"{p}.attn.qkv", e.load(f"{p}.attn.qkv.weight"), bias, False)
    # All N tokens are valid in every row: seqlens_k = N - 1, total_sequence_length = N.
    shape = e.g.op("Shape", [x], name=f"/{p}/attn/Shape")
    n = e.g.op("Gather", [shape, e.g.constant(f"/{p}/attn/axis1", np.int64(1))], name=f"/{p}/attn/GatherN")
    total = e.g.op("Cast", [n], name=f"/{p}/attn/CastN", to=TensorProto.INT32)
    first = [e.g.constant(f"/{p}/attn/{n}", np.array([v], np.int64)) for n, v in (("start", 0), ("end", 1))]
    batch = e.g.op("Slice", [shape, *first], name=f"/{p}/attn/SliceB")
    last = e.g.op("Sub", [total, e.g.constant(f"/{p}/attn/one", np.int32(1))], name=f"/{p}/attn/Sub")
    seqlens_k = e.g.op("Expand", [last, batch], name=f"/{p}/attn/Expand")
    attn = e.g.op("GroupQueryAttention", [qkv, "", "", "", "", seqlens_k, total], name=f"/{p}/attn/GroupQueryAttention",
                  outputs=3, domain=MS, num_heads=cfg.embedder_heads, kv_num_heads=cfg.embedder_heads)[0]
    attn = e.linear_module(attn, f"{p}.attn.proj", bias=True, quantize=False)
    skip = e.linear_module(e.layer_norm(x, f"{p}.norm3", 1e-5), f"{p}.proj", bias=True, quantize=False)
    x = e.g.op("Add", [skip, attn], name=f"/{p}/Add")
    # GeGluMlp: its own LayerNorm (eps 1e-6) after norm2, tanh-GELU gate (FastGelu is exactly that form).
    h = e.layer_norm(e.layer_norm(x, f"{p}.norm2", 1e-5), f"{p}.mlp.norm", 1e-6)
    gate = e.g.op("FastGelu", [e.linear_module(h, f"{p}.mlp.w0", bias=True, quantize=False)], name=f"/{p}/mlp/FastGelu",
                  domain=MS)
    h = e.g.op("Mul", [gate, e.linear_module(h, f"{p}.mlp.w1", bias=True, quantize=False)], name=f"/{p}/mlp/Mul")
    return e.g.op("Add", [x, e.linear_module(h, f"{p}.mlp.w2", bias=True, quantize=False)], name=f"/{p}/mlp/Add")


def _visual_embed(e: _Emitter) -> None:
    """model.multi_embedder. Its weights stay float in int4 graphs: 0.4% of the model, at the image input."""
    cfg, p = e.cfg, "model.multi_embedder"
    K = cfg.num_codebooks
    codes = e.g.input("codes", TensorProto.INT64, [B, K, "num_tokens"])
    # One Gather on the pre-normalised stacked codebooks: row = k * codebook_size + code.
    offsets = e.g.constant("codebook_offsets", (np.arange(K, dtype=np.int64) * cfg.codebook_size).reshape(1, K, 1))
    rows = e.g.op("Add", [codes, offsets], name=f"/{p}/quantizer/Add")
    tables = (_l2_normalize(e.load(f"{p}.quantizer.codebooks.{i}.codebook.weight")) for i in range(K))
    f = e.embedding(f"{p}.quantizer.normalized_table", rows, tables)  # [B, K, N, code_dim]
    f = e.g.op("Transpose", [f], name=f"/{p}/quantizer/Transpose", perm=[0, 2, 1, 3])
    f = e.g.op("Reshape", [f, e.g.constant("concat_codes_shape", np.array([0, 0, -1], np.int64))],
               name=f"/{p}/quantizer/Reshape")  # [B, N, K * code_dim], codebook-major as idx_to_f concatenates
    x = _attn_projection(e, f, f"{p}.attn_projection")
    x = e.layer_norm(x, f"{p}.mm_projector.0", cfg.projector_ln_eps)
    x = e.linear_module(x, f"{p}.mm_projector.1", bias=True, quantize=False)
    x = e.g.op("Gelu", [x], name=f"/{p}/mm_projector.2/Gelu", domain=MS)  # exact (erf) GELU
    x = e.linear_module(x, f"{p}.mm_projector.3", bias=True, quantize=False)
    e.g.output(x, "inputs_embeds", e.io, [B, "num_tokens", cfg.hidden_size])


def _l2_normalize(w: np.ndarray) -> np.ndarray:
    """F.normalize(w, dim=1): rows divided by max(||row||, 1e-12)."""
    return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)


def _llm(e: _Emitter) -> None:
    cfg = e.cfg
    x = e.g.input("inputs_embeds", e.io, [B, S, cfg.hidden_size])
    past_lengths = e.g.input("past_lengths", TensorProto.INT32, [B])
    logits_index = e.g.input("logits_index", TensorProto.INT64, [B])
    ctx = e.attention_context(x, past_lengths, "past_key_values.0.key")
    hidden, new_kv = e.decoder("model.", cfg.num_hidden_layers, x, cfg.max_position_embeddings,
                               lambda h, p, i, rotary: e.self_attention(h, p, i, ctx, rotary, "cache_length"))
    # Read out one position per row (ragged prompts end at different places); lm_head then runs on B rows only.
    axes = e.g.constant("axes_1", np.array([1], np.int64))
    index = e.g.op("Unsqueeze", [logits_index, axes], name="/readout/Unsqueeze")
    last = e.g.op("GatherND", [hidden, index], name="/readout/GatherND", batch_dims=1)  # [B, D]
    e.g.output(last, "hidden", e.io, [B, cfg.hidden_size])
    e.kv_outputs(new_kv, S)


def argmax_rows(g: GraphBuilder, x: str, vocab: int, out: str) -> str:
    """Appends to g each row's best index of x [B, V] (the lowest on ties), as `out` [B] int64, in two levels: the
    maxima of blocks of ARGMAX_BLOCK (a vectorised ReduceMax), the first block holding the row's maximum, then the
    first maximum inside it. ORT's ArgMax is a scalar loop: over 32000 logits it cost 27 us a row, as much
    at batch 8 as the lm_head's integer GEMM (docs/step-profile.md). A V that is no multiple of the block is
    padded with -inf, which comes after every real value and so never wins a tie."""
    a, n = "/argmax", ARGMAX_BLOCK
    i64 = lambda name, v: g.constant(f"{a}/{name}", np.array(v, np.int64))  # noqa: E731
    blocks = -(-vocab // n)
    if blocks * n != vocab:
        x = g.op("Pad", [x, i64("pads", [0, 0, 0, blocks * n - vocab]),
                         g.constant(f"{a}/neg_inf", np.array(-np.inf, np.float32))], name=f"{a}/Pad")
    x = g.op("Reshape", [x, i64("blocks", [0, blocks, n])], name=f"{a}/Reshape")  # [B, blocks, n]
    block_max = g.op("ReduceMax", [x], name=f"{a}/ReduceMax", axes=[-1], keepdims=0)  # [B, blocks]
    block = g.op("ArgMax", [block_max], name=f"{a}/ArgMaxBlock", axis=-1, keepdims=1,
                 select_last_index=0)  # [B, 1]
    index = g.op("Expand", [g.op("Unsqueeze", [block, i64("axes", [-1])], name=f"{a}/Unsqueeze"),
                            i64("row", [1, 1, n])], name=f"{a}/Expand")  # [B, 1, n]
    row = g.op("GatherElements", [x, index], name=f"{a}/GatherBlock", axis=1)  # [B, 1, n]
    inner = g.op("ArgMax", [row], name=f"{a}/ArgMaxInner", axis=-1, keepdims=0, select_last_index=0)  # [B, 1]
    first = g.op("Mul", [block, i64("block_size", n)], name=f"{a}/BlockStart")
    best = g.op("Add", [first, inner], name=f"{a}/Add")
    return g.op("Squeeze", [best, i64("squeeze", [-1])], name=f"{a}/Squeeze", outputs=[out])[0]


def _lm_head(e: _Emitter) -> None:
    """The text head in a graph of its own: ORT runs every node that feeds a graph output, fetched or not, so
    inside `llm` it cost image steps (which read only `hidden`) the whole vocabulary projection; alone, it runs
    once per step on just the rows that sample text (docs/step-profile.md)."""
    x = e.g.input("hidden", e.io, [B, e.cfg.hidden_size])
    y = e.linear_int8(x, "lm_head", e.load("lm_head.weight")) if e.lm_head_bits == 8 else e.linear_module(x, "lm_head")
    e.logits_output(y, [B, e.cfg.vocab_size])
    # Greedy rows need only each row's best token: fetching `argmax` alone leaves the logits inside ORT
    # (onnxruntime-node copies every fetched output into a new JavaScript array: [B, V] floats per step).
    # The lowest id on ties, as the engine's argmax and the reference loop.
    argmax_rows(e.g, "logits", e.cfg.vocab_size, "argmax")
    e.g.output("argmax", "argmax", TensorProto.INT64, [B])


def _depth_head(e: _Emitter) -> None:
    cfg = e.cfg
    x = e.g.input("inputs_embeds", e.io, [B, 1, cfg.hidden_size])
    seqlens_k = e.g.input("seqlens_k", TensorProto.INT32, [B])
    total = e.g.input("total_sequence_length", TensorProto.INT32, [])
    hidden, presents = e.decoder("ar_head.", cfg.ar_head_layers, x, cfg.num_codebooks,
                                 lambda h, p, i, rotary: e.gqa_attention(h, p, i, seqlens_k, total, rotary,
                                                                         "depth_cache_length"))
    h = e.g.op("Squeeze", [hidden, e.g.constant("axes_1", np.array([1], np.int64))], name="/ar_head/Squeeze")
    e.logits_output(e.linear_module(h, "ar_head.linear_head", bias=True), [B, cfg.codebook_size])
    e.kv_outputs(presents, "depth_cache_length")


_BUILDERS = {"embed_tokens": _embed_tokens, "visual_embed": _visual_embed, "llm": _llm, "lm_head": _lm_head,
             "depth_head": _depth_head, "code_embed": _code_embed}


def build_mllm_graphs(weights, cfg: MLLMConfig, dtype: str, out_dir: str, progress=None, graphs=GRAPHS,
                      int4_accuracy_level: int = 4, int4_block_size: int = INT4_BLOCK_SIZE,
                      lm_head_bits: int = 4, layout_only: bool = False) -> dict:
    """Write the MLLM graphs at one precision ('fp32' | 'fp16' | 'int4') into out_dir; returns the manifest.

    weights: mapping of released state-dict keys to float32 arrays (loaded lazily, one tensor at a time).
    progress: optional callable(graph_name, key), called as each checkpoint tensor is read.
    int4_accuracy_level: MatMulNBits accuracy_level (4 = int8 activations, genai's CPU default; 0 = exact fp32).
    int4_block_size: weights per int4 scale (INT4_BLOCK_SIZES; 32 by default, 128 decodes faster on CPU).
    lm_head_bits: 4 (MatMulNBits, as every Linear) or 8 (int8 weights and activations, export/int8.py); int4 only.
    layout_only: the graphs with their weights' places in the data files, but no weights (convert/regraph.py).
    Also writes `mllm_graphs.json` (config, precision, dtypes, files) next to the graphs.
    """
    if dtype not in PRECISIONS:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(PRECISIONS)}")
    if int4_block_size not in INT4_BLOCK_SIZES:
        raise ValueError(f"int4 block size {int4_block_size} is not one of {', '.join(map(str, INT4_BLOCK_SIZES))}")
    if lm_head_bits not in LM_HEAD_BITS:
        raise ValueError(f"lm_head bits {lm_head_bits} is not one of {', '.join(map(str, LM_HEAD_BITS))}")
    if lm_head_bits == 8 and dtype != "int4":
        raise ValueError(f"an 8-bit lm_head is an int4 option; {dtype} keeps lm_head in {dtype}")
    cfg.validate()
    prec, shapes = PRECISIONS[dtype], {k: shape for k, (shape, _) in mllm_specs(cfg).items()}
    files = {}
    for name in graphs:
        e = _Emitter(name=name, out_dir=out_dir, weights=weights, cfg=cfg, prec=prec, shapes=shapes, progress=progress,
                     accuracy_level=int4_accuracy_level, block_size=int4_block_size, lm_head_bits=lm_head_bits,
                     layout_only=layout_only)
        with e.g:
            _BUILDERS[name](e)
            files[name] = os.path.basename(e.g.save())
    io = np.dtype(prec.io).name
    int4 = ({"bits": 4, "block_size": int4_block_size, "accuracy_level": int4_accuracy_level,
             "lm_head_bits": lm_head_bits} if prec.int4 else None)
    manifest = {"precision": dtype, "io_dtype": io, "kv_dtype": io, "logits_dtype": "float32", "int4": int4,
                "config": cfg.to_dict(), "graphs": files}
    with open(os.path.join(out_dir, "mllm_graphs.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest
