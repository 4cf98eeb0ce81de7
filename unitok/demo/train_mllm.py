"""Stage 2 of the demo model: train the UniTok MLLM ('demo' preset) on the shapes world, from scratch, on top of
the stage-1 tokenizer, with the real Llama-2 tokenizer and the released sequence formats.

    python3 -m unitok train-mllm --out runs/demo [--steps 6000] [--minutes 63] [--batch 32]

Each batch mixes three kinds of rows (eval/liquid/train.py formats), as groups padded apart (`Mix` sets the mix).
Every text comes from the language grammar's training split (language.py), never from its held-out split:
  text -> image   BOS "{prompt} Generate an image based on this description." boi <64 visual tokens> eoi eos
                  Loss: the depth head on all 8 codes of the visual tokens (cross-entropy + z-loss 5e-5 max_logit^2),
                  and lm_head on eoi and eos. 10% of captions are dropped for classifier-free guidance; a dropped row
                  is "<unconditional>" boi ..., exactly the unconditional prompt the released loop feeds. The depth
                  head trains on every token of the rows a shape touches and of the row above it (where the model
                  decides where the shape starts) and on a random 30% of the other background ones, and
                  60% of these rows show one shape: the background is most of every image and learnt from far
                  fewer examples, while where the shape goes is what a prompt is about.
  chat (VQA)      vicuna_v1: "{system} USER: <image>\n{question} ASSISTANT:" then " {answer}</s>"; loss on the answer
                  and eos. Questions cover colour, shape, position, size, count, background, "is there a ...",
                  "is the ... on the left" (yes/no) and "Describe the image." (answer: the caption), each in
                  many phrasings. One row carries up to 8 questions about its image as
                  branches behind the shared prompt + image: each branch restarts its positions after the image and
                  sees only the prompt, the image and itself (an attention bias), so it is exactly a single-turn chat,
                  at a fraction of the cost of 8 rows (the system prompt and the image are 100 of ~120 tokens).
                  Chats favour scenes of two and three shapes (Mix.chat_multi_share): one-shape questions are
                  learnt early, while binding an answer to the one shape asked about is learnt last.
  text only       vicuna_v1 without an image: "{system} USER: {request} ASSISTANT:" then " {reply}</s>", several
                  requests per row as branches behind the shared system prompt: greetings and "what can you do?"
                  (what the model knows, with an example prompt), "Describe a red circle." (a sentence about it),
                  requests outside the world (an honest refusal with an example prompt).
Visual tokens enter through model.multi_embedder: the tokenizer's codebooks (copied, frozen, as released) and a causal
copy of its post_quant_proj (copied, then trained), then the MLP projector. Chat rows embed the image's tokens all at
once (causal), text -> image rows one token at a time, exactly as the released inference loops feed them (see
losses()). The depth head reads the LLM's post-norm hidden state at the position before each visual token.

The training images are a fixed pool of train-split scenes, encoded once by the stage-1 tokenizer (train_codes.npy);
captions, caption variants and questions are drawn afresh every time a scene is used.

Writes to --out: mllm_train.pt (resumable state; re-running resumes), and mllm/ — the released Hugging Face layout
(config.json, model.safetensors, Llama-2 tokenizer files) that `python3 -m unitok convert` reads.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..convert.bundle_config import TEXT_TO_IMAGE, VICUNA_V1, vicuna_v1_prompt, vqa_prompt
from ..convert.progress import Progress
from ..convert.random_checkpoint import hf_config
from ..convert.tokenizer_files import write_tokenizer_files
from ..export.tokenizer_onnx import load_released_tokenizer
from ..mllm_config import get_mllm_config
from ..modules.llama import run_decoder
from ..modules.mllm import UniTokMLLM
from ..safetensors import write_sharded
from ..text_tokenizer import IMAGE_TOKEN_INDEX, LlamaTokenizer
from . import language, world
from .common import RunningMean, StepProgress, add_run_args, load_checkpoint, lr_at, resume, save_checkpoint, setup_torch
from .train_tokenizer import RELEASED_FILE

STATE_FILE = "mllm_train.pt"
CODES_FILE = "train_codes.npy"
CFG_DROP = 0.1  # released: caption replaced by "<unconditional>" when np.random.rand() > 0.9
Z_LOSS = 5e-5
IGNORE = -100
AUX_WEIGHT = 1.0  # the training-only read-outs (AuxHeads)
TEXT_REQUESTS = 3  # text-only requests per text row (make_batch)
TWO_TURNS = 0.15  # share of chat branches that are the second turn of a conversation about the image


@dataclasses.dataclass(frozen=True)
class Mix:
    """What a batch is made of (each may change on resume). The defaults are models/demo's recipe (run 10,
    docs/demo-training.md)."""

    t2i_share: float = 0.55  # text -> image rows; the rest are chats
    questions: int = 12  # question branches per chat row
    single_share: float = 0.6  # text -> image rows drawn from one-shape scenes (the prompts the demo is judged on)
    chat_multi_share: float = 0.8  # chat rows drawn from scenes of two or three shapes (else from the whole pool)
    depth_background: float = 0.3  # share of the background tokens outside shape_band the depth head trains on
    text_share: float = 0.08  # text-only chats (greetings, "what can you do?", out-of-world requests, describe ...)


# ------------------------------------------------------------------------------------------------ data


@torch.no_grad()
def encode_pool(tok_model, count: int, path: str, batch: int = 32) -> np.ndarray:
    """Codes uint8 [count, K, N] of train scenes 0..count-1 (cached: computed once per tokenizer)."""
    if os.path.isfile(path):
        codes = np.load(path)
        if len(codes) >= count:
            return codes[:count]
    bar = Progress("encoding training images", count, count, unit="images", counts_bytes=False)
    out = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        imgs = np.stack([world.render(world.make_scene("train", i)) for i in range(start, start + n)])
        out.append(tok_model.img_to_idx(torch.from_numpy(world.to_pixels(imgs))).numpy().astype(np.uint8))
        bar.update(n, n)
    bar.close()
    codes = np.concatenate(out)
    np.save(path, codes)
    return codes


class Rows:
    """Turns (scene, rng) into token sequences in the released formats. Tokenizations are cached: the question
    templates and captions repeat."""

    def __init__(self, tok: LlamaTokenizer):
        self.tok = tok

    @functools.lru_cache(maxsize=None)
    def encode(self, text: str, add_bos: bool) -> tuple:
        return tuple(self.tok.encode(text, add_bos=add_bos))

    @functools.lru_cache(maxsize=4096)
    def chat_prompt(self, question: str, earlier: tuple[str, str] | None = None) -> tuple[tuple, tuple]:
        """The vicuna_v1 prompt's ids before and after the image (tokenizer_image_token); `earlier`: a first turn
        (question about the image, its answer) before this question."""
        if earlier is None:
            prompt = vqa_prompt(question)
        else:
            user, assistant = VICUNA_V1["roles"]
            prompt = vicuna_v1_prompt([(user, VICUNA_V1["image_message"].format(question=earlier[0])),
                                       (assistant, earlier[1]), (user, question), (assistant, None)])
        ids = self.tok.tokenizer_image_token(prompt)
        cut = ids.index(IMAGE_TOKEN_INDEX)
        return tuple(ids[:cut]), tuple(ids[cut + 1:])

    def t2i(self, scene: world.Scene, rng: np.random.Generator) -> dict:
        """A prompt from the language grammar (language.prompt: any frame, word order and subset of the scene's
        attributes; what it leaves out the model chooses), or, 10% of the time, the unconditional prompt."""
        conditioned = rng.random() >= CFG_DROP
        mention = None
        if not conditioned:
            prefix = self.encode(TEXT_TO_IMAGE["unconditional"], True)
        else:
            text, mention = language.prompt(scene, rng, "train")
            prefix = self.encode(text + TEXT_TO_IMAGE["suffix"], True)
        return {"before": prefix + (3,), "branches": [((4, 2), (4, 2))], "t2i": True, "conditioned": conditioned,
                "mention": mention}

    def text(self, rng: np.random.Generator, questions: int) -> dict:
        """Text-only chats (no image), each a branch behind the shared system prompt: greetings, "what can you
        do?", requests outside the world (an honest refusal with an example prompt), "Describe a red circle."."""
        before = self.encode(vqa_prompt("", with_image=False).rsplit(" ", 2)[0].rstrip(), True)
        branches = []
        for _ in range(questions):
            _, request, reply = language.text_chat(rng, "train")
            full = self.encode(vqa_prompt(request, with_image=False), True)
            if full[: len(before)] != before:  # a request that merges with the prompt's last token: skip it
                continue
            targets = self.encode(reply, False) + (2,)
            branches.append((full[len(before):] + targets, targets))
        return {"before": before, "branches": branches, "t2i": False, "text_only": True}

    def chat(self, scene: world.Scene, rng: np.random.Generator, questions: int) -> dict:
        """One image and up to `questions` of its questions, each a branch that sees the image prompt but not the
        other branches (make_batch's mask): exactly `questions` single-turn chats for the price of one image.
        Colour and shape questions (what the demo is judged on) always come; the rest are drawn at random, the
        long caption answer less often."""
        qa = language.questions(scene, rng, "train")
        must = [x for x in qa if x[0] in ("color", "shape")]
        rest = [x for x in qa if x[0] not in ("color", "shape") and (x[0] != "caption" or rng.random() < 0.3)]
        rest = [rest[i] for i in rng.permutation(len(rest))]
        branches, before = [], None
        for _, question, answer in (must + rest)[:questions]:
            if rng.random() < TWO_TURNS:  # a second turn: an earlier question and its answer come first
                _, q0, a0 = qa[int(rng.integers(len(qa)))]
                b, after = self.chat_prompt(question, (q0, a0))
            else:
                b, after = self.chat_prompt(question)
            assert before in (None, b), "the prompt before the image must not depend on the question"
            before = b
            targets = self.encode(answer, False) + (2,)
            branches.append((after + targets, targets))
        return {"before": before, "branches": branches, "t2i": False}


