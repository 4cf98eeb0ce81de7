"""The MLLM's PyTorch modules (unitok/modules/{llama,token_embedder,ar_head,mllm}.py) and its graph builder's
Python-side guarantees (int4 packing, streaming, external data). Graph numerics are tested from node:
test/mllm-graphs.test.ts."""
from __future__ import annotations

import dataclasses
import gc
import os
import weakref

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from unitok.convert.mllm_checkpoint import mllm_specs
from unitok.export.int4 import dequantize_int4, quantize_int4
from unitok.export.mllm_fixtures import seeded_mllm
from unitok.export.mllm_graphs import GRAPHS, build_mllm_graphs
from unitok.mllm_config import MLLM_CONFIGS, from_hf_config, get_mllm_config

TINY = get_mllm_config("tiny")


@pytest.fixture(scope="module")
def model():
    return seeded_mllm(TINY)


def released_layout(cfg) -> dict[str, tuple]:
    """The released unitok_mllm keys and shapes (architecture notes, section 3.10), written out independently."""
    D, I, V, kv = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.num_key_value_heads * cfg.head_dim
    K, C, W, E = cfg.num_codebooks, cfg.codebook_size, cfg.vocab_width, cfg.embedder_width
    keys = {}

    def linear(name, out_dim, in_dim, bias=True):
        keys[f"{name}.weight"] = (out_dim, in_dim)
        if bias:
            keys[f"{name}.bias"] = (out_dim,)

    def norm(name, dim, bias=True):
        keys[f"{name}.weight"] = (dim,)
        if bias:
            keys[f"{name}.bias"] = (dim,)

    def llama_layer(p):
        for proj, out_dim in (("q", D), ("k", kv), ("v", kv), ("o", D)):
            linear(f"{p}.self_attn.{proj}_proj", out_dim, D, bias=False)
        for proj, out_dim, in_dim in (("gate", I, D), ("up", I, D), ("down", D, I)):
            linear(f"{p}.mlp.{proj}_proj", out_dim, in_dim, bias=False)
        norm(f"{p}.input_layernorm", D, bias=False)
        norm(f"{p}.post_attention_layernorm", D, bias=False)

    keys["model.embed_tokens.weight"] = (V, D)
    for i in range(cfg.num_hidden_layers):
        llama_layer(f"model.layers.{i}")
    norm("model.norm", D, bias=False)
    linear("lm_head", V, D, bias=False)
    e = "model.multi_embedder"
    for i in range(K):
        keys[f"{e}.quantizer.codebooks.{i}.codebook.weight"] = (C, cfg.code_dim)
        keys[f"{e}.quantizer.codebooks.{i}.vocab_usage"] = (C,)
    a = f"{e}.attn_projection"
    keys.update({f"{a}.attn.qkv.weight": (3 * E, W), f"{a}.attn.q_bias": (E,), f"{a}.attn.zero_k_bias": (E,),
                 f"{a}.attn.v_bias": (E,)})
    linear(f"{a}.attn.proj", E, E)
    linear(f"{a}.proj", E, W)
    for name, dim in (("norm1", W), ("norm3", W), ("norm2", E), ("mlp.norm", E)):
        norm(f"{a}.{name}", dim)
    linear(f"{a}.mlp.w0", 2 * E, E)
    linear(f"{a}.mlp.w1", 2 * E, E)
    linear(f"{a}.mlp.w2", E, 2 * E)
    norm(f"{e}.mm_projector.0", E)
    linear(f"{e}.mm_projector.1", D, E)
    linear(f"{e}.mm_projector.3", D, D)
    for i in range(cfg.ar_head_layers):
        llama_layer(f"ar_head.layers.{i}")
    norm("ar_head.norm", D, bias=False)
    linear("ar_head.linear_head", C, D)
    for i in range(K - 1):
        keys[f"ar_head.codebooks.{i}.weight"] = (C, D)
    return keys


@pytest.mark.parametrize("name", ["tiny", "7b"])
def test_state_dict_is_the_released_layout(name):
    cfg = get_mllm_config(name)
    specs = {k: shape for k, (shape, _) in mllm_specs(cfg).items()}  # meta device: no memory even for 7b
    assert specs == released_layout(cfg)


def test_7b_sizes_match_the_release():
    specs = mllm_specs(get_mllm_config("7b"))
    assert specs["model.multi_embedder.attn_projection.attn.qkv.weight"][0] == (3072, 64)
    assert specs["ar_head.linear_head.weight"][0] == (4096, 4096)
    assert specs["ar_head.codebooks.6.weight"][0] == (4096, 4096)
    params = sum(int(np.prod(shape)) for shape, is_param in specs.values() if is_param)
    assert 7.50e9 < params < 7.52e9  # 6.74 B Llama-2 + 0.74 B depth head + 0.03 B embedder


