"""The UniTok tokenizer modules: released key layout and sizes, quantiser and projection semantics."""
import pytest
import torch
import torch.nn.functional as F

from unitok.config import get_tokenizer_config
from unitok.export.tokenizer_onnx import ClipImageGraph, DecodeGraph, EncodeGraph
from unitok.modules.attn_projection import AttnProjection
from unitok.modules.unitok import UniTok, init_random


@pytest.fixture(scope="module")
def large():
    return UniTok(get_tokenizer_config("large"))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return init_random(UniTok(get_tokenizer_config("small")), seed=7).eval()


def millions(module):
    return sum(p.numel() for p in module.parameters()) / 1e6


def test_large_sizes_match_the_released_estimates(large):
    # Analytic per-part parameter counts of UniTok-Large from the architecture notes (section 1.9).
    assert millions(large.encoder) == pytest.approx(332.3, abs=0.1)
    assert millions(large.quant_proj) == pytest.approx(3.25, abs=0.01)
    assert millions(large.post_quant_proj) == pytest.approx(7.6, abs=0.1)
    assert millions(large.decoder) == pytest.approx(352.4, abs=0.1)
    assert millions(large.text_encoder) == pytest.approx(123.7, abs=0.1)
    assert millions(large) == pytest.approx(820, abs=1)


def test_large_key_layout(large):
    shapes = {k: tuple(v.shape) for k, v in large.state_dict().items()}
    expected = {
        "encoder.pos_embed": (1, 1, 1024),
        "encoder.patch_embed.backbone.stem.conv1.weight": (160, 3, 3, 3),
        "encoder.patch_embed.backbone.stem.norm1.weight": (160,),
        "encoder.patch_embed.backbone.stages.0.0.conv2_kxk.weight": (640, 1, 3, 3),
        "encoder.patch_embed.backbone.stages.1.0.shortcut.expand.weight": (320, 160, 1, 1),
        "encoder.patch_embed.backbone.stages.1.3.conv3_1x1.weight": (320, 1280, 1, 1),
        "encoder.patch_embed.backbone.pool.proj.weight": (1024, 320, 3, 3),
        "encoder.patch_embed.backbone.pool.norm.weight": (320,),
        "encoder.blocks.30.attn.qkv.bias": (3072,),
        "encoder.blocks.30.mlp.w0.weight": (2048, 1024),
        "encoder.blocks.30.mlp.norm.weight": (1024,),
        "encoder.norm.weight": (1024,),
        "quant_proj.attn.qkv.weight": (3072, 1024),
        "quant_proj.attn.zero_k_bias": (1024,),
        "quant_proj.attn.proj.weight": (64, 64),
        "quant_proj.proj.weight": (64, 1024),
        "quant_proj.mlp.w0.weight": (128, 64),
        "quantizer.codebooks.7.codebook.weight": (4096, 8),
        "quantizer.codebooks.7.vocab_usage": (4096,),
        "post_quant_proj.attn.qkv.weight": (3072, 64),
        "post_quant_proj.attn.proj.weight": (1024, 1024),
        "post_quant_proj.mlp.w2.weight": (1024, 2048),
        "decoder.blocks.30.norm2.weight": (1024,),
        "decoder.up_conv1.conv.weight": (320, 1024, 3, 3),
        "decoder.up_conv2.0.shortcut.conv.weight": (320, 320, 3, 3),
        "decoder.up_conv2.0.up.conv.weight": (1280, 1280, 3, 3),
        "decoder.up_conv2.3.conv3_1x1.weight": (320, 1280, 1, 1),
        "decoder.up_conv3.0.up.conv.weight": (640, 640, 3, 3),
        "decoder.up_conv3.1.conv2_kxk.weight": (640, 1, 3, 3),
        "decoder.up_conv4.conv1.conv.weight": (160, 160, 3, 3),
        "decoder.up_conv4.norm1.weight": (160,),
        "decoder.up_conv4.conv2.weight": (3, 160, 3, 3),
        "text_encoder.token_embedding.weight": (49408, 768),
        "text_encoder.positional_embedding": (77, 768),
        "text_encoder.transformer.resblocks.11.attn.in_proj_weight": (2304, 768),
        "text_encoder.transformer.resblocks.11.mlp.c_fc.weight": (3072, 768),
        "text_encoder.ln_final.weight": (768,),
        "text_encoder.text_projection": (768, 768),
        "fc_norm.weight": (1024,),
        "projection.weight": (768, 1024),
        "logit_scale": (),
    }
    for key, shape in expected.items():
        assert shapes.get(key) == shape, key
    # Blocks that the released tree does not have must not appear (stride-1 blocks have no shortcut params,
    # the decoder keeps no conv stem, there is no class token or positional table in the ViT trunk).
    assert not any(k.startswith("encoder.patch_embed.backbone.stages.0.1.shortcut") for k in shapes)
    assert not any(k.startswith(("decoder.stem", "decoder.patch_embed", "encoder.cls_token")) for k in shapes)
    assert sum(k.startswith("decoder.up_conv2.") and k.endswith("up.conv.weight") for k in shapes) == 1


