"""Reference generation loops on the PyTorch modules: what the TypeScript engine must reproduce token for token.

Both loops follow the released code (eval/liquid/eval/model_vqa_loader.py and infer_genai.py) and share one
sampling procedure, defined exactly below so that seeded runs agree across languages.

Seeded sampling (docs/bundle.md repeats this; the TypeScript engine implements the same steps):

  RNG: mulberry32 on a 32-bit state s, seeded with s = seed mod 2^32. Each draw:
      s = (s + 0x6D2B79F5) mod 2^32
      t = (s ^ (s >>> 15)) * (s | 1)            mod 2^32
      t = t ^ (t + (t ^ (t >>> 7)) * (t | 61))  mod 2^32
      u = (t ^ (t >>> 14)) / 2^32               a uniform double in [0, 1)
  (JavaScript: Math.imul for the products and >>> 0 to stay unsigned.)

  sample(logits, temperature, top_k, top_p, rng) -> token, with logits float32 [V]:
   1. temperature <= 0 (greedy): the index of the largest logit, the lowest index on ties. No draw.
   2. z_i = float64(logit_i) / temperature; order: indices by z descending, ties by lower index first.
   3. top_k > 0: keep the first min(top_k, V) of order.
   4. Integer weights. S = min(24, 52 - ceil(log2 V)). The gap of token i below the first of order, in units of 2^-16
      octave: g_i = floor((z_max - z_i) * 94548.4621996991) (that constant is 65536 * 1.4426950408889634, exact).
      w_i = floor(HI[(g_i >> 8) & 255] * LO[g_i & 255] * 2^(S - (g_i >> 16))) while g_i < (S + 1) * 65536, else 0
      (NaN gaps too), with HI[a] = exp2(-a / 256), LO[b] = exp2(-b / 65536) and exp2 the degree-10 Taylor series
      of e^(f ln 2) by Horner's rule (EXP2_TAYLOR). The first token of order has g = 0 and weighs 2^S. Drop the
      tokens that weigh 0: they are less likely than 2^-S of the first (2^-24, float32's precision, on the text
      vocabulary), and on a trained model that is most of the vocabulary, so an implementation may skip them with
      one comparison. Any sum of the weights is below 2^53: exact in float64 in any order.
   5. W = the sum of the kept weights; before_r = the sum of the weights ranked before position r.
   6. top_p < 1: keep position r while before_r <= top_p * W (a float64 product; the first token always stays);
      recompute W. (The released nucleus filter: drop a token once the mass before it exceeds top_p.)
   7. Draw u; target = u * W; return the token at the position r with before_r <= target < before_r + w_r.
  Exactly one draw per sampled token, none for greedy. Only float64 products, floors and table reads, no libm:
  every implementation computes the same bits. The sums being exact, an implementation may find r without
  sorting (the TypeScript engine does).

  CFG (text-to-image): logits = u + (c - u) * cfg_scale, computed in float64 from the float32 conditional (c)
  and unconditional (u) depth-head logits, before temperature; the sampled code is used for both rows.

Draw order: text decoding draws once per generated token. Image generation draws for visual token 0 codes
0..K-1, then token 1, and so on. Image i of a request uses seed + i.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .convert.bundle_config import IMAGE_SAMPLING, TEXT_SAMPLING
from .modules.mllm import UniTokMLLM
from .text_tokenizer import IMAGE_TOKEN_INDEX

M32 = 0xFFFFFFFF


class Mulberry32:
    """The seeded generator of the spec above: a 32-bit state, one uniform double in [0, 1) per draw."""

    def __init__(self, seed: int):
        self.state = seed & M32
        self.draws = 0

    def next_uint32(self) -> int:
        self.state = (self.state + 0x6D2B79F5) & M32
        s = self.state
        t = ((s ^ (s >> 15)) * (s | 1)) & M32
        t = (t ^ ((t + ((t ^ (t >> 7)) * (t | 61))) & M32)) & M32
        self.draws += 1
        return (t ^ (t >> 14)) & M32

    def uniform(self) -> float:
        return self.next_uint32() / 4294967296.0


def sample(logits, temperature: float, top_k: int = 0, top_p: float = 1.0, rng: Mulberry32 | None = None) -> int:
    """One token from float32 logits [V] by the procedure in the module docstring."""
    return sample_with_margin(logits, temperature, top_k, top_p, rng)[0]


# 2^f = e^(f ln 2): Taylor coefficients (ln 2)^n / n!, n = 0..10.
EXP2_TAYLOR = (1.0, 0.6931471805599453, 0.24022650695910072, 0.05550410866482158, 0.009618129107628477,
               0.0013333558146428443, 0.0001540353039338161, 1.5252733804059841e-05, 1.321548679014431e-06,
               1.01780860092397e-07, 7.054911620801123e-09)
GAP_UNITS_PER_NAT = 94548.4621996991  # 65536 * log2(e), the float64 product 65536 * 1.4426950408889634


def exp2_taylor(f: float) -> float:
    """2^f for f in (-1, 0] by Horner's rule, innermost coefficient first (the spec's exact operation order)."""
    p = EXP2_TAYLOR[-1]
    for c in reversed(EXP2_TAYLOR[:-1]):
        p = c + f * p
    return p


_HI = np.array([exp2_taylor(-a / 256) for a in range(256)])
_LO = np.array([exp2_taylor(-b / 65536) for b in range(256)])


MAX_WEIGHT_EXPONENT = 24


def weight_exponent(vocab: int) -> int:
    """S = min(24, 52 - ceil(log2 vocab)): vocab weights of at most 2^S sum below 2^53, and a token less likely
    than 2^-24 of the best one's weighs nothing."""
    return min(MAX_WEIGHT_EXPONENT, 52 - (max(vocab, 1) - 1).bit_length())


