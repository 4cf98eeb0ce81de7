"""unitok/reference_loop.py: the seeded sampler spec, and the loops against naive recomputation."""
import numpy as np
import pytest
import torch

from unitok.convert.bundle_config import TEXT_TO_IMAGE, vqa_prompt
from unitok.convert.loop_fixtures import bundle_equivalent
from unitok.convert.mllm_checkpoint import mllm_specs
from unitok.convert.random_checkpoint import random_tensor
from unitok.mllm_config import get_mllm_config
from unitok.modules.mllm import UniTokMLLM
from unitok.reference_loop import (Mulberry32, generate_image, generate_text, left_pad, prompt_embeds, sample,
                                   sample_with_margin)
from unitok.text_tokenizer import IMAGE_TOKEN_INDEX, LlamaTokenizer


@pytest.fixture(scope="module")
def model():
    cfg = get_mllm_config("tiny")
    m = UniTokMLLM(cfg).eval()
    specs = mllm_specs(cfg)
    m.load_state_dict({k: torch.from_numpy(random_tensor(9, k, s, p)) for k, (s, p) in specs.items()})
    return m


@pytest.fixture(scope="module")
def tok():
    return LlamaTokenizer.load()


def test_mulberry32_matches_the_javascript_reference():
    # Outputs of the canonical JS mulberry32(42) (Math.imul / >>> 0), as in docs/bundle.md.
    rng = Mulberry32(42)
    assert [rng.uniform() for _ in range(3)] == [0.6011037519201636, 0.44829055899754167, 0.8524657934904099]
    assert Mulberry32(-1).uniform() == Mulberry32(2**32 - 1).uniform() == 0.8964226141106337
    assert rng.draws == 3


def test_greedy_takes_the_first_maximum_and_draws_nothing():
    rng = Mulberry32(0)
    assert sample(np.array([1, 3, 3, 2], np.float32), 0.0, rng=rng) == 1
    assert rng.draws == 0
    token, gap = sample_with_margin(np.array([1, 3, 2.5], np.float32), 0.0)
    assert token == 1 and gap == pytest.approx(0.5)


def test_filters_restrict_the_support():
    logits = np.array([0.0, 2.0, 1.0, 3.0, -1.0], np.float32)
    rng = Mulberry32(1)
    assert {sample(logits, 1.0, top_k=1, rng=rng) for _ in range(20)} == {3}
    assert {sample(logits, 1.0, top_k=2, rng=rng) for _ in range(200)} == {1, 3}
    assert {sample(logits, 5.0, top_p=1e-9, rng=rng) for _ in range(20)} == {3}  # the top token is always kept
    assert rng.draws == 240


def test_top_p_keeps_tokens_until_the_mass_before_them_exceeds_p():
    # probabilities 0.5, 0.3, 0.2 (logits are their logs): with top_p 0.6 the mass before token 2 is 0.8 > 0.6
    logits = np.log(np.array([0.5, 0.3, 0.2], np.float32))
    rng = Mulberry32(2)
    assert {sample(logits, 1.0, top_p=0.6, rng=rng) for _ in range(300)} == {0, 1}
    assert {sample(logits, 1.0, top_p=0.85, rng=rng) for _ in range(300)} == {0, 1, 2}


def test_draws_follow_the_softmax():
    logits = np.array([1.0, 0.0, -1.0, 0.5], np.float32)
    rng = Mulberry32(3)
    counts = np.bincount([sample(logits, 0.7, rng=rng) for _ in range(20000)], minlength=4) / 20000
    expected = np.exp(logits / 0.7) / np.exp(logits / 0.7).sum()
    np.testing.assert_allclose(counts, expected, atol=0.015)


def test_sampling_without_rng_is_an_error():
    with pytest.raises(ValueError, match="needs an rng"):
        sample(np.zeros(3, np.float32), 1.0)


def test_vqa_prompt_tokens(tok):
    ids = tok.tokenizer_image_token(vqa_prompt("What is this?"))
    assert ids[0] == 1 and ids.count(IMAGE_TOKEN_INDEX) == 1
    after = ids[ids.index(IMAGE_TOKEN_INDEX) + 1:]
    assert tok.decode(after) == "\nWhat is this? ASSISTANT:"


@torch.no_grad()
def naive_text(model, ids, codes, n):
    """Greedy decoding that re-runs the whole sequence at every step (no KV cache)."""
    x = prompt_embeds(model, ids, [codes])
    out = []
    for _ in range(n):
        token = int(model(x).logits[0, -1].argmax())
        if token == model.cfg.eos_token_id:
            break
        out.append(token)
        x = torch.cat([x, model.embed_text(torch.tensor([[token]]))], dim=1)
    return out