def test_codes_are_cosine_argmax_codebook_major(small):
    cfg = small.cfg
    x = torch.rand(2, 3, cfg.img_size, cfg.img_size) * 2 - 1
    with torch.no_grad():
        codes = small.img_to_idx(x)
        f = small.quant_proj(small.encoder(x))
    assert codes.dtype == torch.int64 and codes.shape == (2, cfg.num_codebooks, cfg.num_tokens)
    for k, cb in enumerate(small.quantizer.codebooks):
        chunk = f[..., k * cfg.code_dim:(k + 1) * cfg.code_dim]
        brute = (F.normalize(chunk, dim=-1) @ F.normalize(cb.codebook.weight, dim=1).T).argmax(-1)
        assert torch.equal(codes[:, k], brute)
    vectors = small.quantizer.idx_to_f(codes)
    assert vectors.shape == (2, cfg.num_tokens, cfg.vocab_width)
    norms = vectors.reshape(2, cfg.num_tokens, cfg.num_codebooks, cfg.code_dim).norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)


def test_graph_wrappers_compute_the_released_math(small):
    cfg = small.cfg
    x = torch.rand(3, 3, cfg.img_size, cfg.img_size) * 2 - 1
    with torch.no_grad():
        codes = small.img_to_idx(x)
        assert torch.equal(EncodeGraph(small)(x), codes)
        assert torch.allclose(DecodeGraph(small)(codes), small.idx_to_img(codes), atol=1e-6)
        assert torch.allclose(ClipImageGraph(small)(codes), small.encode_image_from_codes(codes), atol=1e-6)
        rec = small.idx_to_img(codes)
    assert rec.shape == x.shape and rec.min() >= -1 and rec.max() <= 1


def test_attn_projection_compression_averages_heads_and_causal_is_causal():
    torch.manual_seed(0)
    comp = AttnProjection(64, 16, num_heads=4)
    x = torch.randn(1, 5, 64)
    att = comp.attn
    qkv = F.linear(comp.norm1(x), att.qkv.weight, torch.cat((att.q_bias, att.zero_k_bias, att.v_bias)))
    q, k, v = qkv.reshape(1, 5, 3, 4, 16).permute(2, 0, 3, 1, 4)
    heads = torch.softmax(q @ k.transpose(-1, -2) / 4.0, -1) @ v
    manual = att.proj(heads.mean(1)) + comp.proj(comp.norm3(x))
    manual = manual + comp.mlp(comp.norm2(manual))
    assert torch.allclose(comp(x), manual, atol=1e-5)

    causal = AttnProjection(16, 64, num_heads=4, causal=True)
    y = torch.randn(1, 6, 16)
    y2 = y.clone()
    y2[:, 4:] += 1.0  # changing later tokens must not change earlier outputs
    assert torch.allclose(causal(y)[:, :4], causal(y2)[:, :4], atol=1e-6)
    assert not torch.allclose(causal(y)[:, 4:], causal(y2)[:, 4:])
