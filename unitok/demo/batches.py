"""The demo MLLM's training batches (unitok/demo/train_mllm.py trains on them): the rows in the released sequence
formats, built from the shapes world and its language (language.py), and their padding into groups with the
branch masks and the read-outs' targets. See train_mllm's docstring for the formats."""
from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
import torch

from ..convert.bundle_config import TEXT_TO_IMAGE, VICUNA_V1, vicuna_v1_prompt, vqa_prompt
from ..convert.progress import Progress
from ..text_tokenizer import IMAGE_TOKEN_INDEX, LlamaTokenizer
from . import language, world

CFG_DROP = 0.1  # released: caption replaced by "<unconditional>" when np.random.rand() > 0.9
IGNORE = -100
TEXT_REQUESTS = 3  # text-only requests per text row (make_batch)
TWO_TURNS = 0.15  # share of chat branches that are the second turn of a conversation about the image


@dataclasses.dataclass(frozen=True)
class Mix:
    """What a batch is made of (each may change on resume). The defaults are models/demo's recipe (run 16,
    docs/demo-training.md)."""

    t2i_share: float = 0.45  # text -> image rows; the rest are chats
    questions: int = 12  # question branches per chat row
    single_share: float = 0.6  # text -> image rows drawn from one-shape scenes (the prompts the demo is judged on)
    chat_multi_share: float = 0.8  # chat rows drawn from scenes of two or three shapes (else from the whole pool)
    depth_background: float = 1.0  # share of the background tokens outside shape_band the depth head trains on
    text_share: float = 0.08  # text-only chats (greetings, "what can you do?", out-of-world requests, describe ...)
    t2i_centred: bool = False  # text -> image rows show their shapes at the cells' centres (world.centred)
    decision_weight: float = 1.0  # depth-head loss weight of the tokens where a drawing's choices are made (decisions)


# ------------------------------------------------------------------------------------------------ data


@torch.no_grad()
def encode_pool(tok_model, count: int, path: str, batch: int = 32, centred: bool = False) -> np.ndarray:
    """Codes uint8 [count, K, N] of train scenes 0..count-1 (cached: computed once per tokenizer); `centred`:
    of the same scenes with every shape at its cell's centre (world.centred), for the drawing rows."""
    if os.path.isfile(path):
        codes = np.load(path)
        if len(codes) >= count:
            return codes[:count]
    bar = Progress("encoding training images" + (" (centred)" if centred else ""), count, count, unit="images",
                   counts_bytes=False)
    shown = world.centred if centred else (lambda scene: scene)
    out = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        imgs = np.stack([world.render(shown(world.make_scene("train", i))) for i in range(start, start + n)])
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