def test_cached_text_decoding_equals_recomputation(model, tok):
    ids = tok.tokenizer_image_token(vqa_prompt("Describe the image."))
    codes = torch.randint(0, model.cfg.codebook_size, (model.cfg.num_codebooks, 3), generator=torch.Generator().manual_seed(0))
    r = generate_text(model, ids, [codes], max_new_tokens=8)
    assert r.tokens == naive_text(model, ids, codes, 8)
    assert r.prompt_len == len(ids) - 1 + 3 and r.finish_reason in ("stop", "length")
    seeded = [generate_text(model, ids, [codes], 8, temperature=1.0, seed=5).tokens for _ in range(2)]
    assert seeded[0] == seeded[1] != r.tokens


@torch.no_grad()
def naive_image(model, cond, uncond, n, scale):
    """Greedy T2I that re-runs each row alone over its whole sequence every step; each fed-back visual token is
    embedded alone (N = 1), as the released withcache path does; the depth head uses its KV-cached step."""
    rows = [model.embed_text(torch.tensor([cond])), model.embed_text(torch.tensor([uncond]))]
    codes = []
    for _ in range(n):
        hidden = [model(x).hidden[:, -1:] for x in rows]
        pasts, inputs, token = [None, None], hidden, []
        for level in range(model.cfg.num_codebooks):
            logits = []
            for r in range(2):
                lg, pasts[r] = model.ar_head.step(inputs[r], pasts[r])
                logits.append(lg[0].double())
            code = int((logits[1] + (logits[0] - logits[1]) * scale).argmax())
            token.append(code)
            if level < model.cfg.num_codebooks - 1:
                inputs = [model.embed_code(level, torch.tensor([[code]]))] * 2
        codes.append(token)
        visual = model.embed_visual(torch.tensor(token).view(1, -1, 1))
        rows = [torch.cat([x, visual], dim=1) for x in rows]
    return torch.tensor(codes).t()


def test_image_loop_equals_recomputation_of_each_row(model, tok):
    cond = tok.encode("a blue ball" + TEXT_TO_IMAGE["suffix"]) + [3]
    uncond = tok.encode(TEXT_TO_IMAGE["unconditional"]) + [3]
    r = generate_image(model, cond, uncond, num_tokens=4, cfg_scale=7.0, temperature=0.0)
    assert r.codes.shape == (model.cfg.num_codebooks, 4)
    assert torch.equal(r.codes, naive_image(model, cond, uncond, 4, 7.0))
    assert r.first_logits.shape == (2, model.cfg.codebook_size)


def test_seeded_images_repeat_and_cfg_matters(model, tok):
    cond = tok.encode("a cat" + TEXT_TO_IMAGE["suffix"]) + [3]
    uncond = tok.encode(TEXT_TO_IMAGE["unconditional"]) + [3]
    a, b = (generate_image(model, cond, uncond, 3, seed=1).codes for _ in range(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, generate_image(model, cond, uncond, 3, seed=2).codes)
    assert not torch.equal(a, generate_image(model, cond, uncond, 3, cfg_scale=1.0, seed=1).codes)


def test_best_of_draws_the_candidate_nearest_the_prompt(model, tok):
    """evaluate.draw, as the server's best_of: candidates seeded seed + j, the highest score wins."""
    from types import SimpleNamespace

    from unitok.demo.evaluate import draw

    class Judge:  # a CLIP stand-in whose score of a candidate is the sum of its codes
        cfg = SimpleNamespace(num_tokens=3, text_context_length=77)

        def encode_text(self, ids):
            return torch.ones(1, 1)

        def encode_image_from_codes(self, codes):
            return codes.flatten(1).sum(1, keepdim=True).float()

    cond = tok.encode("a cat" + TEXT_TO_IMAGE["suffix"]) + [3]
    uncond = tok.encode(TEXT_TO_IMAGE["unconditional"]) + [3]
    loop = dict(cfg_scale=3.0, temperature=1.0, top_k=0, top_p=1.0)
    alone = [generate_image(model, cond, uncond, 3, seed=5 + j, **loop).codes for j in range(3)]
    codes, scores = draw(Judge(), model, cond, uncond, "a cat", {**loop, "best_of": 3}, seed=5)
    assert scores == [float(a.sum()) for a in alone] and len(set(scores)) == 3
    assert torch.equal(codes, alone[int(np.argmax(scores))])
    one, none = draw(Judge(), model, cond, uncond, "a cat", loop, seed=5)
    assert torch.equal(one, alone[0]) and none is None


def test_left_pad():
    ids, mask = left_pad([[1, 2, 3], [1]], 0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 1]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_bundle_equivalent_weights(model):
    assert bundle_equivalent(model, "fp32").state_dict().keys() == model.state_dict().keys()
    q = bundle_equivalent(model, "int4")
    w, wq = model.lm_head.weight, q.lm_head.weight
    assert not torch.equal(w, wq) and (w - wq).abs().max() < w.abs().max() / 7  # 4-bit rounding, scale max/7
    t = q.model.embed_tokens.weight
    assert torch.equal(t, t.half().float())
    assert torch.equal(q.model.multi_embedder.attn_projection.proj.weight, model.model.multi_embedder.attn_projection.proj.weight)
    with pytest.raises(ValueError, match="compute in float16"):
        bundle_equivalent(model, "fp16")
