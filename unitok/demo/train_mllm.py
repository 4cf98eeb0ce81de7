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
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..convert.random_checkpoint import hf_config
from ..convert.tokenizer_files import write_tokenizer_files
from ..export.tokenizer_onnx import load_released_tokenizer
from ..mllm_config import get_mllm_config
from ..modules.llama import run_decoder
from ..modules.mllm import UniTokMLLM
from ..safetensors import write_sharded
from ..text_tokenizer import LlamaTokenizer
from . import world
# The batches live in batches.py; these names stay importable from here (tests and tools use them).
from .batches import (CFG_DROP, IGNORE, TEXT_REQUESTS, TWO_TURNS, Mix, Rows, decisions, encode_pool,  # noqa: F401
                      make_batch, pad_group, scene_plan, shape_band, token_shapes, touched_tokens)
from .common import RunningMean, StepProgress, add_run_args, load_checkpoint, lr_at, resume, save_checkpoint, setup_torch
from .train_tokenizer import RELEASED_FILE

STATE_FILE = "mllm_train.pt"
CODES_FILE = "train_codes.npy"
CENTRED_CODES_FILE = "train_codes_centred.npy"  # the same scenes, shapes at their cells' centres (--t2i-centred)
Z_LOSS = 5e-5
AUX_WEIGHT = 1.0  # the training-only read-outs (AuxHeads)


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
        # Each token's K codes weigh its depth_weight (batches.decisions): a weighted mean over the focus tokens.
        w = b["depth_weight"].to(device)[focus]  # [M]
        per_code = F.cross_entropy(logits.reshape(-1, cfg.codebook_size), c.reshape(-1), reduction="none")
        ce = (per_code.view(-1, cfg.num_codebooks).mean(1) * w).sum() / w.sum()
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
          threads: int | None, mix: Mix = Mix(), aux_weight: float = AUX_WEIGHT, init_from: str | None = None) -> None:
    """init_from: an MLLM folder (the released layout: a run's mllm/, or `import-bundle`'s) whose weights a run
    without a checkpoint starts from instead of the random init: a fine-tune with a fresh optimiser and schedule."""
    device = setup_torch(threads)
    tok_model, _ = load_released_tokenizer(os.path.join(out, RELEASED_FILE), "demo")
    codes = encode_pool(tok_model, pool, os.path.join(out, CODES_FILE))
    centred = (encode_pool(tok_model, pool, os.path.join(out, CENTRED_CODES_FILE), centred=True)
               if mix.t2i_centred else None)
    singles = np.asarray([i for i in range(len(codes)) if len(world.make_scene("train", i).shapes) == 1])
    rows = Rows(LlamaTokenizer.load())
    model = build_model(tok_model).to(device)
    del tok_model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    state_path = os.path.join(out, STATE_FILE)
    step, elapsed = resume(state_path, model, opt, "MLLM")
    if init_from and step == 0:
        model.load_state_dict(load_hf_folder(init_from).state_dict())
        print(f"MLLM weights from {init_from}", flush=True)
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
        out_ = step_losses(model, make_batch(rows, codes, step, batch, mix, singles, centred_codes=centred), device, aux)
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
                   "aux_weight_last": aux_weight, **({"init_from": init_from} if init_from else {}),
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
    ap.add_argument("--t2i-centred", type=int, choices=(0, 1), default=int(mix.t2i_centred),
                    help="1: text -> image rows show their shapes at the cells' centres, without the jitter the "
                         "chats' images keep (one outline per shape, size and cell to learn)")
    ap.add_argument("--decision-weight", type=float, default=mix.decision_weight,
                    help="depth-head loss weight of the visual tokens where a drawing makes its choices: the first "
                         "(the background) and each shape's first (its colour and where it starts); 1 elsewhere")
    ap.add_argument("--aux-weight", type=float, default=AUX_WEIGHT,
                    help="weight of the training-only read-outs at the visual tokens (AuxHeads; 0: none)")
    ap.add_argument("--init-from", metavar="MLLM_FOLDER",
                    help="start from this MLLM's weights (a run's mllm/ or import-bundle's) rather than a random "
                         "init, when the run has no checkpoint yet: a fine-tune")
    args = ap.parse_args(argv)
    if args.init_from and not os.path.isfile(os.path.join(args.init_from, "config.json")):
        ap.error(f"--init-from {args.init_from}: not an MLLM folder (no config.json)")
    train(args.out, args.steps, args.batch, args.lr, args.minutes, args.pool, args.save_every, args.threads,
          Mix(t2i_share=args.t2i_share, questions=args.questions, single_share=args.single_share,
              chat_multi_share=args.chat_multi_share, depth_background=args.depth_background,
              text_share=args.text_share, t2i_centred=bool(args.t2i_centred), decision_weight=args.decision_weight),
          args.aux_weight, args.init_from)
    return 0