def _box(s: world.Shape, grid: int) -> tuple[int, int, int, int]:
    """First and last token row and column (inclusive) that shape `s`'s bounding box meets."""
    patch, r = world.IMG_SIZE / grid, world.SIZES[s.size]
    return (max(int((s.cy - r) // patch), 0), int(min(s.cy + r, world.IMG_SIZE - 1) // patch),
            max(int((s.cx - r) // patch), 0), int(min(s.cx + r, world.IMG_SIZE - 1) // patch))


def token_shapes(scene: world.Scene, grid: int) -> np.ndarray:
    """int64 [grid * grid], row-major as the codes: 1 + the index in world.SHAPES of the shape whose bounding box a
    token's patch meets, 0 where none does, IGNORE where two do."""
    out = np.zeros((grid, grid), np.int64)
    for s in scene.shapes:
        r0, r1, c0, c1 = _box(s, grid)
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


def decisions(scene: world.Scene, grid: int) -> np.ndarray:
    """bool [grid * grid]: the visual tokens where a drawing makes its choices: the first (the background's colour,
    which every later background token copies) and the first of each shape's box in raster order (its colour and
    where it starts). Elsewhere the earlier tokens say most of what comes next, so these few tokens are nearly all
    of what a prompt's words teach the depth head, and an equal share of the loss learns them slowly."""
    out = np.zeros(grid * grid, bool)
    out[0] = True
    for s in scene.shapes:
        r0, _, c0, _ = _box(s, grid)
        out[r0 * grid + c0] = True
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
               singles: np.ndarray | None = None, seed: int = 0, centred_codes: np.ndarray | None = None) -> list[dict]:
    """`batch` rows, as one group of chats and one of text -> image rows (each padded to its own length: the two
    kinds differ by 2x). `singles`: indices of the pool's one-shape scenes, which mix.single_share of the
    text -> image rows draw from; mix.chat_multi_share of the chats draw from the others (questions about one of
    several shapes need the answer bound to the right shape, which is learnt far later than one-shape answers).
    With mix.t2i_centred the text -> image rows show the scene centred (world.centred), whose codes are
    `centred_codes` (encode_pool(centred=True), the same indices)."""
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
        if t2i and mix.t2i_centred:
            scene = world.centred(scene)
        seqs.append({**(rows.t2i(scene, rng) if t2i else rows.chat(scene, rng, mix.questions)), "scene": scene,
                     "index": idx})
    drawn = centred_codes if mix.t2i_centred else codes
    if drawn is None and any(s["t2i"] for s in seqs):
        raise ValueError("mix.t2i_centred needs centred_codes (encode_pool(centred=True))")
    groups = [pad_group(group, pool, rng, mix.depth_background, mix.decision_weight)
              for group, pool in (([s for s in seqs if not s["t2i"]], codes), ([s for s in seqs if s["t2i"]], drawn))
              if group]
    return groups + ([pad_group(texts, codes[:, :, :0], rng, 0.0)] if texts else [])


def pad_group(seqs: list[dict], codes: np.ndarray, rng: np.random.Generator, depth_background: float,
              decision_weight: float = 1.0) -> dict:
    """Right-padded rows: a prefix (text, then the image's slots, which hold 0 in ids) and one or more branches
    after it. Every branch restarts its positions where the prefix ends and attends to the prefix and to itself
    only (`bias`), so it is exactly the single-turn sequence inference sees. Pads come last and no real token
    attends to them. Also per row: image start, text labels (IGNORE elsewhere), the shape under each visual token
    (token_shapes), the scene's layout (scene_plan; IGNORE for dropped captions); per text -> image row
    the visual tokens the depth head is trained on (`focus`: every token of a shape's rows and the row above it
    (shape_band), and `depth_background` of the others: most of an image is flat background, which the head learns
    from far fewer examples), and each token's weight in the depth loss (`depth_weight`: `decision_weight` at the
    tokens where the drawing's choices are made, `decisions`, 1 elsewhere)."""
    batch, n_vis = len(seqs), codes.shape[2]
    grid = int(round(n_vis ** 0.5))
    length = max(len(s["before"]) + n_vis + sum(len(b) for b, _ in s["branches"]) for s in seqs)
    ids = np.zeros((batch, length), np.int64)
    labels = np.full((batch, length), IGNORE, np.int64)
    positions = np.zeros((batch, length), np.int64)
    segment = np.full((batch, length), -1, np.int64)
    starts = np.zeros(batch, np.int64)
    focus = np.zeros((batch, n_vis), bool)
    depth_weight = np.ones((batch, n_vis), np.float32)
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
            if decision_weight != 1.0:
                depth_weight[r, decisions(s["scene"], grid)] = decision_weight
    seg = torch.from_numpy(segment)
    causal = torch.ones(length, length, dtype=torch.bool).tril()[None]
    allowed = causal & ((seg[:, None, :] == 0) | (seg[:, None, :] == seg[:, :, None]))
    bias = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)[:, None]
    return {"ids": torch.from_numpy(ids), "labels": torch.from_numpy(labels), "starts": torch.from_numpy(starts),
            "positions": torch.from_numpy(positions), "bias": bias, "focus": torch.from_numpy(focus),
            "depth_weight": torch.from_numpy(depth_weight),
            "token_shapes": torch.from_numpy(shapes), "plan": torch.from_numpy(plan),
            "codes": torch.from_numpy(codes[[s.get("index", 0) for s in seqs]].astype(np.int64)),
            "t2i": torch.tensor([s["t2i"] for s in seqs])}