def test_from_hf_config_reads_llama2_7b():
    hf = {"architectures": ["MiniGeminiLlamaForCausalLM"], "model_type": "mini_gemini", "hidden_size": 4096,
          "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
          "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "vocab_size": 32000,
          "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "rope_scaling": None}
    assert dataclasses.replace(from_hf_config(hf), name="7b") == MLLM_CONFIGS["7b"]
    # Pre-GQA configs have no num_key_value_heads: it defaults to the head count.
    small = from_hf_config({**hf, "hidden_size": 2048, "num_attention_heads": 16, "num_key_value_heads": None})
    assert (small.head_dim, small.num_key_value_heads) == (128, 16)
    with pytest.raises(ValueError, match="rope_scaling"):
        from_hf_config({**hf, "rope_scaling": {"type": "linear", "factor": 2.0}})


def test_tiny_exercises_gqa_and_fits_the_bundle():
    assert TINY.num_key_value_heads < TINY.num_attention_heads
    assert TINY.vocab_size == 32000 and TINY.hidden_size <= 64
    # embed_tokens + lm_head in fp16 (2 bytes each) leave room in a 10 MB bundle.
    assert 2 * TINY.vocab_size * TINY.hidden_size * 2 < 8.5e6


@torch.no_grad()
def test_llm_kv_cache_equals_full_forward(model):
    x = torch.randn(2, 9, TINY.hidden_size)
    full = model(x)
    out, logits = None, []
    for lo, hi in ((0, 4), (4, 5), (5, 6), (6, 9)):  # prefill, two single steps, a chunk
        out = model(x[:, lo:hi], past=out.present if out else None)
        logits.append(out.logits)
    torch.testing.assert_close(torch.cat(logits, 1), full.logits, atol=1e-5, rtol=1e-5)
    assert out.present[0][0].shape == (2, TINY.num_key_value_heads, 9, TINY.head_dim)


@torch.no_grad()
def test_left_padded_batch_equals_rows_alone(model):
    """HF's convention: left padding, attention_mask 0 on pads, positions cumsum(mask) - 1, also across steps."""
    a, b = torch.randn(1, 6, TINY.hidden_size), torch.randn(1, 4, TINY.hidden_size)
    batch = torch.cat([a, torch.cat([torch.zeros(1, 2, TINY.hidden_size), b], 1)])
    mask = torch.tensor([[1] * 6, [0, 0, 1, 1, 1, 1]])
    out = model(batch, attention_mask=mask)
    torch.testing.assert_close(out.logits[0], model(a).logits[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.logits[1, 2:], model(b).logits[0], atol=1e-5, rtol=1e-5)
    nxt = torch.randn(2, 1, TINY.hidden_size)
    step = model(nxt, attention_mask=torch.cat([mask, torch.ones(2, 1, dtype=mask.dtype)], 1), past=out.present)
    torch.testing.assert_close(step.logits[1], model(torch.cat([b, nxt[1:]], 1)).logits[0, -1:], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_depth_head_cached_steps_equal_released_recompute(model):
    h = torch.randn(2, 1, TINY.hidden_size)
    codes = torch.randint(0, TINY.codebook_size, (2, TINY.num_codebooks))
    prefix, past, feed = h, None, h
    for i in range(TINY.num_codebooks):
        cached, past = model.ar_head.step(feed, past)
        torch.testing.assert_close(cached, model.ar_head.logits(prefix), atol=1e-5, rtol=1e-5)
        assert cached.shape == (2, TINY.codebook_size)
        if i < TINY.num_codebooks - 1:
            feed = model.embed_code(i, codes[:, i : i + 1])
            prefix = torch.cat([prefix, feed], 1)


@torch.no_grad()
def test_visual_embedder_is_causal(model):
    codes = torch.randint(0, TINY.codebook_size, (1, TINY.num_codebooks, 5))
    changed = codes.clone()
    changed[:, :, 3] = (changed[:, :, 3] + 1) % TINY.codebook_size
    a, b = model.embed_visual(codes), model.embed_visual(changed)
    assert a.shape == (1, 5, TINY.hidden_size)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # earlier tokens do not see token 3
    assert (a[:, 3:] - b[:, 3:]).abs().amax(-1).min() > 1e-4  # token 3 and later do


def test_int4_packing_layout():
    # One row, one block of values c_j * 0.5 with c_j in -7..7: scale 0.5, codes c_j + 8 (zero point 8).
    c = np.arange(32) % 15 - 7
    packed, scales = quantize_int4((c * 0.5).astype(np.float32)[None], 32)
    assert packed.shape == (1, 1, 16) and scales.tolist() == [[0.5]]
    q = c + 8
    assert packed[0, 0].tolist() == (q[0::2] | (q[1::2] << 4)).tolist()  # earlier element in the low nibble
    np.testing.assert_array_equal(dequantize_int4(packed, scales, 32)[0], c * 0.5)


def test_int4_roundtrip_error_is_half_a_step_and_pads_k():
    w = np.random.default_rng(0).standard_normal((24, 80)).astype(np.float32)  # K = 80: a padded third block
    packed, scales = quantize_int4(w, 32)
    assert packed.shape == (24, 3, 16)
    err = np.abs(dequantize_int4(packed, scales, 80) - w)
    step = np.repeat(scales, 32, axis=1)[:, :80]
    assert np.all(err <= step / 2 + 1e-6)


class _TrackedWeights:
    """A lazy mapping like the converter's: counts reads and how many loaded tensors are still alive."""

    def __init__(self, state):
        self.state, self.reads, self.alive, self.peak = state, [], [], 0

    def keys(self):
        return self.state.keys()

    def __getitem__(self, key):
        gc.collect()
        self.alive = [r for r in self.alive if r() is not None]
        self.peak = max(self.peak, len(self.alive))
        arr = self.state[key].numpy().copy()
        self.alive.append(weakref.ref(arr))
        self.reads.append(key)
        return arr


def test_builder_streams_each_tensor_once_and_drops_it(model, tmp_path):
    weights = _TrackedWeights(model.state_dict())
    seen = []
    manifest = build_mllm_graphs(weights, TINY, "int4", str(tmp_path), progress=lambda g, k: seen.append((g, k)))
    assert set(manifest["graphs"]) == set(GRAPHS)
    # Every weight is used exactly once (vocab_usage holds training statistics); none are silently dropped.
    expected = {k for k in weights.keys() if not k.endswith("vocab_usage")}
    assert sorted(weights.reads) == sorted(expected)
    assert [k for _, k in seen] == weights.reads
    # At most q, k, v (packed together) are held at once: the builder never keeps the model in memory.
    assert weights.peak <= 3


def test_graphs_keep_weights_in_external_data(model, tmp_path):
    build_mllm_graphs({k: v.numpy() for k, v in model.state_dict().items()}, TINY, "fp16", str(tmp_path),
                      graphs=("embed_tokens", "llm", "lm_head"))
    path = os.path.join(tmp_path, "llm.onnx")
    assert os.path.getsize(path) < 64 * 1024  # the protobuf holds the graph, not the weights
    m = onnx.load(path, load_external_data=False)
    assert (m.ir_version, {o.domain: o.version for o in m.opset_import}) == (8, {"": 17, "com.microsoft": 1})
    external = [t for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert {t.name for t in external} >= {"model.layers.0.self_attn.qkv_proj.weight", "cos_cache"}
    head = onnx.load(os.path.join(tmp_path, "lm_head.onnx"), load_external_data=False)
    assert [t.name for t in head.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL] == ["lm_head.weight"]
    ops = {n.op_type for n in m.graph.node}
    assert {"RotaryEmbedding", "Transpose", "MatMul", "SkipSimplifiedLayerNormalization", "SimplifiedLayerNormalization"} <= ops
    assert "GroupQueryAttention" not in ops  # the decoder returns only new keys/values (docs/graphs.md)
    table = numpy_helper.to_array(onnx.load(os.path.join(tmp_path, "embed_tokens.onnx")).graph.initializer[0])
    np.testing.assert_array_equal(table, model.model.embed_tokens.weight.detach().numpy().astype(np.float16))


def test_int4_block_size_is_a_choice_recorded_in_the_manifest(model, tmp_path):
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    manifest = build_mllm_graphs(weights, TINY, "int4", str(tmp_path), graphs=("lm_head",), int4_block_size=64)
    assert manifest["int4"] == {"bits": 4, "block_size": 64, "accuracy_level": 4, "lm_head_bits": 4}
    m = onnx.load(os.path.join(tmp_path, "lm_head.onnx"), load_external_data=False)
    (node,) = [n for n in m.graph.node if n.op_type == "MatMulNBits"]
    assert {a.name: a.i for a in node.attribute}["block_size"] == 64
    with pytest.raises(ValueError, match="block size 48"):
        build_mllm_graphs(weights, TINY, "int4", str(tmp_path / "bad"), graphs=("lm_head",), int4_block_size=48)


def test_lm_head_bits_8_is_an_int4_option_with_int8_weights(model, tmp_path):
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    manifest = build_mllm_graphs(weights, TINY, "int4", str(tmp_path), graphs=("lm_head",), lm_head_bits=8)
    assert manifest["int4"]["lm_head_bits"] == 8
    m = onnx.load(os.path.join(tmp_path, "lm_head.onnx"))
    ops = [n.op_type for n in m.graph.node]
    assert "MatMulIntegerToFloat" in ops and "MatMulNBits" not in ops
    assert "Identity" not in ops  # logits come straight from the row-scale Mul (an Identity costs a pass over [B, V])
    q = numpy_helper.to_array(next(t for t in m.graph.initializer if t.name == "lm_head.weight_q8"))
    assert q.dtype == np.int8 and q.shape == (TINY.hidden_size, TINY.vocab_size)  # [K, N] for MatMulIntegerToFloat
    assert np.abs(q.astype(np.int32)).max() == 127  # each column's largest weight uses the whole range
    with pytest.raises(ValueError, match="int4 option"):
        build_mllm_graphs(weights, TINY, "fp32", str(tmp_path / "fp32"), graphs=("lm_head",), lm_head_bits=8)
    with pytest.raises(ValueError, match="lm_head bits 6"):
        build_mllm_graphs(weights, TINY, "int4", str(tmp_path / "bad"), graphs=("lm_head",), lm_head_bits=6)