def token_shapes(scene: world.Scene, grid: int) -> np.ndarray:
    """int64 [grid * grid], row-major as the codes: 1 + the index in world.SHAPES of the shape whose bounding box a
    token's patch meets, 0 where none does, IGNORE where two do."""
    patch = world.IMG_SIZE / grid
    out = np.zeros((grid, grid), np.int64)
    for s in scene.shapes:
        r = world.SIZES[s.size]
        c0, c1 = max(int((s.cx - r) // patch), 0), int(min(s.cx + r, world.IMG_SIZE - 1) // patch)
        r0, r1 = max(int((s.cy - r) // patch), 0), int(min(s.cy + r, world.IMG_SIZE - 1) // patch)
        box = out[r0: r1 + 1, c0: c1 + 1]
        box[:] = np.where(box == 0, 1 + world.SHAPES.index(s.shape), IGNORE)
    return out.reshape(-1)


def scene_plan(scene: world.Scene, mention: dict | None = None) -> np.ndarray:
    """int64 [2, 9]: per cell of the 3 x 3 grid, 1 + the index of its shape's colour in world.COLORS and of its
    shape in world.SHAPES; 0 where the cell is empty. `mention` (language.describe): what a prompt states; a colour
    or shape it leaves out is IGNORE, and the whole layout is when it leaves out a cell (the model chooses it)."""
    out = np.zeros((2, len(world.POSITIONS)), np.int64)
    said = mention["shapes"] if mention else [{"color": True, "shape": True, "position": True}] * len(scene.shapes)
    if not all(m["position"] for m in said):
        return np.full_like(out, IGNORE)
    for s, m in zip(scene.shapes, said):
        out[:, s.cell] = (1 + list(world.COLORS).index(s.color) if m["color"] else IGNORE,
                          1 + world.SHAPES.index(s.shape) if m["shape"] else IGNORE)
    return out


def touched_tokens(scene: world.Scene, grid: int) -> np.ndarray:
    """bool [grid * grid]: the visual tokens whose patch meets a shape's bounding box (row-major, as the codes)."""
    return token_shapes(scene, grid) != 0


def shape_band(touched: np.ndarray, grid: int) -> np.ndarray:
    """bool [grid * grid]: every token of the rows a shape touches and of the row above each shape. Where a shape
    starts is decided at the background tokens before it in raster order: a model unsure of the column starts it
    too early (it meets the left columns first), so those are the background tokens worth training on."""
    rows = touched.reshape(grid, grid).any(1)
    rows = rows | np.append(rows[1:], False)  # the row above a shape
    return np.repeat(rows, grid)


def make_batch(rows: Rows, codes: np.ndarray, step: int, batch: int, mix: Mix = Mix(),
               singles: np.ndarray | None = None, seed: int = 0) -> list[dict]:
    """`batch` rows, as one group of chats and one of text -> image rows (each padded to its own length: the two
    kinds differ by 2x). `singles`: indices of the pool's one-shape scenes, which mix.single_share of the
    text -> image rows draw from; mix.chat_multi_share of the chats draw from the others (questions about one of
    several shapes need the answer bound to the right shape, which is learnt far later than one-shape answers)."""
    rng = np.random.default_rng([seed, step])
    multis = None if singles is None else np.setdiff1d(np.arange(len(codes)), singles)
    seqs, texts = [], []
    for _ in range(batch):
        if rng.random() < mix.text_share:
            # A few requests per row: the replies are long (30-60 tokens), and lm_head at every reply token is
            # the dearest op (12 requests made a step ~3x dearer than image chats with 12 short answers).
            texts.append(rows.text(rng, TEXT_REQUESTS))
            continue
        t2i = rng.random() < mix.t2i_share
        if t2i and singles is not None and rng.random() < mix.single_share:
            idx = int(singles[rng.integers(len(singles))])
        elif not t2i and multis is not None and rng.random() < mix.chat_multi_share:
            idx = int(multis[rng.integers(len(multis))])
        else:
            idx = int(rng.integers(len(codes)))
        scene = world.make_scene("train", idx)
        seqs.append({**(rows.t2i(scene, rng) if t2i else rows.chat(scene, rng, mix.questions)), "scene": scene,
                     "index": idx})
    groups = [pad_group(group, codes, rng, mix.depth_background)
              for group in ([s for s in seqs if not s["t2i"]], [s for s in seqs if s["t2i"]]) if group]
    return groups + ([pad_group(texts, codes[:, :, :0], rng, 0.0)] if texts else [])


def pad_group(seqs: list[dict], codes: np.ndarray, rng: np.random.Generator, depth_background: float) -> dict:
    """Right-padded rows: a prefix (text, then the image's slots, which hold 0 in ids) and one or more branches
    after it. Every branch restarts its positions where the prefix ends and attends to the prefix and to itself
    only (`bias`), so it is exactly the single-turn sequence inference sees. Pads come last and no real token
    attends to them. Also per row: image start, text labels (IGNORE elsewhere), the shape under each visual token
    (token_shapes), the scene's layout (scene_plan; IGNORE for dropped captions); per text -> image row
    the visual tokens the depth head is trained on (`focus`: every token of a shape's rows and the row above it
    (shape_band), and `depth_background` of the others: most of an image is flat background, which the head learns
    from far fewer examples)."""
    batch, n_vis = len(seqs), codes.shape[2]
    grid = int(round(n_vis ** 0.5))
    length = max(len(s["before"]) + n_vis + sum(len(b) for b, _ in s["branches"]) for s in seqs)
    ids = np.zeros((batch, length), np.int64)
    labels = np.full((batch, length), IGNORE, np.int64)
    positions = np.zeros((batch, length), np.int64)
    segment = np.full((batch, length), -1, np.int64)
    starts = np.zeros(batch, np.int64)
    focus = np.zeros((batch, n_vis), bool)
    shapes = np.stack([token_shapes(s["scene"], grid) if "scene" in s else np.zeros(n_vis, np.int64) for s in seqs])
    no_plan = np.full((2, len(world.POSITIONS)), IGNORE)
    plan = np.stack([no_plan if "scene" not in s or not s.get("conditioned", True)
                     else scene_plan(s["scene"], s.get("mention")) for s in seqs])
    for r, s in enumerate(seqs):
        prefix = len(s["before"]) + n_vis
        ids[r, : len(s["before"])] = s["before"]
        positions[r, :prefix] = np.arange(prefix)
        segment[r, :prefix] = 0
        starts[r] = len(s["before"])
        at = prefix
        for j, (tokens, targets) in enumerate(s["branches"]):
            n = len(tokens)
            ids[r, at: at + n] = tokens
            positions[r, at: at + n] = prefix + np.arange(n)
            segment[r, at: at + n] = j + 1
            # Position i predicts token i+1: the targets are the branch's last len(targets) tokens.
            labels[r, at + n - len(targets) - 1: at + n - 1] = targets
            at += n
        positions[r, at:] = positions[r, at - 1] + 1 + np.arange(length - at)
        if s["t2i"]:
            focus[r] = shape_band(shapes[r] != 0, grid) | (rng.random(n_vis) < depth_background)
    seg = torch.from_numpy(segment)
    causal = torch.ones(length, length, dtype=torch.bool).tril()[None]
    allowed = causal & ((seg[:, None, :] == 0) | (seg[:, None, :] == seg[:, :, None]))
    bias = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)[:, None]
    return {"ids": torch.from_numpy(ids), "labels": torch.from_numpy(labels), "starts": torch.from_numpy(starts),
            "positions": torch.from_numpy(positions), "bias": bias, "focus": torch.from_numpy(focus),
            "token_shapes": torch.from_numpy(shapes), "plan": torch.from_numpy(plan),
            "codes": torch.from_numpy(codes[[s.get("index", 0) for s in seqs]].astype(np.int64)),
            "t2i": torch.tensor([s["t2i"] for s in seqs])}


def step_losses(model: UniTokMLLM, groups: list[dict], device, aux: AuxHeads | None = None) -> dict:
    """The batch's loss (the groups' losses summed) and its figures: text ones from the chats, code ones from the
    text -> image rows."""
    outs = [losses(model, g, device, aux) for g in groups]
    chat = next((o for g, o in zip(groups, outs) if not g["t2i"][0]), outs[0])
    t2i = next((o for g, o in zip(groups, outs) if g["t2i"][0]), outs[0])
    out = {"loss": sum(o["loss"] for o in outs), "text": chat["text"], "text_acc": chat["text_acc"],
           "depth_ce": t2i["depth_ce"], "code_acc": t2i["code_acc"],
           "reply_acc": next((o["text_acc"] for g, o in zip(groups, outs) if g["codes"].shape[2] == 0),
                             torch.zeros(()))}
    if aux is not None:
        out["aux"] = sum(o["aux"] for o in outs)
        out["aux_shape_acc"] = chat.get("aux_shape_acc", torch.zeros(()))
        out["aux_scene_acc"] = chat.get("aux_scene_acc", torch.zeros(()))
        out["aux_plan_acc"] = t2i.get("aux_plan_acc", torch.zeros(()))
    return out


# ----------------------------------------------------------------------------------------------- model


def build_model(tok_model, seed: int = 0) -> UniTokMLLM:
    """Random Llama init (normal 0.02, as HF initializer_range), then the embedder from the tokenizer as released
    initialize_embedder does: quantizer and post_quant_proj copied; the quantizer stays frozen."""
    cfg = get_mllm_config("demo")
    torch.manual_seed(seed)
    model = UniTokMLLM(cfg)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
    emb = model.model.multi_embedder
    emb.quantizer.load_state_dict(tok_model.quantizer.state_dict())
    emb.attn_projection.load_state_dict(tok_model.post_quant_proj.state_dict())
    emb.quantizer.requires_grad_(False)
    return model


class AuxHeads(nn.Module):
    """Training-only linear read-outs of the LLM's hidden states at the visual tokens, dropped from the checkpoint
    (the model and its inference are the released ones). They give the small model direct signals for what its
    answers and drawings need and otherwise learns slowly from a few answer tokens: chat rows, at each image token,
    the shape it belongs to (none / circle / square / triangle; the state sees that token and the ones before it)
    and its row and column; text -> image rows, at the state the depth head reads, the next token's row and column
    (where in the picture it is drawing) and the shape under the next token (`occupancy`: whether to draw here),
    and at the middle layer, at those same positions, the prompt's layout (`plan`: each cell's colour and shape);
    the same `plan` read-out at the middle layer of chat rows' answer positions (the image's layout, read through
    attention: a colour bound to its shape and cell, which answers about one of several shapes need).

    The chat read-outs and the plan read the output of layer `layer` (default: the middle one), not the last: an
    answer reads the image through attention, i.e. from the image tokens' states *before* each layer, so the image
    tokens' last states feed nothing, and shape features learnt only there would come too late for the answer to
    use. Likewise a drawing's layers after the middle can only combine "where the prompt puts the shape" with
    "where am I" if the first is already there: without the plan read-out, run 4's image-token states did not carry
    the prompt's cell (a linear probe found it in 31% of held-out prompts; chance is 11%)."""

    def __init__(self, hidden: int, grid: int, weight: float = AUX_WEIGHT, layer: int = 2):
        super().__init__()
        self.weight, self.layer = weight, layer
        self.shape = nn.Linear(hidden, 1 + len(world.SHAPES))
        self.here = nn.Linear(hidden, 2 * grid)
        self.next = nn.Linear(hidden, 2 * grid)
        self.occupancy = nn.Linear(hidden, 1 + len(world.SHAPES))
        self.plan = nn.Linear(hidden, len(world.POSITIONS) * (2 + len(world.COLORS) + len(world.SHAPES)))
        self.grid = grid

    def plan_loss(self, h: torch.Tensor, plan: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h [B, N, D] middle-layer states (layer-normed here), plan [B, 2, 9] (scene_plan): cross-entropy on every
        cell's colour and shape at every state, and (a progress figure) the share of the shapes' cells whose colour
        the read-out gets right."""
        logits = self.plan(F.layer_norm(h, h.shape[-1:])).view(*h.shape[:2], plan.shape[-1], -1)
        colour_logits, shape_logits = logits.split((1 + len(world.COLORS), 1 + len(world.SHAPES)), -1)
        colour, shape = (plan[:, None, k].expand(-1, h.shape[1], -1) for k in (0, 1))  # [B, N, 9] each
        loss = 0.5 * sum(F.cross_entropy(x.reshape(-1, x.shape[-1]), t.reshape(-1), ignore_index=IGNORE)
                         for x, t in ((colour_logits, colour), (shape_logits, shape)))
        shown = colour > 0
        return loss, (colour_logits.argmax(-1)[shown] == colour[shown]).float().mean().detach()

    def position_loss(self, head: nn.Linear, h: torch.Tensor) -> torch.Tensor:
        """h [B, N, D] at the N = grid^2 visual tokens in raster order: cross-entropy on row and column."""
        logits = head(h).view(*h.shape[:2], 2, self.grid)
        j = torch.arange(h.shape[1], device=h.device)
        target = torch.stack((j // self.grid, j % self.grid), -1).expand(h.shape[0], -1, -1)
        return F.cross_entropy(logits.reshape(-1, self.grid), target.reshape(-1))


def losses(model: UniTokMLLM, b: dict, device, aux: AuxHeads | None = None) -> dict:
    """Text loss (lm_head where labels are set), depth-head loss (text -> image rows, on their `focus` tokens) and,
    with `aux`, the auxiliary read-outs' losses (times aux.weight)."""
    cfg = model.cfg
    ids, labels, starts = b["ids"].to(device), b["labels"].to(device), b["starts"].to(device)
    codes, t2i = b["codes"].to(device), b["t2i"].to(device)
    B, L = ids.shape
    n_vis = codes.shape[2]
    x = model.embed_text(ids)
    # Visual inputs as the released inference loops embed them. Understanding (prepare_inputs_for_multimodal):
    # all N tokens of the image at once, through the causal projection. Generation (T2I_forward_withcache): each
    # generated token alone (N = 1). Training text -> image rows on the all-at-once embedding, as the released
    # train.py does, leaves a small model unable to draw with the shipped loop: it never saw those inputs.
    # make_batch's groups are all one kind, so each group computes only the embedding it uses.
    pos = starts[:, None] + torch.arange(n_vis, device=device)[None]  # [B, N]
    if n_vis:  # text-only chats (make_batch's third group) have no image
        alone = (model.embed_visual(codes.permute(0, 2, 1).reshape(B * n_vis, -1, 1)).view(B, n_vis, -1)
                 if t2i.any() else None)
        together = model.embed_visual(codes) if not t2i.all() else None
        vis = (together if alone is None else alone if together is None
               else torch.where(t2i[:, None, None], alone, together))
        x = x.scatter(1, pos[..., None].expand(-1, -1, cfg.hidden_size), vis)
    # The decoder body without lm_head: logits are needed only where there are labels (32000-wide, the dearest op).
    layer_outputs = [] if aux is not None else None
    hidden, _ = run_decoder(model.model.layers, model.model.norm, cfg, x, position_ids=b["positions"].to(device),
                            bias=b["bias"].to(device), keep=layer_outputs)

    sel = labels != IGNORE
    text_logits = model.lm_head(hidden[sel])
    text_loss = F.cross_entropy(text_logits, labels[sel])
    text_acc = (text_logits.argmax(-1) == labels[sel]).float().mean()

    out = {"text": text_loss, "text_acc": text_acc}
    focus = b["focus"].to(device) & t2i[:, None]
    if focus.any():
        prev = hidden[torch.arange(B, device=device)[:, None], pos - 1][focus]  # [M, D]: the state before each token
        c = codes.permute(0, 2, 1)[focus]  # [M, K]
        feed = [model.embed_code(level, c[:, level]) for level in range(cfg.num_codebooks - 1)]
        h, _ = model.ar_head(torch.stack([prev] + feed, dim=1))
        logits = model.ar_head.linear_head(h)  # [M, K, codebook_size]
        ce = F.cross_entropy(logits.reshape(-1, cfg.codebook_size), c.reshape(-1))
        z = logits.max(-1).values.pow(2).mean()
        out["depth"] = ce + Z_LOSS * z
        out["depth_ce"] = ce
        out["code_acc"] = (logits.argmax(-1) == c).float().mean()
    else:
        out["depth"] = out["depth_ce"] = out["code_acc"] = torch.zeros((), device=device)
    out["loss"] = out["text"] + out["depth"]
    if aux is not None and not n_vis:
        out["aux"] = torch.zeros((), device=device)
    elif aux is not None:
        rows = torch.arange(B, device=device)[:, None]
        chat, gen = ~t2i, t2i
        aux_loss = torch.zeros((), device=device)
        if chat.any():
            here = layer_outputs[aux.layer - 1][rows, pos][chat]  # [Bc, N, D]: each image token's state
            here = F.layer_norm(here, here.shape[-1:])  # normalised at the image tokens only, not the whole batch
            target = b["token_shapes"].to(device)[chat]
            logits = aux.shape(here)
            aux_loss = aux_loss + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                  ignore_index=IGNORE)
            aux_loss = aux_loss + 0.5 * aux.position_loss(aux.here, here)
            on_shape = target > 0
            out["aux_shape_acc"] = (logits.argmax(-1)[on_shape] == target[on_shape]).float().mean()
            # The image's layout, read at the middle layer of every answer position: what binds a colour to its
            # shape (the layers after it answer "what color is the square?" from there).
            answering = (labels != IGNORE) & chat[:, None]
            middle = layer_outputs[aux.layer - 1][answering]  # [M, D]
            scene_loss, out["aux_scene_acc"] = aux.plan_loss(middle[:, None],
                                                             b["plan"].to(device)[answering.nonzero()[:, 0]])
            aux_loss = aux_loss + scene_loss
        if gen.any():
            before = hidden[rows, pos - 1][gen]  # [Bg, N, D]: the states the depth head reads
            aux_loss = aux_loss + 0.5 * aux.position_loss(aux.next, before)
            target = b["token_shapes"].to(device)[gen]
            logits = aux.occupancy(before)
            aux_loss = aux_loss + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                  ignore_index=IGNORE)
            plan = b["plan"].to(device)[gen]
            if (plan != IGNORE).any():  # not when every caption of the group was dropped
                middle = layer_outputs[aux.layer - 1][rows, pos - 1][gen]
                plan_loss, out["aux_plan_acc"] = aux.plan_loss(middle, plan)
                aux_loss = aux_loss + plan_loss
        out["aux"] = aux_loss
        out["loss"] = out["loss"] + aux.weight * aux_loss
    return out


# ---------------------------------------------------------------------------------------------- output


def save_hf_folder(model: UniTokMLLM, folder: str) -> None:
    """The released MLLM layout: config.json + safetensors (float32 here; the released one is bf16) + tokenizer."""
    os.makedirs(folder, exist_ok=True)
    sd = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    write_sharded(folder, [(k, "F32", v.shape) for k, v in sd.items()], lambda name, _dt, _shape: sd[name], 5 * 10**9,
                  metadata={"format": "pt"})
    config = hf_config(model.cfg)
    config.update({"_name_or_path": "unitok_mllm_demo", "torch_dtype": "float32"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_tokenizer_files(folder, "sentencepiece")


def load_hf_folder(folder: str) -> UniTokMLLM:
    from ..convert.mllm_checkpoint import load_mllm_torch

    return load_mllm_torch(folder, "demo")


# ------------------------------------------------------------------------------------------------ loop


def train(out: str, steps: int, batch: int, lr: float, minutes: float | None, pool: int, save_every: int,
          threads: int | None, mix: Mix = Mix(), aux_weight: float = AUX_WEIGHT) -> None:
    device = setup_torch(threads)
    tok_model, _ = load_released_tokenizer(os.path.join(out, RELEASED_FILE), "demo")
    codes = encode_pool(tok_model, pool, os.path.join(out, CODES_FILE))
    singles = np.asarray([i for i in range(len(codes)) if len(world.make_scene("train", i).shapes) == 1])
    rows = Rows(LlamaTokenizer.load())
    model = build_model(tok_model).to(device)
    del tok_model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    state_path = os.path.join(out, STATE_FILE)
    step, elapsed = resume(state_path, model, opt, "MLLM")
    # The read-outs have their own optimiser, so a run started without them can resume with them.
    aux = (AuxHeads(model.cfg.hidden_size, int(round(codes.shape[2] ** 0.5)), aux_weight,
                    max(model.cfg.num_hidden_layers // 2, 1)).to(device) if aux_weight else None)
    aux_opt = torch.optim.AdamW(aux.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0) if aux else None
    saved_aux = load_checkpoint(state_path + ".aux") if aux else None
    if saved_aux:
        missing = aux.load_state_dict(saved_aux["aux"], strict=False).missing_keys
        if missing:  # read-outs added since that checkpoint: they, and the read-outs' optimiser, start afresh
            print(f"read-outs new since the checkpoint: {sorted({k.split('.')[0] for k in missing})}", flush=True)
        else:
            aux_opt.load_state_dict(saved_aux["opt"])
    optimizers = [o for o in (opt, aux_opt) if o is not None]
    clipped = params + (list(aux.parameters()) if aux else [])
    t_start = time.monotonic() - elapsed
    progress, avg = StepProgress("mllm", steps, step), RunningMean()
    shown = ("loss", "text", "depth_ce", "text_acc", "code_acc", "reply_acc") + (
        ("aux", "aux_shape_acc", "aux_scene_acc", "aux_plan_acc") if aux else ())

    def checkpoint():
        if aux:  # written first: a checkpoint is never newer than its read-outs
            save_checkpoint(state_path + ".aux", {"aux": aux.state_dict(), "opt": aux_opt.state_dict()})
        save_checkpoint(state_path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                                     "elapsed": time.monotonic() - t_start})

    model.train()
    while step < steps:
        spent = time.monotonic() - t_start
        if minutes is not None and spent > minutes * 60:
            print(f"\nwall-clock budget of {minutes} min spent at step {step}; stopping", flush=True)
            break
        for o in optimizers:
            for g in o.param_groups:
                g["lr"] = lr_at(step, steps, lr, warmup=100, time_frac=spent / (minutes * 60) if minutes else 0.0)
        out_ = step_losses(model, make_batch(rows, codes, step, batch, mix, singles), device, aux)
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        out_["loss"].backward()
        torch.nn.utils.clip_grad_norm_(clipped, 1.0)
        for o in optimizers:
            o.step()
        step += 1
        progress.update(step, avg.add(**{k: out_[k].item() for k in shown}), force=step == steps)
        if step % save_every == 0:
            checkpoint()
    progress.close()
    checkpoint()
    save_hf_folder(model.cpu().eval(), os.path.join(out, "mllm"))
    with open(os.path.join(out, "mllm_train.json"), "w") as f:
        json.dump({"steps": step, "batch": batch, "pool": pool, "lr": lr, "mix_last": dataclasses.asdict(mix),
                   "aux_weight_last": aux_weight,
                   "train_minutes": (time.monotonic() - t_start) / 60, "final": avg.values}, f, indent=2)
    print(f"wrote {out}/mllm (step {step})", flush=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok train-mllm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    # Defaults: models/demo's recipe, a 63-minute budget on the 2-core CPU (the step cap is only a backstop).
    add_run_args(ap, "run folder holding the stage-1 unitok_tokenizer.pth", batch=32, lr=2e-3, steps=6000, minutes=63)
    ap.add_argument("--pool", type=int, default=8000, help="training scenes encoded once and reused")
    ap.add_argument("--save-every", type=int, default=100)
    mix = Mix()
    ap.add_argument("--t2i-share", type=float, default=mix.t2i_share,
                    help="share of text -> image rows in a batch (the rest are chats)")
    ap.add_argument("--questions", type=int, default=mix.questions,
                    help="questions per chat row, each seeing the image but not the other questions")
    ap.add_argument("--single-share", type=float, default=mix.single_share,
                    help="share of text -> image rows drawn from one-shape scenes")
    ap.add_argument("--chat-multi-share", type=float, default=mix.chat_multi_share,
                    help="share of chat rows drawn from scenes of two or three shapes (the rest from the whole pool)")
    ap.add_argument("--depth-background", type=float, default=mix.depth_background,
                    help="share of background visual tokens the depth head is trained on (it trains on every token "
                         "a shape touches)")
    ap.add_argument("--text-share", type=float, default=mix.text_share,
                    help="share of text-only chat rows (no image: greetings, out-of-world requests, describe ...)")
    ap.add_argument("--aux-weight", type=float, default=AUX_WEIGHT,
                    help="weight of the training-only read-outs at the visual tokens (AuxHeads; 0: none)")
    args = ap.parse_args(argv)
    train(args.out, args.steps, args.batch, args.lr, args.minutes, args.pool, args.save_every, args.threads,
          Mix(args.t2i_share, args.questions, args.single_share, args.chat_multi_share, args.depth_background,
              args.text_share),
          args.aux_weight)
    return 0