def weights(gaps: np.ndarray, S: int) -> np.ndarray:
    """int64 weights of float64 gaps (z_max - z) by step 4 of the spec."""
    with np.errstate(invalid="ignore", over="ignore"):
        g = np.floor(gaps * GAP_UNITS_PER_NAT)
        live = g < (S + 1) * 65536  # NaN and infinite gaps weigh nothing
    g = np.where(live, g, 0).astype(np.int64)
    w = np.floor(_HI[(g >> 8) & 255] * _LO[g & 255] * np.ldexp(1.0, S - (g >> 16)))
    return np.where(live, w, 0).astype(np.int64)


def sample_with_margin(logits, temperature: float, top_k: int = 0, top_p: float = 1.0,
                       rng: Mulberry32 | None = None) -> tuple[int, float]:
    """(token, margin): how far the decision was from flipping, to judge whether another implementation with
    slightly different logits must agree. Greedy: the gap between the two largest logits; sampled: the distance
    of the draw (or of a nucleus cut) from the nearest boundary, as a fraction of the total weight."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature <= 0:
        top2 = np.partition(z, -2)[-2:] if z.size > 1 else np.array([-np.inf, z[0]])
        return int(np.argmax(z)), float(top2[1] - top2[0])  # numpy's argmax returns the first maximum
    if rng is None:
        raise ValueError("sampling with temperature > 0 needs an rng")
    S = weight_exponent(z.size)
    z = z / temperature
    order = np.argsort(-z, kind="stable")
    if top_k > 0:
        order = order[:top_k]
    w = weights(z[order[0]] - z[order], S)
    w[0] = 2**S  # even when z_max is infinite
    keep = w > 0
    order, w = order[keep], w[keep]
    margin = np.inf
    if top_p < 1.0:
        limit = top_p * int(w.sum())
        prefix = np.cumsum(w)  # int64: exact
        keep = prefix - w <= limit
        keep[0] = True
        cut = int(keep.sum())
        if cut < w.size:  # the cut's distance from flipping: limit against the boundaries around it
            margin = min(limit - int(prefix[cut - 1] - w[cut - 1]), int(prefix[cut - 1]) - limit) / int(w.sum())
        order, w = order[:cut], w[:cut]
    prefix = np.cumsum(w)
    total = int(prefix[-1])
    target = rng.uniform() * total
    r = int(np.argmax(prefix > target))  # exists: target < total
    start = int(prefix[r] - w[r])
    return int(order[r]), min(margin, min(target - start, int(prefix[r]) - target) / total)


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> np.ndarray:
    c = cond.detach().float().numpy().astype(np.float64)
    u = uncond.detach().float().numpy().astype(np.float64)
    return u + (c - u) * scale


# ----------------------------------------------------------------------------------------- understanding


@dataclass
class TextResult:
    tokens: list[int]  # generated ids, without the eos
    finish_reason: str  # 'stop' (eos) or 'length'
    prompt_len: int  # LLM positions used by the prompt (text tokens + visual tokens)
    margin: float  # the smallest sample_with_margin margin over the decisions taken
    first_logits: np.ndarray = field(repr=False, default=None)  # float32 [V] after the prefill, for parity tests


def prompt_embeds(model: UniTokMLLM, ids: list[int], images: list[torch.Tensor]) -> torch.Tensor:
    """inputs_embeds [1, L, D] for ids with IMAGE_TOKEN_INDEX placeholders, each replaced by the visual
    embeddings of the matching image's codes [K, N] (all N tokens at once, causal: prepare_inputs_for_multimodal)."""
    if ids.count(IMAGE_TOKEN_INDEX) != len(images):
        raise ValueError(f"{ids.count(IMAGE_TOKEN_INDEX)} image placeholders but {len(images)} images")
    parts, run, images = [], [], list(images)
    for i in ids + [None]:
        if i is not None and i != IMAGE_TOKEN_INDEX:
            run.append(i)
            continue
        if run:
            parts.append(model.embed_text(torch.tensor([run])))
            run = []
        if i == IMAGE_TOKEN_INDEX:
            parts.append(model.embed_visual(images.pop(0)[None]))
    return torch.cat(parts, dim=1)


@torch.no_grad()
def generate_text(model: UniTokMLLM, ids: list[int], images: list[torch.Tensor] = (),
                  max_new_tokens: int = TEXT_SAMPLING["max_new_tokens"], temperature: float = 0.0,
                  top_k: int = 0, top_p: float = 1.0, seed: int | None = None) -> TextResult:
    """Prefill the prompt (text and visual embeddings), then decode one token at a time with the KV cache,
    feeding back the sampled token's text embedding, until eos or max_new_tokens."""
    rng = Mulberry32(seed) if seed is not None else None
    x = prompt_embeds(model, list(ids), images)
    out = model(x)
    first = out.logits[0, -1].float().numpy().copy()
    tokens, margin = [], np.inf
    for _ in range(max_new_tokens):
        token, m = sample_with_margin(out.logits[0, -1].float().numpy(), temperature, top_k, top_p, rng)
        margin = min(margin, m)
        if token == model.cfg.eos_token_id:
            return TextResult(tokens, "stop", x.shape[1], margin, first)
        tokens.append(token)
        if len(tokens) < max_new_tokens:
            out = model(model.embed_text(torch.tensor([[token]])), past=out.present)
    return TextResult(tokens, "length", x.shape[1], margin, first)


# ----------------------------------------------------------------------------------------- text to image


@dataclass
class ImageResult:
    codes: torch.Tensor  # int64 [K, N]: the image's codes, codebook-major, ready for the tokenizer's decoder
    margin: float  # the smallest sample_with_margin margin over the decisions taken
    first_logits: np.ndarray = field(repr=False, default=None)  # float32 [rows, V]: depth logits of token 0, code 0


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Released batching (tokenizer padding_side='left'): ids [B, L] and attention mask [B, L]."""
    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


@torch.no_grad()
def generate_image(model: UniTokMLLM, cond_ids: list[int], uncond_ids: list[int], num_tokens: int,
                   cfg_scale: float = IMAGE_SAMPLING["cfg_scale"], temperature: float = IMAGE_SAMPLING["temperature"],
                   top_k: int = IMAGE_SAMPLING["top_k"], top_p: float = IMAGE_SAMPLING["top_p"],
                   seed: int | None = None) -> ImageResult:
    """The released T2I loop (infer_genai.py with T2I_forward_withcache).

    cond_ids / uncond_ids: the tokenized prompt + suffix and '<unconditional>', each with BOS and with the boi
    id appended. Rows [cond; uncond] are left-padded into one batch (uncond only when cfg_scale > 1). For each
    of num_tokens visual tokens: the LLM's post-norm hidden state at the last position starts the depth head,
    which is re-run over its growing prefix (recompute, as released) to give K code logits in turn; CFG mixes
    the rows' logits; the sampled code is shared by both rows and, below level K-1, embedded and appended to
    the prefix. The finished token's K codes go back through the visual embedder alone (N = 1) as the next
    LLM input; the last token is never fed back.
    """
    cfg = model.cfg
    rng = Mulberry32(seed) if seed is not None else None
    use_cfg = cfg_scale > 1.0
    ids, mask = left_pad([cond_ids, uncond_ids] if use_cfg else [cond_ids], cfg.pad_token_id)
    out = model(model.embed_text(ids), attention_mask=mask)
    tokens, first, margin = [], None, np.inf
    for step in range(num_tokens):
        prefix = out.hidden[:, -1:]
        codes = []
        for level in range(cfg.num_codebooks):
            logits = model.ar_head.logits(prefix).float()  # [rows, codebook_size]
            mixed = cfg_combine(logits[0], logits[1], cfg_scale) if use_cfg else logits[0].numpy()
            if first is None:
                first = logits.numpy().copy()
            code, m = sample_with_margin(mixed, temperature, top_k, top_p, rng)
            margin = min(margin, m)
            codes.append(code)
            if level < cfg.num_codebooks - 1:
                shared = torch.full((ids.shape[0], 1), code, dtype=torch.long)
                prefix = torch.cat([prefix, model.embed_code(level, shared)], dim=1)
        tokens.append(codes)
        if step < num_tokens - 1:
            visual = torch.tensor(codes).view(1, -1, 1).expand(ids.shape[0], -1, -1)  # [rows, K, 1]
            mask = torch.cat([mask, torch.ones(mask.shape[0], 1, dtype=mask.dtype)], dim=1)
            out = model(model.embed_visual(visual), attention_mask=mask, past=out.present)
    return ImageResult(torch.tensor(tokens).t().contiguous(), margin, first)
